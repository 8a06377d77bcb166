"""Organisations, API keys, the caller's identity and the audit log (``/api/v1``)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query

from vigil.exchange.access import permissions
from vigil.exchange.audit import AuditFilter
from vigil.web.deps import PrincipalDep, StoreDep
from vigil.web.schemas import (
    ERROR_RESPONSES,
    MAX_DB_INT,
    AuditEntryOut,
    KeyCreatedOut,
    KeyIn,
    KeyOut,
    MeOut,
    OrgIn,
    OrgOut,
    OrgStatusIn,
)

router = APIRouter(responses=ERROR_RESPONSES)


@router.get("/health", tags=["service"], summary="Liveness check (no authentication)")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/me", response_model=MeOut, tags=["service"], summary="Who the presented key acts as")
def me(principal: PrincipalDep) -> MeOut:
    return MeOut(
        key_id=principal.key_id,
        org_id=principal.org_id,
        org_kind=principal.org_kind,
        role=principal.role,
        operator=principal.operator,
        permissions=sorted(p.value for p in permissions(principal)),
    )


@router.get("/orgs", response_model=list[OrgOut], tags=["organisations"], summary="Member organisations")
def list_orgs(principal: PrincipalDep, store: StoreDep) -> list[OrgOut]:
    return [OrgOut.model_validate(o) for o in store.list_orgs(principal)]


@router.post(
    "/orgs",
    response_model=OrgOut,
    status_code=201,
    tags=["organisations"],
    summary="Onboard an organisation (coalition operator admins)",
)
def create_org(body: OrgIn, principal: PrincipalDep, store: StoreDep) -> OrgOut:
    return OrgOut.model_validate(store.create_org(principal, body.name, body.kind, operator=body.operator))


@router.get(
    "/orgs/{org}", response_model=OrgOut, tags=["organisations"], summary="One organisation by id or name"
)
def get_org(org: str, principal: PrincipalDep, store: StoreDep) -> OrgOut:
    return OrgOut.model_validate(store.get_org(principal, org))


@router.get(
    "/keys", response_model=list[KeyOut], tags=["keys"], summary="API keys of an organisation (admins)"
)
def list_keys(
    principal: PrincipalDep,
    store: StoreDep,
    org: str | None = Query(default=None, description="Organisation id or name; default: your own."),
) -> list[KeyOut]:
    return [KeyOut.model_validate(k) for k in store.list_keys(principal, org)]


@router.post(
    "/keys",
    response_model=KeyCreatedOut,
    status_code=201,
    tags=["keys"],
    summary="Create an API key (the key is shown only in this answer)",
)
def create_key(body: KeyIn, principal: PrincipalDep, store: StoreDep) -> KeyCreatedOut:
    info, key = store.create_key(
        principal, body.org_id or principal.org_id, body.role, name=body.name, expires_at=body.expires_at
    )
    return KeyCreatedOut(**KeyOut.model_validate(info).model_dump(), key=key)


@router.post("/keys/{key_id}/revoke", response_model=KeyOut, tags=["keys"], summary="Revoke an API key now")
def revoke_key(key_id: str, principal: PrincipalDep, store: StoreDep) -> KeyOut:
    return KeyOut.model_validate(store.revoke_key(principal, key_id))


@router.get(
    "/audit",
    response_model=list[AuditEntryOut],
    tags=["audit"],
    summary="Audit log, newest first (admins: entries involving their org; operator admins: all)",
)
def audit_log(
    principal: PrincipalDep,
    store: StoreDep,
    org: str | None = Query(default=None, description="Acting organisation id."),
    involving: str | None = Query(
        default=None, description="Organisation id: what it did, or reads of its AMBER/RED material."
    ),
    key: str | None = Query(default=None, description="Acting key id."),
    action: str | None = Query(default=None, description="e.g. signal.submit, signal.read, key.revoke"),
    target: str | None = Query(default=None, description="Target id (signal, campaign, key, org)."),
    since: datetime | None = None,
    until: datetime | None = None,
    before: int | None = Query(
        default=None, ge=1, le=MAX_DB_INT, description="Page backwards: entries with id below this."
    ),
    limit: int = Query(default=100, ge=1, le=10_000),
) -> list[AuditEntryOut]:
    filters = AuditFilter(
        actor_org_id=org,
        involving_org_id=involving,
        actor_key_id=key,
        action=action,
        target_id=target,
        since=since,
        until=until,
        before_id=before,
        limit=limit,
    )
    return [AuditEntryOut.of(e) for e in store.query_audit(principal, filters)]


def _lifecycle(verb: str, summary: str) -> None:
    """One POST route per organisation lifecycle move (operator admins; audited with the reason)."""

    def move(org: str, body: OrgStatusIn, principal: PrincipalDep, store: StoreDep) -> OrgOut:
        method = {
            "suspend": store.suspend_org,
            "reactivate": store.reactivate_org,
            "offboard": store.offboard_org,
        }[verb]
        return OrgOut.model_validate(method(principal, org, reason=body.reason))

    move.__name__ = f"{verb}_org"
    router.add_api_route(
        f"/orgs/{{org}}/{verb}",
        move,
        methods=["POST"],
        response_model=OrgOut,
        tags=["organisations"],
        summary=summary,
    )


_lifecycle("suspend", "Suspend an organisation: its keys stop at once, its contributions stay as marked")
_lifecycle("reactivate", "Reactivate a suspended organisation")
_lifecycle("offboard", "Offboard an organisation (final): keys and contributions revoked")
