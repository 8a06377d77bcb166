"""Embargo rules for joint disclosure (pure functions; the service supplies the clock).

* A case may carry one agreed embargo instant; members see the seconds remaining.
* Before it passes, nobody may disclose the case (move it to ``disclosed`` or render the final
  public report), except an **admin** who gives a **reason**: the override is written to the
  case timeline and the exchange audit log.
* Without an embargo, disclosure is allowed at once. Draft reports (watermarked) are always allowed.
"""

from __future__ import annotations

from datetime import datetime

from vigil.cases.records import Embargo
from vigil.core.errors import Conflict, InputError, PermissionDenied
from vigil.core.time import ensure_utc, isoformat_z
from vigil.exchange.access import Principal
from vigil.exchange.records import Role


def embargo_state(until: datetime | None, now: datetime) -> Embargo:
    if until is None:
        return Embargo(until=None, seconds_remaining=0)
    remaining = (ensure_utc(until) - ensure_utc(now)).total_seconds()
    return Embargo(until=ensure_utc(until), seconds_remaining=max(0, int(-(-remaining // 1))))


def check_disclosure(
    until: datetime | None, now: datetime, principal: Principal | None, override_reason: str | None
) -> bool:
    """Allow or refuse disclosure now; returns True when an admin override was used.

    ``principal`` None is the trusted local administrator (still needs a reason to override).
    """
    state = embargo_state(until, now)
    if not state.active:
        return False
    assert state.until is not None
    if override_reason is None or not override_reason.strip():
        raise Conflict(
            f"the case is under embargo until {isoformat_z(state.until)} "
            f"({state.seconds_remaining} s remaining); an admin may override with a reason",
            embargo_until=isoformat_z(state.until),
            seconds_remaining=state.seconds_remaining,
        )
    if principal is not None and principal.role is not Role.ADMIN:
        raise PermissionDenied(
            f"only an admin may override the embargo (your role: {principal.role.value})",
            role=principal.role.value,
        )
    if len(override_reason) > 2000:
        raise InputError("override reason longer than 2000 characters", field="override_reason")
    return True
