"""Revoking many of one's contributions at once: ``revoke_signals``. The same rules, versions and
audit entries as ``revoke_signal`` for each id in order, in a few multi-row statements (one at a
time, a revocation costs 60-80 ms of round trips and flushes).

All or nothing: every id is checked before anything is written. An id the caller's organisation
has no contribution to (whether or not the signal exists: the same answer, so a revocation cannot
probe what others hold) is a ``NotFound``, one whose contribution is already revoked a ``Conflict``,
an id listed twice an ``InputError``; the error names the first bad id and its position, and
nothing of the request is stored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from vigil.core.errors import Conflict, InputError, NotFound
from vigil.core.time import isoformat_z
from vigil.exchange.access import Permission, Principal, require
from vigil.exchange.models import (
    AuditRow,
    ContributionRow,
    ContributionShareRow,
    ContributionTagRow,
    ContributionVersionRow,
    SignalRow,
)
from vigil.exchange.store.languages import current_languages
from vigil.exchange.store.signals import SignalsStore
from vigil.exchange.store.signals_rows import AUDIT_COLUMNS, RowWriter, expire_loaded
from vigil.exchange.store.signals_rows import table_of as _table

# what a revocation reads of each contribution (the snapshot repeats all but the ids)
_READ = (
    "signal_id",
    "id",
    "version",
    "revoked_at",
    "tlp",
    "confidence",
    "first_seen",
    "last_seen",
    "campaign_id",
    "description",
    "valid_until",
)


@dataclass(frozen=True)
class Revoked:
    """One revoked contribution: its signal, the new version and when."""

    signal_id: str
    version: int
    revoked_at: datetime


def _iso(value: datetime | None) -> str | None:
    return isoformat_z(value) if value else None


class RevokeSignalsStore(SignalsStore):
    """``revoke_signals`` (see the module docstring)."""

    def revoke_signals(self, principal: Principal, signal_ids: Sequence[str]) -> list[Revoked]:
        """Withdraw the caller organisation's contribution to each signal, in order; others' stay."""
        require(principal, Permission.WRITE)
        ids = list(signal_ids)
        if not ids:
            raise InputError("no signal ids to revoke", field="ids")
        total = len(ids)
        seen: set[str] = set()
        for index, sid in enumerate(ids):
            if not isinstance(sid, str) or not sid:
                raise InputError(f"item {index}: a signal id must be a non-empty string", field="ids")
            if sid in seen:
                raise InputError(
                    f"signal {sid!r} is listed twice (item {index} of {total}); nothing revoked",
                    field="ids",
                    signal=sid,
                    index=index,
                )
            seen.add(sid)
        rows = RowWriter(self.session)
        ordered = sorted(seen)
        # Lock first (in id order, as submissions do, so two requests cannot deadlock), then read
        # the contributions as they are after any change this waited for.
        modified = {
            sid: rows.read_time(at)
            for sid, at in rows.select_in(_table(SignalRow), ("id", "modified_at"), "id", ordered, lock=True)
        }
        own = {
            r[0]: r
            for r in rows.select_in(
                _table(ContributionRow), _READ, "signal_id", ordered, where=("org_id", principal.org_id)
            )
        }
        for index, sid in enumerate(ids):
            row = own.get(sid)
            if row is None:
                raise NotFound(
                    f"your organisation has no contribution to signal {sid!r} (item {index} of {total});"
                    " nothing revoked",
                    signal=sid,
                    index=index,
                )
            if row[3] is not None:
                raise Conflict(
                    f"your contribution to {sid!r} is already revoked (item {index} of {total});"
                    " nothing revoked",
                    signal=sid,
                    index=index,
                )
        return self._write_revocations(principal, rows, ids, own, modified)

    def _write_revocations(
        self,
        principal: Principal,
        rows: RowWriter,
        ids: list[str],
        own: dict[str, tuple[Any, ...]],
        modified: dict[str, datetime],
    ) -> list[Revoked]:
        cids = sorted(own[s][1] for s in ids)
        languages = current_languages(self.session, cids)  # before the versions move on
        shares: dict[int, list[str]] = defaultdict(list)
        tags: dict[int, list[str]] = defaultdict(list)
        for cid, org in rows.select_in(
            _table(ContributionShareRow), ("contribution_id", "org_id"), "contribution_id", cids
        ):
            shares[cid].append(org)
        for cid, tag in rows.select_in(
            _table(ContributionTagRow), ("contribution_id", "tag"), "contribution_id", cids
        ):
            tags[cid].append(tag)
        now = self.now()
        time = rows.time
        updates: list[tuple[Any, ...]] = []
        signal_updates: list[tuple[Any, ...]] = []
        versions: list[tuple[Any, ...]] = []
        audits: list[tuple[Any, ...]] = []
        revoked: list[Revoked] = []
        for sid in ids:
            (_, cid, version, _, tlp, confidence, *times) = own[sid]
            campaign_id, description = times[2], times[3]
            first_seen = rows.read_optional_time(times[0])
            last_seen = rows.read_optional_time(times[1])
            valid_until = rows.read_optional_time(times[4])
            last = modified[sid] + timedelta(microseconds=1)
            stamp = now if now > last else last
            version = int(version) + 1
            at = time(stamp)
            updates.append((at, version, at, cid))
            signal_updates.append((at, sid))
            snapshot = {
                "org_id": principal.org_id,
                "tlp": tlp,
                "shared_with": sorted(shares[cid]),
                "confidence": confidence,
                "tags": sorted(tags[cid]),
                "first_seen": _iso(first_seen),
                "last_seen": _iso(last_seen),
                "campaign_id": campaign_id,
                "description": description,
                "valid_until": _iso(valid_until),
                "revoked": True,
                "language": languages.get(cid),
            }
            versions.append((cid, version, at, rows.json(snapshot)))
            audits.append(
                (
                    at,
                    principal.key_id,
                    principal.org_id,
                    "signal.revoke",
                    "signal",
                    sid,
                    tlp,
                    rows.json({"version": version}),
                    None,
                )
            )
            revoked.append(Revoked(sid, version, stamp))
        rows.update(_table(ContributionRow), ("revoked_at", "version", "modified_at"), "id", updates)
        rows.update(_table(SignalRow), ("modified_at",), "id", sorted(signal_updates, key=lambda r: r[1]))
        rows.insert(
            _table(ContributionVersionRow),
            ("contribution_id", "version", "modified_at", "snapshot"),
            versions,
        )
        rows.insert(_table(AuditRow), AUDIT_COLUMNS, audits)
        expire_loaded(self.session, set(ids), set(cids))
        return revoked
