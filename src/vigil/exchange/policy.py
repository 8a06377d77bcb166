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
                               given on *were* (their marking then) **and** still are, **and**
                               under the marking its giver chose for it, if any (it can only
                               narrow: ``feedback_marking``); the giver always sees its own.
                               Another member submitting the same value later never widens it.
``require_case_owner``         title, summary, attribution, confidence, techniques, owners,
                               marking, status and checklist belong to the organisation that
                               opened the case (its analysts and admins)
``embargo_change``             the owner sets, clears or shortens the embargo; any other member
                               that sees the case needs an admin key **and** a recorded reason
``require_operate``            organisation lifecycle (suspend, reactivate, offboard): the
                               coalition operator's admins or the local administrator
``attends_meeting``            a meeting, its agenda, pack and minutes page: the convening
                               organisation and the invited ones; ``require_convener`` for
                               inviting and taking the minutes
``document_marking``           a document (briefing, meeting pack, minutes, case report) is
                               marked the most restrictive marking of what it includes *for
                               that reader* (never below its floor, GREEN for member documents)
``is_public``                  what a public disclosure report may include: CLEAR items only
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


CAP = "cap"  # the element of a stored basis list holding the giver's own marking, if it chose one


def feedback_json(basis: Sequence[Basis], marking: Marking | None) -> list[dict[str, Any]]:
    """What an opinion or sighting stores as its basis: the contributions, then the giver's
    chosen marking as one ``{"cap": ...}`` element (one JSON column, no new table)."""
    stored = [b.to_json() for b in basis]
    if marking is not None:
        stored.append({CAP: {"tlp": marking.tlp.value, "to": list(marking.shared_with)}})
    return stored


def parse_feedback(raw: Iterable[Mapping[str, Any]] | None) -> tuple[list[Basis], Marking | None]:
    """The basis contributions and the giver's chosen marking of a stored basis list."""
    basis: list[Basis] = []
    cap: Marking | None = None
    for item in raw or ():
        if CAP in item:
            cap = Marking(TLP(item[CAP]["tlp"]), tuple(item[CAP].get("to") or ()))
        else:
            basis.append(Basis.from_json(item))
    return basis, cap


def feedback_marking(
    chosen: Marking | None, basis: Sequence[Basis], *, clamp: bool = False
) -> Marking | None:
    """Check the marking a giver chose for its opinion or sighting: never wider than the
    contributions it is given on (InputError naming the widest), so it can only narrow. The reader
    must pass both the basis rule and this marking, so extra ``shared_with`` names cannot widen it
    either. None: no marking chosen (the basis alone decides). ``clamp`` (STIX/TAXII input, whose
    objects always carry some TLP): a wider marking is dropped instead of refused."""
    if chosen is None or not basis:
        return chosen
    order = list(TLP)
    widest = min((b.tlp for b in basis), key=order.index)
    if order.index(chosen.tlp) < order.index(widest):
        if clamp:
            return None
        raise InputError(
            f"feedback cannot be marked TLP:{chosen.tlp.value}, wider than the contribution it is "
            f"given on (TLP:{widest.value}); choose TLP:{widest.value} or narrower",
            field="marking",
        )
    return chosen


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
    marking: Marking | None = None,
) -> bool:
    """Whether ``principal`` may see one opinion or sighting (``marking``: the one its giver
    chose, checked on top of the basis).

    ``visible_contribution_ids`` are the contributions of the same signal the principal sees now.
    Feedback stored without a basis (none should remain after revision 0009) is the giver's only.
    """
    if principal is None or principal.org_id == giver_org_id:
        return True
    if marking is not None and not may_see(principal, Marked(giver_org_id, marking), kind_of):
        return False
    for b in basis or ():
        if b.contribution_id in visible_contribution_ids and may_see(
            principal, Marked(b.org_id, Marking(b.tlp, b.shared_with)), kind_of
        ):
            return True
    return False


def may_see_stored_feedback(
    principal: Principal | None,
    giver_org_id: str,
    stored: Iterable[Mapping[str, Any]] | None,
    visible_contribution_ids: Collection[int],
    kind_of: Callable[[str], OrgKind],
) -> bool:
    """``may_see_feedback`` on a stored basis list (as ``feedback_json`` wrote it)."""
    basis, marking = parse_feedback(stored)
    return may_see_feedback(principal, giver_org_id, basis, visible_contribution_ids, kind_of, marking)


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
# meetings and documents


def attends_meeting(principal: Principal | None, convener_org_id: str, invited: Collection[str]) -> bool:
    """Whether ``principal``'s organisation convenes or is invited to a meeting."""
    return principal is None or principal.org_id == convener_org_id or principal.org_id in invited


def require_convener(principal: Principal | None, convener_org_id: str, what: str) -> None:
    """Only the convening organisation changes a meeting's invitations and minutes."""
    require(principal, Permission.WRITE)
    if principal is not None and principal.org_id != convener_org_id:
        raise PermissionDenied(
            f"only the convening organisation may {what}", convener_org_id=convener_org_id, needs="convener"
        )


def document_marking(included: Iterable[TLP], floor: TLP = TLP.GREEN) -> TLP:
    """The marking of a document: the most restrictive of what it includes for its reader, and
    never below ``floor`` (a member document is at least GREEN: it never leaves the coalition)."""
    order = list(TLP)
    return max([floor, *included], key=order.index)


def is_public(marking: Marking) -> bool:
    """Whether an item may appear in a public report (a disclosure): TLP:CLEAR only."""
    return marking.tlp is TLP.CLEAR


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
