"""``Service``: the one base of Vigil's services (the exchange store, cases, meetings, policies).

A service works for one principal in one session (one transaction; the caller commits) on one
clock:

* ``session``: the SQLAlchemy session of the request or command;
* ``principal``: who acts (``None``: the trusted local administrator of ``vigil`` commands run
  without ``--as-org``; the exchange store takes the principal per call and holds ``None`` here);
* ``now()``: the fixed instant given to the constructor (tests, replays) or the real clock.

It also holds what each of them had its own copy of: the organisation kinds the access rule needs
(loaded once per service), ``sees`` (the exchange's one visibility rule), the acting organisation,
and the check that organisation ids named in a marking or an invitation exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.core.errors import InputError
from vigil.core.time import ensure_utc, utcnow
from vigil.exchange.access import Principal
from vigil.exchange.models import OrgRow
from vigil.exchange.policy import Marked, may_see
from vigil.exchange.records import Marking, OrgKind


class Service:
    """The session, the acting principal and the clock, and the helpers every service shares."""

    def __init__(
        self, session: Session, principal: Principal | None = None, *, now: datetime | None = None
    ) -> None:
        self.session = session
        self.principal = principal
        self._now = now  # fixed clock for tests; None means the real clock
        self._kinds: dict[str, OrgKind] | None = None

    def now(self) -> datetime:
        return ensure_utc(self._now) if self._now is not None else utcnow()

    def org_kind(self, org_id: str) -> OrgKind:
        """An organisation's kind (the access rule needs the source's); unknown ids read as research."""
        if self._kinds is None or org_id not in self._kinds:
            self._kinds = {r.id: OrgKind(r.kind) for r in self.session.scalars(select(OrgRow))}
        return self._kinds.get(org_id, OrgKind.RESEARCH)

    def sees(self, source_org_id: str | None, marking: Marking) -> bool:
        """Whether the principal may see an item written by ``source_org_id`` under ``marking``."""
        return may_see(self.principal, Marked(source_org_id or "", marking), self.org_kind)

    def require_principal(self) -> Principal:
        """The acting principal; InputError for the local administrator acting for no organisation."""
        if self.principal is None:
            raise InputError("this operation needs an acting organisation (--as-org)", field="org")
        return self.principal

    def acting_org(self) -> str:
        """The acting organisation's id (InputError as in ``require_principal``)."""
        return self.require_principal().org_id

    def check_orgs(self, org_ids: Sequence[str], name: str) -> None:
        """InputError naming ``name`` unless every id in ``org_ids`` is a known organisation."""
        known = set(self.session.scalars(select(OrgRow.id).where(OrgRow.id.in_(list(org_ids)))))
        unknown = [o for o in org_ids if o not in known]
        if unknown:
            raise InputError(f"{name} names unknown organisations: {', '.join(unknown)}", field=name)
