"""The status workflow of a case, as data: ``TRANSITIONS`` lists every allowed move.

    triage -> investigating -> coordinated-action -> disclosed -> closed

A case may step back one stage while not yet disclosed (new evidence), and be closed from any
stage (dismissed, or handed over); a closed case is final. Anything else is a Conflict (409).
Moving to ``disclosed`` is also subject to the embargo (``vigil.cases.embargo``).
"""

from __future__ import annotations

from vigil.cases.records import Status
from vigil.core.errors import Conflict, InputError

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.TRIAGE: frozenset({Status.INVESTIGATING, Status.CLOSED}),
    Status.INVESTIGATING: frozenset({Status.COORDINATED_ACTION, Status.TRIAGE, Status.CLOSED}),
    Status.COORDINATED_ACTION: frozenset({Status.DISCLOSED, Status.INVESTIGATING, Status.CLOSED}),
    Status.DISCLOSED: frozenset({Status.CLOSED}),
    Status.CLOSED: frozenset(),
}


def parse_status(value: str | Status) -> Status:
    try:
        return Status(str(value).lower())
    except ValueError:
        known = ", ".join(s.value for s in Status)
        raise InputError(f"unknown case status {value!r}; known: {known}", field="status") from None


def check_transition(current: Status, target: Status) -> None:
    """Raise Conflict unless ``current -> target`` is an allowed move, naming the allowed ones."""
    allowed = TRANSITIONS[current]
    if target in allowed:
        return
    order = list(Status)
    options = ", ".join(s.value for s in sorted(allowed, key=order.index)) or "none (the case is closed)"
    raise Conflict(
        f"a case cannot move from {current.value!r} to {target.value!r}; allowed from {current.value!r}: "
        f"{options}",
        current=current.value,
        requested=target.value,
        allowed=[s.value for s in sorted(allowed, key=order.index)],
    )
