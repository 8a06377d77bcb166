"""Flood quarantine at the exchange: members' notices, the coalition-wide quarantine, and telling
members and sources (#18).

A member's matcher quarantines a signal that floods it (``vigil.match.quarantine``) and tells the
exchange: ``FloodService.notice``. The exchange keeps every notice (``flood_notices``) and each
member's current one (``flood_reports``), audits it once per source the member can see, and pushes
a ``signal.quarantine_notice`` event to those sources' subscriptions.

**Coalition-wide quarantine.** When at least K distinct members (``Settings.
flood_coalition_min_reporters``, default 2) have a current ``quarantined`` notice on a signal, the
signal becomes coalition-quarantined (``flood_quarantines.state = active``). It is lifted when
those reports fall below K (members release their local quarantines), or when an authorised
reviewer releases it (``release``): an admin of an organisation that contributed the signal, or an
admin of the coalition operator, who must also see the signal. After a reviewer's release only
notices sent *later* count again, so the same stale reports do not re-quarantine it at once.

Every transition is audited (``signal.coalition_quarantined`` / ``signal.coalition_released``,
one entry per contributing organisation the actor can see), pushed to every member that may see
the signal (``signal.coalition_quarantined`` / ``signal.coalition_released``; each payload names
only the indicator ids that member may see), and published over TAXII as STIX ``note`` objects in
the object index (``taxii_objects``):

* one note per (non-revoked) contribution of the signal, id ``stix_id("note", "vigil-flood",
  signal id, contributing org)``, marked and shared exactly as that contribution and linked to it
  (``contribution_id``), so the index serves it to exactly the readers of that contribution, and
  stops serving it if the contribution's marking is narrowed later;
* ``object_refs`` = that contribution's indicator id; ``created_by_ref`` = Vigil's identity;
  ``x_vigil_quarantine`` = ``active`` or ``released``, ``x_vigil_signal_id``,
  ``x_vigil_reporters`` (a count only);
* every transition writes a new version of each note (same id, later ``modified``).

So a reader receives one note per contribution it may see, and the union of their
``object_refs`` is exactly the signal's indicators it may see; a matcher applies the state by
``x_vigil_signal_id`` (every note of one transition carries the same state and ``modified``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from vigil.core.errors import Conflict, InputError, PermissionDenied
from vigil.core.time import isoformat_z, parse_instant
from vigil.exchange import audit, push
from vigil.exchange.access import Permission, Principal, can_see, permissions, require
from vigil.exchange.flood_models import FloodNoticeRow, FloodQuarantineRow, FloodReportRow
from vigil.exchange.models import ContributionRow, ContributionShareRow, OrgRow, SignalRow
from vigil.exchange.records import TLP, OrgKind, Role, Signal, SignalKind
from vigil.exchange.service import Service
from vigil.exchange.stix_export import VIGIL_EXTENSION_ID, VIGIL_IDENTITY_ID, contribution_object_id
from vigil.exchange.stix_ids import stix_id
from vigil.exchange.stix_markings import marking_id
from vigil.exchange.store import MAX_PAGE, ExchangeStore, SignalFilter
from vigil.exchange.taxii_index import BUCKETS, refresh_latest
from vigil.exchange.taxii_models import TaxiiObjectRow, TaxiiObjectShareRow

QUARANTINED, RELEASED = "quarantined", "released"  # a member's notice
ACTIONS = (QUARANTINED, RELEASED)
ACTIVE, LIFTED, NONE = "active", "released", "none"  # the coalition's state of a signal
MAX_REASON = 500
MAX_POSTS = 2_000_000_000
NOTE_NAMESPACE = "vigil-flood"


@dataclass(frozen=True)
class Notice:
    """A member's current notice on a signal."""

    org_id: str
    action: str
    posts: int | None
    reason: str | None
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "org_id": self.org_id,
            "action": self.action,
            "posts": self.posts,
            "reason": self.reason,
            "at": isoformat_z(self.at),
        }


