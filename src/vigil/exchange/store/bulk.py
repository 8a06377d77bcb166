"""Submitting many signals at once: the same checks, versions and audit entries as
``submit_signal`` for every item, in batched SQL. The bulk part of ``ExchangeStore``.

``submit_signals(principal, items)`` gives the same stored state and the same audit log as calling
``submit_signal`` for each item in order (tests compare them on SQLite and PostgreSQL). The
difference is the number of statements: values are checked in Python, the warning lists and the
organisation's overrides are read once, existing signals and contributions are read (and locked)
with one query per 500 ids, and contributions, children, versions and audit entries are written
with a handful of multi-row statements instead of about fifteen statements per item.

Bad items. Every item is checked before anything is written. With ``atomic=True`` (the default)
one bad item rejects the batch: the error is raised, names each bad item (position, kind, value,
what is wrong) and nothing of the batch is written. With ``atomic=False`` the good items are
stored and the report lists the bad ones with their errors. Either way, what was stored before
stays: the call runs in the caller's transaction, and nothing is written until every item passed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from time import perf_counter
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from vigil.core.errors import Conflict, InputError, VigilError
from vigil.core.ids import stable_id
from vigil.core.time import ensure_utc, isoformat_z
from vigil.db import READ_ONLY
from vigil.exchange import warninglists
from vigil.exchange.access import Permission, Principal, require
from vigil.exchange.models import (
    AuditRow,
    ContributionRow,
    ContributionShareRow,
    ContributionTagRow,
    ContributionVersionRow,
    OrgRow,
    SignalRow,
)
from vigil.exchange.records import TLP, Marking, SignalKind
from vigil.exchange.store.base import check_range, clean_tags, parse_tlp
from vigil.exchange.store.languages import clean_language
from vigil.exchange.store.signals import SignalsStore
from vigil.exchange.store.signals_rows import AUDIT_COLUMNS, RowWriter, Values, expire_loaded
from vigil.exchange.store.signals_rows import table_of as _table
from vigil.exchange.values import normalize_value

CHUNK = 500  # ids per IN list (well under every backend's parameter limit)
# items per write transaction when ``submit_signals`` commits in chunks (the REST route). SQLite:
# at most this many, sized to hold the write lock about ``WRITE_HOLD`` (see ``_next_size``; 500
# took about 70 ms of CPU, 170-330 ms of wall time at a load of 8-12 on 2 cores). PostgreSQL locks
# only the rows written and readers never wait (MVCC), while each chunk costs the server a fixed
# overhead (chunks of 500 doubled its CPU per signal), so its chunks are larger and fixed.
WRITE_CHUNK = 2000
FIRST_CHUNK = 250  # the first chunk when sizing by ``hold``
WRITE_CHUNK_POSTGRESQL = 5000


# SQLite WAL checkpoints during a chunked submission. SQLite copies the WAL back into the database
# (and fsyncs both) at the first commit that finds the WAL over ``wal_autocheckpoint`` pages (1,000
# by default, which Vigil keeps): a chunk of 500 signals writes about that much, so every chunk's
# commit also ran a checkpoint, about 100 ms of wall time each here, mostly fsync, rewriting the
# same index pages again and again. The write lock is released before that checkpoint, but the
# submission waited for it. So each chunk before the last raises the threshold on its connection
# (bounded: the WAL still gets checkpointed past 64 MB) for its own commit only, and the last
# chunk keeps the default, so its commit checkpoints once what the chunks wrote. Other connections
# keep the default and may checkpoint in between (a passive checkpoint blocks no one).
SQLITE_AUTOCHECKPOINT = 1000  # SQLite's default (pages)
DEFERRED_AUTOCHECKPOINT = 16384  # pages of 4 KiB: 64 MB


def _defer_checkpoint(session: Session) -> Any:
    """Before a chunk's statements (SQLite, not the last chunk): no checkpoint at this chunk's
    commit. Returns the DBAPI connection, for ``_restore_checkpoint`` once the chunk has ended."""
    connection = session.connection()
    connection.exec_driver_sql(f"PRAGMA wal_autocheckpoint={DEFERRED_AUTOCHECKPOINT:d}")
    return connection.connection.dbapi_connection


def _defer_into(session: Session, deferred: list[Any]) -> None:
    """``_defer_checkpoint``, keeping the DBAPI connection in ``deferred`` for the restore."""
    deferred.append(_defer_checkpoint(session))


def _restore_checkpoint(dbapi_connection: Any) -> None:
    """Put the default back on the very connection ``_defer_checkpoint`` changed, whether its chunk
    committed or failed: after a commit the pool holds it again and another request may take it
    next (a later chunk may get a different pooled connection), and after a failure the session is
    unusable until rolled back. The pragma is a setting of the connection, not of a transaction,
    so it runs on the driver's connection in any state (a closed one raises: the pool drops it)."""
    with suppress(sqlite3.ProgrammingError):
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT:d}")


