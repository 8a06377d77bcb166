"""``PolicyService``: the member policy register. For each member and each policy area, what the
member has announced or has in force against election disinformation, with every change kept.

Usage::

    with db.session() as session:
        policies = PolicyService(session, principal)
        policies.record("political_ads", "in_force", effective_from=..., source_url="https://...",
                        summary="No political ads from 1 May", marking=Marking(TLP.CLEAR),
                        note="Exceptions under review", note_marking=Marking(TLP.AMBER))
        policies.matrix()                    # member x area, gaps flagged
        policies.diff(start, end)            # what changed between two instants
        policies.since_meeting(meeting_id)   # what changed since the previous meeting
        policies.readiness("Presidential 2027")  # in force by election day, per member and area

**Versions.** A record never changes: each one is a new version (1, 2, ... per member and area)
with who recorded it and when. The state at an instant is, per member and area, the latest
version recorded by then that the reader may see.

**Visibility.** A version carries two markings: one for the policy (status, dates, source URL,
summary; GREEN by default: platforms' policies are usually public) and one for its note (AMBER by
default). Both are decided by the exchange's one rule, ``vigil.exchange.access.can_see``, with the
member whose policy it is as the source, through ``CaseService.sees``. A version the reader may not
see is left out as if it had not been recorded; a note the reader may not see is removed (``note``
and ``note_marking`` are None) while the rest of the version stays.

**Writes.** Only the member itself records its policies (analyst or admin keys; the local
administrator, principal ``None``, names the member). Each record goes to the audit log
(``policy.record``) in the same transaction.

**Areas.** The configurable list of policy areas, each titled in English, French and Arabic: the
package's ``data/policy_areas.yaml``, replaced by ``policy_areas.yaml`` in the data directory.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.cases.calendar import MeetingCalendar
from vigil.cases.policies_models import PolicyVersionRow
from vigil.cases.service import CaseService
from vigil.core.errors import ConfigError, InputError, NotFound, PermissionDenied
from vigil.core.settings import get_settings
from vigil.core.time import ensure_utc
from vigil.exchange import audit
from vigil.exchange.access import Permission, Principal, most_restrictive, require
from vigil.exchange.models import OrgRow
from vigil.exchange.policy import AuditTargets
from vigil.exchange.records import TLP, Marking, OrgKind
from vigil.exchange.service import Service

STATUSES = ("none", "announced", "in_force", "changed", "withdrawn")
# Statuses under which a policy applies between its effective dates.
APPLIES = frozenset({"announced", "in_force", "changed"})
LANGUAGES = ("en", "fr", "ar")
RTL = frozenset({"ar"})
AREAS_FILE = "policy_areas.yaml"
MAX_SUMMARY = 20_000
MAX_URL = 2000
COMPARED = ("status", "effective_from", "effective_until", "source_url", "summary", "language", "note")


def direction(language: str | None) -> str:
    """The HTML ``dir`` of text in ``language`` (Arabic right to left)."""
    return "rtl" if language in RTL else "ltr"


@dataclass(frozen=True)
class PolicyArea:
    key: str
    titles: dict[str, str]  # language -> title

    def title(self, language: str = "en") -> str:
        return self.titles.get(language) or self.titles.get("en") or self.key


@dataclass(frozen=True)
class PolicyAreas:
    """The ordered, configurable list of policy areas."""

    areas: tuple[PolicyArea, ...]

    @classmethod
    def parse(cls, text: str, origin: str) -> PolicyAreas:
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{origin}: not valid YAML: {exc}") from None
        items = raw.get("areas") if isinstance(raw, dict) else None
        if not isinstance(items, list) or not items:
            raise ConfigError(f"{origin}: needs a non-empty list 'areas'")
        found: list[PolicyArea] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not str(item.get("key", "")).strip():
                raise ConfigError(f"{origin}: areas[{i}] needs a 'key'")
            key = str(item["key"]).strip()
            if len(key) > 64 or any(a.key == key for a in found):
                raise ConfigError(f"{origin}: areas[{i}] key {key!r} is too long or repeated")
            missing = [lang for lang in LANGUAGES if not str(item.get(lang, "")).strip()]
            if missing:
                raise ConfigError(f"{origin}: area {key!r} has no title in {', '.join(missing)}")
            found.append(PolicyArea(key, {lang: str(item[lang]).strip() for lang in LANGUAGES}))
        return cls(tuple(found))

    @classmethod
    def default(cls) -> PolicyAreas:
        text = resources.files("vigil.cases").joinpath(f"data/{AREAS_FILE}").read_text("utf-8")
        return _parsed_areas(text, f"vigil/cases/data/{AREAS_FILE}")

    @classmethod
    def load(cls, data_dir: Path | None = None) -> PolicyAreas:
        """The data directory's ``policy_areas.yaml`` if there is one, else the package's list."""
        if data_dir is not None and (data_dir / AREAS_FILE).is_file():
            path = data_dir / AREAS_FILE
            return _parsed_areas(path.read_text("utf-8"), str(path))
        return cls.default()

    def keys(self) -> list[str]:
        return [a.key for a in self.areas]

    def title_of(self, key: str, language: str = "en") -> str:
        """An area's title, or its key when the area is no longer configured (old records)."""
        return next((a.title(language) for a in self.areas if a.key == key), key)

    def get(self, key: str) -> PolicyArea:
        for area in self.areas:
            if area.key == key:
                return area
        raise InputError(f"unknown policy area {key!r}; known: {', '.join(self.keys())}", field="area")


