"""``CaseService``: every read and write of cases, for the REST routes, the CLI and the dashboard.

Usage::

    with db.session() as session:                      # one transaction
        cases = CaseService(session, principal)        # principal from the API key (None: local admin)
        case = cases.create_case("Network X", marking=Marking(TLP.AMBER), techniques=["T0049"])
        cases.transition(case.id, "investigating")
        cases.record_action(case.id, "removed", "accounts", 41, platform="facebook",
                            marking=Marking(TLP.GREEN))
        cases.set_embargo(case.id, utcnow() + timedelta(days=2))
        cases.embargo(case.id).seconds_remaining
        for event in cases.timeline(case.id): ...

Visibility: the case, each action and each timeline entry carries a TLP marking; what a principal
sees is decided by the exchange's one rule, ``vigil.exchange.access.can_see`` (the source
organisation is the one that wrote the item). A case the principal may not see is NotFound.
Linked signals are shown through the exchange store, i.e. the principal's own view of them.
Writes need the exchange's WRITE permission (analyst or admin) and follow
``vigil.exchange.policy``: the owning organisation (the one that opened the case) alone edits its
fields, moves its status and adds checklist items; any member that sees the case may comment,
record its own actions, link signals it sees and check checklist items (exercises are joint). The
embargo is the owner's; another member changes it only with an admin key and a reason. Disclosing
before the embargo needs an admin and a reason. Every change goes in the exchange's append-only
audit log (``case.*`` actions) as well as on the case timeline.

``CaseService`` is one class over ``vigil.exchange.service.Service`` (session, principal, clock),
written in parts: ``cases`` (open, edit, workflow, comments, linked signals, timeline),
``actions`` (members' actions and the embargo) and ``checklist`` (checklist and network picture),
each a class over ``base.CaseBase``.
"""

from vigil.cases.service.actions import ActionsAndEmbargo
from vigil.cases.service.base import (
    MAX_LINKS,
    MAX_TEXT,
    OWN_MARKING,
    CaseBase,
    action_record,
    case_record,
    parse_marking,
)
from vigil.cases.service.cases import Cases
from vigil.cases.service.checklist import ChecklistAndNetwork, clear_values


class CaseService(Cases, ActionsAndEmbargo, ChecklistAndNetwork):
    """Cases for one principal in one session (one transaction; the caller commits)."""


__all__ = [
    "MAX_LINKS",
    "MAX_TEXT",
    "OWN_MARKING",
    "CaseBase",
    "CaseService",
    "action_record",
    "case_record",
    "clear_values",
    "parse_marking",
]
