"""Who may see and do what in the exchange: the one place the access model lives.

REST routes, TAXII routes and the store all ask this module; none of them decides on its own.

**Principal.** A caller is a key acting for an organisation with a role.

**Roles** (see ``ROLE_PERMISSIONS``): ``read-only`` reads; ``analyst`` also writes signals,
campaigns, opinions and sightings for its own organisation; ``admin`` also manages its own
organisation's keys and reads its organisation's audit trail. Admins of the *coalition operator*
organisation (``Organisation.operator``) also create organisations, manage every organisation's
keys and read the whole audit log. Being the operator grants no extra *visibility* of content.

**Visibility** of one marked item (a contribution or a campaign), TLP 2.0 read for a coalition:

===============  ==========================================================================
TLP              who sees it
===============  ==========================================================================
CLEAR, GREEN     every member organisation
AMBER            the source organisation, member organisations of the *same kind* as the
                 source, and organisations listed in ``shared_with``
AMBER+STRICT     the source organisation and organisations listed in ``shared_with``
RED              the source organisation and organisations listed in ``shared_with``
===============  ==========================================================================

So a platform's AMBER item with no ``shared_with`` reaches platforms only: a government partner
sees a platform's restricted material only if the platform names it. ``TLP_GRANTS`` is the single
definition; ``can_see`` (pure, for one item) and ``visible_clause`` (SQL, for listing at scale)
both interpret it, and tests check they agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, false, or_, true
from sqlalchemy.orm import QueryableAttribute

from vigil.core.errors import PermissionDenied
from vigil.exchange.records import TLP, OrgKind, Role

# A column in any form SQLAlchemy accepts: a mapped attribute or a SQL expression.
Column = ColumnElement[str] | QueryableAttribute[str]


class Grant(StrEnum):
    """One reason an organisation may see a marked item."""

    EVERY_MEMBER = "every_member"
    SOURCE = "source"
    SAME_KIND = "same_kind"
    LISTED = "listed"


TLP_GRANTS: dict[TLP, frozenset[Grant]] = {
    TLP.CLEAR: frozenset({Grant.EVERY_MEMBER}),
    TLP.GREEN: frozenset({Grant.EVERY_MEMBER}),
    TLP.AMBER: frozenset({Grant.SOURCE, Grant.SAME_KIND, Grant.LISTED}),
    TLP.AMBER_STRICT: frozenset({Grant.SOURCE, Grant.LISTED}),
    TLP.RED: frozenset({Grant.SOURCE, Grant.LISTED}),
}

# Reads of these markings are written to the audit log.
AUDITED_TLPS = frozenset({TLP.AMBER, TLP.AMBER_STRICT, TLP.RED})

_TLP_ORDER = {tlp: i for i, tlp in enumerate(TLP)}


def most_restrictive(tlps: Iterable[TLP]) -> TLP | None:
    """The most restrictive of some markings (None if there are none)."""
    found = list(tlps)
    return max(found, key=_TLP_ORDER.__getitem__) if found else None


class Permission(StrEnum):
    READ = "read"
    WRITE = "write"  # signals, campaigns, opinions, sightings of one's own organisation
    MANAGE_KEYS = "manage_keys"  # keys of one's own organisation
    READ_AUDIT = "read_audit"  # audit entries of one's own organisation
    OPERATE = "operate"  # create organisations, manage every org's keys, read all audit


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.READ_ONLY: frozenset({Permission.READ}),
    Role.ANALYST: frozenset({Permission.READ, Permission.WRITE}),
    Role.ADMIN: frozenset({Permission.READ, Permission.WRITE, Permission.MANAGE_KEYS, Permission.READ_AUDIT}),
}


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the key, its organisation (and that org's kind) and the key's role."""

    key_id: str
    org_id: str
    org_kind: OrgKind
    role: Role
    operator: bool = False  # the key's organisation is the coalition operator


def permissions(principal: Principal) -> frozenset[Permission]:
    """Everything a principal may do (operator admins also OPERATE)."""
    granted = ROLE_PERMISSIONS[principal.role]
    if principal.operator and principal.role is Role.ADMIN:
        granted = granted | {Permission.OPERATE}
    return granted


def allowed(principal: Principal | None, permission: Permission) -> bool:
    """``None`` is the trusted local administrator (the CLI with direct database access)."""
    return principal is None or permission in permissions(principal)


def require(principal: Principal | None, permission: Permission) -> None:
    """Raise PermissionDenied unless the principal's role grants ``permission``."""
    if not allowed(principal, permission):
        assert principal is not None
        raise PermissionDenied(
            f"role {principal.role.value!r} may not {permission.value.replace('_', ' ')}",
            role=principal.role.value,
            needs=permission.value,
        )


def can_manage_org(principal: Principal | None, org_id: str) -> bool:
    """May this principal manage keys of organisation ``org_id``?"""
    if principal is None or Permission.OPERATE in permissions(principal):
        return True
    return Permission.MANAGE_KEYS in permissions(principal) and principal.org_id == org_id


def can_see(
    viewer_org_id: str,
    viewer_kind: OrgKind,
    *,
    source_org_id: str,
    source_kind: OrgKind,
    tlp: TLP,
    shared_with: Iterable[str],
) -> bool:
    """Whether organisation ``viewer_org_id`` may see one item with this marking (pure function)."""
    grants = TLP_GRANTS[tlp]
    return (
        Grant.EVERY_MEMBER in grants
        or (Grant.SOURCE in grants and viewer_org_id == source_org_id)
        or (Grant.SAME_KIND in grants and viewer_kind == source_kind)
        or (Grant.LISTED in grants and viewer_org_id in set(shared_with))
    )


def visible_clause(
    viewer_org_id: str,
    viewer_kind: OrgKind,
    *,
    tlp_col: Column,
    source_org_col: Column,
    listed: ColumnElement[bool],
    source_kind_col: Column | None = None,
    same_kind: ColumnElement[bool] | None = None,
) -> ColumnElement[bool]:
    """The SQL form of ``can_see`` for one row of a marked table.

    ``listed`` is a boolean SQL expression that is true when the viewer is in the row's
    ``shared_with`` (an EXISTS or IN over the share table), so this stays independent of table names.
    Give either ``source_kind_col`` (the source org's kind) or ``same_kind``, a boolean expression
    that is true when the source org has the viewer's kind (for example an uncorrelated
    ``source_org IN (orgs of that kind)``, which databases evaluate once).
    """
    if same_kind is None:
        if source_kind_col is None:
            raise ValueError("visible_clause needs source_kind_col or same_kind")
        same_kind = source_kind_col == viewer_kind.value
    terms: list[ColumnElement[bool]] = []
    for tlp, grants in TLP_GRANTS.items():
        reasons: list[ColumnElement[bool]] = []
        for grant in grants:
            if grant is Grant.EVERY_MEMBER:
                reasons.append(true())
            elif grant is Grant.SOURCE:
                reasons.append(source_org_col == viewer_org_id)
            elif grant is Grant.SAME_KIND:
                reasons.append(same_kind)
            elif grant is Grant.LISTED:
                reasons.append(listed)
        terms.append(and_(tlp_col == tlp.value, or_(*reasons) if reasons else false()))
    return or_(*terms)
