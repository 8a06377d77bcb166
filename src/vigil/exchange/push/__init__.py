"""Push: members subscribe to new, changed and revoked signals and receive signed webhooks.

Three steps, each safe to run again:

1. ``create_subscription`` stores a URL, filters (event types, signal kinds, TLPs, a campaign)
   and a random secret, returned **once**. ``events`` defaults to the signal events: other event
   types (action-item reminders) reach only subscriptions that opted into them.
2. ``enqueue`` turns changes into deliveries. For every active subscription it lists what the
   subscriber's organisation may see (the store's own access rule, re-checked per contribution
   with ``access.can_see``) changed since the subscription's ``scanned_until`` minus a safety
   overlap, and inserts one delivery per (signal, contributor, version). The unique key makes the
   overlap harmless, and the overlap catches transactions that committed late with an earlier stamp.
   ``enqueue_event`` is the entry point for every other event: a higher layer (the meetings'
   reminder scan in ``vigil.cases``) hands over an organisation, an event type, a dedup key and a
   payload it has already cut to what that organisation may see; the exchange stays unaware of
   what the event is about.
3. ``deliver_due`` POSTs due deliveries outside any database transaction. A 2xx answer marks one
   delivered; anything else (error status, timeout, refused connection) schedules a retry after
   ``push_backoff_s * 2**(attempt-1)`` seconds; after ``push_max_attempts`` the delivery becomes a
   **dead letter**: kept with its payload and last error, listed by the API/CLI, and re-queued by
   ``requeue``. Nothing is dropped.

Secrets and destinations: a subscription's secret is stored sealed (``secrets_box``; opened only to
sign), and its URL must pass the destination policy (``destinations``: no loopback, private,
link-local... addresses, https only, unless the settings allow them) when it is made and again
before every delivery, which connects to an address that passed. A refused delivery is a failed
attempt whose error says why; it never crashes the worker.

Signature: ``X-Vigil-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}." + raw body)>``
with ``X-Vigil-Timestamp`` (Unix seconds). Signing the timestamp with the body means a replayed
request cannot be given a fresh timestamp; receivers reject timestamps older than a few minutes
(``verify_signature`` does both checks).

The package's modules: ``records`` (event types, statuses, the records), ``signing``,
``subscriptions``, ``enqueuing`` (changes -> deliveries) and ``delivery`` (sending, retries, dead
letters). Callers use the names re-exported here (``push.create_subscription``, ...).
"""

from vigil.exchange.push.delivery import (
    DeliveryReport,
    backoff,
    deliver_due,
    list_deliveries,
    requeue,
    run_once,
)
from vigil.exchange.push.enqueuing import (
    EnqueueReport,
    enqueue,
    enqueue_event,
)
from vigil.exchange.push.records import (
    ACTION_ITEM_EVENTS,
    DEAD,
    DELIVERED,
    EVENT_TYPES,
    FEEDBACK_EVENTS,
    MAX_KEY_CHARS,
    MAX_URL_CHARS,
    MEETING_EVENTS,
    PENDING,
    QUARANTINE_EVENTS,
    SCAN_OVERLAP,
    SIGNAL_EVENTS,
    Delivery,
    Subscription,
    parse_events,
)
from vigil.exchange.push.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    body_of,
    sign,
    verify_signature,
)
from vigil.exchange.push.subscriptions import (
    cancel_subscription,
    create_subscription,
    list_subscriptions,
    set_subscription_events,
)

__all__ = [
    "ACTION_ITEM_EVENTS",
    "DEAD",
    "DELIVERED",
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "EVENT_TYPES",
    "FEEDBACK_EVENTS",
    "MAX_KEY_CHARS",
    "MAX_URL_CHARS",
    "MEETING_EVENTS",
    "PENDING",
    "QUARANTINE_EVENTS",
    "SCAN_OVERLAP",
    "SIGNAL_EVENTS",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Delivery",
    "DeliveryReport",
    "EnqueueReport",
    "Subscription",
    "backoff",
    "body_of",
    "cancel_subscription",
    "create_subscription",
    "deliver_due",
    "enqueue",
    "enqueue_event",
    "list_deliveries",
    "list_subscriptions",
    "parse_events",
    "requeue",
    "run_once",
    "set_subscription_events",
    "sign",
    "verify_signature",
]
