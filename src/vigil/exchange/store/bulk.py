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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from vigil.core.errors import Conflict, InputError, VigilError
from vigil.core.ids import stable_id
from vigil.core.time import ensure_utc, isoformat_z
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
from vigil.exchange.values import normalize_value

CHUNK = 500  # ids per IN list (well under every backend's parameter limit)


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


@dataclass
class _Checked:
    """An item that passed every check, ready to write."""

    index: int
    kind: SignalKind
    value: str
    signal_id: str
    tlp: TLP
    shared: tuple[str, ...]
    confidence: int
    tags: tuple[str, ...]
    item: SignalSubmission
    override: dict[str, Any] | None  # the warninglist.override_used audit entry, if one was used


def _table(model: type[Any]) -> Table:
    """The Core table of a model (for statements that skip the ORM unit of work)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


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
        self, principal: Principal, items: Sequence[SignalSubmission], *, atomic: bool = True
    ) -> BulkReport:
        """Add or update the caller organisation's contribution for every item, in order.

        Returns a report with one entry per item. ``atomic`` (default): any bad item raises (see
        ``batch_error``: the message names each bad item) and nothing is written; otherwise the
        good items are stored and the bad ones reported. No size limit here (a MISP event or a
        federation pull is one call); the REST route takes at most 10,000 items per request."""
        require(principal, Permission.WRITE)
        report = BulkReport()
        checked = self._check_items(principal, items, report)
        if atomic and report.rejected:
            raise batch_error(report, len(items))
        if checked:
            self._write(principal, checked, report)
        return report

    # -----------------------------------------------------------------------------------------
    # checks (the same, in the same order, as submit_signal)

    def _check_items(
        self, principal: Principal, items: Sequence[SignalSubmission], report: BulkReport
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
        out: list[_Checked] = []
        for index, (item, found) in enumerate(zip(items, normalized, strict=True)):
            entry = BulkItem(index=index, kind=str(getattr(item.kind, "value", item.kind)), value=item.value)
            report.items.append(entry)
            try:
                if isinstance(found, VigilError):
                    raise found
                kind, value = found
                entry.kind, entry.value = kind.value, value
                out.append(self._check_one(index, item, kind, value, known_orgs, screener, campaigns))
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
        self,
        index: int,
        item: SignalSubmission,
        kind: SignalKind,
        value: str,
        known_orgs: set[str],
        screener: warninglists.Screener,
        campaigns: set[str],
    ) -> _Checked:
        tlp = parse_tlp(item.marking.tlp)
        shared: tuple[str, ...] = ()
        if tlp not in (TLP.CLEAR, TLP.GREEN):
            shared = tuple(dict.fromkeys(str(s) for s in item.marking.shared_with))
            missing = [s for s in shared if s not in known_orgs]
            if missing:
                raise InputError(f"shared_with names unknown organisations: {', '.join(missing)}")
        confidence = item.confidence
        if isinstance(confidence, bool) or not isinstance(confidence, int) or not 0 <= confidence <= 100:
            raise InputError(f"confidence must be an integer 0-100, got {confidence!r}", field="confidence")
        flags, hit, override_id = screener.check(kind, value)
        tags = clean_tags([*item.tags, *flags])
        check_range(item.first_seen, item.last_seen, "signal")
        if item.campaign_id is not None and item.campaign_id not in campaigns:
            raise InputError(f"no campaign {item.campaign_id!r} visible to you", field="campaign_id")
        if item.language is not None and not (0 < len(item.language.strip()) <= 16):
            raise InputError("language must be a short code such as 'en' or 'ar'", field="language")
        override = None
        if hit is not None and override_id is not None:
            override = warninglists.override_used_entry(kind, value, hit, override_id)
        return _Checked(
            index=index,
            kind=kind,
            value=value,
            signal_id=stable_id("indicator", kind.value, value),
            tlp=tlp,
            shared=shared,
            confidence=confidence,
            tags=tags,
            item=item,
            override=override,
        )

    # -----------------------------------------------------------------------------------------
    # writing

    def _write(self, principal: Principal, checked: list[_Checked], report: BulkReport) -> None:
        """Core statements only (no ORM unit of work: building, tracking and flushing one ORM
        object per row was most of the cost): one executemany per table, and per 500 ids for the
        IN queries. Each item still gets its own version and audit entry, in order; a contribution
        submitted twice in one batch is written once, with its last state."""
        now = self.now()
        modified = self._lock_or_create_signals(checked, now)  # signal id -> modified_at
        own = self._own_contributions(principal.org_id, sorted(modified))  # signal id -> (id, version)
        state: dict[str, dict[str, Any]] = {}  # signal id -> the contribution row as it will be written
        created_ids: set[str] = set()
        versions: list[
            tuple[str, dict[str, Any]]
        ] = []  # (signal id, version row without its contribution id)
        audits: list[dict[str, Any]] = []
        final: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}  # signal id -> shared, tags
        actor = {"actor_key_id": principal.key_id, "actor_org_id": principal.org_id, "subject_org_id": None}
        for c in checked:
            item = c.item
            tlp = c.tlp.value  # read once: an enum's .value is a descriptor call
            stamp = max(now, modified[c.signal_id] + timedelta(microseconds=1))
            modified[c.signal_id] = stamp
            row = state.get(c.signal_id)
            if row is None:
                known = own.get(c.signal_id)
                if known is None:
                    created_ids.add(c.signal_id)
                    report.items[c.index].created = True
                row = {"version": known[1] if known else 0, "created_at": stamp}
                state[c.signal_id] = row
            first_seen = ensure_utc(item.first_seen) if item.first_seen else None
            last_seen = ensure_utc(item.last_seen) if item.last_seen else None
            valid_until = ensure_utc(item.valid_until) if item.valid_until else None
            version = (row["version"] or 0) + 1
            row.update(
                tlp=tlp,
                confidence=c.confidence,
                first_seen=first_seen,
                last_seen=last_seen,
                campaign_id=item.campaign_id,
                description=item.description,
                valid_until=valid_until,
                revoked_at=None,
                version=version,
                modified_at=stamp,
            )
            final[c.signal_id] = (c.shared, c.tags)
            versions.append(
                (
                    c.signal_id,
                    {
                        "version": version,
                        "modified_at": stamp,
                        "snapshot": {
                            "org_id": principal.org_id,
                            "tlp": tlp,
                            "shared_with": list(c.shared),
                            "confidence": c.confidence,
                            "tags": list(c.tags),
                            "first_seen": _iso(first_seen),
                            "last_seen": _iso(last_seen),
                            "campaign_id": item.campaign_id,
                            "description": item.description,
                            "valid_until": _iso(valid_until),
                            "revoked": False,
                            # the contribution's own language (vigil.exchange.store.languages)
                            "language": _language(item),
                        },
                    },
                )
            )
            if c.override is not None:
                audits.append({**actor, **c.override, "at": now, "tlp": None})
            audits.append(
                {
                    **actor,
                    "action": "signal.submit",
                    "at": stamp,
                    "target_type": "signal",
                    "target_id": c.signal_id,
                    "tlp": tlp,
                    "detail": {"kind": c.kind.value, "version": version},
                }
            )
            entry = report.items[c.index]
            entry.signal_id, entry.version = c.signal_id, version
        contributions = _table(ContributionRow)
        signals = _table(SignalRow)
        execute = self.session.execute
        new_rows = [{**state[s], "signal_id": s, "org_id": principal.org_id} for s in sorted(created_ids)]
        if new_rows:
            execute(insert(contributions), new_rows)
            ids = self._own_contributions(principal.org_id, [r["signal_id"] for r in new_rows])
            own.update(ids)
        updated = [
            {"b_id": own[s][0], **{k: v for k, v in row.items() if k != "created_at"}}
            for s, row in state.items()
            if s not in created_ids
        ]
        if updated:
            execute(
                update(contributions)
                .where(contributions.c.id == bindparam("b_id"))
                .values({k: bindparam(k) for k in updated[0] if k != "b_id"}),
                updated,
            )
        execute(
            update(signals).where(signals.c.id == bindparam("b_id")).values(modified_at=bindparam("b_at")),
            [{"b_id": s, "b_at": modified[s]} for s in sorted(final)],
        )
        touched = [own[s][0] for s in final]
        for model in (ContributionShareRow, ContributionTagRow):
            for start in range(0, len(touched), CHUNK):
                # an ORM-enabled delete: loaded copies of the deleted rows leave the session too
                execute(delete(model).where(model.contribution_id.in_(touched[start : start + CHUNK])))
        shares = [
            {"contribution_id": own[s][0], "org_id": o} for s, (shared, _) in final.items() for o in shared
        ]
        tags = [{"contribution_id": own[s][0], "tag": t} for s, (_, ts) in final.items() for t in ts]
        if shares:
            execute(insert(_table(ContributionShareRow)), shares)
        if tags:
            execute(insert(_table(ContributionTagRow)), tags)
        execute(
            insert(_table(ContributionVersionRow)),
            [{"contribution_id": own[s][0], **v} for s, v in versions],
        )
        execute(insert(_table(AuditRow)), audits)
        self._expire_loaded(set(final), {own[s][0] for s in final})

    def _expire_loaded(self, signal_ids: set[str], contribution_ids: set[int]) -> None:
        """Rows were written with Core statements: copies of them the session already holds would
        be stale, so they are expired (reloaded on next access), as the ORM path left them fresh."""
        for obj in list(self.session.identity_map.values()):
            if (isinstance(obj, SignalRow) and obj.id in signal_ids) or (
                isinstance(obj, ContributionRow) and obj.id in contribution_ids
            ):
                self.session.expire(obj)

    def _lock_or_create_signals(self, checked: list[_Checked], now: datetime) -> dict[str, datetime]:
        """Every signal of the batch, locked until the transaction ends (in id order, so two bulk
        submissions cannot deadlock); the missing ones are inserted first (as ``submit_signal``
        would: no language on the signal row; each contribution keeps its own). Returns each
        signal's ``modified_at``."""
        first: dict[str, _Checked] = {}
        for c in checked:
            first.setdefault(c.signal_id, c)
        ids = sorted(first)
        # Every signal of the batch goes through the insert (a no-op on conflict), existing or not,
        # so a batch holding values another member holds hidden takes as long as a fresh one.
        missing = [
            {
                "id": s,
                "kind": first[s].kind.value,
                "value": first[s].value,
                "language": None,  # per contribution, in its snapshot
                "created_at": now,
                "modified_at": now - timedelta(microseconds=1),
            }
            for s in ids
        ]
        table = _table(SignalRow)
        if missing:
            dialect = self.session.get_bind().dialect.name
            make = pg_insert if dialect == "postgresql" else sqlite_insert
            # ON CONFLICT DO NOTHING: a concurrent transaction may have inserted one first.
            # One executemany: the statement is compiled once, not once per 500-row VALUES list.
            self.session.execute(make(table).on_conflict_do_nothing(index_elements=["id"]), missing)
        found: dict[str, datetime] = {}
        for start in range(0, len(ids), CHUNK):
            for sid, at in self.session.execute(
                select(table.c.id, table.c.modified_at)
                .where(table.c.id.in_(ids[start : start + CHUNK]))
                .order_by(table.c.id)
                .with_for_update()
            ):
                found[sid] = at
        return found

    def _own_contributions(self, org_id: str, signal_ids: list[str]) -> dict[str, tuple[int, int]]:
        """The organisation's contributions to these signals: signal id -> (id, version)."""
        table = _table(ContributionRow)
        found: dict[str, tuple[int, int]] = {}
        for start in range(0, len(signal_ids), CHUNK):
            for sid, cid, version in self.session.execute(
                select(table.c.signal_id, table.c.id, table.c.version).where(
                    table.c.org_id == org_id, table.c.signal_id.in_(signal_ids[start : start + CHUNK])
                )
            ):
                found[sid] = (cid, version)
        return found