@dataclass(frozen=True)
class QuarantineState:
    """The coalition's flood state of one signal as one caller may read it."""

    signal_id: str
    state: str  # none (never coalition-quarantined) | active | released
    reporters: int  # members whose quarantine notice counts now (after a release: later ones only)
    reporting: int  # members whose current notice is "quarantined", counted or not
    threshold: int
    changed_at: datetime | None = None
    released_at: datetime | None = None
    released_by_org: str | None = None
    release_reason: str | None = None
    mine: Notice | None = None  # the caller's own current notice
    # Who reports (org ids): only for the signal's contributors, who are told of each notice anyway.
    reporter_orgs: tuple[str, ...] | None = None
    may_release: bool = False

    @property
    def active(self) -> bool:
        return self.state == ACTIVE

    def to_dict(self) -> dict[str, Any]:
        return {
            "signal_id": self.signal_id,
            "state": self.state,
            "reporters": self.reporters,
            "reporting": self.reporting,
            "threshold": self.threshold,
            "changed_at": isoformat_z(self.changed_at) if self.changed_at else None,
            "released_at": isoformat_z(self.released_at) if self.released_at else None,
            "released_by_org": self.released_by_org,
            "release_reason": self.release_reason,
            "mine": self.mine.to_dict() if self.mine else None,
            "reporter_orgs": list(self.reporter_orgs) if self.reporter_orgs is not None else None,
            "may_release": self.may_release,
        }


@dataclass(frozen=True)
class NoticeResult:
    signal_id: str
    action: str
    notified_orgs: list[str]
    state: QuarantineState
    transition: str | None  # "quarantined" / "released" when this notice changed the coalition state


@dataclass(frozen=True)
class ActivePage:
    items: list[tuple[Signal, QuarantineState]]
    next_cursor: str | None = None


@dataclass(frozen=True)
class _Source:
    """One contribution of the signal, with what visibility needs."""

    contribution_id: int
    org_id: str
    tlp: TLP
    shared_with: tuple[str, ...]
    revoked: bool
    kinds: dict[str, OrgKind] = field(compare=False, repr=False, default_factory=dict)

    def seen_by(self, org_id: str, kind: OrgKind) -> bool:
        return can_see(
            org_id,
            kind,
            source_org_id=self.org_id,
            source_kind=self.kinds.get(self.org_id, OrgKind.RESEARCH),
            tlp=self.tlp,
            shared_with=self.shared_with,
        )


def check_min_reporters(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"the coalition quarantine threshold must be a whole number >= 1, got {value!r}")
    return value


def note_id(signal_id: str, org_id: str) -> str:
    """The TAXII note publishing the coalition state beside one member's contribution."""
    return stix_id("note", NOTE_NAMESPACE, signal_id, org_id)


