"""Briefings, disclosure reports, playbooks and exercises in the dashboard.

The documents themselves (briefing with its SVG charts, public disclosure report) are rendered by
``vigil.cases.render`` exactly as the REST API serves them; these pages frame them, offer the
PDF/Markdown downloads, and run the forms (issue a briefing, run an exercise, check a checklist
item). Every call goes through ``BriefingService``, ``DisclosureService``, ``CaseService`` and
``PlaybookLibrary`` with the viewer's principal (typed dependencies of ``vigil.web.deps``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import HTMLResponse, Response

from vigil.cases.exercises import run_exercise
from vigil.cases.playbooks import PlaybookLibrary
from vigil.cases.render import render_briefing
from vigil.core.settings import Settings
from vigil.core.time import parse_duration
from vigil.exchange.records import TLP, Marking
from vigil.web.deps import PageBriefingServiceDep, PageCaseServiceDep, PageDisclosureServiceDep
from vigil.web.pages.common import ViewerDep, redirect, render

router = APIRouter(include_in_schema=False)

MEDIA = {"html": "text/html; charset=utf-8", "pdf": "application/pdf", "md": "text/markdown; charset=utf-8"}


def _download(body: bytes, fmt: str, name: str) -> Response:
    headers = {} if fmt == "html" else {"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
    return Response(content=body, media_type=MEDIA[fmt], headers=headers)


@router.get("/briefings", response_class=HTMLResponse)
def briefings_page(request: Request, viewer: ViewerDep, since: str = "7d") -> Response:
    parse_duration(since)  # InputError (400 page) for a bad period before framing it
    return render(request, "briefings.html", viewer, since=since)


@router.get("/briefings/document")
def briefing_document(
    viewer: ViewerDep,
    service: PageBriefingServiceDep,
    since: str = "7d",
    format: Annotated[str, Query(pattern="^(html|pdf|md)$")] = "html",
) -> Response:
    built = service.build(parse_duration(since))
    return _download(render_briefing(built, format), format, "vigil-briefing")


@router.post("/briefings/issue")
def issue_briefing(
    request: Request,
    viewer: ViewerDep,
    service: PageBriefingServiceDep,
    since: Annotated[str, Form()] = "7d",
) -> Response:
    service.issue(parse_duration(since))
    return redirect(f"/briefings?since={since}")


@router.get("/cases/{case_id}/report")
def disclosure_report(
    case_id: str,
    viewer: ViewerDep,
    service: PageDisclosureServiceDep,
    format: Annotated[str, Query(pattern="^(html|pdf|md)$")] = "html",
) -> Response:
    """The watermarked draft (always allowed; nothing recorded)."""
    body = service.render(case_id, format, draft=True)
    return _download(body, format, f"disclosure-draft-{case_id[-8:]}")


@router.post("/cases/{case_id}/report")
def final_disclosure_report(
    request: Request,
    case_id: str,
    viewer: ViewerDep,
    service: PageDisclosureServiceDep,
    format: Annotated[str, Form(pattern="^(html|pdf|md)$")] = "html",
    override_reason: Annotated[str, Form()] = "",
) -> Response:
    """The final report: respects the embargo (admins may override) and goes on the timeline."""
    body = service.render(case_id, format, draft=False, override_reason=override_reason.strip() or None)
    return _download(body, format, f"disclosure-{case_id[-8:]}")


def _library(settings: Settings) -> PlaybookLibrary:
    return PlaybookLibrary.load(settings.playbook_dirs)


@router.get("/playbooks", response_class=HTMLResponse)
def playbooks_page(request: Request, viewer: ViewerDep) -> Response:
    return render(request, "playbooks.html", viewer, books=_library(request.app.state.settings).all())


@router.get("/playbooks/{playbook_id}", response_class=HTMLResponse)
def playbook_page(request: Request, playbook_id: str, viewer: ViewerDep) -> Response:
    book = _library(request.app.state.settings).get(playbook_id)
    return render(request, "playbook.html", viewer, book=book)


@router.post("/playbooks/{playbook_id}/exercise")
def exercise(
    request: Request,
    playbook_id: str,
    viewer: ViewerDep,
    service: PageCaseServiceDep,
    title: Annotated[str, Form()] = "",
    real: Annotated[str, Form()] = "",
) -> Response:
    book = _library(request.app.state.settings).get(playbook_id)
    case = run_exercise(
        service,
        book,
        title=title.strip() or None,
        marking=Marking(TLP.GREEN),
        exercise=not real,
    )
    return redirect(f"/cases/{case.id}")


@router.post("/cases/{case_id}/checklist/{item_id}")
def check_item(
    request: Request,
    case_id: str,
    item_id: int,
    viewer: ViewerDep,
    service: PageCaseServiceDep,
    done: Annotated[str, Form()] = "1",
) -> Response:
    service.check_item(case_id, item_id, done=done == "1")
    return redirect(f"/cases/{case_id}")
