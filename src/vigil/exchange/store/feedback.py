"""Opinions and sightings: what members say about each other's signals. The feedback part of
``ExchangeStore``.

Each piece of feedback records its *basis* (``vigil.exchange.policy.feedback_basis``): the giver's
own contribution to the signal when it has one, otherwise the contributions it saw, each with its
marking at that moment. Readers see it only through a basis contribution they may see, under the
marking it had then (``may_see_feedback``); so another member submitting the same value later, or a
contribution widened later, never widens feedback already given.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from vigil.core.errors import InputError
from vigil.core.time import ensure_utc
from vigil.exchange import audit
from vigil.exchange.access import (
    Permission,
    Principal,
    require,
)
from vigil.exchange.models import (
    OpinionHistoryRow,
    OpinionRow,
    SightingRow,
)
from vigil.exchange.policy import feedback_basis, feedback_json, feedback_marking, parse_feedback
from vigil.exchange.records import (
    MAX_DB_INT,
    Marking,
    Opinion,
    OpinionValue,
    Sighting,
)
from vigil.exchange.store.base import StoreBase, check_range, opinion_record, parse_opinion, sighting_record


class FeedbackStore(StoreBase):
    """Opinions (one current per organisation, history kept) and sightings of visible signals."""

    def set_opinion(
        self,
        principal: Principal,
        signal_id: str,
        value: str | OpinionValue,
        comment: str | None = None,
        *,
        marking: Marking | None = None,
        clamp_marking: bool = False,
    ) -> Opinion:
        """Set the caller organisation's current opinion of a visible signal (history is kept).
        ``marking`` narrows who sees it (never wider than the contributions it is given on)."""
        require(principal, Permission.WRITE)
        parsed = parse_opinion(value)
        basis = self._feedback_stored(principal, signal_id, marking, clamp_marking)
        self._lock_signal(signal_id)
        now = self.now()
        row = self.session.get(OpinionRow, (signal_id, principal.org_id), populate_existing=True)
        if row is None:
            row = OpinionRow(signal_id=signal_id, org_id=principal.org_id)
            self.session.add(row)
        row.value, row.comment, row.created_at, row.basis = parsed.value, comment, now, basis
        self.session.add(
            OpinionHistoryRow(
                signal_id=signal_id,
                org_id=principal.org_id,
                value=parsed.value,
                comment=comment,
                created_at=now,
                basis=basis,
            )
        )
        audit.record(
            self.session,
            principal,
            "opinion.set",
            at=now,
            target_type="signal",
            target_id=signal_id,
            detail={"value": parsed.value},
        )
        self.session.flush()
        return opinion_record(row)

    def _feedback_stored(
        self, principal: Principal, signal_id: str, marking: Marking | None, clamp: bool
    ) -> list[dict[str, Any]]:
        """The basis list new feedback stores: its contributions, and the giver's marking if any
        (``clamp``: a marking wider than the contributions is dropped, not refused)."""
        basis = feedback_basis(principal.org_id, self._visible_basis(principal, signal_id))
        chosen = None
        if marking is not None:
            tlp, shared = self._check_marking(marking)
            chosen = feedback_marking(Marking(tlp, shared), basis, clamp=clamp)
        return feedback_json(basis, chosen)

    def list_opinions(self, principal: Principal, signal_id: str, *, history: bool = False) -> list[Opinion]:
        """Current opinions of every organisation (or the full history, oldest first)."""
        require(principal, Permission.READ)
        seen = {b.contribution_id for b in self._visible_basis(principal, signal_id)}
        if not history:
            return self._opinions(principal, {signal_id: seen}).get(signal_id, [])
        rows = self.session.scalars(
            select(OpinionHistoryRow)
            .where(OpinionHistoryRow.signal_id == signal_id)
            .order_by(OpinionHistoryRow.id)
        )
        return [
            Opinion(
                org_id=r.org_id,
                value=OpinionValue(r.value),
                comment=r.comment,
                created_at=r.created_at,
                marking=parse_feedback(r.basis)[1],
            )
            for r in rows
            if self._feedback_visible(principal, r.org_id, r.basis, seen)
        ]

    def add_sighting(
        self,
        principal: Principal,
        signal_id: str,
        *,
        count: int,
        first_seen: datetime,
        last_seen: datetime,
        platform: str | None = None,
        marking: Marking | None = None,
        clamp_marking: bool = False,
    ) -> Sighting:
        """Report that the caller organisation saw a visible signal ``count`` times in a time range;
        ``marking`` narrows who sees the report (never wider than the contributions it is on)."""
        require(principal, Permission.WRITE)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_DB_INT:
            raise InputError(f"count must be an integer 1-{MAX_DB_INT}, got {count!r}", field="count")
        check_range(first_seen, last_seen, "sighting")
        basis = self._feedback_stored(principal, signal_id, marking, clamp_marking)
        now = self.now()
        row = SightingRow(
            signal_id=signal_id,
            org_id=principal.org_id,
            count=count,
            first_seen=ensure_utc(first_seen),
            last_seen=ensure_utc(last_seen),
            platform=platform,
            created_at=now,
            basis=basis,
        )
        self.session.add(row)
        audit.record(
            self.session,
            principal,
            "sighting.add",
            at=now,
            target_type="signal",
            target_id=signal_id,
            detail={"count": count},
        )
        self.session.flush()
        return sighting_record(row)

    def list_sightings(self, principal: Principal, signal_id: str) -> list[Sighting]:
        require(principal, Permission.READ)
        seen = {b.contribution_id for b in self._visible_basis(principal, signal_id)}
        return self._sightings(principal, {signal_id: seen}).get(signal_id, [])
