"""Organisation lifecycle: suspend, reactivate, offboard. The lifecycle part of ``ExchangeStore``.

The rule for what happens to an organisation and what it contributed:

* **suspend** (reversible): every key of the organisation is refused at once (``authenticate``
  checks the organisation's status on every request, so no key needs to change); its
  contributions, campaigns, feedback and cases stay visible to others exactly as marked, so members
  keep the indicators they rely on; nothing new can come from it while suspended.
* **reactivate**: its keys that are neither revoked nor expired work again.
* **offboard** (final): every key is revoked and every contribution it still had is revoked (a new
  version with STIX ``revoked``, so TAXII readers and federation peers drop it); its campaigns,
  cases, opinions and sightings stay as history. An offboarded organisation cannot be reactivated.

Only the coalition operator's admins (or the local administrator) change a status, never for an
operator organisation (that would lock the coalition out); every change is audited with its reason.
"""

from __future__ import annotations

from sqlalchemy import select

from vigil.core.errors import Conflict, InputError
from vigil.exchange import audit, keys
from vigil.exchange.access import Principal
from vigil.exchange.models import (
    ApiKeyRow,
    ContributionRow,
    OrgStatusRow,
)
from vigil.exchange.policy import require_operate
from vigil.exchange.records import Organisation, OrgStatus
from vigil.exchange.store.base import org_record
from vigil.exchange.store.members import MembersStore
from vigil.exchange.store.signals import SignalsStore

# status -> the statuses it may move to
MOVES: dict[OrgStatus, frozenset[OrgStatus]] = {
    OrgStatus.ACTIVE: frozenset({OrgStatus.SUSPENDED, OrgStatus.OFFBOARDED}),
    OrgStatus.SUSPENDED: frozenset({OrgStatus.ACTIVE, OrgStatus.OFFBOARDED}),
    OrgStatus.OFFBOARDED: frozenset(),
}
VERBS = {OrgStatus.ACTIVE: "reactivate", OrgStatus.SUSPENDED: "suspend", OrgStatus.OFFBOARDED: "offboard"}


class OrgLifecycleStore(MembersStore, SignalsStore):
    """Suspend, reactivate and offboard member organisations."""

    def suspend_org(self, actor: Principal | None, org: str, *, reason: str) -> Organisation:
        return self._move(actor, org, OrgStatus.SUSPENDED, reason)

    def reactivate_org(self, actor: Principal | None, org: str, *, reason: str) -> Organisation:
        return self._move(actor, org, OrgStatus.ACTIVE, reason)

    def offboard_org(self, actor: Principal | None, org: str, *, reason: str) -> Organisation:
        return self._move(actor, org, OrgStatus.OFFBOARDED, reason)

    def _move(self, actor: Principal | None, org: str, target: OrgStatus, reason: str) -> Organisation:
        verb = VERBS[target]
        require_operate(actor, f"{verb} organisations")
        clean = (reason or "").strip()
        if not clean or len(clean) > 2000:
            raise InputError("a reason of 1-2000 characters is required", field="reason")
        row = self._org_row(org)
        if row.operator:
            raise Conflict(f"{row.name!r} is a coalition operator organisation; it cannot be {target.value}")
        current = self._org_status(row.id)
        if target not in MOVES[current]:
            raise Conflict(f"organisation {row.name!r} is {current.value}; it cannot be {target.value}")
        now = self.now()
        detail: dict[str, object] = {"from": current.value, "to": target.value, "reason": clean}
        if target is OrgStatus.OFFBOARDED:
            detail["keys_revoked"], detail["contributions_revoked"] = self._offboard(actor, row.id)
        status = self.session.get(OrgStatusRow, row.id)
        if target is OrgStatus.ACTIVE:
            if status is not None:
                self.session.delete(status)
        elif status is None:
            self.session.add(OrgStatusRow(org_id=row.id, status=target.value, changed_at=now))
        else:
            status.status, status.changed_at = target.value, now
        audit.record(
            self.session, actor, f"org.{verb}", at=now, target_type="org", target_id=row.id, detail=detail
        )
        self.session.flush()
        keys.credentials_changed(self.session)
        return org_record(row, target)

    def _offboard(self, actor: Principal | None, org_id: str) -> tuple[int, int]:
        now = self.now()
        keys = list(
            self.session.scalars(
                select(ApiKeyRow).where(ApiKeyRow.org_id == org_id, ApiKeyRow.revoked_at.is_(None))
            )
        )
        for key in keys:
            key.revoked_at = now
        contributions = list(
            self.session.scalars(
                select(ContributionRow)
                .where(ContributionRow.org_id == org_id, ContributionRow.revoked_at.is_(None))
                .order_by(ContributionRow.signal_id)
            )
        )
        for contribution in contributions:
            self._revoke_contribution(self._lock_signal(contribution.signal_id), contribution, now)
        return len(keys), len(contributions)