MIN_CHUNK = 50  # items: below this a chunk's fixed statements (id reads, commit) dominate
WRITE_HOLD = 0.1  # seconds a chunk of the REST route may hold SQLite's write lock (issue #23)


def _next_size(size: int, written: int, seconds: float, hold: float, largest: int) -> int:
    """The next chunk's size: ``written`` items took ``seconds``, aim at ``hold`` per chunk.
    Halfway there each time (one slow chunk, e.g. the process descheduled, does not swing it)."""
    rate = written / max(seconds, 1e-4)
    wanted = (size + rate * hold) / 2
    return max(MIN_CHUNK, min(largest, int(wanted)))


def write_hold(session: Session) -> float | None:
    """``hold`` for ``submit_signals`` on ``session``'s database: SQLite's writers exclude each
    other, so its chunks are sized to ``WRITE_HOLD``; PostgreSQL's do not (None: fixed chunks)."""
    return None if session.get_bind().dialect.name == "postgresql" else WRITE_HOLD


def write_chunk(session: Session) -> int:
    """The chunk size for ``submit_signals(chunk=...)`` on ``session``'s database."""
    return WRITE_CHUNK_POSTGRESQL if session.get_bind().dialect.name == "postgresql" else WRITE_CHUNK


# the contribution columns a submission sets (``_db_values`` gives them in this order)
_CONTRIBUTION_COLUMNS = (
    "tlp",
    "confidence",
    "first_seen",
    "last_seen",
    "campaign_id",
    "description",
    "valid_until",
    "revoked_at",
    "version",
    "modified_at",
)


@dataclass(frozen=True)
class SignalSubmission:
    """One item of ``submit_signals``: the arguments of ``submit_signal``."""

    kind: str | SignalKind
    value: str
    marking: Marking
    confidence: int = 50
    tags: Sequence[str] = ()
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    campaign_id: str | None = None
    description: str | None = None
    language: str | None = None
    valid_until: datetime | None = None


@dataclass
class BulkItem:
    """What happened to one item: stored (``signal_id``, ``version``) or rejected (``error``)."""

    index: int
    kind: str
    value: str  # normalized when it could be
    signal_id: str | None = None
    version: int | None = None
    created: bool = False  # the organisation had no contribution to this signal before
    error: VigilError | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "kind": self.kind, "value": self.value}
        if self.error is None:
            out.update(signal_id=self.signal_id, version=self.version, created=self.created)
        else:
            out["error"] = {
                "error": type(self.error).__name__,
                "message": self.error.message,
                "details": self.error.details,
            }
        return out


@dataclass
class BulkReport:
    items: list[BulkItem] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return sum(1 for i in self.items if i.error is None)

    @property
    def rejected(self) -> list[BulkItem]:
        return [i for i in self.items if i.error is not None]