@functools.lru_cache(maxsize=8)
def _parsed_areas(text: str, origin: str) -> PolicyAreas:
    """Parsed once per distinct text: every PolicyService (each request, each agenda and
    overview) loads the areas, and an edited file still takes effect (its text is the key)."""
    return PolicyAreas.parse(text, origin)


@dataclass(frozen=True)
class PolicyVersion:
    id: int
    org_id: str
    area: str
    version: int
    status: str
    effective_from: datetime | None
    effective_until: datetime | None
    source_url: str | None
    summary: str | None
    language: str | None
    marking: Marking
    note: str | None  # None when there is none or the reader may not see it
    note_marking: Marking | None  # None when the reader may not see the note
    recorded_at: datetime
    recorded_by_key: str
    recorded_by_org: str | None

    def applies_on(self, day: datetime) -> bool:
        """Whether the policy is in force on ``day``: announced, in force or changed, and within
        its effective dates (an announced policy needs a start date; in force without one counts)."""
        if self.status not in APPLIES:
            return False
        start = ensure_utc(self.effective_from) if self.effective_from else None
        end = ensure_utc(self.effective_until) if self.effective_until else None
        if start is None and self.status == "announced":
            return False
        return (start is None or start <= day) and (end is None or day <= end)


@dataclass(frozen=True)
class PolicyChange:
    """One member's policy in one area between two instants (``before`` None: newly recorded)."""

    org_id: str
    area: str
    before: PolicyVersion | None
    after: PolicyVersion
    fields: tuple[str, ...]  # what differs (only what the reader may see)


@dataclass
class PolicySection:
    """Policy changes in a period for one reader, as documents (meeting pack, briefing) show them."""

    since: datetime
    until: datetime
    changes: list[PolicyChange]
    areas: PolicyAreas
    names: dict[str, str]  # org id -> name
    # members of the meeting asked to confirm or update their policies before it: invited members
    # (platforms, or any with a policy recorded) with no change the reader sees in the period
    asked: list[str] = field(default_factory=list)

    @property
    def tlps(self) -> list[TLP]:
        """The markings of everything the section shows (for the document's own marking)."""
        found: list[TLP] = []
        for c in self.changes:
            for v in (c.before, c.after):
                if v is not None:
                    found.append(v.marking.tlp)
                    if v.note and v.note_marking is not None:
                        found.append(v.note_marking.tlp)
        return found


@dataclass
class Matrix:
    members: list[str]  # org ids, rows
    areas: list[PolicyArea]  # columns
    cells: dict[str, dict[str, PolicyVersion | None]]  # org id -> area key -> current version
    gaps: list[tuple[str, str]]  # (org id, area) with no policy in force now
    at: datetime
    tlp: TLP = TLP.CLEAR  # the most restrictive marking of what the matrix shows


@dataclass
class Readiness:
    election: str
    day: datetime  # election day
    members: list[str]
    areas: list[PolicyArea]
    in_force: dict[str, dict[str, bool]]  # org id -> area key -> in force by election day
    cells: dict[str, dict[str, PolicyVersion | None]]
    ready: dict[str, int] = field(default_factory=dict)  # org id -> areas in force by the day


