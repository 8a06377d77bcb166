"""Coalition meetings and the election calendar (``/api/v1``): invitations, member updates, the
agenda, minutes, decisions and action items, and the pack and minutes as HTML or PDF.

Routes parse and serialise only; ``vigil.cases.meetings.MeetingService`` decides (who attends,
what each reader may see under TLP).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from pydantic import Field

from vigil.cases.meetings import MeetingService
from vigil.cases.meetings_render import org_names, render_minutes, render_pack
from vigil.cases.playbooks import PlaybookLibrary
from vigil.exchange.records import TLP, Marking
from vigil.web.deps import PrincipalDep, SessionDep
from vigil.web.schemas import ERROR_RESPONSES, DbId, In, MarkingIn

router = APIRouter(responses=ERROR_RESPONSES, tags=["meetings"])
MEDIA = {"html": "text/html; charset=utf-8", "pdf": "application/pdf", "md": "text/markdown; charset=utf-8"}


def _marking(body: MarkingIn | None) -> Marking:
    return Marking(body.tlp, tuple(body.shared_with)) if body else Marking(TLP.AMBER)


def _out(value: Any) -> Any:
    return jsonable_encoder(asdict(value))


def _scheduled(request: Request, session: Any, principal: Any) -> MeetingService:
    """A service that knows the server's playbook library (agenda, pack, exercise schedule)."""
    library = PlaybookLibrary.load(request.app.state.settings.playbook_dirs)
    return MeetingService(session, principal, playbooks=library)


class MeetingIn(In):
    title: str = Field(min_length=1, max_length=300)
    starts_at: datetime
    invited: dict[str, Literal["chair", "member", "observer"]] = Field(default_factory=dict)
    recurrence: Literal["weekly", "fortnightly"] | None = None
    occurrences: int = Field(default=1, ge=1, le=104)


class InviteIn(In):
    org_id: str
    role: Literal["chair", "member", "observer"] = "member"


class ExpectIn(In):
    on: str | None = Field(default=None, max_length=40)
    event: str = Field(min_length=1, max_length=300)
    risk: str | None = Field(default=None, max_length=2000)


class UpdateIn(In):
    sees: dict[str, str | list[str]] = Field(default_factory=dict)
    expects: list[ExpectIn] = Field(default_factory=list, max_length=100)
    asks: str | None = Field(default=None, max_length=20_000)
    marking: MarkingIn | None = None


class ActionIn(In):
    text: str = Field(min_length=1, max_length=5000)
    kind: Literal["action", "decision"] = "action"
    owner_org_id: str | None = None
    due: datetime | None = None
    marking: MarkingIn | None = None


class StatusIn(In):
    status: Literal["open", "done", "dropped"]


class MinutesIn(In):
    text: str = Field(min_length=1, max_length=50_000)
    marking: MarkingIn | None = None


class ElectionDateIn(In):
    election: str = Field(min_length=1, max_length=200)
    kind: str = Field(examples=["debate", "election_day", "certification"])
    at: datetime
    title: str | None = Field(default=None, max_length=300)


@router.get("/meetings", summary="Meetings your organisation convenes or is invited to")
def list_meetings(principal: PrincipalDep, session: SessionDep) -> list[Any]:
    return [_out(m) for m in MeetingService(session, principal).list_meetings()]


@router.post("/meetings", status_code=201, summary="Schedule a meeting (or a recurring series)")
def create_meeting(body: MeetingIn, principal: PrincipalDep, session: SessionDep) -> list[Any]:
    made = MeetingService(session, principal).create_meeting(
        body.title,
        body.starts_at,
        invited=dict(body.invited),
        recurrence=body.recurrence,
        occurrences=body.occurrences,
    )
    return [_out(m) for m in made]


@router.get("/meetings/{meeting_id}")
def get_meeting(meeting_id: str, principal: PrincipalDep, session: SessionDep) -> Any:
    return _out(MeetingService(session, principal).get_meeting(meeting_id))


@router.post("/meetings/{meeting_id}/invitations", summary="Invite an organisation (convener only)")
def invite(meeting_id: str, body: InviteIn, principal: PrincipalDep, session: SessionDep) -> Any:
    return _out(MeetingService(session, principal).invite(meeting_id, body.org_id, body.role))


