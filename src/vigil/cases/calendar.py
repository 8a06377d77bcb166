"""The meeting calendar: coalition meetings (who convenes, who is invited, when) and the election
calendar, as ``MeetingCalendar``, the lower half of ``MeetingService``.

It sits below both ``vigil.cases.meetings`` (updates, action items, agendas, minutes) and
``vigil.cases.policies`` (the policy register reads the calendar: changes since the last meeting,
readiness by election day), so neither imports the other's service to read when meetings are.

Visibility: a meeting is visible to its convening organisation and the invited ones (the local
administrator, ``principal=None``, sees all); minutes carry their own marking, read through
``Service.sees``. The election calendar is coalition-wide and unmarked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, cast, func, or_, select

from vigil.cases.meetings_models import ElectionDateRow, MeetingRow
from vigil.core.errors import InputError, NotFound
from vigil.core.ids import new_id
from vigil.core.tables import PAGE_SIZES, TablePage, check_table_args, clamp_page
from vigil.core.time import ensure_utc
from vigil.exchange.access import Permission, require
from vigil.exchange.models import OrgRow
from vigil.exchange.policy import attends_meeting, require_convener
from vigil.exchange.records import TLP, Marking
from vigil.exchange.service import Service

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
RECURRENCES = {"weekly": timedelta(weeks=1), "fortnightly": timedelta(weeks=2)}
DEFAULT_LOOKBACK = timedelta(days=7)  # "since the last meeting" when there was none
MAX_TEXT = 50_000
MAX_OCCURRENCES = 104

# The meeting list's sortable columns (the ``sort`` parameter), each an SQL ordering;
# "convened_by" sorts by the organisation's name, as shown, not its id.
MEETING_SORTS: dict[str, Any] = {
    "starts": MeetingRow.starts_at,
    "title": func.lower(MeetingRow.title),
    "convened_by": OrgRow.name,
    "recurrence": func.coalesce(MeetingRow.recurrence, ""),
}
MEETING_PAGE_SIZES = PAGE_SIZES


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


def clean_text(value: str | None, name: str, *, required: bool = False) -> str | None:
    clean = (value or "").strip()
    if required and not clean:
        raise InputError(f"{name} must not be empty", field=name)
    if len(clean) > MAX_TEXT:
        raise InputError(f"{name} longer than {MAX_TEXT} characters", field=name)
    return clean or None


def clean_choice(value: str, allowed: tuple[str, ...], name: str) -> str:
    clean = str(value).strip().lower().replace("-", "_")
    if clean not in allowed:
        raise InputError(f"unknown {name} {value!r}; known: {', '.join(allowed)}", field=name)
    return clean


def date_record(row: ElectionDateRow) -> ElectionDate:
    return ElectionDate(id=row.id, election=row.election, kind=row.kind, at=row.at, title=row.title)


class MeetingCalendar(Service):
    """Meetings and election dates for one principal in one session (``None``: the local
    administrator): schedule, invite, list, read one, and when the previous one was."""

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

    # -----------------------------------------------------------------------------------------
    # election calendar

    def add_election_date(
        self, election: str, kind: str, at: datetime, title: str | None = None
    ) -> ElectionDate:
        """Record one key date of an election (coalition-wide, not marked: the calendar is public)."""
        require(self.principal, Permission.WRITE)
        row = ElectionDateRow(
            election=clean_text(election, "election", required=True),
            kind=clean_choice(kind, ELECTION_KINDS, "kind"),
            at=ensure_utc(at),
            title=clean_text(title, "title"),
            created_at=self.now(),
        )
        self.session.add(row)
        self.session.flush()
        return date_record(row)

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
        return [date_record(r) for r in self.session.scalars(stmt)]

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
        clean_title = clean_text(title, "title", required=True)
        assert clean_title is not None
        roles = {str(k): clean_choice(v, MEETING_ROLES, "role") for k, v in (invited or {}).items()}
        roles.setdefault(org, "chair")
        self.check_orgs(list(roles), "invited")
        step: timedelta | None = None
        if recurrence:
            recurrence = clean_choice(recurrence, tuple(RECURRENCES), "recurrence")
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
        row.invited = {**(row.invited or {}), org_id: clean_choice(role, MEETING_ROLES, "role")}
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

    def page_meetings(
        self,
        *,
        text: str | None = None,
        after: datetime | None = None,
        sort: str = "starts",
        order: str = "asc",
        page: int = 1,
        size: int = 25,
    ) -> TablePage[Meeting]:
        """One page of the meetings the principal attends, sorted and counted in SQL.

        Who attends is ``attends_meeting`` in SQL (``_attends_sql``), so the count and the pages
        are over those meetings only: another coalition's meetings shift no page and add nothing
        to the total, and no meeting is loaded to be checked in Python. Ties sort by id, so pages
        never overlap.
        """
        require(self.principal, Permission.READ)
        check_table_args(MEETING_SORTS, sort, order, page, size, MEETING_PAGE_SIZES)
        where: list[ColumnElement[bool]] = []
        if self.principal is not None:
            where.append(self._attends_sql(self.principal.org_id))
        if after is not None:
            where.append(MeetingRow.starts_at >= after)
        if text:
            where.append(func.lower(MeetingRow.title).contains(text.lower(), autoescape=True))
        total = int(self.session.scalar(select(func.count()).select_from(MeetingRow).where(*where)) or 0)
        page = clamp_page(total, page, size)
        key = MEETING_SORTS[sort]
        stmt = (
            select(MeetingRow)
            .outerjoin(OrgRow, OrgRow.id == MeetingRow.org_id)
            .where(*where)
            .order_by(key.asc() if order == "asc" else key.desc(), MeetingRow.id)
            .limit(size)
            .offset((page - 1) * size)
        )
        items = [self._meeting(r) for r in self.session.scalars(stmt)]
        return TablePage(items=items, total=total, page=page, size=size, sort=sort, order=order)

    @staticmethod
    def _attends_sql(org_id: str) -> ColumnElement[bool]:
        """``attends_meeting`` for meeting rows in SQL. ``invited`` is a JSON object keyed by org
        id whose values are roles (chair, member, observer): the org is invited when its quoted id
        is in the JSON text (no role can hold that quoted string)."""
        invited = cast(MeetingRow.invited, String).contains(f'"{org_id}"', autoescape=True)
        return or_(MeetingRow.org_id == org_id, invited)

    def since_last(self, meeting_id: str) -> datetime:
        """When the previous meeting of the series started (any earlier meeting for an ad hoc one)."""
        row = self._row(meeting_id)
        stmt = select(func.max(MeetingRow.starts_at)).where(MeetingRow.starts_at < row.starts_at)
        if row.series_id is not None:
            stmt = stmt.where(MeetingRow.series_id == row.series_id)
        previous = self.session.scalar(stmt)
        return ensure_utc(previous) if previous is not None else ensure_utc(row.starts_at) - DEFAULT_LOOKBACK
