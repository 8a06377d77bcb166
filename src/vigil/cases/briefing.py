"""The periodic trend briefing for partners (for example government members), built for one reader.

``BriefingService(session, principal).build(since)`` gathers, in the reader's own view only:
new and active cases, signals by type, platform and language and per day, top domains and
narratives, sightings per member, and what changed since the last briefing *issued* to the reader's
organisation. ``issue(since)`` also stores the snapshot that the next briefing compares against.

TLP: cases through ``CaseService`` (the exchange's ``can_see``), signals, sightings and
contributions through the exchange store's view for the principal, so a briefing holds nothing the
reader's organisation may not see. Rendering is ``vigil.cases.render``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.cases.models import BriefingRow
from vigil.cases.policies import PolicySection, PolicyService
from vigil.cases.records import Status
from vigil.cases.service import CaseService
from vigil.core.errors import InputError
from vigil.core.ids import new_id
from vigil.core.time import ensure_utc, isoformat_z
from vigil.exchange.access import Permission, Principal, require
from vigil.exchange.models import ContributionRow, OrgRow
from vigil.exchange.policy import document_marking
from vigil.exchange.records import TLP, Signal, SignalKind
from vigil.exchange.service import Service
from vigil.exchange.store import SignalFilter

TOP = 10


@dataclass
class CaseLine:
    id: str
    title: str
    status: str
    attribution: str | None
    tlp: str
    created_at: datetime
    modified_at: datetime
    techniques: tuple[str, ...]


@dataclass
class Changes:
    """Differences from the last briefing issued to the same organisation."""

    previous_issued_at: datetime | None
    new_case_ids: list[str] = field(default_factory=list)
    status_changes: list[tuple[str, str, str]] = field(default_factory=list)  # (case id, before, now)
    signal_delta: dict[str, int] = field(default_factory=dict)  # by kind, vs the last briefing's window


def _title(reader_org_name: str, since: datetime, until: datetime) -> str:
    """A briefing's title (the full one's and its totals' are the same)."""
    return f"Vigil trend briefing for {reader_org_name}: {since:%Y-%m-%d} to {until:%Y-%m-%d}"


@dataclass
class Briefing:
    reader_org_id: str
    reader_org_name: str
    since: datetime
    until: datetime
    new_cases: list[CaseLine]
    active_cases: list[CaseLine]
    signals_total: int
    signals_by_kind: dict[str, int]
    signals_by_platform: dict[str, int]
    signals_by_language: dict[str, int]
    days: list[str]  # the x labels: days, or hours ("HH:00" UTC) when ``bucket`` is "hour"
    daily_by_kind: dict[str, list[int]]
    daily_by_platform: dict[str, list[int]]
    daily_by_language: dict[str, list[int]]
    top_domains: list[tuple[str, int]]
    top_narratives: list[tuple[str, int]]
    sightings_by_member: list[tuple[str, int]]
    changes: Changes
    id: str | None = None  # set once issued
    # The document's marking for this reader: the most restrictive case or contribution it was
    # built from (counts, charts and top values included); GREEN at least, as a briefing is
    # coalition-internal.
    tlp: TLP = TLP.GREEN
    policy: PolicySection | None = None  # member policy changes in the period the reader may see
    bucket: str = "day"  # what one x step of the charts counts: "day", or "hour" for a range of a day

    def snapshot(self) -> dict[str, Any]:
        """What the next briefing compares against."""
        return {
            "cases": {c.id: c.status for c in [*self.new_cases, *self.active_cases]},
            "signals_by_kind": dict(self.signals_by_kind),
        }

    def title(self) -> str:
        return _title(self.reader_org_name, self.since, self.until)


@dataclass
class BriefingTotals:
    """A briefing's headline figures (what a meeting agenda shows of it), the same numbers as
    ``Briefing``'s: see ``BriefingService.totals``."""

    reader_org_name: str
    since: datetime
    until: datetime
    new_cases: list[CaseLine]
    active_cases: list[CaseLine]
    signals_total: int
    signals_by_kind: dict[str, int]
    top_narratives: list[tuple[str, int]]
    tlp: TLP = TLP.GREEN

    def title(self) -> str:
        return _title(self.reader_org_name, self.since, self.until)


def _line(case: Any) -> CaseLine:
    return CaseLine(
        id=case.id,
        title=case.title,
        status=case.status.value,
        attribution=case.attribution,
        tlp=case.marking.tlp.value,
        created_at=case.created_at,
        modified_at=case.modified_at,
        techniques=case.techniques,
    )


def _platform(signal: Signal) -> str | None:
    if signal.kind is SignalKind.ACCOUNT and ":" in signal.value:
        return signal.value.split(":", 1)[0]
    return None


def _domain(signal: Signal) -> str | None:
    if signal.kind is SignalKind.DOMAIN:
        return signal.value
    if signal.kind is SignalKind.URL:
        host = urlsplit(signal.value).hostname
        return host.removeprefix("www.") if host else None
    return None


