"""May principal P do action X on object O: the one answer every read and write asks.

``vigil.exchange.access`` defines the two primitives (what a *role* may do, and the TLP rule
``can_see`` for one marked item). This module applies them to *objects*, so that the exchange
store, the case service, TAXII, the dashboard pages, documents and the audit log all reach the
same decision the same way:

=============================  ===============================================================
question                       rule
=============================  ===============================================================
``may_see(P, item)``           the TLP rule on the item's marking and its source organisation
``may_see_feedback``           an opinion or sighting is visible as the contributions it was
                               given on *were* (their marking then) **and** still are; the
                               giver always sees its own. Another member submitting the same
                               value later never widens it.
``require_case_owner``         title, summary, attribution, confidence, techniques, owners,
                               marking, status and checklist belong to the organisation that
                               opened the case (its analysts and admins)
``embargo_change``             the owner sets, clears or shortens the embargo; any other member
                               that sees the case needs an admin key **and** a recorded reason
``require_operate``            organisation lifecycle (suspend, reactivate, offboard): the
                               coalition operator's admins or the local administrator
audit visibility               an entry about an object the reader cannot see keeps its action,
                               actor, time and TLP, but loses the object's id and every detail
                               (``redacted``); see ``AuditTargets``
=============================  ===============================================================

``None`` as principal is the trusted local administrator (the CLI with database access).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy.orm import Session

from vigil.core.errors import InputError, PermissionDenied
from vigil.exchange.access import Permission, Principal, can_see, permissions, require
from vigil.exchange.records import TLP, Marking, OrgKind, Role


@dataclass(frozen=True)
class Marked:
    """Any object under a marking, written by ``source_org_id``."""

    source_org_id: str
    marking: Marking


def may_see(principal: Principal | None, item: Marked, kind_of: Callable[[str], OrgKind]) -> bool:
    """Whether ``principal`` may see ``item`` (``kind_of`` gives an organisation's kind)."""
    if principal is None:
        return True
    return can_see(
        principal.org_id,
        principal.org_kind,
        source_org_id=item.source_org_id,
        source_kind=kind_of(item.source_org_id),
        tlp=item.marking.tlp,
        shared_with=item.marking.shared_with,
    )


# ---------------------------------------------------------------------------------------------
# feedback (opinions and sightings)


@dataclass(frozen=True)
class Basis:
    """One contribution a piece of feedback was given on, with the marking it had at that moment."""

    contribution_id: int
    org_id: str
    tlp: TLP
    shared_with: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "c": self.contribution_id,
            "org": self.org_id,
            "tlp": self.tlp.value,
            "to": list(self.shared_with),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Basis:
        return cls(int(raw["c"]), str(raw["org"]), TLP(raw["tlp"]), tuple(raw.get("to") or ()))


def feedback_basis(giver_org_id: str, visible: Sequence[Basis]) -> list[Basis]:
    """What new feedback is given *on*: the giver's own contribution when it has one (so its
    feedback travels exactly as far as its own marking), otherwise every contribution it sees."""
    own = [b for b in visible if b.org_id == giver_org_id]
    return own or list(visible)


def may_see_feedback(
    principal: Principal | None,
    giver_org_id: str,
    basis: Iterable[Basis] | None,
    visible_contribution_ids: Collection[int],
    kind_of: Callable[[str], OrgKind],
) -> bool:
    """Whether ``principal`` may see one opinion or sighting.

    ``visible_contribution_ids`` are the contributions of the same signal the principal sees now.
    Feedback stored without a basis (none should remain after revision 0009) is the giver's only.
    """
    if principal is None or principal.org_id == giver_org_id:
        return True
    for b in basis or ():
        if b.contribution_id in visible_contribution_ids and may_see(
            principal, Marked(b.org_id, Marking(b.tlp, b.shared_with)), kind_of
        ):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# cases


def require_case_owner(principal: Principal | None, owner_org_id: str, what: str) -> None:
    """Only the organisation that opened a case changes what it says and where it stands."""
    require(principal, Permission.WRITE)
    if principal is not None and principal.org_id != owner_org_id:
        raise PermissionDenied(
            f"only the organisation that owns the case may {what}",
            owner_org_id=owner_org_id,
            needs="case owner",
        )


def embargo_change(principal: Principal | None, owner_org_id: str, reason: str | None) -> bool:
    """Allow or refuse a change to a case's embargo (set, clear, shorten, lengthen).

    Returns True when it is an admin override (a member other than the owner, with a reason).
    """
    require(principal, Permission.WRITE)
    if principal is None or principal.org_id == owner_org_id:
        return False
    if principal.role is not Role.ADMIN:
        raise PermissionDenied(
            "only the case owner, or an admin giving a reason, may change the embargo "
            f"(your role: {principal.role.value})",
            role=principal.role.value,
            needs="case owner or admin with reason",
        )
    if reason is None or not reason.strip():
        raise InputError(
            "an admin changing another organisation's embargo must give a reason (override_reason)",
            field="override_reason",
        )
    if len(reason) > 2000:
        raise InputError("override reason longer than 2000 characters", field="override_reason")
    return True


# ---------------------------------------------------------------------------------------------
# organisations


def require_operate(principal: Principal | None, what: str) -> None:
    if principal is not None and Permission.OPERATE not in permissions(principal):
        raise PermissionDenied(f"only the coalition operator's admins may {what}", needs="operate")


# ---------------------------------------------------------------------------------------------
# audit targets: which objects named in audit entries a reader may see

# (session, principal, ids) -> the ids among them the principal may see
TargetResolver = Callable[[Session, Principal, Sequence[str]], set[str]]
# Objects anyone who may read an audit entry may see (directory and configuration objects).
PUBLIC_TARGETS = frozenset({"org", "key", "peer", "subscription", "warninglist"})


class AuditTargets:
    """Resolvers of audit target types to visibility. The exchange registers its own (signals,
    campaigns); higher layers register theirs (``vigil.cases`` registers ``case``) so the exchange
    never imports them. A type nobody registered is treated as not visible (deny by default)."""

    _resolvers: ClassVar[dict[str, TargetResolver]] = {}

    @classmethod
    def register(cls, target_type: str, resolver: TargetResolver) -> None:
        cls._resolvers[target_type] = resolver

    @classmethod
    def visible(
        cls, session: Session, principal: Principal, target_type: str, ids: Sequence[str]
    ) -> set[str]:
        if target_type in PUBLIC_TARGETS:
            return set(ids)
        resolver = cls._resolvers.get(target_type)
        return resolver(session, principal, ids) if resolver is not None else set()
