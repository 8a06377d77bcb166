"""Subscriptions: create (the secret returned once, stored sealed; the URL checked against the
destination policy), list, change the event types, cancel."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.core.errors import InputError, NotFound
from vigil.core.ids import new_id
from vigil.core.settings import Settings, get_settings
from vigil.exchange import audit
from vigil.exchange.access import Permission, Principal, require
from vigil.exchange.destinations import (
    DestinationPolicy,
    Resolver,
    check_destination,
    resolve_host,
)
from vigil.exchange.lifecycle_models import SubscriptionRow
from vigil.exchange.push.records import (
    MAX_URL_CHARS,
    SIGNAL_EVENTS,
    Subscription,
    parse_events,
    subscription_record,
)
from vigil.exchange.secrets_box import load_box
from vigil.exchange.store import ExchangeStore, parse_tlp
from vigil.exchange.values import parse_kind


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
    return subscription_record(row), secret


def own_subscription(session: Session, principal: Principal | None, subscription_id: str) -> SubscriptionRow:
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
    return [subscription_record(r) for r in session.scalars(stmt)]


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
    row = own_subscription(session, principal, subscription_id)
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
    return subscription_record(row)


def cancel_subscription(
    session: Session, principal: Principal | None, subscription_id: str, *, at: datetime
) -> Subscription:
    """Stop a subscription; its deliveries (and dead letters) stay listed."""
    if principal is not None:
        require(principal, Permission.WRITE)
    row = own_subscription(session, principal, subscription_id)
    row.active = False
    audit.record(session, principal, "push.unsubscribe", at=at, target_type="subscription", target_id=row.id)
    return subscription_record(row)
