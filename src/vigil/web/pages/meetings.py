"""Meeting pages: the calendar (meetings, election countdown, open action items with overdue
reminders), one meeting (agenda, this organisation's pre-filled update form, decisions and action
items, minutes) and the pack and minutes documents for the signed-in organisation.

Every read and write goes through ``MeetingService`` with the viewer's principal (the typed
``PageMeetingServiceDep``), so who attends and what each reader may see under TLP are the
service's decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import HTMLResponse, Response

from vigil.cases.calendar import MEETING_PAGE_SIZES
from vigil.cases.meetings import ELECTION_KINDS, MEETING_ROLES, MeetingService, Reminders
from vigil.cases.meetings_render import render_minutes, render_pack
from vigil.core.errors import InputError
from vigil.core.time import parse_instant
from vigil.exchange.records import TLP, Marking
from vigil.web.deps import PageMeetingServiceDep
from vigil.web.pages.common import Viewer, ViewerDep, redirect, render, table, whole
from vigil.web.pages.kept import Kept

# Document formats (the renderers refuse any other with a 400).
MEDIA = {"html": "text/html; charset=utf-8", "pdf": "application/pdf", "md": "text/markdown; charset=utf-8"}

router = APIRouter(include_in_schema=False)


def _marking(tlp: str, shared_with: list[str]) -> Marking:
    try:
        level = TLP(tlp)
    except ValueError:
        raise InputError(f"unknown TLP {tlp!r}", field="tlp") from None
    return Marking(level, tuple(o for o in shared_with if o))


def overview_reminders(request: Request, service: MeetingService) -> Reminders:
    """The overview page's reminders for the signed-in organisation (see ``MeetingService.reminders``)."""
    lead = timedelta(hours=request.app.state.settings.meeting_reminder_lead_h)
    return service.reminders(lead)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


# The meeting table's columns: header text and the ``sort`` value of ``MEETING_SORTS`` (None: not
# sortable; the invitations are a JSON object).
MEETING_COLUMNS: tuple[tuple[str, str | None], ...] = (
    ("starts", "starts"),
    ("title", "title"),
    ("convened by", "convened_by"),
    ("recurrence", "recurrence"),
    ("invited", None),
)


@dataclass(frozen=True)
class MeetingQuery:
    """The meeting list's query: text filter, sort, order, page, size (checked by the service)."""

    q: str = ""
    sort: str = "starts"
    order: str = "asc"
    page: str = "1"
    size: str = "25"


@router.get("/meetings", response_class=HTMLResponse)
def meetings_page(
    request: Request,
    viewer: ViewerDep,
    service: PageMeetingServiceDep,
    q: str = "",
    sort: str = "starts",
    order: str = "asc",
    page: str = "1",
    size: str = "25",
) -> Response:
    """Sorted, counted and paged on the server (``MeetingService.page_meetings``); a bad
    ``sort``/``order``/``size``/``page`` is a 400 naming it."""
    return _meetings_view(request, viewer, service, query=MeetingQuery(q, sort, order, page, size))


def _meetings_view(
    request: Request,
    viewer: Viewer,
    service: MeetingService,
    kept: Kept | None = None,
    query: MeetingQuery = MeetingQuery(),
) -> Response:
    """The meetings page; with ``kept``, again after a refused form (400, the form filled)."""
    found = service.page_meetings(
        text=query.q or None,
        sort=query.sort,
        order=query.order,
        page=whole(query.page, "page"),
        size=whole(query.size, "size"),
    )
    return render(
        request,
        "meetings.html",
        viewer,
        meetings=found.items,
        table=table("/meetings", found, MEETING_COLUMNS, {"q": query.q}, MEETING_PAGE_SIZES),
        chosen={"q": query.q},
        countdown=service.countdown(limit=8),
        actions=service.action_items(open_only=True),
        election_kinds=ELECTION_KINDS,
        roles=MEETING_ROLES,
        kept=kept or Kept(),
        invited=set(kept.values.get("invite", "").split()) if kept else set(),
        status_code=400 if kept else 200,
    )