class FloodService(Service):
    """Notices, coalition state, review and release for one principal (``None``: the local
    administrator) in one transaction; ``min_reporters`` is K."""

    def __init__(
        self,
        session: Session,
        principal: Principal | None,
        *,
        min_reporters: int = 2,
        now: datetime | None = None,
    ) -> None:
        super().__init__(session, principal, now=now)
        self.min_reporters = check_min_reporters(min_reporters)
        self.store = ExchangeStore(session, now=now)

    # -----------------------------------------------------------------------------------------
    # reads

    def _visible_signal(self, signal_id: str) -> Signal:
        """The caller's view of the signal (NotFound when it does not exist or is invisible)."""
        principal = self.require_principal()
        return self.store.get_signal(principal, signal_id)

    def state(self, signal_id: str) -> QuarantineState:
        """The coalition state of a signal the caller sees (NotFound otherwise)."""
        principal = self.require_principal()
        require(principal, Permission.READ)
        signal = self._visible_signal(signal_id)
        return self._state(signal_id, {c.org_id for c in signal.contributions})

    def state_of(self, signal: Signal) -> QuarantineState:
        """``state`` of a signal the caller has just read (its ``get_signal`` view): the signal page
        reads it once for both, which also keeps one audited read per page, not two."""
        principal = self.require_principal()
        require(principal, Permission.READ)
        return self._state(signal.id, {c.org_id for c in signal.contributions})

    def _state(self, signal_id: str, visible_sources: set[str]) -> QuarantineState:
        principal = self.principal
        row = self.session.get(FloodQuarantineRow, signal_id, populate_existing=True)
        reports = self._reports(signal_id)
        counted = self._counted(reports, row)
        mine = None
        if principal is not None:
            own = next((r for r in reports if r.org_id == principal.org_id), None)
            mine = Notice(own.org_id, own.action, own.posts, own.reason, own.at) if own else None
        contributors = self._contributor_orgs(signal_id)
        shows_reporters = principal is None or principal.org_id in contributors
        reporting = sorted(r.org_id for r in reports if r.action == QUARANTINED)
        return QuarantineState(
            signal_id=signal_id,
            state=row.state if row is not None else NONE,
            reporters=len(counted),
            reporting=len(reporting),
            threshold=self.min_reporters,
            changed_at=row.changed_at if row is not None else None,
            released_at=row.released_at if row is not None else None,
            # the reviewer's organisation is named only to readers who see it contributed or who
            # are told of notices (contributors); others see that a reviewer released it
            released_by_org=(
                row.released_by_org
                if row is not None and (shows_reporters or row.released_by_org in visible_sources)
                else None
            ),
            release_reason=row.release_reason if row is not None else None,
            mine=mine,
            reporter_orgs=tuple(reporting) if shows_reporters else None,
            may_release=row is not None and row.state == ACTIVE and self._may_release(contributors),
        )

    def list_active(self, *, limit: int = 50, cursor: str | None = None) -> ActivePage:
        """Coalition-quarantined signals the caller may see, by signal id, ``limit`` per page;
        ``cursor`` is the last id of the previous page."""
        principal = self.require_principal()
        require(principal, Permission.READ)
        if not 1 <= limit <= MAX_PAGE:
            raise InputError(f"limit must be 1-{MAX_PAGE}, got {limit}", field="limit")
        found: list[tuple[Signal, QuarantineState]] = []
        after = cursor or ""
        batch = max(limit * 2, 100)
        while len(found) < limit:
            ids = list(
                self.session.scalars(
                    select(FloodQuarantineRow.signal_id)
                    .where(FloodQuarantineRow.state == ACTIVE, FloodQuarantineRow.signal_id > after)
                    .order_by(FloodQuarantineRow.signal_id)
                    .limit(batch)
                )
            )
            if not ids:
                return ActivePage(found, None)
            page = self.store.list_signals(principal, SignalFilter(ids=tuple(ids)), limit=len(ids))
            visible = {s.id: s for s in page.items}
            for signal_id in ids:
                after = signal_id
                signal = visible.get(signal_id)
                if signal is None:
                    continue
                found.append((signal, self._state(signal_id, {c.org_id for c in signal.contributions})))
                if len(found) == limit:
                    break
            if len(ids) < batch and after == ids[-1] and len(found) < limit:
                return ActivePage(found, None)
        more = self.session.scalar(
            select(FloodQuarantineRow.signal_id)
            .where(FloodQuarantineRow.state == ACTIVE, FloodQuarantineRow.signal_id > after)
            .limit(1)
        )
        return ActivePage(found, after if more is not None else None)

    def history(self, signal_id: str) -> list[Notice]:
        """Every notice on a visible signal the caller may attribute: its own, and (for the
        signal's contributors) everyone's; oldest first."""
        principal = self.require_principal()
        self._visible_signal(signal_id)
        stmt = select(FloodNoticeRow).where(FloodNoticeRow.signal_id == signal_id).order_by(FloodNoticeRow.id)
        if principal.org_id not in self._contributor_orgs(signal_id):
            stmt = stmt.where(FloodNoticeRow.org_id == principal.org_id)
        return [Notice(r.org_id, r.action, r.posts, r.reason, r.at) for r in self.session.scalars(stmt)]

    # -----------------------------------------------------------------------------------------
    # writes

    def notice(
        self, signal_id: str, action: str, *, posts: int | None = 0, reason: str | None = None
    ) -> NoticeResult:
        """Record a member's notice (its matcher quarantined or released the signal), tell the
        sources it can see (audit and push), and re-evaluate the coalition state."""
        principal = self.require_principal()
        require(principal, Permission.WRITE)
        if action not in ACTIONS:
            raise InputError(f"action must be one of {', '.join(ACTIONS)}, got {action!r}", field="action")
        if posts is not None and (isinstance(posts, bool) or not 0 <= posts <= MAX_POSTS):
            raise InputError(f"posts must be 0-{MAX_POSTS}, got {posts!r}", field="posts")
        if reason is not None and len(reason) > MAX_REASON:
            raise InputError(f"reason longer than {MAX_REASON} characters", field="reason")
        signal = self._visible_signal(signal_id)
        signal_row = self._lock(signal_id)
        now = self.now()
        row = FloodNoticeRow(
            signal_id=signal_id,
            org_id=principal.org_id,
            action=action,
            posts=posts,
            reason=reason,
            at=now,
            key_id=principal.key_id[:32],
        )
        self.session.add(row)
        self.session.flush()
        report = self.session.get(FloodReportRow, (signal_id, principal.org_id), populate_existing=True)
        if report is None:
            report = FloodReportRow(signal_id=signal_id, org_id=principal.org_id)
            self.session.add(report)
        report.action, report.posts, report.reason, report.at, report.notice_id = (
            action,
            posts,
            reason,
            now,
            row.id,
        )
        self.session.flush()
        sources = sorted({c.org_id for c in signal.contributions if c.org_id != principal.org_id})
        for org_id in sources:
            audit.record(
                self.session,
                principal,
                f"signal.{action}",
                at=now,
                target_type="signal",
                target_id=signal_id,
                detail={"posts": posts, "reason": reason},
                subject_org_id=org_id,
            )
        transition = self._evaluate(signal_row, now)
        state = self._state(signal_id, {c.org_id for c in signal.contributions})
        notice = Notice(principal.org_id, action, posts, reason, now)
        for org_id in sources:
            push.enqueue_event(
                self.session,
                org_id=org_id,
                event_type="signal.quarantine_notice",
                key=f"flood-notice|{row.id}",
                payload={
                    "signal": _signal_json(signal_row),
                    "notice": notice.to_dict(),
                    "coalition": {
                        "state": state.state,
                        "reporters": state.reporters,
                        "threshold": self.min_reporters,
                    },
                },
                now=now,
                signal_id=signal_id,
            )
        return NoticeResult(signal_id, action, sources, state, transition)

    def release(self, signal_id: str, reason: str | None = None) -> QuarantineState:
        """A reviewer lifts a coalition-wide quarantine: an admin of a contributing organisation,
        an admin of the coalition operator, or the local administrator. NotFound when the caller
        cannot see the signal, PermissionDenied for anyone else, Conflict when it is not
        coalition-quarantined."""
        principal = self.principal
        if reason is not None and len(reason) > MAX_REASON:
            raise InputError(f"reason longer than {MAX_REASON} characters", field="reason")
        visible_sources: set[str] | None = None
        if principal is not None:
            visible_sources = {c.org_id for c in self._visible_signal(signal_id).contributions}
        contributors = self._contributor_orgs(signal_id)
        if not self._may_release(contributors):
            assert principal is not None
            raise PermissionDenied(
                "only an admin of an organisation that contributed this signal, or an admin of the "
                "coalition operator, may release a coalition-wide quarantine",
                needs="admin of a contributing organisation or of the operator",
            )
        signal_row = self._lock(signal_id)
        row = self.session.get(FloodQuarantineRow, signal_id, populate_existing=True)
        if row is None or row.state != ACTIVE:
            raise Conflict(f"signal {signal_id} is not coalition-quarantined", signal=signal_id)
        now = self.now()
        row.released_at = now
        row.released_by_org = principal.org_id if principal is not None else None
        row.released_by_key = principal.key_id[:32] if principal is not None else audit.LOCAL_ADMIN
        row.release_reason = reason
        row.reporters = len(self._counted(self._reports(signal_id), row))
        self._transition(signal_row, row, LIFTED, now, cause="reviewer", reason=reason)
        return self._state(signal_id, visible_sources if visible_sources is not None else contributors)

    # -----------------------------------------------------------------------------------------
    # the rule

    def _may_release(self, contributors: set[str]) -> bool:
        principal = self.principal
        if principal is None:
            return True
        granted = permissions(principal)
        if Permission.OPERATE in granted:
            return True
        return principal.role is Role.ADMIN and principal.org_id in contributors

    def _reports(self, signal_id: str) -> list[FloodReportRow]:
        return list(
            self.session.scalars(
                select(FloodReportRow)
                .where(FloodReportRow.signal_id == signal_id)
                .order_by(FloodReportRow.org_id)
                .execution_options(populate_existing=True)
            )
        )

    @staticmethod
    def _counted(reports: list[FloodReportRow], row: FloodQuarantineRow | None) -> list[str]:
        """Members whose current notice is "quarantined" and, after a reviewer's release, later."""
        since = row.released_at if row is not None else None
        return [r.org_id for r in reports if r.action == QUARANTINED and (since is None or r.at > since)]

    def _evaluate(self, signal_row: SignalRow, now: datetime) -> str | None:
        """Apply the K rule after a notice; returns the transition made, if any."""
        row = self.session.get(FloodQuarantineRow, signal_row.id, populate_existing=True)
        if row is None:
            row = FloodQuarantineRow(
                signal_id=signal_row.id,
                state=NONE,
                reporters=0,
                changed_at=now,
                note_id=stix_id("note", NOTE_NAMESPACE, signal_row.id),
                note_versions=0,
            )
            self.session.add(row)
        counted = self._counted(self._reports(signal_row.id), row)
        row.reporters = len(counted)
        if row.state != ACTIVE and len(counted) >= self.min_reporters:
            self._transition(signal_row, row, ACTIVE, now, cause="reports")
            return QUARANTINED
        if row.state == ACTIVE and len(counted) < self.min_reporters:
            self._transition(signal_row, row, LIFTED, now, cause="reports")
            return RELEASED
        self.session.flush()
        return None

    def _transition(
        self,
        signal_row: SignalRow,
        row: FloodQuarantineRow,
        new_state: str,
        now: datetime,
        *,
        cause: str,
        reason: str | None = None,
    ) -> None:
        """Change the coalition state: audit it, publish the TAXII notes, push the event."""
        row.state, row.changed_at = new_state, now
        row.note_versions = (row.note_versions or 0) + 1
        self.session.flush()
        sources = self._sources(signal_row.id)
        action = "signal.coalition_quarantined" if new_state == ACTIVE else "signal.coalition_released"
        detail = {
            "reporters": row.reporters,
            "threshold": self.min_reporters,
            "cause": cause,
            "reason": reason,
        }
        principal = self.principal
        told = sorted(
            {
                s.org_id
                for s in sources
                if principal is None or s.seen_by(principal.org_id, principal.org_kind)
            }
        )
        subjects: list[str | None] = [*told] if told else [None]
        for org_id in subjects:
            audit.record(
                self.session,
                principal,
                action,
                at=now,
                target_type="signal",
                target_id=signal_row.id,
                detail=detail,
                subject_org_id=org_id,
            )
        live = [s for s in sources if not s.revoked]
        self._publish_notes(signal_row, row, live, now)
        self._push_transition(signal_row, row, live, action, now, cause)

    # -----------------------------------------------------------------------------------------
    # telling members: TAXII notes and push events

    def _publish_notes(
        self, signal_row: SignalRow, row: FloodQuarantineRow, sources: list[_Source], now: datetime
    ) -> None:
        if not sources:
            return
        ids = {s.org_id: note_id(signal_row.id, s.org_id) for s in sources}
        earlier: dict[str, tuple[datetime, datetime]] = {
            stix: (first, last)
            for stix, first, last in self.session.execute(
                select(
                    TaxiiObjectRow.stix_id,
                    func.min(TaxiiObjectRow.modified),
                    func.max(TaxiiObjectRow.modified),
                )
                .where(TaxiiObjectRow.stix_id.in_(list(ids.values())))
                .group_by(TaxiiObjectRow.stix_id)
            )
        }
        kind = SignalKind(signal_row.kind)
        for source in sources:
            object_id = ids[source.org_id]
            first, last = earlier.get(object_id, (None, None))
            # a later version than any before it, at millisecond precision (STIX timestamps)
            modified = parse_instant(isoformat_z(now))
            if last is not None and modified <= last:
                modified = last + timedelta(milliseconds=1)
            created = first if first is not None else modified
            body = {
                "type": "note",
                "spec_version": "2.1",
                "id": object_id,
                "created_by_ref": VIGIL_IDENTITY_ID,
                "created": isoformat_z(created),
                "modified": isoformat_z(modified),
                "abstract": f"Coalition flood quarantine {row.state}",
                "content": _note_content(row, self.min_reporters),
                "object_refs": [contribution_object_id(kind, signal_row.value, source.org_id)],
                "object_marking_refs": [marking_id(source.tlp)],
                "x_vigil_quarantine": row.state,
                "x_vigil_signal_id": signal_row.id,
                "x_vigil_reporters": row.reporters,
                "extensions": {VIGIL_EXTENSION_ID: {"extension_type": "toplevel-property-extension"}},
            }
            seq = self.session.execute(
                insert(TaxiiObjectRow)
                .values(
                    stix_id=object_id,
                    stix_type="note",
                    spec_version="2.1",
                    modified=modified,
                    date_added=max(now, modified),
                    org_id=source.org_id,
                    tlp=source.tlp.value,
                    bucket=BUCKETS[source.tlp],
                    body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
                    signal_id=signal_row.id,
                    # linked to the contribution: served only while its current marking lets the
                    # reader see it, as the contribution's own versions are
                    contribution_id=source.contribution_id,
                    contribution_version=None,
                )
                .returning(TaxiiObjectRow.seq)
            ).scalar_one()
            if source.shared_with:
                self.session.execute(
                    insert(TaxiiObjectShareRow),
                    [{"object_seq": seq, "org_id": o} for o in source.shared_with],
                )
        refresh_latest(self.session, ids.values())  # the notes' latest-version flags (taxii_models)

    def _push_transition(
        self,
        signal_row: SignalRow,
        row: FloodQuarantineRow,
        sources: list[_Source],
        event_type: str,
        now: datetime,
        cause: str,
    ) -> None:
        kind = SignalKind(signal_row.kind)
        for org in self.session.scalars(select(OrgRow).order_by(OrgRow.id)):
            seen = [s for s in sources if s.seen_by(org.id, OrgKind(org.kind))]
            if not seen:
                continue  # a member that may not see the signal is not told about it
            push.enqueue_event(
                self.session,
                org_id=org.id,
                event_type=event_type,
                key=f"flood-coalition|{signal_row.id}|{row.note_versions}",
                payload={
                    "signal": _signal_json(signal_row),
                    "coalition": {
                        "state": row.state,
                        "reporters": row.reporters,
                        "threshold": self.min_reporters,
                        "changed_at": isoformat_z(row.changed_at),
                        "cause": cause,
                    },
                    "object_refs": [contribution_object_id(kind, signal_row.value, s.org_id) for s in seen],
                },
                now=now,
                signal_id=signal_row.id,
            )

    # -----------------------------------------------------------------------------------------
    # rows

    def _lock(self, signal_id: str) -> SignalRow:
        """The signal row, locked until the transaction ends (PostgreSQL ``FOR UPDATE``; SQLite
        transactions are exclusive): two members' notices on one signal are counted one after
        the other, so a transition is made once."""
        row = self.session.scalar(
            select(SignalRow)
            .where(SignalRow.id == signal_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert row is not None  # the caller saw it
        return row

    def _contributor_orgs(self, signal_id: str) -> set[str]:
        return set(
            self.session.scalars(select(ContributionRow.org_id).where(ContributionRow.signal_id == signal_id))
        )

    def _sources(self, signal_id: str) -> list[_Source]:
        """Every contribution of the signal with its current marking (for the visibility rule)."""
        rows = list(
            self.session.scalars(
                select(ContributionRow)
                .where(ContributionRow.signal_id == signal_id)
                .order_by(ContributionRow.org_id)
            )
        )
        shares: dict[int, list[str]] = defaultdict(list)
        if rows:
            for share in self.session.scalars(
                select(ContributionShareRow).where(
                    ContributionShareRow.contribution_id.in_([r.id for r in rows])
                )
            ):
                shares[share.contribution_id].append(share.org_id)
        kinds = {r.id: OrgKind(r.kind) for r in self.session.scalars(select(OrgRow))}
        return [
            _Source(
                contribution_id=r.id,
                org_id=r.org_id,
                tlp=TLP(r.tlp),
                shared_with=tuple(sorted(shares[r.id])),
                revoked=r.revoked_at is not None,
                kinds=kinds,
            )
            for r in rows
        ]


def _signal_json(row: SignalRow) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "value": row.value}


def _note_content(row: FloodQuarantineRow, threshold: int) -> str:
    if row.state == ACTIVE:
        return (
            f"{row.reporters} member(s) report that this signal floods their matchers "
            f"(threshold {threshold}): it is quarantined coalition-wide until reviewed."
        )
    if row.released_at is not None and row.changed_at == row.released_at:
        return "A reviewer released the coalition-wide flood quarantine of this signal."
    return (
        f"Fewer than {threshold} members report this signal flooding now ({row.reporters}): "
        "the coalition-wide quarantine is lifted."
    )
