"""Decisions and action items of meetings, and the overview's reminders (overdue and due action
items, the election countdown, exercises due, policies to confirm before a meeting)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from vigil.cases.calendar import Meeting, clean_choice, clean_text
from vigil.cases.meetings.base import (
    ACTION_KINDS,
    ACTION_STATUSES,
    POLICY_ASK_HORIZON,
    ActionItem,
    MeetingBase,
    Reminders,
)
from vigil.cases.meetings_models import MeetingActionRow, MeetingRow
from vigil.cases.policies_models import PolicyVersionRow
from vigil.core.errors import NotFound
from vigil.core.time import ensure_utc
from vigil.exchange.access import Permission, require
from vigil.exchange.records import TLP, Marking, OrgKind


class ActionItems(MeetingBase):
    """Add, close and list decisions and action items; the reader's reminders."""

    def add_action(
        self,
        meeting_id: str,
        text: str,
        *,
        owner_org_id: str | None = None,
        due: datetime | None = None,
        kind: str = "action",
        marking: Marking | None = None,
    ) -> ActionItem:
        require(self.principal, Permission.WRITE)
        row = self._row(meeting_id)
        marking = marking or Marking(TLP.AMBER)
        self.check_orgs([*([owner_org_id] if owner_org_id else []), *marking.shared_with], "owner")
        item = MeetingActionRow(
            meeting_id=row.id,
            kind=clean_choice(kind, ACTION_KINDS, "kind"),
            text=clean_text(text, "text", required=True),
            owner_org_id=owner_org_id,
            due=ensure_utc(due) if due is not None else None,
            status="open" if kind == "action" else "done",
            source_org_id=self.principal.org_id if self.principal else row.org_id,
            tlp=marking.tlp.value,
            shared_with=list(marking.shared_with),
            created_at=self.now(),
            closed_at=None,
        )
        self.session.add(item)
        self.session.flush()
        return self._action(item)

    def visible_action(self, row: MeetingActionRow) -> bool:
        """The one rule for action items: the reader attends the meeting and the marking allows it."""
        meeting = self.session.get(MeetingRow, row.meeting_id)
        if meeting is None or not self.attends(meeting):
            return False
        return self.sees(row.source_org_id, Marking(TLP(row.tlp), tuple(row.shared_with or ())))

    def set_action_status(self, action_id: int, status: str) -> ActionItem:
        require(self.principal, Permission.WRITE)
        row = self.session.get(MeetingActionRow, action_id)
        if row is None or not self.visible_action(row):
            raise NotFound(f"no action item {action_id}", action_id=action_id)
        row.status = clean_choice(status, ACTION_STATUSES, "status")
        row.closed_at = self.now() if row.status != "open" else None
        self.session.flush()
        return self._action(row)

    def action_items(self, *, meeting_id: str | None = None, open_only: bool = False) -> list[ActionItem]:
        """Decisions and action items the principal may see, due first (undated last)."""
        require(self.principal, Permission.READ)
        stmt = select(MeetingActionRow).order_by(MeetingActionRow.id)
        if meeting_id is not None:
            stmt = stmt.where(MeetingActionRow.meeting_id == self._row(meeting_id).id)
        if open_only:
            stmt = stmt.where(MeetingActionRow.status == "open")
        found = [self._action(r) for r in self.session.scalars(stmt) if self.visible_action(r)]
        far = datetime.max.replace(tzinfo=self.now().tzinfo)
        return sorted(found, key=lambda a: (ensure_utc(a.due) if a.due else far, a.id))

    def reminders(self, lead: timedelta, *, dates: int = 3) -> Reminders:
        """The overview's reminders: the countdown to the next ``dates`` key dates, the action
        items the reader's organisation owns that are overdue or due within ``lead`` (only those
        it may see), and the playbooks due for an exercise."""
        require(self.principal, Permission.READ)
        now = self.now()
        stmt = (
            select(MeetingActionRow)
            .where(
                MeetingActionRow.status == "open",
                MeetingActionRow.kind == "action",
                MeetingActionRow.due.is_not(None),
                MeetingActionRow.due <= now + lead,
            )
            .order_by(MeetingActionRow.due, MeetingActionRow.id)
        )
        if self.principal is not None:
            stmt = stmt.where(MeetingActionRow.owner_org_id == self.principal.org_id)
        mine = [self._action(r) for r in self.session.scalars(stmt) if self.visible_action(r)]
        return Reminders(
            countdown=self.countdown(limit=dates),
            overdue=[a for a in mine if a.overdue],
            due_soon=[
                a for a in mine if not a.overdue and a.due is not None and ensure_utc(a.due) <= now + lead
            ],
            exercises_due=[s for s in self.exercise_schedule() if s.due],
            lead=lead,
            policies_due=self.policies_due(),
        )

    def policies_due(self, horizon: timedelta = POLICY_ASK_HORIZON) -> list[Meeting]:
        """Meetings starting within ``horizon`` that the reader's organisation is invited to and
        before which it has recorded no policy version since the previous meeting: it is asked to
        confirm or update its policies, as it is asked for its update. Only members the register
        covers are asked (platforms, or any member with a policy recorded), as the pack's
        ``PolicySection.asked``; the reminder stops once the member records any version."""
        if self.principal is None:
            return []
        org = self.principal.org_id
        latest = self.session.scalar(
            select(func.max(PolicyVersionRow.recorded_at)).where(PolicyVersionRow.org_id == org)
        )
        if latest is None and self.principal.org_kind is not OrgKind.PLATFORM:
            return []
        now = self.now()
        due: list[Meeting] = []
        for meeting in self.list_meetings(after=now):
            if ensure_utc(meeting.starts_at) > now + horizon:
                break
            if org in meeting.invited and (
                latest is None or ensure_utc(latest) <= self.since_last(meeting.id)
            ):
                due.append(meeting)
        return due
