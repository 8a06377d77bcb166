"""Signal quality notices from members' matchers (``/api/v1``): a member tells the sources of a
signal that its matcher quarantined the signal for flooding, or released it after review.

The notice is written to the audit log once per contributing organisation the caller can see
(``subject_org_id`` = that source), so each source finds it among the entries involving its
organisation; nothing else is stored. The caller must see the signal (404 otherwise, as for
sightings) and have a role that may write.
"""

from __future__ import annotations

from fastapi import APIRouter

from vigil.core.time import utcnow
from vigil.exchange import audit
from vigil.exchange.access import Permission, require
from vigil.web.deps import PrincipalDep, StoreDep
from vigil.web.schemas import ERROR_RESPONSES
from vigil.web.schemas.lifecycle import QuarantineNoticeIn, QuarantineNoticeOut

router = APIRouter(responses=ERROR_RESPONSES)


@router.post(
    "/signals/{signal_id}/quarantine-notices",
    response_model=QuarantineNoticeOut,
    status_code=202,
    tags=["sightings"],
    summary="Tell a signal's sources that your matcher quarantined (or released) it for flooding",
)
def quarantine_notice(
    signal_id: str, body: QuarantineNoticeIn, principal: PrincipalDep, store: StoreDep
) -> QuarantineNoticeOut:
    require(principal, Permission.WRITE)
    signal = store.get_signal(principal, signal_id)  # NotFound when invisible to the caller
    sources = sorted({c.org_id for c in signal.contributions if c.org_id != principal.org_id})
    now = utcnow()
    for org_id in sources:
        audit.record(
            store.session,
            principal,
            f"signal.{body.action}",
            at=now,
            target_type="signal",
            target_id=signal_id,
            detail={"posts": body.posts, "reason": body.reason},
            subject_org_id=org_id,
        )
    return QuarantineNoticeOut(signal_id=signal_id, action=body.action, notified_orgs=sources)
