"""Admin screens: organisations, API keys (a new key is shown once), warning lists and overrides,
webhook subscriptions (their secret shown once) and federation peers.

For admins only: other roles get 403 before anything is read. Each section calls the service the
REST API calls (``ExchangeStore`` for organisations and keys, ``warninglists``, ``push``,
``federation``) with the viewer's principal, so what an admin of a member may do (its own keys and
subscriptions) versus an operator admin (organisations, peers, list edits) is the services'
decision; a section the viewer may not use is not shown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import HTMLResponse, Response

from vigil.core.errors import InputError, PermissionDenied
from vigil.core.time import parse_instant
from vigil.exchange import federation, push, warninglists
from vigil.exchange.access import Permission, permissions
from vigil.exchange.records import OrgKind, Role
from vigil.web.deps import StoreDep
from vigil.web.pages.common import Viewer, ViewerDep, redirect, render

router = APIRouter(include_in_schema=False)


def _require_admin(viewer: Viewer) -> frozenset[Permission]:
    granted = permissions(viewer.principal)
    if Permission.MANAGE_KEYS not in granted:
        raise PermissionDenied(
            f"the admin screens are for admins; your role is {viewer.principal.role.value!r}",
            role=viewer.principal.role.value,
        )
    return granted


def _context(request: Request, viewer: Viewer, store: Any) -> dict[str, Any]:
    granted = _require_admin(viewer)
    operator = Permission.OPERATE in granted
    keys = store.list_keys(viewer.principal, None if operator else viewer.principal.org_id)
    lists = warninglists.current_lists(store.session)
    return {
        "operator": operator,
        "orgs": store.list_orgs(viewer.principal),
        "keys": sorted(keys, key=lambda k: (k.revoked_at is not None, viewer.org_name(k.org_id), k.name)),
        "lists": sorted(lists.values(), key=lambda w: w.name),
        "overrides": warninglists.list_overrides(store.session, viewer.principal),
        "subscriptions": push.list_subscriptions(store.session, viewer.principal),
        "peers": federation.list_peers(store.session, viewer.principal) if operator else [],
        "roles": [r.value for r in Role],
        "org_kinds": [k.value for k in OrgKind],
        "created": None,
        "form": {},
    }


def _page(request: Request, viewer: Viewer, store: Any, status: int = 200, **extra: Any) -> Response:
    context = _context(request, viewer, store)
    context.update(extra)
    return render(request, "admin.html", viewer, status_code=status, **context)


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, viewer: ViewerDep, store: StoreDep) -> Response:
    return _page(request, viewer, store)


def _expiry(text: str) -> datetime | None:
    return parse_instant(text.strip()) if text.strip() else None


@router.post("/admin/keys", response_class=HTMLResponse)
def create_key(
    request: Request,
    viewer: ViewerDep,
    store: StoreDep,
    role: Annotated[str, Form()],
    name: Annotated[str, Form()] = "",
    org: Annotated[str, Form()] = "",
    expires_at: Annotated[str, Form()] = "",
) -> Response:
    """A new key, shown in this answer only (the store keeps its hash)."""
    _require_admin(viewer)
    info, key = store.create_key(
        viewer.principal,
        org or viewer.principal.org_id,
        role,
        name=name.strip(),
        expires_at=_expiry(expires_at),
    )
    return _page(
        request, viewer, store, created={"what": f"API key {info.id} ({info.role.value})", "secret": key}
    )


@router.post("/admin/keys/{key_id}/revoke")
def revoke_key(key_id: str, viewer: ViewerDep, store: StoreDep) -> Response:
    _require_admin(viewer)
    store.revoke_key(viewer.principal, key_id)
    return redirect("/admin#keys")


@router.post("/admin/orgs")
def create_org(
    viewer: ViewerDep,
    store: StoreDep,
    name: Annotated[str, Form()],
    kind: Annotated[str, Form()],
) -> Response:
    _require_admin(viewer)
    store.create_org(viewer.principal, name.strip(), kind)
    return redirect("/admin#orgs")


@router.post("/admin/orgs/{org_id}/{verb}")
def org_lifecycle(
    org_id: str, verb: str, viewer: ViewerDep, store: StoreDep, reason: Annotated[str, Form()] = ""
) -> Response:
    _require_admin(viewer)
    moves = {"suspend": store.suspend_org, "reactivate": store.reactivate_org}
    if verb not in moves:
        raise InputError(f"unknown organisation action {verb!r}; use suspend or reactivate", field="verb")
    moves[verb](viewer.principal, org_id, reason=reason.strip())
    return redirect("/admin#orgs")


@router.post("/admin/subscriptions", response_class=HTMLResponse)
def create_subscription(
    request: Request,
    viewer: ViewerDep,
    store: StoreDep,
    name: Annotated[str, Form()],
    url: Annotated[str, Form()],
    events: Annotated[str, Form()] = "",
) -> Response:
    _require_admin(viewer)
    sub, secret = push.create_subscription(
        store,
        viewer.principal,
        name.strip(),
        url.strip(),
        events=tuple(e.strip() for e in events.split(",") if e.strip()),
        settings=request.app.state.settings,
    )
    return _page(request, viewer, store, created={"what": f"webhook secret of {sub.name}", "secret": secret})


@router.post("/admin/subscriptions/{subscription_id}/cancel")
def cancel_subscription(subscription_id: str, viewer: ViewerDep, store: StoreDep) -> Response:
    _require_admin(viewer)
    push.cancel_subscription(store.session, viewer.principal, subscription_id, at=store.now())
    return redirect("/admin#subscriptions")


@router.post("/admin/overrides")
def add_override(
    viewer: ViewerDep,
    store: StoreDep,
    kind: Annotated[str, Form()],
    value: Annotated[str, Form()],
    reason: Annotated[str, Form()],
) -> Response:
    _require_admin(viewer)
    warninglists.add_override(store.session, viewer.principal, kind, value, reason, at=store.now())
    return redirect("/admin#warninglists")