@dataclass(slots=True)
class _Checked:
    """An item that passed every check, with what its rows hold that does not depend on the
    database's state, already as the driver takes it (prepared before any write lock is taken)."""

    index: int
    kind: SignalKind
    value: str
    signal_id: str
    tlp: str  # the TLP's value
    shared: tuple[str, ...]
    tags: tuple[str, ...]
    # the contribution's tlp, confidence, first_seen, last_seen, campaign_id, description and
    # valid_until, as the driver takes them
    values: tuple[Any, ...]
    snapshot: Any  # the version's snapshot document, as the driver takes it
    override: dict[str, Any] | None  # the warninglist.override_used audit entry, if one was used


@dataclass(slots=True)
class _Context:
    """What the checks of one batch share: the organisations and campaigns it may name, its
    warning-list screening, and each distinct TLP and tag list already parsed."""

    known_orgs: set[str]
    screener: warninglists.Screener
    campaigns: set[str]
    org_id: str  # the submitting organisation (in each snapshot)
    values: Values
    tlps: dict[Any, TLP] = field(default_factory=dict)
    _tags: dict[tuple[Any, ...], tuple[str, ...]] = field(default_factory=dict)

    def tags(self, tags: Sequence[str], flags: list[str]) -> tuple[str, ...]:
        """``clean_tags`` of the item's tags and its flags (errors are raised, never kept)."""
        if not all(type(t) is str for t in tags):  # odd tags (1 == True) are cleaned each time
            return clean_tags([*tags, *flags])
        key = (*tags, None, *flags)  # flags never hold None: the last None splits the key
        found = self._tags.get(key)
        if found is None:
            found = self._tags[key] = clean_tags([*tags, *flags])
        return found


@dataclass(slots=True)
class _State:
    """A contribution as the batch will leave it."""

    version: int
    created_at: datetime
    modified_at: datetime | None = None
    # tlp, confidence, first_seen, last_seen, campaign_id, description, valid_until (driver values)
    values: tuple[Any, ...] = ()
    shared: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


def _db_values(st: _State, time: Callable[[datetime | None], Any]) -> tuple[Any, ...]:
    """``_CONTRIBUTION_COLUMNS`` of ``st`` as the driver takes them."""
    # revoked_at None: a submission un-revokes
    return (*st.values, None, st.version, time(st.modified_at))


def _snapshot(
    org_id: str,
    tlp: str,
    confidence: int,
    first_seen: datetime | None,
    last_seen: datetime | None,
    campaign_id: str | None,
    description: str | None,
    valid_until: datetime | None,
    shared: tuple[str, ...],
    tags: tuple[str, ...],
    language: str | None,
) -> dict[str, Any]:
    """A version's snapshot, as ``SignalsStore._snapshot`` writes it."""
    return {
        "org_id": org_id,
        "tlp": tlp,
        "shared_with": list(shared),
        "confidence": confidence,
        "tags": list(tags),
        "first_seen": _iso(first_seen),
        "last_seen": _iso(last_seen),
        "campaign_id": campaign_id,
        "description": description,
        "valid_until": _iso(valid_until),
        "revoked": False,
        # the contribution's own language (vigil.exchange.store.languages)
        "language": language,
    }


def _submit_detail(kind: str, version: int) -> dict[str, Any]:
    return {"kind": kind, "version": version}


def _describe(index: int, kind: object, value: object) -> str:
    text = str(value)
    return f"item {index} ({getattr(kind, 'value', kind)} {text[:80]!r}{'...' if len(text) > 80 else ''})"


def _language(item: SignalSubmission) -> str | None:
    return clean_language(item.language)


def _iso(value: datetime | None) -> str | None:
    return isoformat_z(value) if value else None