@router.get("/meetings/{meeting_id}/prefill", summary="Your figures since the last meeting")
def prefill(meeting_id: str, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    return MeetingService(session, principal).prefill(meeting_id)


@router.put("/meetings/{meeting_id}/update", summary="File or replace your organisation's update")
def file_update(meeting_id: str, body: UpdateIn, principal: PrincipalDep, session: SessionDep) -> Any:
    update = MeetingService(session, principal).file_update(
        meeting_id,
        sees=dict(body.sees),
        expects=[e.model_dump(exclude_none=True) for e in body.expects],
        asks=body.asks,
        marking=_marking(body.marking),
    )
    return _out(update)


@router.get("/meetings/{meeting_id}/updates", summary="Member updates you may see")
def list_updates(meeting_id: str, principal: PrincipalDep, session: SessionDep) -> list[Any]:
    return [_out(u) for u in MeetingService(session, principal).updates(meeting_id)]


@router.get("/meetings/{meeting_id}/agenda", summary="The agenda as you see it")
def agenda(meeting_id: str, request: Request, principal: PrincipalDep, session: SessionDep) -> Any:
    return _out(_scheduled(request, session, principal).agenda(meeting_id))


@router.get(
    "/exercise-schedule", tags=["playbooks"], summary="Each playbook's last exercise and next due date"
)
def exercise_schedule(request: Request, principal: PrincipalDep, session: SessionDep) -> list[Any]:
    return [_out(s) for s in _scheduled(request, session, principal).exercise_schedule()]


@router.post("/meetings/{meeting_id}/actions", status_code=201, summary="Record a decision or action item")
def add_action(meeting_id: str, body: ActionIn, principal: PrincipalDep, session: SessionDep) -> Any:
    item = MeetingService(session, principal).add_action(
        meeting_id,
        body.text,
        owner_org_id=body.owner_org_id,
        due=body.due,
        kind=body.kind,
        marking=_marking(body.marking),
    )
    return _out(item)


@router.get("/action-items", summary="Decisions and action items you may see (overdue flagged)")
def action_items(
    principal: PrincipalDep, session: SessionDep, open_only: bool = Query(False, alias="open")
) -> list[Any]:
    return [_out(i) for i in MeetingService(session, principal).action_items(open_only=open_only)]


@router.patch("/action-items/{action_id}", summary="Close or reopen an action item")
def set_status(action_id: DbId, body: StatusIn, principal: PrincipalDep, session: SessionDep) -> Any:
    return _out(MeetingService(session, principal).set_action_status(action_id, body.status))


@router.put("/meetings/{meeting_id}/minutes", summary="Record the minutes (convener only)")
def record_minutes(meeting_id: str, body: MinutesIn, principal: PrincipalDep, session: SessionDep) -> Any:
    service = MeetingService(session, principal)
    return _out(service.record_minutes(meeting_id, body.text, marking=_marking(body.marking)))


def _reader(session: Any, org_id: str) -> str:
    return org_names(session).get(org_id, org_id)


@router.get(
    "/meetings/{meeting_id}/pack",
    summary="The meeting pack (agenda, updates, briefing): HTML, PDF or Markdown, marked for the reader",
)
def pack(
    meeting_id: str,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    fmt: Literal["html", "pdf", "md"] = Query("html", alias="format"),
) -> Response:
    body = render_pack(
        _scheduled(request, session, principal), meeting_id, fmt, _reader(session, principal.org_id)
    )
    return Response(body, media_type=MEDIA[fmt])


@router.get(
    "/meetings/{meeting_id}/minutes",
    summary="The minutes, decisions and action items: HTML, PDF or Markdown, marked for the reader",
)
def minutes(
    meeting_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    fmt: Literal["html", "pdf", "md"] = Query("html", alias="format"),
) -> Response:
    service = MeetingService(session, principal)
    body = render_minutes(service, meeting_id, fmt, _reader(session, principal.org_id))
    return Response(body, media_type=MEDIA[fmt])


@router.get("/elections/dates", tags=["elections"], summary="Key election dates in time order")
def election_dates(
    principal: PrincipalDep, session: SessionDep, election: str | None = None
) -> list[dict[str, Any]]:
    service = MeetingService(session, principal)
    now = service.now()
    return [{**_out(d), "days_left": d.days_left(now)} for d in service.election_dates(election=election)]


@router.post("/elections/dates", status_code=201, tags=["elections"], summary="Add a key election date")
def add_election_date(body: ElectionDateIn, principal: PrincipalDep, session: SessionDep) -> Any:
    service = MeetingService(session, principal)
    return _out(service.add_election_date(body.election, body.kind, body.at, body.title))
