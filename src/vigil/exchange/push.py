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
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.core.errors import AuthenticationError, InputError, NotFound
from vigil.core.ids import new_id
from vigil.core.settings import Settings, get_settings
from vigil.core.time import isoformat_z, utcnow
from vigil.db import Database
from vigil.exchange import audit
from vigil.exchange.access import Permission, Principal, can_see, require
from vigil.exchange.destinations import (
    Destination,
    DestinationPolicy,
    Resolver,
    check_destination,
    resolve_host,
)
from vigil.exchange.lifecycle_models import DeliveryRow, SubscriptionRow
from vigil.exchange.models import ContributionRow, OrgRow
from vigil.exchange.records import MAX_DB_INT, TLP, Contribution, OrgKind, Role, Signal, SignalKind
from vigil.exchange.secrets_box import load_box, seal_legacy, truncate_wal
from vigil.exchange.stix_export import contribution_object
from vigil.exchange.store import ExchangeStore, SignalFilter, parse_tlp
from vigil.exchange.values import parse_kind

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Vigil-Signature"
TIMESTAMP_HEADER = "X-Vigil-Timestamp"
EVENT_HEADER = "X-Vigil-Event"
DELIVERY_HEADER = "X-Vigil-Delivery"
SCAN_OVERLAP = timedelta(seconds=60)
MAX_URL_CHARS = 1000

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"

SIGNAL_EVENTS = ("signal.created", "signal.updated", "signal.revoked", "signal.expired")
ACTION_ITEM_EVENTS = ("action_item.due_soon", "action_item.overdue")
# a member is asked to confirm or update its policies before a meeting (vigil.cases.meetings_reminders)
MEETING_EVENTS = ("meeting.policies_due",)
EVENT_TYPES = SIGNAL_EVENTS + ACTION_ITEM_EVENTS + MEETING_EVENTS
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


# ---------------------------------------------------------------------------------------------
# signatures (pure)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Vigil-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(
    secret: str,
    body: bytes,
    timestamp: str,
    signature: str,
    *,
    now: datetime | None = None,
    tolerance_s: int = 300,
) -> None:
    """What a receiver does: AuthenticationError unless the signature matches and is fresh."""
    try:
        sent = int(timestamp)
    except ValueError:
        raise AuthenticationError(f"bad {TIMESTAMP_HEADER} {timestamp!r}") from None
    current = int((now or utcnow()).timestamp())
    if abs(current - sent) > tolerance_s:
        raise AuthenticationError(f"{TIMESTAMP_HEADER} is {current - sent} s old; possible replay")
    if not hmac.compare_digest(sign(secret, sent, body), signature):
        raise AuthenticationError(f"{SIGNATURE_HEADER} does not match the body")


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def backoff(attempts: int, base_s: float) -> timedelta:
    """Delay before the next attempt after ``attempts`` failures: base, 2x base, 4x base, ..."""
    return timedelta(seconds=base_s * 2 ** max(0, attempts - 1))


# ---------------------------------------------------------------------------------------------
# subscriptions


def _subscription(row: SubscriptionRow) -> Subscription:
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


def _delivery(row: DeliveryRow) -> Delivery:
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
    signal events), ``action_item`` / ``action_item.*``, ``meeting`` / ``meeting.*``, ``all``.
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
        else:
            expanded = tuple(e for e in EVENT_TYPES if e.split(".")[0] == name)
        if not expanded:
            raise InputError(
                f"unknown event type {value!r}; known: {', '.join(EVENT_TYPES)} "
                "(or a family: signal, action_item, meeting, all)",
                field="events",
            )
        found.extend(e for e in expanded if e not in found)
    return tuple(e for e in EVENT_TYPES if e in found)


def _check_url(url: str) -> str:
    text = (url or "").strip()
    if not text.startswith(("http://", "https://")) or len(text) > MAX_URL_CHARS or " " in text:
        raise InputError(
            f"webhook url must be an http(s) URL of at most {MAX_URL_CHARS} characters", field="url"
        )
    return text


