"""The access model's pure rule against the hand-written table, and role permissions."""

from __future__ import annotations

import itertools

import pytest

from vigil.core.errors import PermissionDenied
from vigil.exchange.access import Permission, Principal, allowed, can_see, require
from vigil.exchange.records import TLP, OrgKind, Role

from .tlp_table import EXPECTED, RELATIONS


def _case(relation: str, source_kind: OrgKind) -> tuple[str, OrgKind, tuple[str, ...]]:
    other = next(k for k in OrgKind if k is not source_kind)
    viewer_kind = source_kind if relation in ("source", "same_kind", "listed_same_kind") else other
    viewer = "src" if relation == "source" else "viewer"
    shared = ("viewer",) if relation.startswith("listed") else ("someone-else",)
    return viewer, viewer_kind, shared


@pytest.mark.parametrize(("tlp", "relation", "source_kind"), list(itertools.product(TLP, RELATIONS, OrgKind)))
def test_can_see_matches_table(tlp: TLP, relation: str, source_kind: OrgKind) -> None:
    viewer, viewer_kind, shared = _case(relation, source_kind)
    got = can_see(
        viewer, viewer_kind, source_org_id="src", source_kind=source_kind, tlp=tlp, shared_with=shared
    )
    assert got is EXPECTED[tlp][relation]


def test_government_never_sees_platform_only_material() -> None:
    for tlp in (TLP.AMBER, TLP.AMBER_STRICT, TLP.RED):
        for shared in ((), ("platform-2",)):
            assert not can_see(
                "gov",
                OrgKind.GOVERNMENT,
                source_org_id="p1",
                source_kind=OrgKind.PLATFORM,
                tlp=tlp,
                shared_with=shared,
            )


ROLE_TABLE = {
    Role.READ_ONLY: {Permission.READ},
    Role.ANALYST: {Permission.READ, Permission.WRITE},
    Role.ADMIN: {Permission.READ, Permission.WRITE, Permission.MANAGE_KEYS, Permission.READ_AUDIT},
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("operator", [False, True])
def test_role_permissions(role: Role, operator: bool) -> None:
    principal = Principal("k", "o", OrgKind.PLATFORM, role, operator=operator)
    expected = set(ROLE_TABLE[role]) | ({Permission.OPERATE} if operator and role is Role.ADMIN else set())
    for permission in Permission:
        assert allowed(principal, permission) is (permission in expected)
        if permission not in expected:
            with pytest.raises(PermissionDenied, match=role.value):
                require(principal, permission)
    assert allowed(None, Permission.OPERATE)  # the local administrator (CLI)
