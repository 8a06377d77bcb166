"""Minutes and the agenda: the agenda assembles updates, the trend briefing, cases near their
embargo, playbook exercises, open action items, election dates and policy changes, with the
pack's marking for the reader."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from vigil.cases.briefing import BriefingService
from vigil.cases.calendar import Meeting, clean_text
from vigil.cases.exercises import exercise_records
from vigil.cases.meetings.actions import ActionItems
from vigil.cases.meetings.base import DATES_HORIZON, EMBARGO_HORIZON, Agenda
from vigil.cases.meetings.updates import MemberUpdates
from vigil.cases.meetings_models import MeetingUpdateRow
from vigil.cases.policies import PolicyService
from vigil.cases.records import Status
from vigil.core.time import ensure_utc
from vigil.exchange.access import Permission, require
from vigil.exchange.policy import document_marking, require_convener
from vigil.exchange.records import TLP, Marking


class AgendaAndMinutes(MemberUpdates, ActionItems):
    """Taking the minutes and assembling the agenda (over updates and action items)."""

    def record_minutes(self, meeting_id: str, text: str, *, marking: Marking | None = None) -> Meeting:
        """Write the minutes (the convening organisation is their source for the marking)."""
        require(self.principal, Permission.WRITE)
        row = self._row(meeting_id)
        require_convener(self.principal, row.org_id, "take the minutes")
        marking = marking or Marking(TLP.AMBER)
        self.check_orgs(list(marking.shared_with), "shared_with")
        row.minutes = clean_text(text, "minutes", required=True)
        row.minutes_tlp = marking.tlp.value
        row.minutes_shared_with = list(marking.shared_with)
        row.modified_at = self.now()
        self.session.flush()
        return self._meeting(row)

    def agenda(self, meeting_id: str) -> Agenda:
        """The agenda as the principal sees it: assembled from updates, briefing, cases, items, dates."""
        require(self.principal, Permission.READ)
        row = self._row(meeting_id)
        meeting = self._meeting(row)
        since = self.since_last(meeting_id)
        updates = self.updates(meeting_id)
        filed = set(
            self.session.scalars(select(MeetingUpdateRow.org_id).where(MeetingUpdateRow.meeting_id == row.id))
        )
        missing = [o for o in meeting.invited if o not in filed]
        briefing: dict[str, Any] | None = None
        if self.principal is not None:
            # the briefing's totals only (what the agenda and pack show), not its charts
            b = BriefingService(self.session, self.principal, now=self._now).totals(since)
            briefing = {
                "title": b.title(),
                "tlp": b.tlp.value,
                "signals_total": b.signals_total,
                "signals_by_kind": dict(b.signals_by_kind),
                "new_cases": [(c.id, c.title) for c in b.new_cases],
                "active_cases": [(c.id, c.title) for c in b.active_cases],
                "top_narratives": list(b.top_narratives),
            }
        starts = ensure_utc(row.starts_at)
        open_cases = [c for c in self.cases.list_cases() if c.status is not Status.CLOSED]
        embargo_cases = [
            c
            for c in open_cases
            if c.embargo_until is not None
            and self.now() <= ensure_utc(c.embargo_until) <= starts + EMBARGO_HORIZON
        ]
        schedule = self.exercise_schedule()
        due = [s for s in schedule if s.due]
        # under way: open exercise cases not yet completed (a finished one may stay open)
        completed = {r.case_id for r in exercise_records(self.cases) if r.completed_at is not None}
        exercises = [c for c in open_cases if c.exercise and c.id not in completed]
        actions = self.action_items(open_only=True)
        dates = self.election_dates(after=starts - timedelta(days=1), before=starts + DATES_HORIZON)
        items = [
            "Member updates",
            "Trend briefing since the last meeting",
            "Cases near their embargo",
            "Playbook exercises",
            "Open action items",
            "Election calendar",
            "Member policy changes since the last meeting",
            "Decisions and new action items",
        ]
        # the same section the pack shows, so the agenda's counts and marking match the pack's
        policy = PolicyService(self.session, self.principal, now=self._now).meeting_section(meeting_id)
        changed: dict[str, int] = {}
        for change in policy.changes:
            changed[change.org_id] = changed.get(change.org_id, 0) + 1
        marks = [u.marking.tlp for u in updates]
        marks += [TLP(c["tlp"]) for u in updates for c in u.figures["cases_opened"]]
        marks += [c.marking.tlp for c in [*embargo_cases, *exercises]]
        marks += [a.marking.tlp for a in actions]
        if briefing is not None:
            marks.append(TLP(briefing["tlp"]))
        marks += policy.tlps  # a stricter policy note raises the pack's marking (and its badge)
        return Agenda(
            tlp=document_marking(marks),
            meeting=meeting,
            since=since,
            updates=updates,
            missing_updates=missing,
            briefing=briefing,
            embargo_cases=embargo_cases,
            exercises_due=due,
            exercises_in_progress=exercises,
            action_items=actions,
            election_dates=dates,
            items=items,
            policy_changes=changed,
            policy_asked=list(policy.asked),
        )
