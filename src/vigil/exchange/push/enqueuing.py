"""Changes -> deliveries: ``enqueue`` scans each active subscription's visible signal changes since
its last scan; ``enqueue_event`` queues the other events (reminders) a higher layer hands over."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.core.errors import InputError
from vigil.core.time import isoformat_z, utcnow
from vigil.exchange.access import Principal, can_see
from vigil.exchange.lifecycle_models import DeliveryRow, SubscriptionRow
from vigil.exchange.models import ContributionRow, OrgRow
from vigil.exchange.push.feedback import enqueue_feedback
from vigil.exchange.push.records import (
    EVENT_TYPES,
    MAX_KEY_CHARS,
    SCAN_OVERLAP,
    SIGNAL_EVENTS,
    queued_delivery,
)
from vigil.exchange.records import TLP, Contribution, OrgKind, Role, Signal, SignalKind
from vigil.exchange.stix_export import contribution_object
from vigil.exchange.store import ExchangeStore, SignalFilter


@dataclass
class EnqueueReport:
    subscriptions: int = 0
    enqueued: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


def _event_type(version: int, revoked: bool) -> str:
    if revoked:
        return "signal.revoked"
    return "signal.created" if version == 1 else "signal.updated"


def enqueue(session: Session, *, now: datetime | None = None) -> EnqueueReport:
    """Create deliveries for every active subscription from the changes it has not yet scanned:
    new versions of contributions (created, updated, revoked) and contributions whose
    ``valid_until`` passed (expired) since the last scan."""
    now = now or utcnow()
    report = EnqueueReport()
    kinds_of_org = {o.id: OrgKind(o.kind) for o in session.scalars(select(OrgRow))}
    store = ExchangeStore(session, now=now)
    for sub in session.scalars(select(SubscriptionRow).where(SubscriptionRow.active.is_(True))).all():
        report.subscriptions += 1
        # feedback on the subscriber's contributions: before _scan moves scanned_until
        for event_type, n in enqueue_feedback(store, sub, kinds_of_org[sub.org_id]).items():
            report.enqueued += n
            report.by_type[event_type] = report.by_type.get(event_type, 0) + n
        _scan(store, sub, kinds_of_org, report)
    session.flush()
    return report


def _scan(
    store: ExchangeStore, sub: SubscriptionRow, kinds_of_org: dict[str, OrgKind], report: EnqueueReport
) -> None:
    """Enqueue one subscription's events since its last scan."""
    session, now = store.session, store.now()
    viewer = Principal(
        key_id=f"push:{sub.id[-20:]}",
        org_id=sub.org_id,
        org_kind=kinds_of_org[sub.org_id],
        role=Role.READ_ONLY,
    )
    # Re-scan a little of what was scanned (late commits); never before the subscription existed.
    since = max(sub.scanned_until - SCAN_OVERLAP, sub.created_at)
    base = SignalFilter(
        kinds=tuple(SignalKind(k) for k in sub.kinds),
        tlps=tuple(TLP(t) for t in sub.tlps),
        campaign_id=sub.campaign_id,
    )
    existing = set(
        session.scalars(
            select(DeliveryRow.event_key).where(
                DeliveryRow.subscription_id == sub.id, DeliveryRow.created_at >= since - SCAN_OVERLAP
            )
        )
    )

    wanted = set(sub.events)

    def emit(signal: Signal, c: Contribution, event_type: str, key: str) -> None:
        if key in existing or event_type not in wanted:
            return
        if sub.tlps and c.marking.tlp.value not in sub.tlps:
            return
        if sub.campaign_id and c.campaign_id != sub.campaign_id:
            return
        # The listing already applied the access rule; check each item again with the pure
        # rule before anything leaves the exchange.
        if not can_see(
            viewer.org_id,
            viewer.org_kind,
            source_org_id=c.org_id,
            source_kind=kinds_of_org[c.org_id],
            tlp=c.marking.tlp,
            shared_with=c.marking.shared_with,
        ):
            return
        existing.add(key)
        body = {
            "signal": {
                "id": signal.id,
                "kind": signal.kind.value,
                "value": signal.value,
                "revoked": signal.revoked,
                "valid_until": isoformat_z(signal.valid_until) if signal.valid_until else None,
            },
            "object": contribution_object(signal, c),
        }
        session.add(queued_delivery(sub.id, key, event_type, signal.id, body, now))
        report.enqueued += 1
        report.by_type[event_type] = report.by_type.get(event_type, 0) + 1

    if not wanted & set(SIGNAL_EVENTS):
        sub.scanned_until = now  # a reminders-only subscription: no signal listing at all
        return
    for signal in _visible(store, viewer, replace(base, modified_after=since)):
        for c in signal.contributions:
            if c.modified_at > since:
                emit(signal, c, _event_type(c.version, c.revoked), f"{signal.id}|{c.org_id}|{c.version}")
    expiring = tuple(
        session.scalars(
            select(ContributionRow.signal_id)
            .where(
                ContributionRow.valid_until > since,
                ContributionRow.valid_until <= now,
                ContributionRow.revoked_at.is_(None),
            )
            .distinct()
        )
    )
    if expiring:
        for signal in _visible(store, viewer, replace(base, ids=expiring)):
            for c in signal.contributions:
                if c.valid_until and since < c.valid_until <= now and not c.revoked:
                    emit(signal, c, "signal.expired", f"{signal.id}|{c.org_id}|{c.version}|expired")
    sub.scanned_until = now


def enqueue_event(
    session: Session,
    *,
    org_id: str,
    event_type: str,
    key: str,
    payload: dict[str, Any],
    now: datetime | None = None,
    signal_id: str | None = None,
) -> int:
    """Queue one event that is not a signal change for the active subscriptions of ``org_id``
    that opted into ``event_type``; returns how many deliveries were created.

    ``key`` makes it idempotent: a subscription never gets two deliveries with the same key, so
    a caller that scans repeatedly sends each event once. ``payload`` goes out as given under
    the envelope (``id``, ``type``, ``created``, ``subscription_id``): the caller has already
    reduced it to what ``org_id`` may see. Nothing here knows what the event is about;
    ``signal_id`` (flood-quarantine events) only files the delivery under its signal.
    """
    if event_type not in EVENT_TYPES or event_type in SIGNAL_EVENTS:
        allowed = ", ".join(e for e in EVENT_TYPES if e not in SIGNAL_EVENTS)
        raise InputError(f"enqueue_event takes {allowed}; got {event_type!r}", field="event_type")
    if not key or len(key) > MAX_KEY_CHARS:
        raise InputError(f"event key must be 1-{MAX_KEY_CHARS} characters", field="key")
    now = now or utcnow()
    subs = session.scalars(
        select(SubscriptionRow)
        .where(SubscriptionRow.org_id == org_id, SubscriptionRow.active.is_(True))
        .order_by(SubscriptionRow.created_at, SubscriptionRow.id)
    ).all()
    made = 0
    for sub in subs:
        if event_type not in (sub.events or ()):
            continue
        seen = session.scalar(
            select(DeliveryRow.id).where(DeliveryRow.subscription_id == sub.id, DeliveryRow.event_key == key)
        )
        if seen is not None:
            continue
        session.add(queued_delivery(sub.id, key, event_type, signal_id, payload, now))
        made += 1
    session.flush()
    return made


def _visible(store: ExchangeStore, viewer: Principal, filters: SignalFilter) -> Iterator[Signal]:
    cursor: str | None = None
    while True:
        page = store.list_signals(viewer, filters, limit=500, cursor=cursor)
        yield from page.items
        if not page.next_cursor:
            return
        cursor = page.next_cursor