def batch_error(
    report: BulkReport, total: int, *, name: Callable[[BulkItem], str] | None = None
) -> VigilError:
    """One error for the rejected items of a batch: a 409 Conflict if every one was refused by a
    warning list, else a 400 InputError; its message names every bad item (the first 20), by
    ``name(item)`` (default: position, kind and value)."""
    bad = report.rejected
    label = name or (lambda b: _describe(b.index, b.kind, b.value))
    lines = [f"{label(b)}: {b.error.message}" for b in bad[:20] if b.error]
    if len(bad) > 20:
        lines.append(f"... and {len(bad) - 20} more")
    first = bad[0].error
    assert first is not None
    message = f"{len(bad)} of {total} signal(s) rejected, nothing of the batch stored: " + "; ".join(lines)
    details = dict(first.details)
    details["rejected"] = [b.index for b in bad]
    same = all(type(b.error) is type(first) for b in bad)
    return (
        Conflict(message, **details)
        if same and isinstance(first, Conflict)
        else InputError(message, **details)
    )


class BulkSignalsStore(SignalsStore):
    """``submit_signals``: ``submit_signal`` for many items in batched SQL (see module docstring)."""

    def submit_signals(
        self,
        principal: Principal,
        items: Sequence[SignalSubmission],
        *,
        atomic: bool = True,
        chunk: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        hold: float | None = None,
    ) -> BulkReport:
        """Add or update the caller organisation's contribution for every item, in order.

        Returns a report with one entry per item. ``atomic`` (default): any bad item raises (see
        ``batch_error``: the message names each bad item) and nothing is written; otherwise the
        good items are stored and the bad ones reported. No size limit here (a MISP event or a
        federation pull is one call); the REST route takes at most 10,000 items per request.

        ``chunk=None`` (default): everything in the caller's transaction. ``chunk=N``: the call
        commits the caller's transaction first, checks every item on a read-only snapshot (no
        write lock held while values are normalised), then writes the good items ``N`` at a time,
        committing each chunk, so no transaction holds SQLite's write lock for long and readers
        and other writers get in between chunks. ``progress(done, total)`` is called once the
        checks passed (``done`` 0) and after each commit. Bad items are still found before
        anything is written; a database failure part-way leaves the chunks already committed
        stored, each complete (every item of a committed chunk has its version and audit entry).

        ``hold`` (seconds, with ``chunk``): the chunks are sized so that each write transaction
        lasts about that long (on SQLite, how long it holds the database's write lock): each
        chunk's wall time gives the next chunk's size, at most ``chunk`` items and at least
        ``MIN_CHUNK``; the time a chunk takes depends on the machine and on its load."""
        require(principal, Permission.WRITE)
        report = BulkReport()
        # conversions to the driver's values, shared by the checks (which prepare each item's
        # rows) and the writes (their caches too: a batch's snapshots and stamps repeat)
        values = Values(self.session.get_bind().dialect)
        if chunk is None:
            checked = self._check_items(principal, items, report, values)
            if atomic and report.rejected:
                raise batch_error(report, len(items))
            if checked:
                self._write(principal, checked, report, values)
            return report
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise InputError(f"chunk must be a positive number of items, got {chunk!r}", field="chunk")
        if hold is not None and not hold > 0:
            raise InputError(f"hold must be a positive number of seconds, got {hold!r}", field="hold")
        # The caller's transaction (a request's authentication) ends here, so the checks below
        # run on a read snapshot and hold no write lock (SQLite) while values are normalised.
        self.session.commit()
        checked = self._check_outside_transaction(principal, items, report, values)
        if atomic and report.rejected:
            raise batch_error(report, len(items))
        if progress is not None:
            progress(0, len(checked))
        sqlite = self.session.get_bind().dialect.name == "sqlite"
        start, size = 0, (chunk if hold is None else min(chunk, FIRST_CHUNK))
        while start < len(checked):
            end = min(start + size, len(checked))
            began = perf_counter()
            # SQLite, not the last chunk: no checkpoint at its commit (set as its first statement)
            deferred: list[Any] = []
            defer = partial(_defer_into, self.session, deferred) if sqlite and end < len(checked) else None
            try:
                # one short write transaction per chunk: each re-reads the signals and contributions
                # it touches, so an item repeated across chunks gets the next version as in one
                self._write(principal, checked[start:end], report, values, begin=defer)
                self.session.commit()
            finally:
                if deferred:
                    _restore_checkpoint(deferred[0])
            if progress is not None:
                progress(end, len(checked))
            if hold is not None:
                size = _next_size(size, end - start, perf_counter() - began, hold, chunk)
            start = end
        return report

    def _check_outside_transaction(
        self, principal: Principal, items: Sequence[SignalSubmission], report: BulkReport, values: Values
    ) -> list[_Checked]:
        """``_check_items`` on a read-only session of the same database (SQLite: a WAL snapshot
        that takes no write lock; PostgreSQL: an ordinary MVCC transaction), rolled back after."""
        bind = self.session.get_bind()
        if not isinstance(bind, Engine):  # a session bound to one connection: check on it
            return self._check_items(principal, items, report, values)
        with Session(bind.execution_options(**{READ_ONLY: True})) as reader:
            try:
                checker = BulkSignalsStore(reader, now=self._now)
                return checker._check_items(principal, items, report, values)
            finally:
                reader.rollback()

    # -----------------------------------------------------------------------------------------
    # checks (the same, in the same order, as submit_signal)

    def _check_items(
        self, principal: Principal, items: Sequence[SignalSubmission], report: BulkReport, values: Values
    ) -> list[_Checked]:
        normalized: list[tuple[SignalKind, str] | VigilError] = []
        seen: dict[tuple[str, str], tuple[SignalKind, str]] = {}
        for item in items:
            # each distinct (kind, value) is normalized once (feeds repeat values within a batch);
            # odd inputs (not strings) and errors are not cached, so each bad item gets its own error
            kind = getattr(item.kind, "value", item.kind)
            key = (kind, item.value) if isinstance(kind, str) and isinstance(item.value, str) else None
            found: tuple[SignalKind, str] | VigilError | None = seen.get(key) if key else None
            if found is None:
                try:
                    found = normalize_value(item.kind, item.value)
                    if key:
                        seen[key] = found
                except VigilError as exc:
                    found = exc
            normalized.append(found)
        known_orgs = self._known_orgs(items)
        screener = warninglists.Screener(
            self.session, principal.org_id, [n for n in normalized if not isinstance(n, VigilError)]
        )
        campaigns = self._visible_campaign_ids(principal, {i.campaign_id for i in items if i.campaign_id})
        context = _Context(known_orgs, screener, campaigns, principal.org_id, values)
        out: list[_Checked] = []
        entries = report.items
        check = self._check_one
        for index, (item, found) in enumerate(zip(items, normalized, strict=True)):
            if isinstance(found, VigilError):
                raw_kind = str(getattr(item.kind, "value", item.kind))
                entries.append(BulkItem(index=index, kind=raw_kind, value=item.value, error=found))
                continue
            kind, value = found
            entry = BulkItem(index=index, kind=kind.value, value=value)
            entries.append(entry)
            try:
                out.append(check(index, item, kind, value, context))
            except VigilError as exc:
                entry.error = exc
        return out

    def _known_orgs(self, items: Sequence[SignalSubmission]) -> set[str]:
        wanted = sorted({str(o) for i in items for o in i.marking.shared_with})
        found: set[str] = set()
        for start in range(0, len(wanted), CHUNK):
            found.update(
                self.session.scalars(select(OrgRow.id).where(OrgRow.id.in_(wanted[start : start + CHUNK])))
            )
        return found

    def _check_one(
        self, index: int, item: SignalSubmission, kind: SignalKind, value: str, context: _Context
    ) -> _Checked:
        # the checks of submit_signal, in its order (an item's first failing check names it);
        # what many items share (their TLP, their tags) is parsed once per distinct value
        raw_tlp = item.marking.tlp
        tlp = context.tlps.get(raw_tlp) if isinstance(raw_tlp, str) else None
        if tlp is None:
            tlp = parse_tlp(raw_tlp)
            if isinstance(raw_tlp, str):
                context.tlps[raw_tlp] = tlp
        shared: tuple[str, ...] = ()
        if tlp is not TLP.CLEAR and tlp is not TLP.GREEN:
            shared = tuple(dict.fromkeys(str(s) for s in item.marking.shared_with))
            missing = [s for s in shared if s not in context.known_orgs]
            if missing:
                raise InputError(f"shared_with names unknown organisations: {', '.join(missing)}")
        confidence = item.confidence
        if isinstance(confidence, bool) or not isinstance(confidence, int) or not 0 <= confidence <= 100:
            raise InputError(f"confidence must be an integer 0-100, got {confidence!r}", field="confidence")
        flags, hit, override_id = context.screener.check(kind, value)
        tags = context.tags(item.tags, flags)
        if item.first_seen is not None and item.last_seen is not None:
            check_range(item.first_seen, item.last_seen, "signal")
        if item.campaign_id is not None and item.campaign_id not in context.campaigns:
            raise InputError(f"no campaign {item.campaign_id!r} visible to you", field="campaign_id")
        if item.language is not None and not (0 < len(item.language.strip()) <= 16):
            raise InputError("language must be a short code such as 'en' or 'ar'", field="language")
        override = None
        if hit is not None and override_id is not None:
            override = warninglists.override_used_entry(kind, value, hit, override_id)
        # the rows' values that do not depend on the database (prepared here, outside the write
        # transaction: on SQLite the write lock is held only for what needs the stored state)
        first_seen = ensure_utc(item.first_seen) if item.first_seen else None
        last_seen = ensure_utc(item.last_seen) if item.last_seen else None
        valid_until = ensure_utc(item.valid_until) if item.valid_until else None
        convert = context.values
        time = convert.time
        tlp_value = tlp.value  # read once: an enum's .value is a descriptor call
        snapshot = convert.document(
            _snapshot,
            context.org_id,
            tlp_value,
            confidence,
            first_seen,
            last_seen,
            item.campaign_id,
            item.description,
            valid_until,
            shared,
            tags,
            _language(item),
        )
        return _Checked(
            index=index,
            kind=kind,
            value=value,
            signal_id=stable_id("indicator", kind.value, value),
            tlp=tlp_value,
            shared=shared,
            tags=tags,
            values=(
                tlp_value,
                confidence,
                time(first_seen),
                time(last_seen),
                item.campaign_id,
                item.description,
                time(valid_until),
            ),
            snapshot=snapshot,
            override=override,
        )

    # -----------------------------------------------------------------------------------------
    # writing

    def _write(
        self,
        principal: Principal,
        checked: list[_Checked],
        report: BulkReport,
        values: Values,
        begin: Callable[[], None] | None = None,
    ) -> None:
        """Driver-level multi-row statements (``signals_rows.RowWriter``; no ORM unit of work, no
        per-row parameter processing: building, tracking and flushing one ORM object per row, then
        SQLAlchemy's per-value conversion, were most of the cost). Each item still gets its own
        version and audit entry, in order; a contribution submitted twice in one batch is written
        once, with its last state.

        What does not depend on the stored state (each item's values, snapshot, TLP) was prepared
        by the checks; here, between the first statement and the commit (on SQLite, while the
        write lock is held), only the stamps, versions and the rows' tuples are made. ``begin`` is
        called just before the first statement."""
        now = self.now()
        rows = RowWriter(self.session, values)
        time = values.time
        org_id = principal.org_id
        # each signal's first item (its kind and value) and how many items name it, counted before
        # the first statement (no lock held yet)
        first: dict[str, _Checked] = {}
        count: dict[str, int] = {}
        for c in checked:
            sid = c.signal_id
            if sid in count:
                count[sid] += 1
            else:
                first[sid] = c
                count[sid] = 1
        if begin is not None:
            begin()
        # signal id -> modified_at (a new signal's as if it had been there: ``now`` - 1 µs); the
        # signals this transaction inserted, with their final modified_at already
        modified, inserted = self._lock_or_create_signals(rows, first, count, now)
        own = self._own_contributions(rows, org_id, sorted(modified))  # signal id -> (id, version)
        state: dict[str, _State] = {}  # signal id -> the contribution as it will be written
        created_ids: list[str] = []
        versions: list[tuple[str, int, Any, Any]] = []  # signal id, version, modified_at, snapshot
        audits: list[tuple[Any, ...]] = []
        key_id = principal.key_id
        one_us = timedelta(microseconds=1)
        entries = report.items
        document = values.document
        for c in checked:
            sid = c.signal_id
            last = modified[sid] + one_us
            stamp = now if now > last else last
            modified[sid] = stamp
            st = state.get(sid)
            if st is None:
                known = own.get(sid)
                if known is None:
                    created_ids.append(sid)
                    entries[c.index].created = True
                st = state[sid] = _State(known[1] if known else 0, stamp)
            version = st.version + 1
            st.version, st.modified_at, st.values, st.shared, st.tags = (
                version,
                stamp,
                c.values,
                c.shared,
                c.tags,
            )
            at = time(stamp)
            versions.append((sid, version, at, c.snapshot))
            if c.override is not None:
                o = c.override
                audits.append(
                    (
                        time(now),
                        key_id,
                        org_id,
                        o["action"],
                        o["target_type"],
                        o["target_id"],
                        None,
                        values.json(o["detail"]),
                        None,
                    )
                )
            audits.append(
                (
                    at,
                    key_id,
                    org_id,
                    "signal.submit",
                    "signal",
                    sid,
                    c.tlp,
                    document(_submit_detail, c.kind.value, version),
                    None,
                )
            )
            entry = entries[c.index]
            entry.signal_id, entry.version = sid, version
        contributions = _table(ContributionRow)
        created_ids.sort()  # new contributions get their ids in signal-id order
        for sid, cid in zip(created_ids, rows.next_ids(contributions, len(created_ids)), strict=True):
            own[sid] = (cid, 0)
        rows.insert(
            contributions,
            (*_CONTRIBUTION_COLUMNS, "id", "signal_id", "org_id", "created_at"),
            [
                (
                    *_db_values(state[s], time),
                    own[s][0],
                    s,
                    org_id,
                    time(state[s].created_at),
                )
                for s in created_ids
            ],
        )
        new = set(created_ids)
        existing = [s for s in state if s not in new]
        rows.update(
            contributions,
            _CONTRIBUTION_COLUMNS,
            "id",
            [(*_db_values(state[s], time), own[s][0]) for s in existing],
        )
        rows.update(
            _table(SignalRow),
            ("modified_at",),
            "id",
            [(time(modified[s]), s) for s in sorted(state) if s not in inserted],
        )
        # children: an existing contribution's shares and tags are replaced; new ones have none
        replaced = [own[s][0] for s in existing]
        for model in (ContributionShareRow, ContributionTagRow):
            for start in range(0, len(replaced), CHUNK):
                # an ORM-enabled delete: loaded copies of the deleted rows leave the session too
                self.session.execute(
                    delete(model).where(model.contribution_id.in_(replaced[start : start + CHUNK]))
                )
        rows.insert(
            _table(ContributionShareRow),
            ("contribution_id", "org_id"),
            [(own[s][0], o) for s, st in state.items() for o in st.shared],
        )
        rows.insert(
            _table(ContributionTagRow),
            ("contribution_id", "tag"),
            [(own[s][0], t) for s, st in state.items() for t in st.tags],
        )
        rows.insert(
            _table(ContributionVersionRow),
            ("contribution_id", "version", "modified_at", "snapshot"),
            [(own[s][0], v, at, snap) for s, v, at, snap in versions],
        )
        rows.insert(_table(AuditRow), AUDIT_COLUMNS, audits)
        expire_loaded(self.session, set(state), {own[s][0] for s in state})

    def _lock_or_create_signals(
        self, rows: RowWriter, first: dict[str, _Checked], count: dict[str, int], now: datetime
    ) -> tuple[dict[str, datetime], set[str]]:
        """Every signal of the batch (``first``: each one's first item; ``count``: how many items
        name it), locked until the transaction ends (in id order, so two bulk submissions cannot
        deadlock); the missing ones inserted (as ``submit_signal`` would: no language on the
        signal row; each contribution keeps its own).

        Returns each signal's ``modified_at`` before the batch and the ids inserted here. A new
        signal counts as changed 1 µs before ``now`` (as ``submit_signal`` creates it), and is
        inserted with the ``modified_at`` its items leave it at (``now``, then 1 µs more per
        further item: the stamps ``_write`` gives them), so only the signals that were there are
        updated after (an UPDATE of a just-inserted row rewrote it and its ``modified_at`` index
        entry: about 10% of the writing).

        Every batch runs the same three statements (the read, the insert, the update) whichever of
        its values exist; per row, a value another member holds (hidden or not) costs an update
        where a new one costs an insert."""
        ids = sorted(first)
        signals = _table(SignalRow)
        before = now - timedelta(microseconds=1)
        modified: dict[str, datetime] = {}

        def lock(wanted: list[str]) -> None:
            for sid, at in rows.select_in(signals, ("id", "modified_at"), "id", wanted, lock=True):
                modified[sid] = rows.read_time(at)

        created = rows.time(now)
        one_us = timedelta(microseconds=1)
        columns = ("id", "kind", "value", "language", "created_at", "modified_at")

        def new_rows(wanted: list[str]) -> list[tuple[Any, ...]]:
            return [
                (
                    s,
                    first[s].kind.value,
                    first[s].value,
                    None,
                    created,
                    created if count[s] == 1 else rows.time(now + (count[s] - 1) * one_us),
                )
                for s in wanted
            ]

        if rows.postgres:
            # The missing ones inserted first (ON CONFLICT DO NOTHING), then the others locked, each
            # pass in id order. Locking the existing ones first and inserting the rest after took
            # the signal rows in two orders: a transaction holding a later signal's lock could
            # wait to insert an earlier one that another had meanwhile committed and was updating,
            # while that other waited for the later lock (deadlocks in the concurrent-overlap
            # test, about 1 run in 5). Here a row another transaction inserted and has not
            # committed is waited for at the insert, in order, and is invisible to the locking
            # read, so no cycle forms. The first read takes no lock (which ids to send at all:
            # sending every id's row to be skipped cost an update batch a fifth more CPU).
            there = {r[0] for r in rows.select_in(signals, ("id",), "id", ids)}
            inserted = rows.insert_missing(
                signals, columns, "id", new_rows([s for s in ids if s not in there])
            )
            lock([s for s in ids if s not in inserted])
        else:
            # SQLite: the transaction holds the write lock from its start, so nothing appears
            # between the read and the insert, and only the missing ones are inserted
            lock(ids)
            missing = [s for s in ids if s not in modified]
            inserted = rows.insert_missing(signals, columns, "id", new_rows(missing))
        for s in inserted:
            modified[s] = before
        return modified, inserted

    def _own_contributions(
        self, rows: RowWriter, org_id: str, signal_ids: list[str]
    ) -> dict[str, tuple[int, int]]:
        """The organisation's contributions to these signals: signal id -> (id, version)."""
        found = rows.select_in(
            _table(ContributionRow),
            ("signal_id", "id", "version"),
            "signal_id",
            signal_ids,
            where=("org_id", org_id),
        )
        return {sid: (cid, version) for sid, cid, version in found}
