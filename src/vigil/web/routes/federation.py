"""Federation peers (``/api/v1/federation``; coalition operator admins). A pull runs in the request
with its own transactions, so the route authenticates in a short session of its own first."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from vigil.exchange import federation
from vigil.exchange.access import Permission, Principal, require
from vigil.exchange.store import ExchangeStore
from vigil.web.deps import PrincipalDep, StoreDep, credentials, get_database, get_settings_dep
from vigil.web.schemas import ERROR_RESPONSES
from vigil.web.schemas.lifecycle import PeerIn

router = APIRouter(prefix="/federation", tags=["federation"], responses=ERROR_RESPONSES)


@router.get("/peers", summary="Peers this instance pulls from")
def peers(principal: PrincipalDep, store: StoreDep) -> list[dict[str, Any]]:
    return [p.to_dict() for p in federation.list_peers(store.session, principal)]


@router.post("/peers", status_code=201, summary="Add a peer")
def add_peer(body: PeerIn, principal: PrincipalDep, store: StoreDep, request: Request) -> dict[str, Any]:
    peer = federation.add_peer(
        store,
        principal,
        body.name,
        body.url,
        body.key,
        as_org=body.as_org,
        collections=body.collections,
        max_tlp=body.max_tlp,
        settings=get_settings_dep(request),
    )
    return peer.to_dict()


@router.delete("/peers/{name}", summary="Stop pulling from a peer")
def disable_peer(name: str, principal: PrincipalDep, store: StoreDep) -> dict[str, Any]:
    return federation.remove_peer(store, principal, name).to_dict()


def _operator(request: Request) -> Principal:
    with get_database(request).session() as session:
        principal = ExchangeStore(session).authenticate(credentials(request))
    require(principal, Permission.OPERATE)
    return principal


@router.post("/peers/{name}/pull", summary="Pull changes from a peer now; returns the counts")
def pull(name: str, request: Request, full: bool = Query(False)) -> dict[str, Any]:
    _operator(request)
    settings = get_settings_dep(request)
    return federation.pull(get_database(request), name, full=full, settings=settings).to_dict()
