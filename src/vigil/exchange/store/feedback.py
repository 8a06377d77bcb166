"""Opinions and sightings: what members say about each other's signals. The feedback part of
``ExchangeStore``."""

from __future__ import annotations

from datetime import datetime

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
from vigil.exchange.records import (
    Opinion,
    OpinionValue,
    Sighting,
)
from vigil.exchange.store.base import StoreBase, check_range, opinion_record, parse_opinion, sighting_record


class FeedbackStore(StoreBase):
    """Opinions (one current per organisation, history kept) and sightings of visible signals."""

    def set_opinion(
        self, principal: Principal, signal_id: str, value: str | OpinionValue, comment: str | None = None
    ) -> Opinion:
        """Set the caller organisation's current opinion of a visible signal (history is kept)."""
        require(principal, Permission.WRITE)
        parsed = parse_opinion(value)
        self._require_visible(principal, signal_id)
        self._lock_signal(signal_id)
        now = self.now()
        row = self.session.get(OpinionRow, (signal_id, principal.org_id), populate_existing=True)
        if row is None:
            row = OpinionRow(signal_id=signal_id, org_id=principal.org_id)
            self.session.add(row)
        row.value, row.comment, row.created_at = parsed.value, comment, now
        self.session.add(
            OpinionHistoryRow(
                signal_id=signal_id,
                org_id=principal.org_id,
                value=parsed.value,
                comment=comment,
                created_at=now,
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

    def list_opinions(self, principal: Principal, signal_id: str, *, history: bool = False) -> list[Opinion]:
        """Current opinions of every organisation (or the full history, oldest first)."""
        require(principal, Permission.READ)
        self._require_visible(principal, signal_id)
        if not history:
            return self._opinions([signal_id]).get(signal_id, [])
        rows = self.session.scalars(
            select(OpinionHistoryRow)
            .where(OpinionHistoryRow.signal_id == signal_id)
            .order_by(OpinionHistoryRow.id)
        )
        return [
            Opinion(org_id=r.org_id, value=OpinionValue(r.value), comment=r.comment, created_at=r.created_at)
            for r in rows
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
    ) -> Sighting:
        """Report that the caller organisation saw a visible signal ``count`` times in a time range."""
        require(principal, Permission.WRITE)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InputError(f"count must be a positive integer, got {count!r}", field="count")
        check_range(first_seen, last_seen, "sighting")
        self._require_visible(principal, signal_id)
        now = self.now()
        row = SightingRow(
            signal_id=signal_id,
            org_id=principal.org_id,
            count=count,
            first_seen=ensure_utc(first_seen),
            last_seen=ensure_utc(last_seen),
            platform=platform,
            created_at=now,
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
        self._require_visible(principal, signal_id)
        return self._sightings([signal_id]).get(signal_id, [])
