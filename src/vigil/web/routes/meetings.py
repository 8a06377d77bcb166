"""Coalition meetings and the election calendar (``/api/v1``): invitations, member updates, the
agenda, minutes, decisions and action items, and the pack and minutes as HTML or PDF.

Routes parse and serialise only; ``vigil.cases.meetings.MeetingService`` decides (who attends,
what each reader may see under TLP).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.encoders import jsonable_encoder

from vigil.cases.meetings_render import org_names, render_minutes, render_pack
from vigil.exchange.records import TLP, Marking
from vigil.web.deps import MeetingServiceDep, PrincipalDep, ScheduledMeetingServiceDep, SessionDep
from vigil.web.schemas import ERROR_RESPONSES, DbId, MarkingIn
from vigil.web.schemas.meetings import (
    ActionIn,
    ElectionDateIn,
    InviteIn,
    MeetingIn,
    MinutesIn,
    StatusIn,
    UpdateIn,
)

router = APIRouter(responses=ERROR_RESPONSES, tags=["meetings"])
MEDIA = {"html": "text/html; charset=utf-8", "pdf": "application/pdf", "md": "text/markdown; charset=utf-8"}


def _marking(body: MarkingIn | None) -> Marking:
    return Marking(body.tlp, tuple(body.shared_with)) if body else Marking(TLP.AMBER)


def _out(value: Any) -> Any:
    return jsonable_encoder(asdict(value))


@router.get("/meetings", summary="Meetings your organisation convenes or is invited to")
def list_meetings(meetings: MeetingServiceDep) -> list[Any]:
    return [_out(m) for m in meetings.list_meetings()]


@router.post("/meetings", status_code=201, summary="Schedule a meeting (or a recurring series)")
def create_meeting(body: MeetingIn, meetings: MeetingServiceDep) -> list[Any]:
    made = meetings.create_meeting(
        body.title,
        body.starts_at,
        invited=dict(body.invited),
        recurrence=body.recurrence,
        occurrences=body.occurrences,
    )
    return [_out(m) for m in made]


@router.get("/meetings/{meeting_id}")
def get_meeting(meeting_id: str, meetings: MeetingServiceDep) -> Any:
    return _out(meetings.get_meeting(meeting_id))


@router.post("/meetings/{meeting_id}/invitations", summary="Invite an organisation (convener only)")
def invite(meeting_id: str, body: InviteIn, meetings: MeetingServiceDep) -> Any:
    return _out(meetings.invite(meeting_id, body.org_id, body.role))


@router.get("/meetings/{meeting_id}/prefill", summary="Your figures since the last meeting")
def prefill(meeting_id: str, meetings: MeetingServiceDep) -> dict[str, Any]:
    return meetings.prefill(meeting_id)


@router.put("/meetings/{meeting_id}/update", summary="File or replace your organisation's update")
def file_update(meeting_id: str, body: UpdateIn, meetings: MeetingServiceDep) -> Any:
    update = meetings.file_update(
        meeting_id,
        sees=dict(body.sees),
        expects=[e.model_dump(exclude_none=True) for e in body.expects],
        asks=body.asks,
        marking=_marking(body.marking),
    )
    return _out(update)


@router.get("/meetings/{meeting_id}/updates", summary="Member updates you may see")
def list_updates(meeting_id: str, meetings: MeetingServiceDep) -> list[Any]:
    return [_out(u) for u in meetings.updates(meeting_id)]


@router.get("/meetings/{meeting_id}/agenda", summary="The agenda as you see it")
def agenda(meeting_id: str, meetings: ScheduledMeetingServiceDep) -> Any:
    return _out(meetings.agenda(meeting_id))


@router.get(
    "/exercise-schedule", tags=["playbooks"], summary="Each playbook's last exercise and next due date"
)
def exercise_schedule(meetings: ScheduledMeetingServiceDep) -> list[Any]:
    return [_out(s) for s in meetings.exercise_schedule()]


@router.post("/meetings/{meeting_id}/actions", status_code=201, summary="Record a decision or action item")
def add_action(meeting_id: str, body: ActionIn, meetings: MeetingServiceDep) -> Any:
    item = meetings.add_action(
        meeting_id,
        body.text,
        owner_org_id=body.owner_org_id,
        due=body.due,
        kind=body.kind,
        marking=_marking(body.marking),
    )
    return _out(item)


@router.get("/action-items", summary="Decisions and action items you may see (overdue flagged)")
def action_items(meetings: MeetingServiceDep, open_only: bool = Query(False, alias="open")) -> list[Any]:
    return [_out(i) for i in meetings.action_items(open_only=open_only)]


@router.patch("/action-items/{action_id}", summary="Close or reopen an action item")
def set_status(action_id: DbId, body: StatusIn, meetings: MeetingServiceDep) -> Any:
    return _out(meetings.set_action_status(action_id, body.status))


@router.put("/meetings/{meeting_id}/minutes", summary="Record the minutes (convener only)")
def record_minutes(meeting_id: str, body: MinutesIn, meetings: MeetingServiceDep) -> Any:
    return _out(meetings.record_minutes(meeting_id, body.text, marking=_marking(body.marking)))


def _reader(session: Any, org_id: str) -> str:
    return org_names(session).get(org_id, org_id)


@router.get(
    "/meetings/{meeting_id}/pack",
    summary="The meeting pack (agenda, updates, briefing): HTML, PDF or Markdown, marked for the reader",
)
def pack(
    meeting_id: str,
    meetings: ScheduledMeetingServiceDep,
    principal: PrincipalDep,
    session: SessionDep,
    fmt: Literal["html", "pdf", "md"] = Query("html", alias="format"),
) -> Response:
    body = render_pack(meetings, meeting_id, fmt, _reader(session, principal.org_id))
    return Response(body, media_type=MEDIA[fmt])


@router.get(
    "/meetings/{meeting_id}/minutes",
    summary="The minutes, decisions and action items: HTML, PDF or Markdown, marked for the reader",
)
def minutes(
    meeting_id: str,
    meetings: MeetingServiceDep,
    principal: PrincipalDep,
    session: SessionDep,
    fmt: Literal["html", "pdf", "md"] = Query("html", alias="format"),
) -> Response:
    body = render_minutes(meetings, meeting_id, fmt, _reader(session, principal.org_id))
    return Response(body, media_type=MEDIA[fmt])


@router.get("/elections/dates", tags=["elections"], summary="Key election dates in time order")
def election_dates(meetings: MeetingServiceDep, election: str | None = None) -> list[dict[str, Any]]:
    now = meetings.now()
    return [{**_out(d), "days_left": d.days_left(now)} for d in meetings.election_dates(election=election)]


@router.post("/elections/dates", status_code=201, tags=["elections"], summary="Add a key election date")
def add_election_date(body: ElectionDateIn, meetings: MeetingServiceDep) -> Any:
    return _out(meetings.add_election_date(body.election, body.kind, body.at, body.title))
