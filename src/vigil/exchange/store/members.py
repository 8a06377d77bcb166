"""Organisations, API keys, authentication and the audit log: the member-administration part of
``ExchangeStore``."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from vigil.core.errors import AuthenticationError, Conflict, InputError, NotFound, PermissionDenied
from vigil.core.ids import new_id, stable_id
from vigil.core.time import ensure_utc, isoformat_z
from vigil.exchange import audit, keys
from vigil.exchange.access import (
    Permission,
    Principal,
    can_manage_org,
    permissions,
    require,
)
from vigil.exchange.models import (
    ApiKeyRow,
    ContributionRow,
    OrgRow,
)
from vigil.exchange.policy import AuditTargets
from vigil.exchange.records import (
    Organisation,
    OrgKind,
    OrgStatus,
    Role,
)
from vigil.exchange.store.base import (
    MAX_PAGE,
    StoreBase,
    org_record,
    parse_org_kind,
    parse_role,
)


@dataclass(frozen=True)
class ApiKey:
    """A key's public description (never its secret)."""

    id: str
    org_id: str
    name: str
    role: Role
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    created_by: str | None


class MembersStore(StoreBase):
    """Organisations, API keys, authentication, audit queries."""

    # -----------------------------------------------------------------------------------------
    # organisations

    def create_org(
        self, actor: Principal | None, name: str, kind: str | OrgKind, *, operator: bool = False
    ) -> Organisation:
        """A new member organisation (operator admins or the local administrator only)."""
        require(actor, Permission.OPERATE)
        clean = name.strip()
        if not clean or len(clean) > 200:
            raise InputError("organisation name must be 1-200 characters", field="name")
        parsed_kind = parse_org_kind(kind)
        if self.session.scalar(select(OrgRow.id).where(OrgRow.name == clean)) is not None:
            raise Conflict(f"an organisation named {clean!r} already exists", field="name")
        row = OrgRow(
            id=new_id("identity"),
            name=clean,
            kind=parsed_kind.value,
            operator=operator,
            created_at=self.now(),
        )
        self.session.add(row)
        try:
            self.session.flush()
        except IntegrityError as exc:  # a concurrent request took the name first
            raise Conflict(f"an organisation named {clean!r} already exists", field="name") from exc
        audit.record(
            self.session,
            actor,
            "org.create",
            at=row.created_at,
            target_type="org",
            target_id=row.id,
            detail={"name": clean, "kind": parsed_kind.value, "operator": operator},
        )
        return org_record(row)

    def list_orgs(self, actor: Principal | None) -> list[Organisation]:
        """Every member organisation (members need the directory to address AMBER/RED shares)."""
        if actor is not None:
            require(actor, Permission.READ)
        statuses = self._org_statuses()
        return [
            org_record(r, statuses.get(r.id, OrgStatus.ACTIVE))
            for r in self.session.scalars(select(OrgRow).order_by(OrgRow.name))
        ]

    def get_org(self, actor: Principal | None, id_or_name: str) -> Organisation:
        if actor is not None:
            require(actor, Permission.READ)
        row = self._org_row(id_or_name)
        return org_record(row, self._org_status(row.id))

    def _org_row(self, id_or_name: str) -> OrgRow:
        row = self.session.get(OrgRow, id_or_name) or self.session.scalar(
            select(OrgRow).where(OrgRow.name == id_or_name)
        )
        if row is None:
            raise NotFound(f"no organisation {id_or_name!r}", org=id_or_name)
        return row

    # -----------------------------------------------------------------------------------------
    # keys

    def create_key(
        self,
        actor: Principal | None,
        org: str,
        role: str | Role,
        *,
        name: str = "",
        expires_at: datetime | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key for organisation ``org`` (id or name). Returns (description, the key itself):
        the key is not stored and cannot be shown again."""
        org_row = self._org_row(org)
        if not can_manage_org(actor, org_row.id):
            require(actor, Permission.MANAGE_KEYS)
            raise PermissionDenied("admins may manage only their own organisation's keys", org=org_row.id)
        parsed_role = parse_role(role)
        now = self.now()
        if expires_at is not None and ensure_utc(expires_at) <= now:
            raise InputError("expires_at must be in the future", field="expires_at")
        key_id, secret = keys.generate_key()
        row = ApiKeyRow(
            id=key_id,
            org_id=org_row.id,
            name=name.strip()[:200],
            role=parsed_role.value,
            secret_hash=keys.hash_key(secret),
            created_at=now,
            created_by=actor.key_id if actor else audit.LOCAL_ADMIN,
            expires_at=ensure_utc(expires_at) if expires_at else None,
            revoked_at=None,
        )
        self.session.add(row)
        self.session.flush()
        audit.record(
            self.session,
            actor,
            "key.create",
            at=now,
            target_type="key",
            target_id=key_id,
            detail={"org_id": org_row.id, "role": parsed_role.value, "name": row.name},
        )
        return key_record(row), secret

    def list_keys(self, actor: Principal | None, org: str | None = None) -> list[ApiKey]:
        """Keys of ``org`` (default: the actor's own; all keys for the local administrator)."""
        stmt = select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id)
        if org is not None:
            org_id = self._org_row(org).id
        elif actor is not None:
            org_id = actor.org_id
        else:
            org_id = None
        if org_id is not None:
            if not can_manage_org(actor, org_id):
                require(actor, Permission.MANAGE_KEYS)
                raise PermissionDenied("admins may list only their own organisation's keys", org=org_id)
            stmt = stmt.where(ApiKeyRow.org_id == org_id)
        return [key_record(r) for r in self.session.scalars(stmt)]

    def revoke_key(self, actor: Principal | None, key_id: str) -> ApiKey:
        """Revoke a key at once; revoking twice is a Conflict (the first revocation time stands)."""
        row = self.session.get(ApiKeyRow, key_id)
        if row is None or not can_manage_org(actor, row.org_id):
            if actor is not None:
                require(actor, Permission.MANAGE_KEYS)
            raise NotFound(f"no key {key_id!r} in your organisation", key=key_id)
        if row.revoked_at is not None:
            raise Conflict(f"key {key_id!r} was already revoked at {isoformat_z(row.revoked_at)}")
        if row.role == Role.ADMIN.value and not self._other_admin_keys(row):
            raise Conflict(
                f"key {key_id!r} is its organisation's last working admin key: create another admin key "
                "first, or offboard the organisation",
                key=key_id,
                org=row.org_id,
            )
        row.revoked_at = self.now()
        audit.record(
            self.session, actor, "key.revoke", at=row.revoked_at, target_type="key", target_id=key_id
        )
        self.session.flush()
        keys.credentials_changed(self.session)
        return key_record(row)

    def _other_admin_keys(self, row: ApiKeyRow) -> list[str]:
        """Admin keys of ``row``'s organisation other than ``row`` that still work (locked, so two
        concurrent revocations cannot each see the other's key as the remaining one)."""
        now = self.now()
        stmt = (
            select(ApiKeyRow)
            .where(
                ApiKeyRow.org_id == row.org_id,
                ApiKeyRow.role == Role.ADMIN.value,
                ApiKeyRow.id != row.id,
                ApiKeyRow.revoked_at.is_(None),
            )
            .with_for_update()
        )
        return [k.id for k in self.session.scalars(stmt) if k.expires_at is None or k.expires_at > now]

    def authenticate(self, key: str) -> Principal:
        """The principal a presented key acts as; AuthenticationError if unknown, revoked or expired."""
        key_id = keys.key_id_of(key.strip())
        row = self.session.get(ApiKeyRow, key_id)
        if row is None or not keys.matches(key.strip(), row.secret_hash):
            raise AuthenticationError("unknown API key")
        return self.principal_of_key(key_id)

    def principal_of_key(self, key_id: str) -> Principal:
        """The principal key ``key_id`` acts as *now*, with no secret: for a dashboard session opened
        with that key (vigil.web.session), re-checked on every page. Every rule that stops a key
        (revoked, expired, and any later one) belongs here, so a session ends with its key."""
        row = self.session.get(ApiKeyRow, key_id)
        if row is None:
            raise AuthenticationError("unknown API key")
        if row.revoked_at is not None:
            raise AuthenticationError(f"API key {key_id} was revoked at {isoformat_z(row.revoked_at)}")
        if row.expires_at is not None and row.expires_at <= self.now():
            raise AuthenticationError(f"API key {key_id} expired at {isoformat_z(row.expires_at)}")
        org = self.session.get(OrgRow, row.org_id)
        assert org is not None  # foreign key
        status = self._org_status(org.id)
        if status is not OrgStatus.ACTIVE:
            raise AuthenticationError(f"API key {key_id}: its organisation is {status.value}")
        return Principal(
            key_id=row.id,
            org_id=org.id,
            org_kind=OrgKind(org.kind),
            role=Role(row.role),
            operator=org.operator,
        )

    def _audit_scope(self, actor: Principal | None, filters: audit.AuditFilter) -> audit.AuditFilter:
        if actor is not None:
            require(actor, Permission.READ_AUDIT)
            if Permission.OPERATE not in permissions(actor):
                if filters.involving_org_id not in (None, actor.org_id):
                    raise PermissionDenied("admins may read only audit entries involving their organisation")
                filters = replace(filters, involving_org_id=actor.org_id)
        return filters

    def count_audit(self, actor: Principal | None, filters: audit.AuditFilter) -> int:
        """How many entries ``query_audit`` pages through. Not with a target filter: there
        ``query_audit`` drops, in Python, the entries about an object the reader may not see, so
        a count in SQL would tell that they exist (the entries it counts otherwise are all shown,
        some redacted)."""
        if filters.target_id is not None:
            raise InputError("the audit log gives no count under a target filter", field="target")
        return audit.count(self.session, self._audit_scope(actor, filters))

    def audit_before_id(self, actor: Principal | None, filters: audit.AuditFilter, offset: int) -> int | None:
        """The ``before_id`` that makes ``query_audit`` start ``offset`` entries from the newest
        (None for offset 0, or past the end). Same scope and the same refusal as ``count_audit``."""
        if filters.target_id is not None:
            raise InputError("the audit log gives no page numbers under a target filter", field="target")
        if offset <= 0:
            return None
        return audit.id_at(self.session, self._audit_scope(actor, filters), offset - 1)

    def query_audit(self, actor: Principal | None, filters: audit.AuditFilter) -> list[audit.AuditEntry]:
        """Audit entries, newest first. An org admin sees the entries involving its organisation
        (what its keys did, and every read of its AMBER/RED material by anyone); the operator's
        admins and the local administrator see everything."""
        filters = self._audit_scope(actor, filters)
        if not 1 <= filters.limit <= MAX_PAGE:
            raise InputError(f"limit must be 1-{MAX_PAGE}", field="limit")
        entries = audit.query(self.session, filters)
        if actor is None:
            return entries
        shown = self._audit_view(actor, entries)
        if filters.target_id is not None:
            # Asking for a target id one cannot see must not confirm that entries about it exist
            # (signal ids are hashes of their values, so they can be guessed).
            shown = [e for e in shown if not e.redacted]
        return shown

    def _audit_view(self, reader: Principal, entries: list[audit.AuditEntry]) -> list[audit.AuditEntry]:
        """The entries as ``reader`` may see them (``vigil.exchange.policy``): its own
        organisation's entries in full; an entry about an object it may not see keeps action,
        actor, time and TLP, without the object's id or any detail."""
        wanted: dict[str, set[str]] = defaultdict(set)
        value_refs: dict[int, str] = {}
        for e in entries:
            if e.actor_org_id == reader.org_id:
                continue
            if e.target_type is not None and e.target_id is not None:
                wanted[e.target_type].add(e.target_id)
            ref = _value_ref(e.detail)
            if ref is not None:  # a detail naming an indicator value (warning-list overrides)
                value_refs[e.id] = ref
                wanted["signal"].add(ref)
        visible: dict[str, set[str]] = {
            kind: self._visible_targets(reader, kind, sorted(ids)) for kind, ids in wanted.items()
        }
        shown: list[audit.AuditEntry] = []
        for e in entries:
            hidden = e.actor_org_id != reader.org_id and (
                (e.target_id is not None and e.target_id not in visible.get(e.target_type or "", set()))
                or (e.id in value_refs and value_refs[e.id] not in visible["signal"])
            )
            shown.append(replace(e, target_id=None, detail={}, redacted=True) if hidden else e)
        return shown

    def _visible_targets(self, reader: Principal, target_type: str, ids: list[str]) -> set[str]:
        if target_type == "signal":
            return set(
                self.session.scalars(
                    select(ContributionRow.signal_id)
                    .where(ContributionRow.signal_id.in_(ids), self._contribution_visible(reader))
                    .distinct()
                )
            )
        if target_type == "campaign":
            return self._visible_campaign_ids(reader, ids)
        return AuditTargets.visible(self.session, reader, target_type, ids)


def _value_ref(detail: dict[str, Any]) -> str | None:
    """The signal id an audit detail names by kind and value, if it does."""
    kind, value = detail.get("kind"), detail.get("value")
    if isinstance(kind, str) and isinstance(value, str):
        return stable_id("indicator", kind, value)
    return None


def key_record(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        org_id=row.org_id,
        name=row.name,
        role=Role(row.role),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        created_by=row.created_by,
    )