@router.post("/meetings")
def new_meeting(
    request: Request,
    viewer: ViewerDep,
    service: PageMeetingServiceDep,
    title: Annotated[str, Form()],
    starts_at: Annotated[str, Form()],
    invite: Annotated[list[str] | None, Form()] = None,
    recurrence: Annotated[str, Form()] = "",
    occurrences: Annotated[int, Form()] = 1,
) -> Response:
    try:
        made = service.create_meeting(
            title,
            parse_instant(starts_at),
            invited={o: "member" for o in (invite or []) if o},
            recurrence=recurrence or None,
            occurrences=occurrences,
        )
    except InputError as exc:
        # what was typed comes back in the form (organisation ids hold no spaces)
        typed = dict(
            title=title,
            starts_at=starts_at,
            recurrence=recurrence,
            occurrences=str(occurrences),
            invite=" ".join(invite or []),
        )
        service.session.rollback()
        return _meetings_view(request, viewer, service, Kept("meeting", typed, exc.message))
    return redirect(f"/meetings/{made[0].id}")


@router.post("/meetings/election-dates")
def add_election_date(
    request: Request,
    viewer: ViewerDep,
    service: PageMeetingServiceDep,
    election: Annotated[str, Form()],
    kind: Annotated[str, Form()],
    at: Annotated[str, Form()],
    title: Annotated[str, Form()] = "",
) -> Response:
    try:
        service.add_election_date(election, kind, parse_instant(at), title or None)
    except InputError as exc:
        typed = {"election": election, "kind": kind, "at": at, "title": title}
        service.session.rollback()
        return _meetings_view(request, viewer, service, Kept("election", typed, exc.message))
    return redirect("/meetings")


@router.get("/meetings/{meeting_id}", response_class=HTMLResponse)
def meeting_page(
    request: Request, meeting_id: str, viewer: ViewerDep, service: PageMeetingServiceDep
) -> Response:
    return _meeting_view(request, meeting_id, viewer, service)


def _meeting_refused(
    request: Request, meeting_id: str, viewer: Viewer, service: MeetingService, kept: Kept
) -> Response:
    """The meeting page again after a refused form: 400, the form filled, nothing stored."""
    service.session.rollback()
    return _meeting_view(request, meeting_id, viewer, service, kept)


def _meeting_view(
    request: Request, meeting_id: str, viewer: Viewer, service: MeetingService, kept: Kept | None = None
) -> Response:
    agenda = service.agenda(meeting_id)
    mine = next((u for u in agenda.updates if u.org_id == viewer.principal.org_id), None)
    return render(
        request,
        "meeting.html",
        viewer,
        a=agenda,
        m=agenda.meeting,
        mine=mine,
        prefill=service.prefill(meeting_id) if viewer.can_write else None,
        items=service.action_items(meeting_id=meeting_id),
        tlps=list(TLP),
        roles=MEETING_ROLES,
        is_convener=viewer.principal.org_id == agenda.meeting.org_id,
        kept=kept or Kept(),
        status_code=400 if kept else 200,
    )


@router.post("/meetings/{meeting_id}/invite")
def invite(
    request: Request,
    meeting_id: str,
    viewer: ViewerDep,
    service: PageMeetingServiceDep,
    org_id: Annotated[str, Form()],
    role: Annotated[str, Form()] = "member",
) -> Response:
    try:
        service.invite(meeting_id, org_id, role)
    except InputError as exc:
        typed = {"org_id": org_id, "role": role}
        return _meeting_refused(request, meeting_id, viewer, service, Kept("invite", typed, exc.message))
    return redirect(f"/meetings/{meeting_id}")


