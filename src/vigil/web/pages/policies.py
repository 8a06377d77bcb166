"""Policy register pages: the member x area matrix (gaps highlighted, area titles in English,
French or Arabic, each in its own direction), the changes since a date, the signed-in member's
form to record its own policy, and the readiness view of one election (from the election calendar:
which members have which policy in force by election day).

Every read and write goes through ``PolicyService`` with the viewer's principal (the typed
``PagePolicyServiceDep``; election dates through ``PageMeetingServiceDep``), so what each reader
sees under TLP and who may record what are the service's decisions.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import HTMLResponse, Response

from vigil.cases.meetings import MeetingService
from vigil.cases.policies import LANGUAGES, STATUSES, direction
from vigil.core.errors import InputError
from vigil.core.time import parse_instant
from vigil.exchange.records import TLP, Marking
from vigil.web.deps import PageMeetingServiceDep, PagePolicyServiceDep
from vigil.web.pages.common import ViewerDep, redirect, render

router = APIRouter(include_in_schema=False)
LanguageQuery = Annotated[str, Query(pattern="^(en|fr|ar)$")]


def _marking(tlp: str, shared_with: list[str] | None, name: str) -> Marking:
    try:
        level = TLP(tlp)
    except ValueError:
        raise InputError(f"unknown TLP {tlp!r}", field=name) from None
    return Marking(level, tuple(o for o in shared_with or [] if o))


def _elections(meetings: MeetingService) -> list[str]:
    dates = meetings.election_dates()
    return list(dict.fromkeys(d.election for d in dates if d.kind == "election_day"))


@router.get("/policies", response_class=HTMLResponse)
def policies_page(
    request: Request,
    viewer: ViewerDep,
    service: PagePolicyServiceDep,
    meetings: PageMeetingServiceDep,
    lang: LanguageQuery = "en",
    since: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    matrix = service.matrix()
    start = parse_instant(since) if since else service.now() - timedelta(days=30)
    return render(
        request,
        "policies.html",
        viewer,
        m=matrix,
        areas=service.areas,
        gaps=set(matrix.gaps),
        lang=lang,
        dir=direction(lang),
        direction=direction,
        languages=LANGUAGES,
        statuses=STATUSES,
        since=start,
        changes=service.diff(start),
        elections=_elections(meetings),
    )


@router.post("/policies")
def record_policy(
    request: Request,
    viewer: ViewerDep,
    service: PagePolicyServiceDep,
    area: Annotated[str, Form(max_length=64)],
    status: Annotated[str, Form(max_length=20)],
    effective_from: Annotated[str, Form(max_length=40)] = "",
    effective_until: Annotated[str, Form(max_length=40)] = "",
    source_url: Annotated[str, Form(max_length=2000)] = "",
    summary: Annotated[str, Form(max_length=20_000)] = "",
    language: Annotated[str, Form(max_length=8)] = "",
    tlp: Annotated[str, Form(max_length=20)] = "GREEN",
    shared_with: Annotated[list[str] | None, Form()] = None,
    note: Annotated[str, Form(max_length=20_000)] = "",
    note_tlp: Annotated[str, Form(max_length=20)] = "AMBER",
    note_shared_with: Annotated[list[str] | None, Form()] = None,
) -> Response:
    service.record(
        area,
        status,
        effective_from=parse_instant(effective_from) if effective_from else None,
        effective_until=parse_instant(effective_until) if effective_until else None,
        source_url=source_url or None,
        summary=summary or None,
        language=language or None,
        marking=_marking(tlp, shared_with, "tlp"),
        note=note or None,
        note_marking=_marking(note_tlp, note_shared_with, "note_tlp"),
    )
    return redirect("/policies")


@router.get("/policies/readiness", response_class=HTMLResponse)
def readiness_page(
    request: Request,
    viewer: ViewerDep,
    service: PagePolicyServiceDep,
    meetings: PageMeetingServiceDep,
    election: Annotated[str | None, Query(max_length=200)] = None,
    lang: LanguageQuery = "en",
) -> Response:
    elections = _elections(meetings)
    chosen = election or (elections[0] if elections else None)
    r = service.readiness(chosen) if chosen else None
    return render(
        request,
        "policy_readiness.html",
        viewer,
        r=r,
        elections=elections,
        lang=lang,
        dir=direction(lang),
        languages=LANGUAGES,
    )
