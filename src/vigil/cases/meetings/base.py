"""The meeting service's base: the calendar (``vigil.cases.calendar.MeetingCalendar``) with the
records of updates, action items, agendas and reminders, the playbook library, and the exercise
schedule the agenda and the reminders share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from vigil.cases.calendar import ElectionDate, Meeting, MeetingCalendar
from vigil.cases.exercises import PlaybookSchedule, exercise_schedule
from vigil.cases.meetings_models import MeetingActionRow, MeetingUpdateRow
from vigil.cases.playbooks import PlaybookLibrary
from vigil.cases.records import Case
from vigil.cases.service import CaseService
from vigil.core.settings import get_settings
from vigil.core.time import ensure_utc
from vigil.exchange.access import Permission, Principal, require
from vigil.exchange.records import TLP, Marking

ACTION_KINDS = ("action", "decision")
ACTION_STATUSES = ("open", "done", "dropped")
EMBARGO_HORIZON = timedelta(days=7)  # cases whose embargo ends within this of the meeting
# an invited member is asked to confirm or update its policies this long before a meeting
POLICY_ASK_HORIZON = timedelta(days=7)
DATES_HORIZON = timedelta(days=60)  # election dates an agenda lists


@dataclass(frozen=True)
class MemberUpdate:
    id: int
    meeting_id: str
    org_id: str
    sees: dict[str, Any]
    figures: dict[str, Any]
    expects: list[dict[str, Any]]
    asks: str | None
    marking: Marking
    modified_at: datetime


@dataclass(frozen=True)
class ActionItem:
    id: int
    meeting_id: str
    kind: str
    text: str
    owner_org_id: str | None
    due: datetime | None
    status: str
    marking: Marking
    created_at: datetime
    overdue: bool


@dataclass
class Agenda:
    meeting: Meeting
    since: datetime
    updates: list[MemberUpdate]
    missing_updates: list[str]  # invited org ids with no update visible to the reader or filed
    briefing: dict[str, Any] | None  # the reader's trend briefing since the last meeting (summary)
    embargo_cases: list[Case]
    exercises_due: list[PlaybookSchedule]  # playbooks due for an exercise, each with why
    exercises_in_progress: list[Case]  # open exercise cases (playbooks being practised)
    action_items: list[ActionItem]
    election_dates: list[ElectionDate]
    items: list[str] = field(default_factory=list)  # the agenda's numbered headings
    # member policy changes since the last meeting the reader may see: org id -> changed areas
    policy_changes: dict[str, int] = field(default_factory=dict)
    # invited members asked to confirm or update their policies (no change seen since the last one)
    policy_asked: list[str] = field(default_factory=list)
    # The pack's marking for this reader: the most restrictive item it holds (GREEN at least:
    # a pack is coalition-internal even when everything in it is CLEAR).
    tlp: TLP = TLP.GREEN


@dataclass
class Reminders:
    """What the dashboard's overview reminds the reader's organisation of."""

    countdown: list[tuple[ElectionDate, int]]  # next key dates, days left
    overdue: list[ActionItem]  # its open action items past due
    due_soon: list[ActionItem]  # its open action items due within the lead time
    exercises_due: list[PlaybookSchedule]  # playbooks due for an exercise, with why
    lead: timedelta
    # meetings ahead it is invited to, before which it should confirm or update its policies
    policies_due: list[Meeting] = field(default_factory=list)


class MeetingBase(MeetingCalendar):
    """Meetings for one principal in one session (``None``: the trusted local administrator)."""

    def __init__(
        self,
        session: Session,
        principal: Principal | None,
        *,
        now: datetime | None = None,
        playbooks: PlaybookLibrary | None = None,
        playbook_dirs: Sequence[str | Path] | None = None,
    ) -> None:
        super().__init__(session, principal, now=now)
        self._playbooks = playbooks
        # Where ``playbooks()`` loads the library from when none is given (None: the process
        # settings'). Loaded on first use: most meeting calls never need it.
        self._playbook_dirs = playbook_dirs
        self.cases = CaseService(session, principal, now=now)

    # -----------------------------------------------------------------------------------------
    # records

    def _update(self, row: MeetingUpdateRow) -> MemberUpdate:
        return MemberUpdate(
            id=row.id,
            meeting_id=row.meeting_id,
            org_id=row.org_id,
            sees=dict(row.sees or {}),
            figures=dict(row.figures or {}),
            expects=list((row.expects or {}).get("events", [])),
            asks=row.asks,
            marking=Marking(TLP(row.tlp), tuple(row.shared_with or ())),
            modified_at=row.modified_at,
        )

    def _action(self, row: MeetingActionRow) -> ActionItem:
        now = self.now()
        overdue = row.status == "open" and row.due is not None and ensure_utc(row.due) < now
        return ActionItem(
            id=row.id,
            meeting_id=row.meeting_id,
            kind=row.kind,
            text=row.text,
            owner_org_id=row.owner_org_id,
            due=row.due,
            status=row.status,
            marking=Marking(TLP(row.tlp), tuple(row.shared_with or ())),
            created_at=row.created_at,
            overdue=overdue,
        )

    # -----------------------------------------------------------------------------------------
    # playbooks and exercises

    def playbooks(self) -> PlaybookLibrary:
        """The playbook library given to the service, else the one in ``playbook_dirs`` or the
        configured one (loaded once)."""
        if self._playbooks is None:
            dirs = self._playbook_dirs if self._playbook_dirs is not None else get_settings().playbook_dirs
            self._playbooks = PlaybookLibrary.load(dirs)
        return self._playbooks

    def exercise_schedule(self) -> list[PlaybookSchedule]:
        """Every playbook's exercise schedule for this reader: last exercise (from the exercise
        cases it may see), due or not and why, counting down to the coming election dates."""
        require(self.principal, Permission.READ)
        now = self.now()
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        dates = [(d.kind, d.at) for d in self.election_dates(after=start)]
        return exercise_schedule(self.cases, self.playbooks(), dates, now=now)