@router.post("/meetings/{meeting_id}/update")
def file_update(
    request: Request,
    meeting_id: str,
    viewer: ViewerDep,
    service: PageMeetingServiceDep,
    campaigns: Annotated[str, Form()] = "",
    narratives: Annotated[str, Form()] = "",
    notes: Annotated[str, Form()] = "",
    expects: Annotated[str, Form()] = "",
    asks: Annotated[str, Form()] = "",
    tlp: Annotated[str, Form()] = "AMBER",
    shared_with: Annotated[list[str] | None, Form()] = None,
) -> Response:
    sees: dict[str, str | list[str]] = {}
    if _lines(campaigns):
        sees["campaigns"] = _lines(campaigns)
    if _lines(narratives):
        sees["narratives"] = _lines(narratives)
    if notes.strip():
        sees["notes"] = notes.strip()
    # one expected event a line: "2026-12-01 | debate | deepfake clips"
    events = []
    for line in _lines(expects):
        parts = [p.strip() for p in line.split("|")]
        on, event, risk = [*parts, "", "", ""][:3] if len(parts) > 1 else ("", parts[0], "")
        events.append({"on": on, "event": event, "risk": risk})
    try:
        service.file_update(
            meeting_id, sees=sees, expects=events, asks=asks, marking=_marking(tlp, shared_with or [])
        )
    except InputError as exc:
        typed = dict(
            campaigns=campaigns, narratives=narratives, notes=notes, expects=expects, asks=asks, tlp=tlp
        )
        return _meeting_refused(request, meeting_id, viewer, service, Kept("update", typed, exc.message))
    return redirect(f"/meetings/{meeting_id}")


@router.post("/meetings/{meeting_id}/actions")
def add_action(
    request: Request,
    meeting_id: str,
    viewer: ViewerDep,
    service: PageMeetingServiceDep,
    text: Annotated[str, Form()],
    kind: Annotated[str, Form()] = "action",
    owner_org_id: Annotated[str, Form()] = "",
    due: Annotated[str, Form()] = "",
    tlp: Annotated[str, Form()] = "AMBER",
) -> Response:
    try:
        service.add_action(
            meeting_id,
            text,
            owner_org_id=owner_org_id or None,
            due=parse_instant(due) if due.strip() else None,
            kind=kind,
            marking=_marking(tlp, []),
        )
    except InputError as exc:
        typed = dict(text=text, kind=kind, owner_org_id=owner_org_id, due=due, tlp=tlp)
        return _meeting_refused(request, meeting_id, viewer, service, Kept("action", typed, exc.message))
    return redirect(f"/meetings/{meeting_id}")


@router.post("/meetings/{meeting_id}/actions/{action_id}")
def set_action_status(
    request: Request,
    meeting_id: str,
    action_id: int,
    viewer: ViewerDep,
    service: PageMeetingServiceDep,
    status: Annotated[str, Form()],
) -> Response:
    service.set_action_status(action_id, status)
    return redirect(f"/meetings/{meeting_id}")


@router.post("/meetings/{meeting_id}/minutes")
def record_minutes(
    request: Request,
    meeting_id: str,
    viewer: ViewerDep,
    service: PageMeetingServiceDep,
    text: Annotated[str, Form()],
    tlp: Annotated[str, Form()] = "AMBER",
) -> Response:
    try:
        service.record_minutes(meeting_id, text, marking=_marking(tlp, []))
    except InputError as exc:
        typed = {"text": text, "tlp": tlp}
        return _meeting_refused(request, meeting_id, viewer, service, Kept("minutes", typed, exc.message))
    return redirect(f"/meetings/{meeting_id}")


@router.get("/meetings/{meeting_id}/pack.{fmt}")
def pack(meeting_id: str, fmt: str, viewer: ViewerDep, service: PageMeetingServiceDep) -> Response:
    body = render_pack(service, meeting_id, fmt, viewer.org.name)
    return Response(body, media_type=MEDIA.get(fmt, "text/html; charset=utf-8"))


@router.get("/meetings/{meeting_id}/minutes.{fmt}")
def minutes(meeting_id: str, fmt: str, viewer: ViewerDep, service: PageMeetingServiceDep) -> Response:
    body = render_minutes(service, meeting_id, fmt, viewer.org.name)
    return Response(body, media_type=MEDIA.get(fmt, "text/html; charset=utf-8"))
