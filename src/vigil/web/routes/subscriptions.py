"""Push subscriptions, their deliveries and the dead-letter list (``/api/v1/subscriptions``).

Routes only translate HTTP; ``vigil.exchange.push`` does the work. A subscription's secret is in
the creation response only; the URL must pass the server's destination policy (400 naming the URL
and the reason: https only, no loopback/private/link-local addresses unless the settings allow).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from vigil.exchange import push
from vigil.web.deps import PrincipalDep, StoreDep, get_settings_dep
from vigil.web.schemas import ERROR_RESPONSES, DbId
from vigil.web.schemas.lifecycle import EventsIn, SubscriptionIn

router = APIRouter(prefix="/subscriptions", tags=["push"], responses=ERROR_RESPONSES)


@router.post("", status_code=201, summary="Subscribe to signal changes or reminders (secret shown once)")
def create(
    body: SubscriptionIn, principal: PrincipalDep, store: StoreDep, request: Request
) -> dict[str, Any]:
    sub, secret = push.create_subscription(
        store,
        principal,
        body.name,
        body.url,
        kinds=tuple(body.kinds),
        tlps=tuple(body.tlps),
        campaign_id=body.campaign_id,
        events=tuple(body.events),
        settings=get_settings_dep(request),
    )
    return {**sub.to_dict(), "secret": secret}


@router.get("", summary="Your organisation's subscriptions")
def list_all(principal: PrincipalDep, store: StoreDep) -> list[dict[str, Any]]:
    return [s.to_dict() for s in push.list_subscriptions(store.session, principal)]


@router.get("/deliveries", summary="Deliveries of your subscriptions, newest first")
def deliveries(
    principal: PrincipalDep,
    store: StoreDep,
    status: str | None = Query(None, description="pending, delivered or dead"),
    subscription_id: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    found = push.list_deliveries(
        store.session, principal, status=status, subscription_id=subscription_id, limit=limit
    )
    return [d.to_dict() for d in found]


@router.get("/dead-letters", summary="Deliveries that failed every attempt (payload kept; retry them)")
def dead_letters(
    principal: PrincipalDep, store: StoreDep, limit: int = Query(100, ge=1, le=1000)
) -> list[dict[str, Any]]:
    return [
        d.to_dict() for d in push.list_deliveries(store.session, principal, status=push.DEAD, limit=limit)
    ]


@router.post("/dead-letters/{delivery_id}/retry", summary="Put a dead letter back in the queue")
def retry(delivery_id: DbId, principal: PrincipalDep, store: StoreDep) -> dict[str, Any]:
    return push.requeue(store.session, principal, delivery_id, at=store.now()).to_dict()


@router.patch("/{subscription_id}", summary="Choose the event types a subscription receives")
def set_events(
    subscription_id: str, body: EventsIn, principal: PrincipalDep, store: StoreDep
) -> dict[str, Any]:
    return push.set_subscription_events(
        store.session, principal, subscription_id, tuple(body.events), at=store.now()
    ).to_dict()


@router.delete("/{subscription_id}", summary="Stop a subscription (its deliveries stay listed)")
def cancel(subscription_id: str, principal: PrincipalDep, store: StoreDep) -> dict[str, Any]:
    return push.cancel_subscription(store.session, principal, subscription_id, at=store.now()).to_dict()
