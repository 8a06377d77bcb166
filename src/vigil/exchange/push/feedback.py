"""Feedback sent back to the source by webhook: ``feedback.opinion`` and ``feedback.sighting``.

A subscription that lists these events (``--event feedback``) receives one delivery for every
opinion another member sets, and every sighting another member reports, on a contribution of the
subscription's organisation, within what that organisation may see (the subscription's kind, TLP and
campaign filters apply to that contribution) (the same SQL rule as the
feedback counts, ``ExchangeStore.feedback_given_to``). ``enqueue`` calls ``enqueue_feedback`` for
each subscription before it moves the subscription's ``scanned_until``, so the window and the
late-commit overlap are the signal events' own; the key ``feedback|<opinion|sighting>|<row id>``
makes a re-scan harmless.

Payload (under the usual envelope ``id``, ``type``, ``created``, ``subscription_id``)::

    {"signal": {"id", "kind", "value"}, "contribution": "<STIX id of your indicator>",
     "feedback": {"org_id", "value" | "count", "created_at"}, "object": <the STIX opinion or sighting>}
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import select

from vigil.core.errors import NotFound
from vigil.core.time import isoformat_z
from vigil.exchange.access import Principal
from vigil.exchange.lifecycle_models import DeliveryRow, SubscriptionRow
from vigil.exchange.policy import parse_feedback
from vigil.exchange.push.records import FEEDBACK_EVENTS, SCAN_OVERLAP, queued_delivery
from vigil.exchange.records import Opinion, OpinionValue, OrgKind, Role, Sighting, Signal
from vigil.exchange.stix_export import contribution_object, signal_entries
from vigil.exchange.store import ExchangeStore
from vigil.exchange.store.feedback_counts import FeedbackEvent


def enqueue_feedback(store: ExchangeStore, sub: SubscriptionRow, org_kind: OrgKind) -> dict[str, int]:
    """Queue the feedback events of one subscription since its last scan; returns counts by type."""
    wanted = set(sub.events or ()) & set(FEEDBACK_EVENTS)
    made: dict[str, int] = {}
    if not wanted:
        return made
    session, now = store.session, store.now()
    since = max(sub.scanned_until - SCAN_OVERLAP, sub.created_at)
    viewer = Principal(
        key_id=f"push:{sub.id[-20:]}", org_id=sub.org_id, org_kind=org_kind, role=Role.READ_ONLY
    )
    existing = set(
        session.scalars(
            select(DeliveryRow.event_key).where(
                DeliveryRow.subscription_id == sub.id, DeliveryRow.created_at >= since - SCAN_OVERLAP
            )
        )
    )
    views: dict[str, Signal | None] = {}
    for event in store.feedback_given_to(viewer, after=since, until=now):
        event_type = f"feedback.{event.what}"
        key = f"feedback|{event.what}|{event.row_id}"
        if event_type not in wanted or key in existing:
            continue
        if event.signal_id not in views:
            try:
                views[event.signal_id] = store.get_signal(viewer, event.signal_id)
            except NotFound:  # defensive: the event query already required a visible contribution
                views[event.signal_id] = None
        view = views[event.signal_id]
        if view is None or (sub.kinds and view.kind.value not in sub.kinds):
            continue
        # the subscription's TLP and campaign filters apply to its own contribution
        own = next((c for c in view.contributions if c.org_id == viewer.org_id), None)
        if own is None or (sub.tlps and own.marking.tlp.value not in sub.tlps):
            continue
        if sub.campaign_id and own.campaign_id != sub.campaign_id:
            continue
        payload = _payload(view, viewer.org_id, event)
        if payload is None:
            continue
        existing.add(key)
        session.add(queued_delivery(sub.id, key, event_type, event.signal_id, payload, now))
        made[event_type] = made.get(event_type, 0) + 1
    return made


def _payload(view: Signal, org_id: str, event: FeedbackEvent) -> dict[str, Any] | None:
    """The event's body: the signal, the receiver's own indicator, and the feedback as STIX."""
    own = next((c for c in view.contributions if c.org_id == org_id), None)
    if own is None:
        return None
    feedback: dict[str, Any] = {"org_id": event.org_id, "created_at": isoformat_z(event.created_at)}
    if event.opinion is not None:
        row = event.opinion
        opinion = Opinion(
            row.org_id, OpinionValue(row.value), row.comment, row.created_at, parse_feedback(row.basis)[1]
        )
        one = replace(view, opinions=[opinion], sightings=[])
        feedback["value"] = row.value
    elif event.sighting is not None:
        s = event.sighting
        sighting = Sighting(
            s.org_id, s.count, s.first_seen, s.last_seen, s.platform, s.created_at, parse_feedback(s.basis)[1]
        )
        one = replace(view, opinions=[], sightings=[sighting])
        feedback["count"] = s.count
    else:
        return None
    stix = next((e.obj for e in signal_entries(one, {}) if e.obj["type"] == event.what), None)
    if stix is None:
        return None
    return {
        "signal": {"id": view.id, "kind": view.kind.value, "value": view.value},
        "contribution": contribution_object(view, own)["id"],
        "feedback": feedback,
        "object": stix,
    }


__all__ = ["enqueue_feedback"]