def create_subscription(
    store: ExchangeStore,
    principal: Principal,
    name: str,
    url: str,
    *,
    kinds: tuple[str, ...] = (),
    tlps: tuple[str, ...] = (),
    campaign_id: str | None = None,
    events: tuple[str, ...] = (),
    settings: Settings | None = None,
    resolve: Resolver = resolve_host,
) -> tuple[Subscription, str]:
    """A new subscription of the caller's organisation and its secret (shown only now, stored
    sealed). ``events`` (see ``parse_events``) defaults to the signal events. ``settings`` (default:
    the process settings) give the destination policy and the key; ``resolve`` looks hosts up."""
    require(principal, Permission.WRITE)
    settings = settings or get_settings()
    if not name.strip() or len(name) > 200:
        raise InputError("name must be 1-200 characters", field="name")
    event_values = parse_events(events)
    kind_values = tuple(parse_kind(k).value for k in kinds)
    tlp_values = tuple(parse_tlp(t).value for t in tlps)
    if campaign_id is not None:
        store.get_campaign(principal, campaign_id)  # NotFound unless visible
    target = check_destination(_check_url(url), DestinationPolicy.from_settings(settings), resolve=resolve)
    box = load_box(settings)
    now = store.now()
    secret = secrets.token_urlsafe(32)
    row = SubscriptionRow(
        id=new_id("subscription"),
        org_id=principal.org_id,
        name=name.strip(),
        url=target.url,
        secret=box.seal(secret),
        kinds=list(kind_values),
        tlps=list(tlp_values),
        campaign_id=campaign_id,
        events=list(event_values),
        active=True,
        created_at=now,
        created_by=principal.key_id,
        scanned_until=now,
    )
    store.session.add(row)
    store.session.flush()
    audit.record(
        store.session,
        principal,
        "push.subscribe",
        at=now,
        target_type="subscription",
        target_id=row.id,
        detail={
            "url": row.url,
            "events": row.events,
            "kinds": row.kinds,
            "tlps": row.tlps,
            "campaign_id": campaign_id,
        },
    )
    return _subscription(row), secret


def _own_subscription(session: Session, principal: Principal | None, subscription_id: str) -> SubscriptionRow:
    row = session.get(SubscriptionRow, subscription_id)
    if row is None or (principal is not None and not principal.operator and row.org_id != principal.org_id):
        raise NotFound(f"no subscription {subscription_id!r}", subscription=subscription_id)
    return row


def list_subscriptions(session: Session, principal: Principal | None) -> list[Subscription]:
    """The caller organisation's subscriptions (all of them for the operator or local admin)."""
    if principal is not None:
        require(principal, Permission.READ)
    stmt = select(SubscriptionRow).order_by(SubscriptionRow.created_at)
    if principal is not None and not principal.operator:
        stmt = stmt.where(SubscriptionRow.org_id == principal.org_id)
    return [_subscription(r) for r in session.scalars(stmt)]


def set_subscription_events(
    session: Session,
    principal: Principal | None,
    subscription_id: str,
    events: tuple[str, ...],
    *,
    at: datetime,
) -> Subscription:
    """Change which event types a subscription receives (how an existing subscriber opts into
    reminders). Signal events it newly receives start from now, not from its past."""
    if principal is not None:
        require(principal, Permission.WRITE)
    row = _own_subscription(session, principal, subscription_id)
    new = parse_events(events)
    if not set(row.events) & set(SIGNAL_EVENTS):
        # It skipped signal changes until now: do not replay them when it opts in.
        row.scanned_until = at
    row.events = list(new)
    audit.record(
        session,
        principal,
        "push.events",
        at=at,
        target_type="subscription",
        target_id=row.id,
        detail={"events": row.events},
    )
    return _subscription(row)


def cancel_subscription(
    session: Session, principal: Principal | None, subscription_id: str, *, at: datetime
) -> Subscription:
    """Stop a subscription; its deliveries (and dead letters) stay listed."""
    if principal is not None:
        require(principal, Permission.WRITE)
    row = _own_subscription(session, principal, subscription_id)
    row.active = False
    audit.record(session, principal, "push.unsubscribe", at=at, target_type="subscription", target_id=row.id)
    return _subscription(row)