def _text(value: str | None, name: str, limit: int) -> str | None:
    clean = (value or "").strip()
    if len(clean) > limit:
        raise InputError(f"{name} longer than {limit} characters", field=name)
    return clean or None


def parse_status(value: str) -> str:
    clean = str(value).strip().lower().replace("-", "_").replace(" ", "_")
    if clean not in STATUSES:
        raise InputError(f"unknown policy status {value!r}; known: {', '.join(STATUSES)}", field="status")
    return clean


def _url(value: str | None) -> str | None:
    clean = _text(value, "source_url", MAX_URL)
    if clean is None:
        return None
    parts = urlsplit(clean)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"source_url must be an http(s) URL, not {clean!r}", field="source_url")
    return clean


class PolicyService(Service):
    """The policy register for one principal in one session (``None``: the local administrator)."""

    def __init__(
        self,
        session: Session,
        principal: Principal | None,
        *,
        now: datetime | None = None,
        areas: PolicyAreas | None = None,
    ) -> None:
        super().__init__(session, principal, now=now)
        self.areas = areas or PolicyAreas.load(get_settings().data_dir)

    # -----------------------------------------------------------------------------------------
    # reading one row for this reader

    def _version(self, row: PolicyVersionRow) -> PolicyVersion | None:
        marking = Marking(TLP(row.tlp), tuple(row.shared_with or ()))
        if not self.sees(row.org_id, marking):
            return None
        note_marking = Marking(TLP(row.note_tlp), tuple(row.note_shared_with or ()))
        note_visible = self.sees(row.org_id, note_marking)
        return PolicyVersion(
            id=row.id,
            org_id=row.org_id,
            area=row.area,
            version=row.version,
            status=row.status,
            effective_from=ensure_utc(row.effective_from) if row.effective_from else None,
            effective_until=ensure_utc(row.effective_until) if row.effective_until else None,
            source_url=row.source_url,
            summary=row.summary,
            language=row.language,
            marking=marking,
            note=row.note if note_visible else None,
            note_marking=note_marking if note_visible else None,
            recorded_at=ensure_utc(row.recorded_at),
            recorded_by_key=row.recorded_by_key,
            recorded_by_org=row.recorded_by_org,
        )

    # -----------------------------------------------------------------------------------------
    # writing

    def record(
        self,
        area: str,
        status: str,
        *,
        org_id: str | None = None,
        effective_from: datetime | None = None,
        effective_until: datetime | None = None,
        source_url: str | None = None,
        summary: str | None = None,
        language: str | None = None,
        marking: Marking | None = None,
        note: str | None = None,
        note_marking: Marking | None = None,
    ) -> PolicyVersion:
        """Record a new version of one member's policy in one area (the member's own only)."""
        require(self.principal, Permission.WRITE)
        if self.principal is not None:
            if org_id is not None and org_id != self.principal.org_id:
                raise PermissionDenied(
                    "a member records only its own policies", org_id=org_id, needs="the member itself"
                )
            org_id = self.principal.org_id
        if org_id is None:
            raise InputError("name the member whose policy this is (--as-org)", field="org")
        self.check_orgs([org_id], "org")
        key = self.areas.get(area).key
        clean_status = parse_status(status)
        start = ensure_utc(effective_from) if effective_from else None
        end = ensure_utc(effective_until) if effective_until else None
        if start is not None and end is not None and end < start:
            raise InputError("effective_until is before effective_from", field="effective_until")
        if language is not None and language not in LANGUAGES:
            raise InputError(
                f"unknown language {language!r}; use one of {', '.join(LANGUAGES)}", field="language"
            )
        marking = marking or Marking(TLP.GREEN)
        note_marking = note_marking or Marking(TLP.AMBER)
        self.check_orgs([*marking.shared_with, *note_marking.shared_with], "shared_with")
        previous = self.session.scalar(
            select(func.max(PolicyVersionRow.version)).where(
                PolicyVersionRow.org_id == org_id, PolicyVersionRow.area == key
            )
        )
        now = self.now()
        row = PolicyVersionRow(
            org_id=org_id,
            area=key,
            version=(previous or 0) + 1,
            status=clean_status,
            effective_from=start,
            effective_until=end,
            source_url=_url(source_url),
            summary=_text(summary, "summary", MAX_SUMMARY),
            language=language,
            tlp=marking.tlp.value,
            shared_with=list(marking.shared_with),
            note=_text(note, "note", MAX_SUMMARY),
            note_tlp=note_marking.tlp.value,
            note_shared_with=list(note_marking.shared_with),
            recorded_at=now,
            recorded_by_key=self.principal.key_id if self.principal else audit.LOCAL_ADMIN,
            recorded_by_org=self.principal.org_id if self.principal else None,
        )
        self.session.add(row)
        self.session.flush()
        audit.record(
            self.session,
            self.principal,
            "policy.record",
            at=now,
            target_type="policy",
            target_id=str(row.id),
            tlp=most_restrictive([marking.tlp, note_marking.tlp] if row.note else [marking.tlp]),
            detail={"org_id": org_id, "area": key, "version": row.version, "status": clean_status},
            subject_org_id=org_id,
        )
        found = self._version(row)
        assert found is not None  # the member always sees its own policy
        return found

    # -----------------------------------------------------------------------------------------
    # history, states and diffs

    def history(
        self,
        *,
        org_id: str | None = None,
        area: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[PolicyVersion]:
        """Every version the reader may see, oldest first."""
        require(self.principal, Permission.READ)
        stmt = select(PolicyVersionRow).order_by(PolicyVersionRow.recorded_at, PolicyVersionRow.id)
        if org_id is not None:
            stmt = stmt.where(PolicyVersionRow.org_id == org_id)
        if area is not None:
            stmt = stmt.where(PolicyVersionRow.area == self.areas.get(area).key)
        if since is not None:
            stmt = stmt.where(PolicyVersionRow.recorded_at > ensure_utc(since))
        if until is not None:
            stmt = stmt.where(PolicyVersionRow.recorded_at <= ensure_utc(until))
        return [v for v in map(self._version, self.session.scalars(stmt)) if v is not None]

    def state_at(self, at: datetime | None = None) -> dict[tuple[str, str], PolicyVersion]:
        """Per (member, area): the latest version recorded by ``at`` (default now) the reader sees."""
        state: dict[tuple[str, str], PolicyVersion] = {}
        for v in self.history(until=at or self.now()):
            state[(v.org_id, v.area)] = v  # history is oldest first: the last one wins
        return state

    def diff(self, start: datetime, end: datetime | None = None) -> list[PolicyChange]:
        """What changed in the register between ``start`` and ``end`` (default now), as the
        reader sees it: one entry per member and area whose visible version differs."""
        end = ensure_utc(end) if end is not None else self.now()
        start = ensure_utc(start)
        if end < start:
            raise InputError("the end of a diff is before its start", field="until")
        before, after = self.state_at(start), self.state_at(end)
        changes: list[PolicyChange] = []
        for key, new in after.items():
            old = before.get(key)
            if old is not None and old.id == new.id:
                continue
            if old is None:  # newly recorded: the fields it sets
                fields = tuple(f for f in COMPARED if getattr(new, f) not in (None, ""))
            else:
                fields = tuple(f for f in COMPARED if getattr(old, f) != getattr(new, f))
            changes.append(PolicyChange(new.org_id, new.area, old, new, fields))
        order = {k: i for i, k in enumerate(self.areas.keys())}
        return sorted(changes, key=lambda c: (c.org_id, order.get(c.area, len(order)), c.area))

    def since_meeting(self, meeting_id: str) -> tuple[datetime, datetime, list[PolicyChange]]:
        """Changes since the previous meeting, up to this one's start (or now, if it is ahead).
        The meeting must be one the reader attends (NotFound otherwise)."""
        meetings = MeetingCalendar(self.session, self.principal, now=self._now)
        since = meetings.since_last(meeting_id)
        end = min(self.now(), ensure_utc(meetings.get_meeting(meeting_id).starts_at))
        return since, end, self.diff(since, end) if since <= end else []

    def section(self, since: datetime, until: datetime | None = None) -> PolicySection:
        """The changes between two instants with what a document needs to show them."""
        end = ensure_utc(until) if until is not None else self.now()
        return PolicySection(ensure_utc(since), end, self.diff(since, end), self.areas, self._names())

    def meeting_section(self, meeting_id: str) -> PolicySection:
        """The changes since the last meeting, for this meeting's pack."""
        since, end, changes = self.since_meeting(meeting_id)
        invited = MeetingCalendar(self.session, self.principal, now=self._now).get_meeting(meeting_id).invited
        recorders = set(self.session.scalars(select(PolicyVersionRow.org_id).distinct()))
        members = set(self.members()) | recorders
        changed = {c.org_id for c in changes}
        asked = [o for o in invited if o in members and o not in changed]
        return PolicySection(since, end, changes, self.areas, self._names(), asked)

    def _names(self) -> dict[str, str]:
        return {r.id: r.name for r in self.session.scalars(select(OrgRow))}

    # -----------------------------------------------------------------------------------------
    # views

    def members(self, extra: list[str] | None = None) -> list[str]:
        """The matrix's rows: every platform member, plus any member with a policy recorded."""
        platforms = list(
            self.session.scalars(
                select(OrgRow.id).where(OrgRow.kind == OrgKind.PLATFORM.value).order_by(OrgRow.name)
            )
        )
        return platforms + [o for o in dict.fromkeys(extra or []) if o not in platforms]

    def matrix(self, at: datetime | None = None) -> Matrix:
        """Member x area at ``at`` (default now); a gap is a cell with no policy in force then."""
        require(self.principal, Permission.READ)
        when = ensure_utc(at) if at is not None else self.now()
        state = self.state_at(when)
        members = self.members(sorted({o for o, _ in state}))
        cells = {o: {a.key: state.get((o, a.key)) for a in self.areas.areas} for o in members}
        gaps = [
            (o, a) for o, row in cells.items() for a, v in row.items() if v is None or not v.applies_on(when)
        ]
        marks = [v.marking.tlp for v in state.values()]
        marks += [v.note_marking.tlp for v in state.values() if v.note and v.note_marking]
        return Matrix(
            members,
            list(self.areas.areas),
            cells,
            gaps,
            when,
            most_restrictive([TLP.CLEAR, *marks]) or TLP.CLEAR,
        )

    def readiness(self, election: str) -> Readiness:
        """Which members have which policy in force by the election's day (from the calendar)."""
        days = [
            d
            for d in MeetingCalendar(self.session, self.principal, now=self._now).election_dates(
                election=election
            )
            if d.kind == "election_day"
        ]
        if not days:
            raise NotFound(f"no election day in the calendar for {election!r}", election=election)
        day = ensure_utc(days[0].at)
        m = self.matrix()
        in_force = {
            o: {a: v is not None and v.applies_on(day) for a, v in row.items()} for o, row in m.cells.items()
        }
        return Readiness(
            election=election,
            day=day,
            members=m.members,
            areas=m.areas,
            in_force=in_force,
            cells=m.cells,
            ready={o: sum(row.values()) for o, row in in_force.items()},
        )

    def as_json(self, version: PolicyVersion) -> dict[str, Any]:
        """A version as JSON-ready values (markings as {"tlp", "shared_with"})."""

        def mark(m: Marking | None) -> dict[str, Any] | None:
            return {"tlp": m.tlp.value, "shared_with": list(m.shared_with)} if m else None

        return {
            "id": version.id,
            "org_id": version.org_id,
            "area": version.area,
            "version": version.version,
            "status": version.status,
            "effective_from": version.effective_from,
            "effective_until": version.effective_until,
            "source_url": version.source_url,
            "summary": version.summary,
            "language": version.language,
            "marking": mark(version.marking),
            "note": version.note,
            "note_marking": mark(version.note_marking),
            "recorded_at": version.recorded_at,
            "recorded_by_key": version.recorded_by_key,
            "recorded_by_org": version.recorded_by_org,
        }


def _visible_policy_versions(session: Session, principal: Principal, ids: Sequence[str]) -> set[str]:
    """Audit-log resolver for ``policy`` entries (``policy.record``; the target id is the version's
    row id): the versions whose policy marking lets ``principal`` see them, by the same rule as the
    register itself. The entry's detail (member, area, version, status) is policy-level; the note,
    marked on its own, never goes into the audit log."""
    numbers = [int(i) for i in ids if i.isdigit() and len(i) <= 10]
    if not numbers:
        return set()
    cases = CaseService(session, principal)
    rows = session.execute(
        select(
            PolicyVersionRow.id, PolicyVersionRow.org_id, PolicyVersionRow.tlp, PolicyVersionRow.shared_with
        ).where(PolicyVersionRow.id.in_(numbers))
    )
    return {
        str(row_id)
        for row_id, org_id, tlp, shared in rows
        if cases.sees(org_id, Marking(TLP(tlp), tuple(shared or ())))
    }


AuditTargets.register("policy", _visible_policy_versions)
