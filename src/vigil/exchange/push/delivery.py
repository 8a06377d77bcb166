"""Delivery: ``deliver_due`` POSTs due deliveries outside any transaction, with retries, backoff
and dead letters; ``run_once`` enqueues then delivers; ``list_deliveries`` and ``requeue`` (of a
dead letter)."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.core.errors import InputError, NotFound
from vigil.core.settings import Settings
from vigil.core.time import utcnow
from vigil.db import Database
from vigil.exchange import audit
from vigil.exchange.access import Permission, Principal, require
from vigil.exchange.destinations import (
    Destination,
    DestinationPolicy,
    Resolver,
    check_destination,
    resolve_host,
)
from vigil.exchange.lifecycle_models import DeliveryRow, SubscriptionRow
from vigil.exchange.push.enqueuing import EnqueueReport, enqueue
from vigil.exchange.push.records import DEAD, DELIVERED, PENDING, Delivery, delivery_record
from vigil.exchange.push.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    body_of,
    sign,
)
from vigil.exchange.push.subscriptions import own_subscription
from vigil.exchange.records import MAX_DB_INT
from vigil.exchange.secrets_box import load_box, seal_legacy, truncate_wal

log = logging.getLogger(__name__)


def backoff(attempts: int, base_s: float) -> timedelta:
    """Delay before the next attempt after ``attempts`` failures: base, 2x base, 4x base, ..."""
    return timedelta(seconds=base_s * 2 ** max(0, attempts - 1))


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
        own_subscription(session, principal, subscription_id)
        stmt = stmt.where(DeliveryRow.subscription_id == subscription_id)
    return [delivery_record(r) for r in session.scalars(stmt.order_by(DeliveryRow.id.desc()).limit(limit))]


def requeue(session: Session, principal: Principal | None, delivery_id: int, *, at: datetime) -> Delivery:
    """Put a dead letter back in the queue (attempts start again)."""
    if principal is not None:
        require(principal, Permission.WRITE)
    row = session.get(DeliveryRow, delivery_id) if 1 <= delivery_id <= MAX_DB_INT else None
    if row is None:
        raise NotFound(f"no delivery {delivery_id}", delivery=delivery_id)
    own_subscription(session, principal, row.subscription_id)
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
    return delivery_record(row)
