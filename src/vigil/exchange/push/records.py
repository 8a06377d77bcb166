"""What push stores and returns: event types, delivery statuses, the ``Subscription`` and
``Delivery`` records and their mapping from rows, and ``parse_events``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from vigil.core.errors import InputError
from vigil.core.ids import new_id
from vigil.core.time import isoformat_z
from vigil.exchange.lifecycle_models import DeliveryRow, SubscriptionRow

SCAN_OVERLAP = timedelta(seconds=60)
MAX_URL_CHARS = 1000

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"

SIGNAL_EVENTS = ("signal.created", "signal.updated", "signal.revoked", "signal.expired")
ACTION_ITEM_EVENTS = ("action_item.due_soon", "action_item.overdue")
# a member is asked to confirm or update its policies before a meeting (vigil.cases.meetings_reminders)
MEETING_EVENTS = ("meeting.policies_due",)
# flood quarantine (vigil.exchange.flood): a member's notice to the signal's sources, and the
# coalition-wide quarantine starting or ending, to every member that may see the signal
QUARANTINE_EVENTS = (
    "signal.quarantine_notice",
    "signal.coalition_quarantined",
    "signal.coalition_released",
)
# feedback other members gave on the subscriber's own contributions (vigil.exchange.push.feedback)
FEEDBACK_EVENTS = ("feedback.opinion", "feedback.sighting")
EVENT_TYPES = SIGNAL_EVENTS + ACTION_ITEM_EVENTS + MEETING_EVENTS + QUARANTINE_EVENTS + FEEDBACK_EVENTS
# families whose members do not share one prefix (the quarantine events start with "signal.", but
# the "signal" family stays the four signal events every subscription has by default)
EVENT_FAMILIES: dict[str, tuple[str, ...]] = {"signal": SIGNAL_EVENTS, "quarantine": QUARANTINE_EVENTS}
MAX_KEY_CHARS = 200


@dataclass(frozen=True)
class Subscription:
    id: str
    org_id: str
    name: str
    url: str
    kinds: tuple[str, ...]
    tlps: tuple[str, ...]
    campaign_id: str | None
    active: bool
    created_at: datetime
    events: tuple[str, ...] = SIGNAL_EVENTS

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "org_id": self.org_id,
            "name": self.name,
            "url": self.url,
            "events": list(self.events),
            "kinds": list(self.kinds),
            "tlps": list(self.tlps),
            "campaign_id": self.campaign_id,
            "active": self.active,
            "created_at": isoformat_z(self.created_at),
        }


@dataclass(frozen=True)
class Delivery:
    id: int
    subscription_id: str
    event_id: str
    event_type: str
    signal_id: str | None  # None for events that are not about a signal (reminders)
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subscription_id": self.subscription_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "signal_id": self.signal_id,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": isoformat_z(self.next_attempt_at),
            "last_error": self.last_error,
            "created_at": isoformat_z(self.created_at),
            "delivered_at": isoformat_z(self.delivered_at) if self.delivered_at else None,
        }


def subscription_record(row: SubscriptionRow) -> Subscription:
    return Subscription(
        row.id,
        row.org_id,
        row.name,
        row.url,
        tuple(row.kinds),
        tuple(row.tlps),
        row.campaign_id,
        row.active,
        row.created_at,
        tuple(row.events),
    )


def delivery_record(row: DeliveryRow) -> Delivery:
    return Delivery(
        row.id,
        row.subscription_id,
        row.event_id,
        row.event_type,
        row.signal_id,
        row.status,
        row.attempts,
        row.next_attempt_at,
        row.last_error,
        row.created_at,
        row.delivered_at,
    )


def parse_events(values: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Event types from names or families: ``signal.created``, ``signal`` / ``signal.*`` (the four
    signal events), ``action_item`` / ``action_item.*``, ``meeting`` / ``meeting.*``,
    ``quarantine`` (the three flood-quarantine events), ``feedback`` / ``feedback.*``, ``all``.
    Empty: the signal events."""
    if not values:
        return SIGNAL_EVENTS
    found: list[str] = []
    for value in values:
        name = str(value).strip().lower().removesuffix(".*")
        if name == "all":
            expanded: tuple[str, ...] = EVENT_TYPES
        elif name in EVENT_TYPES:
            expanded = (name,)
        elif name in EVENT_FAMILIES:
            expanded = EVENT_FAMILIES[name]
        else:
            expanded = tuple(e for e in EVENT_TYPES if e.split(".")[0] == name)
        if not expanded:
            raise InputError(
                f"unknown event type {value!r}; known: {', '.join(EVENT_TYPES)} "
                "(or a family: signal, action_item, meeting, quarantine, feedback, all)",
                field="events",
            )
        found.extend(e for e in expanded if e not in found)
    return tuple(e for e in EVENT_TYPES if e in found)


def queued_delivery(
    sub_id: str, key: str, event_type: str, signal_id: str | None, body: dict[str, Any], now: datetime
) -> DeliveryRow:
    """A pending delivery of one event to one subscription: ``body`` inside the envelope every
    event shares (``id``, ``type``, ``created``, ``subscription_id``; the envelope wins a clash)."""
    event_id = new_id("event")
    envelope = {"id": event_id, "type": event_type, "created": isoformat_z(now), "subscription_id": sub_id}
    return DeliveryRow(
        subscription_id=sub_id,
        event_key=key,
        event_id=event_id,
        event_type=event_type,
        signal_id=signal_id,
        payload={**body, **envelope},
        status=PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