# ---------------------------------------------------------------------------------------------
# changes -> deliveries


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
        event_id = new_id("event")
        payload = {
            "id": event_id,
            "type": event_type,
            "created": isoformat_z(now),
            "subscription_id": sub.id,
            "signal": {
                "id": signal.id,
                "kind": signal.kind.value,
                "value": signal.value,
                "revoked": signal.revoked,
                "valid_until": isoformat_z(signal.valid_until) if signal.valid_until else None,
            },
            "object": contribution_object(signal, c),
        }
        session.add(
            DeliveryRow(
                subscription_id=sub.id,
                event_key=key,
                event_id=event_id,
                event_type=event_type,
                signal_id=signal.id,
                payload=payload,
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
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
) -> int:
    """Queue one event that is not a signal change for the active subscriptions of ``org_id``
    that opted into ``event_type``; returns how many deliveries were created.

    ``key`` makes it idempotent: a subscription never gets two deliveries with the same key, so
    a caller that scans repeatedly sends each event once. ``payload`` goes out as given under
    the envelope (``id``, ``type``, ``created``, ``subscription_id``): the caller has already
    reduced it to what ``org_id`` may see. Nothing here knows what the event is about.
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
        event_id = new_id("event")
        envelope = {
            "id": event_id,
            "type": event_type,
            "created": isoformat_z(now),
            "subscription_id": sub.id,
        }
        session.add(
            DeliveryRow(
                subscription_id=sub.id,
                event_key=key,
                event_id=event_id,
                event_type=event_type,
                signal_id=None,
                payload={**payload, **envelope},
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
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


# ---------------------------------------------------------------------------------------------
# delivery


@dataclass
class DeliveryReport:
    attempted: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Job:
    id: int
    url: str
    secret: str
    event_id: str
    event_type: str
    body: bytes


def deliver_due(
    db: Database,
    settings: Settings,
    *,
    now: datetime | None = None,
    limit: int = 100,
    transport: httpx.BaseTransport | None = None,
    resolve: Resolver = resolve_host,
) -> DeliveryReport:
    """Send every due delivery once; see the module docstring for retries and dead letters.
    A key that cannot open a secret raises ConfigError before anything is claimed or sent."""
    now = now or utcnow()
    lease = timedelta(seconds=settings.push_timeout_s + 60)
    box = load_box(settings)
    policy = DestinationPolicy.from_settings(settings)
    with db.session() as session:
        legacy = seal_legacy(session, box)  # values stored before revision 0007 are sealed now
        rows = session.scalars(
            select(DeliveryRow)
            .where(DeliveryRow.status == PENDING, DeliveryRow.next_attempt_at <= now)
            .order_by(DeliveryRow.next_attempt_at, DeliveryRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        jobs: list[_Job] = []
        for row in rows:
            sub = session.get(SubscriptionRow, row.subscription_id)
            assert sub is not None
            # Claimed: another worker skips it until the lease ends (if we die, it is retried).
            row.next_attempt_at = now + lease
            secret = box.open(sub.secret, what=f"the secret of subscription {sub.id}")
            jobs.append(_Job(row.id, sub.url, secret, row.event_id, row.event_type, body_of(row.payload)))
    if legacy.changed:
        truncate_wal(db)
    report = DeliveryReport()
    outcomes: dict[int, str | None] = {}
    # One client per host name: connections are pooled by the address connected to, and a TLS
    # connection verified for one name must not carry another name's requests.
    with ExitStack() as clients:
        by_host: dict[str, httpx.Client] = {}
        for job in jobs:
            report.attempted += 1
            try:
                destination = check_destination(job.url, policy, resolve=resolve)
            except InputError as exc:
                outcomes[job.id] = f"destination refused: {exc.details.get('reason', exc.message)}"
                continue
            client = by_host.get(destination.host)
            if client is None:
                client = clients.enter_context(
                    httpx.Client(timeout=settings.push_timeout_s, transport=transport)
                )
                by_host[destination.host] = client
            outcomes[job.id] = _post(client, job, destination)
    with db.session() as session:
        finished = utcnow() if now is None else now
        for job in jobs:
            done = session.get(DeliveryRow, job.id)
            assert done is not None
            row = done
            error = outcomes[job.id]
            row.attempts += 1
            if error is None:
                row.status = DELIVERED
                row.delivered_at = finished
                row.last_error = None
                report.delivered += 1
                continue
            row.last_error = error
            if row.attempts >= settings.push_max_attempts:
                row.status = DEAD
                report.dead += 1
                log.warning(
                    "webhook %s to %s is a dead letter after %d attempts: %s",
                    job.event_id,
                    job.url,
                    row.attempts,
                    error,
                )
                audit.record(
                    session,
                    None,
                    "push.dead_letter",
                    at=finished,
                    target_type="subscription",
                    target_id=row.subscription_id,
                    detail={"delivery": row.id, "event": job.event_id, "error": error},
                )
            else:
                row.next_attempt_at = finished + backoff(row.attempts, settings.push_backoff_s)
                report.retrying += 1
                log.info(
                    "webhook %s to %s failed (attempt %d): %s", job.event_id, job.url, row.attempts, error
                )
            report.errors.append(f"{job.event_id} -> {job.url}: {error}")
    return report


def _post(client: httpx.Client, job: _Job, destination: Destination) -> str | None:
    """None on a 2xx answer, else what went wrong (for the retry record). Connects to the
    addresses that passed the check (in order, on refused connections), naming the host in the
    Host header and TLS SNI, so a DNS answer changed since the check is never used."""
    timestamp = int(utcnow().timestamp())
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(job.secret, timestamp, job.body),
        TIMESTAMP_HEADER: str(timestamp),
        EVENT_HEADER: job.event_type,
        DELIVERY_HEADER: job.event_id,
        "User-Agent": "vigil-push/1",
    }
    url = httpx.URL(job.url)
    headers["Host"] = url.netloc.decode("ascii")
    sni = url.raw_host.decode("ascii").strip("[]")
    extensions = {"sni_hostname": sni} if destination.scheme == "https" else {}
    response: httpx.Response | None = None
    for address in destination.addresses:
        try:
            response = client.post(
                url.copy_with(host=address), content=job.body, headers=headers, extensions=extensions
            )
            break
        except httpx.ConnectError as exc:
            if address == destination.addresses[-1]:
                return f"request failed: {exc}"
        except httpx.TimeoutException:
            return "timed out"
        except httpx.HTTPError as exc:
            return f"request failed: {exc}"
    assert response is not None
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}: {' '.join(response.text.split())[:200]}"


def run_once(
    db: Database,
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    resolve: Resolver = resolve_host,
) -> tuple[EnqueueReport, DeliveryReport]:
    """Enqueue new changes, then send what is due (what ``vigil push run`` does each round)."""
    with db.session() as session:
        queued = enqueue(session)
    return queued, deliver_due(db, settings, transport=transport, resolve=resolve)


# ---------------------------------------------------------------------------------------------
# deliveries and dead letters


def list_deliveries(
    session: Session,
    principal: Principal | None,
    *,
    status: str | None = None,
    subscription_id: str | None = None,
    limit: int = 100,
) -> list[Delivery]:
    """Deliveries of the caller organisation's subscriptions, newest first (``status='dead'``:
    the dead-letter list)."""
    if principal is not None:
        require(principal, Permission.READ)
    if status is not None and status not in (PENDING, DELIVERED, DEAD):
        raise InputError(f"status must be one of pending, delivered, dead; got {status!r}", field="status")
    stmt = select(DeliveryRow).join(SubscriptionRow, SubscriptionRow.id == DeliveryRow.subscription_id)
    if principal is not None and not principal.operator:
        stmt = stmt.where(SubscriptionRow.org_id == principal.org_id)
    if status is not None:
        stmt = stmt.where(DeliveryRow.status == status)
    if subscription_id is not None:
        _own_subscription(session, principal, subscription_id)
        stmt = stmt.where(DeliveryRow.subscription_id == subscription_id)
    return [_delivery(r) for r in session.scalars(stmt.order_by(DeliveryRow.id.desc()).limit(limit))]


def requeue(session: Session, principal: Principal | None, delivery_id: int, *, at: datetime) -> Delivery:
    """Put a dead letter back in the queue (attempts start again)."""
    if principal is not None:
        require(principal, Permission.WRITE)
    row = session.get(DeliveryRow, delivery_id) if 1 <= delivery_id <= MAX_DB_INT else None
    if row is None:
        raise NotFound(f"no delivery {delivery_id}", delivery=delivery_id)
    _own_subscription(session, principal, row.subscription_id)
    if row.status != DEAD:
        raise InputError(f"delivery {delivery_id} is {row.status}, not a dead letter")
    row.status = PENDING
    row.attempts = 0
    row.next_attempt_at = at
    audit.record(
        session,
        principal,
        "push.requeue",
        at=at,
        target_type="subscription",
        target_id=row.subscription_id,
        detail={"delivery": row.id},
    )
    return _delivery(row)
