"""Warning lists and analysts' overrides (``/api/v1/warninglists``); ``vigil.exchange.warninglists``
does the work."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from vigil.exchange import warninglists
from vigil.exchange.access import Permission, require
from vigil.exchange.values import normalize_value
from vigil.web.deps import PrincipalDep, StoreDep
from vigil.web.schemas import ERROR_RESPONSES
from vigil.web.schemas.lifecycle import EditIn, OverrideIn

router = APIRouter(prefix="/warninglists", tags=["warning lists"], responses=ERROR_RESPONSES)


@router.get("", summary="The warning lists in force (without their values)")
def list_all(principal: PrincipalDep, store: StoreDep) -> list[dict[str, Any]]:
    require(principal, Permission.READ)
    lists = warninglists.current_lists(store.session)
    return [w.to_dict(with_values=False) for w in sorted(lists.values(), key=lambda w: w.name)]


@router.get("/check", summary="Which lists a value is on")
def check(
    principal: PrincipalDep, store: StoreDep, kind: str = Query(...), value: str = Query(...)
) -> dict[str, Any]:
    require(principal, Permission.READ)
    parsed, normalized = normalize_value(kind, value)
    hits = warninglists.hits(store.session, parsed, normalized)
    return {
        "kind": parsed.value,
        "value": normalized,
        "lists": [{"name": h.list_name, "title": h.title, "action": h.action.value} for h in hits],
    }


@router.get("/overrides", summary="Your organisation's overrides (the operator sees all)")
def overrides(principal: PrincipalDep, store: StoreDep) -> list[dict[str, Any]]:
    return [_override(o) for o in warninglists.list_overrides(store.session, principal)]


@router.post("/overrides", status_code=201, summary="Share a listed value anyway, with a reason (audited)")
def add_override(body: OverrideIn, principal: PrincipalDep, store: StoreDep) -> dict[str, Any]:
    found = warninglists.add_override(
        store.session, principal, body.kind, body.value, body.reason, at=store.now()
    )
    return _override(found)


@router.get("/{name}", summary="One list with its values")
def get_one(name: str, principal: PrincipalDep, store: StoreDep) -> dict[str, Any]:
    require(principal, Permission.READ)
    return warninglists.get_list(store.session, name).to_dict()


@router.post("/{name}/values", summary="Add or remove values (coalition operator admins)")
def edit(name: str, body: EditIn, principal: PrincipalDep, store: StoreDep) -> dict[str, Any]:
    changed = warninglists.edit_list(
        store.session, principal, name, add=body.add, remove=body.remove, reason=body.reason, at=store.now()
    )
    return changed.to_dict()


def _override(o: warninglists.Override) -> dict[str, Any]:
    return {
        "id": o.id,
        "org_id": o.org_id,
        "kind": o.kind,
        "value": o.value,
        "list": o.list_name,
        "reason": o.reason,
        "created_at": o.created_at.isoformat(),
    }