def _buckets(start: datetime, until: datetime) -> tuple[list[str], Callable[[datetime], int], str]:
    """The charts' x buckets: days, or hours when the range is a day or less (one day's counts
    per day would be a single bar; per hour they show when activity happened).

    Returns the labels, a function from an instant in the range to its bucket, and the unit.
    Hours are UTC; the first label and each midnight carry the date, so a range across midnight
    reads unambiguously.
    """
    if until - start <= timedelta(days=1):
        first = start.replace(minute=0, second=0, microsecond=0)
        n = int((until - first) // timedelta(hours=1)) + 1
        hours = [first + timedelta(hours=i) for i in range(n)]
        labels = [f"{h:%m-%d %H:00}" if i == 0 or h.hour == 0 else f"{h:%H:00}" for i, h in enumerate(hours)]
        return labels, lambda t: min(n - 1, max(0, int((t - first) // timedelta(hours=1)))), "hour"
    n_days = max(1, (until.date() - start.date()).days + 1)
    labels = [(start.date() + timedelta(days=i)).isoformat() for i in range(n_days)]
    return labels, lambda t: min(n_days - 1, (t.date() - start.date()).days), "day"


class BriefingService(Service):
    """Builds and issues briefings for one reader principal (analyst or read-only are enough)."""

    principal: Principal  # a briefing is always for an organisation

    def __init__(self, session: Session, principal: Principal, *, now: datetime | None = None) -> None:
        super().__init__(session, principal, now=now)
        self.cases = CaseService(session, principal, now=now)

    def _signals(self, since: datetime) -> list[Signal]:
        found: list[Signal] = []
        cursor: str | None = None
        while True:
            page = self.cases.store.list_signals(
                self.principal, SignalFilter(modified_after=since), limit=1000, cursor=cursor
            )
            found.extend(page.items)
            if not page.more or page.next_cursor is None:
                return found
            cursor = page.next_cursor

    def last_issued(self) -> BriefingRow | None:
        stmt = (
            select(BriefingRow)
            .where(BriefingRow.org_id == self.principal.org_id)
            .order_by(BriefingRow.issued_at.desc(), BriefingRow.id.desc())
            .limit(1)
        )
        return self.session.scalars(stmt).first()

    def _period(
        self, since: datetime | timedelta
    ) -> tuple[datetime, datetime, list[CaseLine], list[CaseLine]]:
        """The period from ``since`` until now, and the cases of it the reader sees: new in it, and
        older ones still open that changed in it (``build`` and ``totals`` share this)."""
        require(self.principal, Permission.READ)
        until = self.now()
        start = until - since if isinstance(since, timedelta) else ensure_utc(since)
        if start >= until:
            raise InputError(f"since ({isoformat_z(start)}) must be before now", field="since")
        cases = self.cases.list_cases(modified_after=start)
        new_cases = [_line(c) for c in cases if c.created_at >= start]
        active = [_line(c) for c in cases if c.created_at < start and c.status is not Status.CLOSED]
        return start, until, new_cases, active

    def build(self, since: datetime | timedelta) -> Briefing:
        """The briefing from ``since`` (an instant, or a period back from now) until now."""
        start, until, new_cases, active = self._period(since)

        signals = self._signals(start)
        by_kind = Counter(s.kind.value for s in signals)
        by_platform: Counter[str] = Counter()
        by_language: Counter[str] = Counter()
        domains: Counter[str] = Counter()
        narratives: Counter[str] = Counter()
        sightings: Counter[str] = Counter()
        labels, bucket_of, bucket = _buckets(start, until)
        n_days = len(labels)
        daily: dict[str, list[int]] = {}
        daily_platform: dict[str, list[int]] = {}
        daily_language: dict[str, list[int]] = {}
        for s in signals:
            weight = len(s.contributions) + sum(x.count for x in s.sightings)
            # A signal counts once for each platform it is on: an account's own, and where sighted.
            platforms = {p for p in [_platform(s), *(x.platform for x in s.sightings)] if p}
            by_platform.update(platforms)
            for sighting in s.sightings:
                sightings[sighting.org_id] += sighting.count
            if s.language:
                by_language[s.language] += 1
            domain = _domain(s)
            if domain:
                domains[domain] += weight
            if s.kind is SignalKind.NARRATIVE:
                narratives[s.value] += weight
            stamp = s.modified_at or s.created_at
            if stamp is not None and start <= stamp <= until:
                day = bucket_of(stamp)
                daily.setdefault(s.kind.value, [0] * n_days)[day] += 1
                for platform in platforms:
                    daily_platform.setdefault(platform, [0] * n_days)[day] += 1
                if s.language:
                    daily_language.setdefault(s.language, [0] * n_days)[day] += 1
        names = {r.id: r.name for r in self.session.scalars(select(OrgRow))}
        changes = self._changes(new_cases + active, dict(by_kind), start, until)
        marks = [TLP(c.tlp) for c in [*new_cases, *active]]
        marks += [c.marking.tlp for s in signals for c in s.contributions]
        policy = PolicyService(self.session, self.principal, now=until).section(start, until)
        marks += policy.tlps
        return Briefing(
            reader_org_id=self.principal.org_id,
            reader_org_name=names.get(self.principal.org_id, self.principal.org_id),
            since=start,
            until=until,
            new_cases=new_cases,
            active_cases=active,
            signals_total=len(signals),
            signals_by_kind=dict(by_kind.most_common()),
            signals_by_platform={k: v for k, v in by_platform.most_common() if v},
            signals_by_language=dict(by_language.most_common()),
            days=labels,
            daily_by_kind=daily,
            daily_by_platform=daily_platform,
            daily_by_language=daily_language,
            top_domains=domains.most_common(TOP),
            top_narratives=narratives.most_common(TOP),
            sightings_by_member=[(names.get(o, o), n) for o, n in sightings.most_common()],
            changes=changes,
            tlp=document_marking(marks),
            policy=policy,
            bucket=bucket,
        )

    def totals(self, since: datetime | timedelta) -> BriefingTotals:
        """``build(since)``'s totals, cases, top narratives and marking, without the rest.

        ``build`` reads every signal's whole view (contributions with their shares, tags,
        languages and campaigns, opinions, sightings) for charts the agenda does not show. This
        reads the same signals in the same order (the listing's query: same visibility, same
        ``modified_after``), but only their visible contributions' markings, and the sightings of
        narratives alone (their weight). The read audit is the listing's: one entry per restricted
        contribution, in the same order, as the figures come from them. The totals equal the full
        briefing's (tests/meetings/test_briefing_totals.py compares them on the demo's data).
        """
        start, until, new_cases, active = self._period(since)

        store = self.cases.store
        by_kind: Counter[str] = Counter()
        narratives: Counter[str] = Counter()
        marks = [TLP(c.tlp) for c in [*new_cases, *active]]
        seen: dict[str, list[int]] = {}  # signal id -> its visible contribution ids, listing order
        ordered = store._ordered_query(self.principal, SignalFilter(modified_after=start), "changed")
        if ordered is not None:
            listed = ordered[0].subquery()
            # the listing's order (its change time, then id), each signal's contributions as the
            # view orders them
            rows = self.session.execute(
                select(listed.c.id, listed.c.kind, listed.c.value, ContributionRow.id, ContributionRow.tlp)
                .add_columns(ContributionRow.org_id)
                .join(ContributionRow, ContributionRow.signal_id == listed.c.id)
                .where(store._contribution_visible(self.principal))
                .order_by(listed.c.seen_at, listed.c.id, ContributionRow.created_at, ContributionRow.id)
            ).all()
            kinds: dict[str, str] = {}
            values: dict[str, str] = {}
            targets: list[tuple[str, str, TLP, str]] = []
            for signal_id, kind, value, contribution_id, tlp, org_id in rows:
                seen.setdefault(signal_id, []).append(contribution_id)
                kinds[signal_id], values[signal_id] = kind, value
                marks.append(TLP(tlp))
                targets.append(("signal", signal_id, TLP(tlp), org_id))
            by_kind.update(kinds[s] for s in seen)
            told = {s: c for s, c in seen.items() if kinds[s] == SignalKind.NARRATIVE.value}
            sightings = store._sightings(self.principal, told) if told else {}
            for s, contributions in told.items():
                narratives[values[s]] += len(contributions) + sum(x.count for x in sightings.get(s, []))
            store._audit_reads(self.principal, "signal.read", targets)
        org = self.session.get(OrgRow, self.principal.org_id)
        policy = PolicyService(self.session, self.principal, now=until).section(start, until)
        marks += policy.tlps
        return BriefingTotals(
            reader_org_name=org.name if org is not None else self.principal.org_id,
            since=start,
            until=until,
            new_cases=new_cases,
            active_cases=active,
            signals_total=len(seen),
            signals_by_kind=dict(by_kind.most_common()),
            top_narratives=narratives.most_common(TOP),
            tlp=document_marking(marks),
        )

    def _changes(
        self, cases: list[CaseLine], by_kind: dict[str, int], start: datetime, until: datetime
    ) -> Changes:
        last = self.last_issued()
        if last is None:
            return Changes(previous_issued_at=None)
        before: dict[str, str] = dict(last.snapshot.get("cases", {}))
        kinds_before: dict[str, int] = dict(last.snapshot.get("signals_by_kind", {}))
        # Cases the reader could see then but that did not change since are not in ``cases``;
        # only what appears or moves counts as a change.
        return Changes(
            previous_issued_at=last.issued_at,
            new_case_ids=[c.id for c in cases if c.id not in before],
            status_changes=[
                (c.id, before[c.id], c.status) for c in cases if c.id in before and before[c.id] != c.status
            ],
            signal_delta={
                k: by_kind.get(k, 0) - kinds_before.get(k, 0) for k in sorted({*by_kind, *kinds_before})
            },
        )

    def issue(self, since: datetime | timedelta) -> Briefing:
        """Build the briefing and store its snapshot, so the next one reports what changed since."""
        briefing = self.build(since)
        row = BriefingRow(
            id=new_id("briefing"),
            org_id=self.principal.org_id,
            issued_at=briefing.until,
            since=briefing.since,
            key_id=self.principal.key_id,
            snapshot=briefing.snapshot(),
        )
        self.session.add(row)
        self.session.flush()
        briefing.id = row.id
        return briefing
