"""``MeetingService``: coalition meetings, member updates, agendas, minutes, decisions and action
items, and the election calendar, for the CLI, the REST routes and the dashboard.

Usage::

    with db.session() as session:
        meetings = MeetingService(session, principal)
        [m] = meetings.create_meeting("Weekly sync", starts_at, invited={gov_id: "member"})
        meetings.file_update(m.id, sees={"notes": "..."}, asks="...", marking=Marking(TLP.AMBER))
        agenda = meetings.agenda(m.id)        # updates, briefing, embargoes, action items, dates
        meetings.add_action(m.id, "Share the seed list", owner_org_id=gov_id, due=...)
        meetings.record_minutes(m.id, "...", marking=Marking(TLP.GREEN))

Visibility: a meeting is visible to its convening organisation and the invited ones (the local
administrator, ``principal=None``, sees all). Updates, action items and minutes carry their own TLP
marking and are filtered with the exchange's one rule, ``can_see``, through ``Service.sees``
(the source is the organisation that wrote the item). So a government reader of a pack never
receives a platform's AMBER update unless the platform listed it in ``shared_with``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.cases.briefing import BriefingService
from vigil.cases.exercises import PlaybookSchedule, exercise_records, exercise_schedule
from vigil.cases.meetings_models import ElectionDateRow, MeetingActionRow, MeetingRow, MeetingUpdateRow
from vigil.cases.models import CaseActionRow, CaseRow
from vigil.cases.playbooks import PlaybookLibrary
from vigil.cases.policies import PolicyService
from vigil.cases.policies_models import PolicyVersionRow
from vigil.cases.records import Case, Status
from vigil.cases.service import CaseService
from vigil.core.errors import InputError, NotFound
from vigil.core.ids import new_id
from vigil.core.settings import get_settings
from vigil.core.time import ensure_utc
from vigil.exchange.access import Permission, Principal, require
from vigil.exchange.models import ContributionRow, ContributionShareRow, SignalRow
from vigil.exchange.policy import attends_meeting, document_marking, require_convener
from vigil.exchange.records import TLP, Marking, OrgKind
from vigil.exchange.service import Service
from vigil.exchange.store.languages import current_languages

ELECTION_KINDS = (
    "registration_deadline",
    "convention",
    "debate",
    "early_voting",
    "election_day",
    "certification",
    "other",
)
MEETING_ROLES = ("chair", "member", "observer")
ACTION_KINDS = ("action", "decision")
ACTION_STATUSES = ("open", "done", "dropped")
RECURRENCES = {"weekly": timedelta(weeks=1), "fortnightly": timedelta(weeks=2)}
DEFAULT_LOOKBACK = timedelta(days=7)  # "since the last meeting" when there was none
EMBARGO_HORIZON = timedelta(days=7)  # cases whose embargo ends within this of the meeting
# an invited member is asked to confirm or update its policies this long before a meeting
POLICY_ASK_HORIZON = timedelta(days=7)
DATES_HORIZON = timedelta(days=60)  # election dates an agenda lists
MAX_TEXT = 50_000
MAX_OCCURRENCES = 104


@dataclass(frozen=True)
class ElectionDate:
    id: int
    election: str
    kind: str
    at: datetime
    title: str | None

    def days_left(self, now: datetime) -> int:
        """Whole days from ``now`` to this date (negative once passed)."""
        return (self.at.date() - now.date()).days


@dataclass(frozen=True)
class Meeting:
    id: str
    series_id: str | None
    org_id: str
    title: str
    starts_at: datetime
    recurrence: str | None
    invited: dict[str, str]  # org id -> role
    minutes: str | None  # None when there are none or the reader may not see them
    minutes_marking: Marking


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


def _text(value: str | None, name: str, *, required: bool = False) -> str | None:
    clean = (value or "").strip()
    if required and not clean:
        raise InputError(f"{name} must not be empty", field=name)
    if len(clean) > MAX_TEXT:
        raise InputError(f"{name} longer than {MAX_TEXT} characters", field=name)
    return clean or None


def _choice(value: str, allowed: tuple[str, ...], name: str) -> str:
    clean = str(value).strip().lower().replace("-", "_")
    if clean not in allowed:
        raise InputError(f"unknown {name} {value!r}; known: {', '.join(allowed)}", field=name)
    return clean


def _date_record(row: ElectionDateRow) -> ElectionDate:
    return ElectionDate(id=row.id, election=row.election, kind=row.kind, at=row.at, title=row.title)


class MeetingService(Service):
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
    # helpers

    def attends(self, row: MeetingRow) -> bool:
        """Whether the principal's organisation convenes or is invited to the meeting."""
        return attends_meeting(self.principal, row.org_id, row.invited or {})

    def _row(self, meeting_id: str) -> MeetingRow:
        row = self.session.get(MeetingRow, meeting_id)
        if row is None or not self.attends(row):
            raise NotFound(f"no meeting {meeting_id!r}", meeting_id=meeting_id)
        return row

    def _meeting(self, row: MeetingRow) -> Meeting:
        marking = Marking(TLP(row.minutes_tlp), tuple(row.minutes_shared_with or ()))
        minutes = row.minutes if self.sees(row.org_id, marking) else None
        return Meeting(
            id=row.id,
            series_id=row.series_id,
            org_id=row.org_id,
            title=row.title,
            starts_at=row.starts_at,
            recurrence=row.recurrence,
            invited={str(k): str(v) for k, v in (row.invited or {}).items()},
            minutes=minutes,
            minutes_marking=marking,
        )

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
    # election calendar

    def add_election_date(
        self, election: str, kind: str, at: datetime, title: str | None = None
    ) -> ElectionDate:
        """Record one key date of an election (coalition-wide, not marked: the calendar is public)."""
        require(self.principal, Permission.WRITE)
        row = ElectionDateRow(
            election=_text(election, "election", required=True),
            kind=_choice(kind, ELECTION_KINDS, "kind"),
            at=ensure_utc(at),
            title=_text(title, "title"),
            created_at=self.now(),
        )
        self.session.add(row)
        self.session.flush()
        return _date_record(row)

    def election_dates(
        self, *, election: str | None = None, after: datetime | None = None, before: datetime | None = None
    ) -> list[ElectionDate]:
        """Key dates in time order, optionally of one election and within a window."""
        require(self.principal, Permission.READ)
        stmt = select(ElectionDateRow).order_by(ElectionDateRow.at, ElectionDateRow.id)
        if election:
            stmt = stmt.where(ElectionDateRow.election == election)
        if after is not None:
            stmt = stmt.where(ElectionDateRow.at >= after)
        if before is not None:
            stmt = stmt.where(ElectionDateRow.at <= before)
        return [_date_record(r) for r in self.session.scalars(stmt)]

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

    def countdown(self, limit: int = 5) -> list[tuple[ElectionDate, int]]:
        """The next key dates from now with the days left to each (the dashboard's countdown)."""
        now = self.now()
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return [(d, d.days_left(now)) for d in self.election_dates(after=start)[:limit]]

    # -----------------------------------------------------------------------------------------
    # meetings

    def create_meeting(
        self,
        title: str,
        starts_at: datetime,
        *,
        invited: dict[str, str] | None = None,
        recurrence: str | None = None,
        occurrences: int = 1,
    ) -> list[Meeting]:
        """Schedule an ad hoc meeting, or ``occurrences`` of a recurring one (one series)."""
        require(self.principal, Permission.WRITE)
        org = self.acting_org()
        clean_title = _text(title, "title", required=True)
        assert clean_title is not None
        roles = {str(k): _choice(v, MEETING_ROLES, "role") for k, v in (invited or {}).items()}
        roles.setdefault(org, "chair")
        self.check_orgs(list(roles), "invited")
        step: timedelta | None = None
        if recurrence:
            recurrence = _choice(recurrence, tuple(RECURRENCES), "recurrence")
            step = RECURRENCES[recurrence]
        if occurrences < 1 or occurrences > MAX_OCCURRENCES or (step is None and occurrences != 1):
            raise InputError(
                f"occurrences must be 1 for an ad hoc meeting, 1-{MAX_OCCURRENCES} for a recurring one",
                field="occurrences",
            )
        series = new_id("series") if step is not None else None
        now = self.now()
        made = []
        for i in range(occurrences):
            row = MeetingRow(
                id=new_id("meeting"),
                series_id=series,
                org_id=org,
                title=clean_title,
                starts_at=ensure_utc(starts_at) + (step * i if step else timedelta(0)),
                recurrence=recurrence,
                invited=roles,
                minutes=None,
                minutes_tlp=TLP.AMBER.value,
                minutes_shared_with=[],
                created_at=now,
                modified_at=now,
            )
            self.session.add(row)
            made.append(row)
        self.session.flush()
        return [self._meeting(r) for r in made]

    def invite(self, meeting_id: str, org_id: str, role: str = "member") -> Meeting:
        """Invite one more organisation (or change its role); the convening organisation only."""
        require(self.principal, Permission.WRITE)
        row = self._row(meeting_id)
        require_convener(self.principal, row.org_id, "invite")
        self.check_orgs([org_id], "org")
        row.invited = {**(row.invited or {}), org_id: _choice(role, MEETING_ROLES, "role")}
        row.modified_at = self.now()
        self.session.flush()
        return self._meeting(row)

    def get_meeting(self, meeting_id: str) -> Meeting:
        require(self.principal, Permission.READ)
        return self._meeting(self._row(meeting_id))

    def list_meetings(self, *, after: datetime | None = None) -> list[Meeting]:
        """Meetings the principal's organisation convenes or is invited to, in time order."""
        require(self.principal, Permission.READ)
        stmt = select(MeetingRow).order_by(MeetingRow.starts_at, MeetingRow.id)
        if after is not None:
            stmt = stmt.where(MeetingRow.starts_at >= after)
        return [self._meeting(r) for r in self.session.scalars(stmt) if self.attends(r)]

    def since_last(self, meeting_id: str) -> datetime:
        """When the previous meeting of the series started (any earlier meeting for an ad hoc one)."""
        row = self._row(meeting_id)
        stmt = select(func.max(MeetingRow.starts_at)).where(MeetingRow.starts_at < row.starts_at)
        if row.series_id is not None:
            stmt = stmt.where(MeetingRow.series_id == row.series_id)
        previous = self.session.scalar(stmt)
        return ensure_utc(previous) if previous is not None else ensure_utc(row.starts_at) - DEFAULT_LOOKBACK

    # -----------------------------------------------------------------------------------------
    # member updates

    def prefill(
        self, meeting_id: str, org_id: str | None = None, *, until: datetime | None = None
    ) -> dict[str, Any]:
        """Figures of one organisation's own activity in Vigil since the last meeting, counted
        over what the principal may see: the filer sees all its own activity, another reader only
        the contributions, cases and case actions whose marking lets it see them (so no figure,
        count, technique or id reveals an item hidden from that reader). ``until`` (default now)
        is capped at the meeting's start: a past meeting's figures stay what they were."""
        require(self.principal, Permission.READ)
        org = org_id or self.acting_org()
        since = self.since_last(meeting_id)
        end = min(ensure_utc(until) if until else self.now(), ensure_utc(self._row(meeting_id).starts_at))
        contributions = self.session.execute(
            select(ContributionRow.id, ContributionRow.tlp, ContributionRow.signal_id, SignalRow.kind)
            .join(SignalRow, ContributionRow.signal_id == SignalRow.id)
            .where(
                ContributionRow.org_id == org,
                ContributionRow.created_at >= since,
                ContributionRow.created_at <= end,
            )
            .order_by(ContributionRow.created_at.desc(), ContributionRow.id.desc())
        ).all()
        shares: dict[int, list[str]] = {}
        if self.principal is not None and self.principal.org_id != org:
            for contribution_id, share_org in self.session.execute(
                select(ContributionShareRow.contribution_id, ContributionShareRow.org_id).where(
                    ContributionShareRow.contribution_id.in_([r[0] for r in contributions])
                )
            ):
                shares.setdefault(contribution_id, []).append(share_org)
        seen = [r for r in contributions if self.sees(org, Marking(TLP(r[1]), tuple(shares.get(r[0], ()))))]
        kinds = Counter(str(r[3]) for r in seen)
        # the organisation's own language for each contribution, never another member's
        own_languages = current_languages(self.session, [r[0] for r in seen])
        languages = Counter(lang for r in seen if (lang := own_languages.get(r[0])) is not None)
        case_rows = [
            r
            for r in self.session.scalars(
                select(CaseRow)
                .where(CaseRow.org_id == org, CaseRow.created_at >= since, CaseRow.created_at <= end)
                .order_by(CaseRow.created_at)
            )
            if self.sees(r.org_id, Marking(TLP(r.tlp), tuple(r.shared_with or ())))
        ]
        actions: Counter[str] = Counter()
        for action in self.session.scalars(
            select(CaseActionRow).where(
                CaseActionRow.org_id == org,
                CaseActionRow.created_at >= since,
                CaseActionRow.created_at <= end,
            )
        ):
            if self.sees(action.org_id, Marking(TLP(action.tlp), tuple(action.shared_with or ()))):
                actions[action.action] += action.count
        techniques = sorted({t for r in case_rows for t in (r.techniques or [])})
        return {
            "since": since.isoformat(),
            "until": end.isoformat(),
            "signals_total": len(seen),
            "signals_by_kind": dict(sorted(kinds.items())),
            "signals_by_language": dict(languages.most_common()),
            "signal_ids": [r[2] for r in seen[:20]],
            "cases_opened": [{"id": r.id, "title": r.title, "tlp": r.tlp} for r in case_rows],
            "techniques": techniques,
            "actions": dict(sorted(actions.items())),
        }

    def file_update(
        self,
        meeting_id: str,
        *,
        sees: dict[str, Any] | None = None,
        expects: list[dict[str, Any]] | None = None,
        asks: str | None = None,
        marking: Marking | None = None,
    ) -> MemberUpdate:
        """File (or replace) the acting organisation's update; figures are pre-filled afresh."""
        require(self.principal, Permission.WRITE)
        org = self.acting_org()
        row = self._row(meeting_id)
        marking = marking or Marking(TLP.AMBER)
        self.check_orgs(list(marking.shared_with), "shared_with")
        events = []
        for i, event in enumerate(expects or []):
            if not isinstance(event, dict) or not str(event.get("event", "")).strip():
                raise InputError(f"expects[{i}] needs an 'event'", field=f"expects[{i}]")
            events.append({k: str(v) for k, v in event.items() if k in ("on", "event", "risk")})
        now = self.now()
        figures = self.prefill(row.id, org)  # before any pending row could autoflush half-filled
        update = self.session.scalar(
            select(MeetingUpdateRow).where(
                MeetingUpdateRow.meeting_id == row.id, MeetingUpdateRow.org_id == org
            )
        )
        if update is None:
            update = MeetingUpdateRow(meeting_id=row.id, org_id=org, created_at=now)
            self.session.add(update)
        update.sees = dict(sees or {})
        update.figures = figures
        update.expects = {"events": events}
        update.asks = _text(asks, "asks")
        update.tlp = marking.tlp.value
        update.shared_with = list(marking.shared_with)
        update.modified_at = now
        self.session.flush()
        return self._update(update)

    def updates(self, meeting_id: str) -> list[MemberUpdate]:
        """The updates of one meeting the principal may see."""
        require(self.principal, Permission.READ)
        row = self._row(meeting_id)
        rows = self.session.scalars(
            select(MeetingUpdateRow)
            .where(MeetingUpdateRow.meeting_id == row.id)
            .order_by(MeetingUpdateRow.id)
        )
        found = [self._update(r) for r in rows]
        return [self._for_reader(u) for u in found if self.sees(u.org_id, u.marking)]

    def _for_reader(self, update: MemberUpdate) -> MemberUpdate:
        """The update with its pre-filled figures as the reader may see them. The figures are
        taken from the filer's whole activity when it files, whatever the update's own marking;
        each reader's copy is counted again over the same period (up to the filing) from only the
        contributions, cases (each listed with its own TLP) and actions that reader may see."""
        figures = self.prefill(update.meeting_id, update.org_id, until=update.modified_at)
        return replace(update, figures=figures)

    # -----------------------------------------------------------------------------------------
    # decisions and action items

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
            kind=_choice(kind, ACTION_KINDS, "kind"),
            text=_text(text, "text", required=True),
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
        row.status = _choice(status, ACTION_STATUSES, "status")
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

    # -----------------------------------------------------------------------------------------
    # minutes and the agenda

    def record_minutes(self, meeting_id: str, text: str, *, marking: Marking | None = None) -> Meeting:
        """Write the minutes (the convening organisation is their source for the marking)."""
        require(self.principal, Permission.WRITE)
        row = self._row(meeting_id)
        require_convener(self.principal, row.org_id, "take the minutes")
        marking = marking or Marking(TLP.AMBER)
        self.check_orgs(list(marking.shared_with), "shared_with")
        row.minutes = _text(text, "minutes", required=True)
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
            b = BriefingService(self.session, self.principal, now=self._now).build(since)
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
