"""Flood quarantine at the exchange (``/api/v1``; vigil.exchange.flood does the work):

* ``POST /signals/{id}/quarantine-notices``: a member's matcher quarantined (or released) a signal
  for flooding. Stored as that member's current notice (history kept), audited once per source the
  caller can see, pushed to those sources (``signal.quarantine_notice``), and counted towards the
  coalition-wide quarantine. The caller must see the signal (404 otherwise) and may write.
* ``GET /signals/{id}/quarantine``: the coalition state of a visible signal.
* ``POST /signals/{id}/quarantine/release``: a reviewer (an admin of a contributing organisation, or
  of the coalition operator) lifts the coalition-wide quarantine (403 for others, 404 when the
  signal is invisible, 409 when it is not coalition-quarantined).
* ``GET /quarantines``: the coalition-quarantined signals the caller may see, paged.
"""

from __future__ import annotations

from fastapi import APIRouter, Query

from vigil.exchange.flood import QuarantineState
from vigil.web.deps import FloodServiceDep
from vigil.web.schemas import ERROR_RESPONSES
from vigil.web.schemas.lifecycle import QuarantineNoticeIn
from vigil.web.schemas.quality import (
    NoticeResultOut,
    QuarantinedPageOut,
    QuarantinedSignalOut,
    QuarantineStateOut,
    ReleaseIn,
)

router = APIRouter(responses=ERROR_RESPONSES)


def _state_out(state: QuarantineState) -> QuarantineStateOut:
    return QuarantineStateOut.model_validate(state.to_dict())


@router.post(
    "/signals/{signal_id}/quarantine-notices",
    response_model=NoticeResultOut,
    status_code=202,
    tags=["sightings"],
    summary="Tell a signal's sources that your matcher quarantined (or released) it for flooding",
)
def quarantine_notice(signal_id: str, body: QuarantineNoticeIn, service: FloodServiceDep) -> NoticeResultOut:
    result = service.notice(signal_id, body.action, posts=body.posts, reason=body.reason)
    return NoticeResultOut(
        signal_id=result.signal_id,
        action=result.action,
        notified_orgs=result.notified_orgs,
        coalition=_state_out(result.state),
        transition=result.transition,
    )


@router.get(
    "/signals/{signal_id}/quarantine",
    response_model=QuarantineStateOut,
    tags=["sightings"],
    summary="The coalition-wide flood quarantine state of a signal you can see",
)
def quarantine_state(signal_id: str, service: FloodServiceDep) -> QuarantineStateOut:
    return _state_out(service.state(signal_id))


@router.post(
    "/signals/{signal_id}/quarantine/release",
    response_model=QuarantineStateOut,
    tags=["sightings"],
    summary="Release a coalition-wide flood quarantine (admin of a contributing org or of the operator)",
)
def release_quarantine(signal_id: str, body: ReleaseIn, service: FloodServiceDep) -> QuarantineStateOut:
    return _state_out(service.release(signal_id, body.reason))


@router.get(
    "/quarantines",
    response_model=QuarantinedPageOut,
    tags=["sightings"],
    summary="Coalition-quarantined signals you can see",
)
def list_quarantines(
    service: FloodServiceDep,
    limit: int = Query(default=50, ge=1, le=1000),
    cursor: str | None = Query(default=None, description="next_cursor of the previous page"),
) -> QuarantinedPageOut:
    page = service.list_active(limit=limit, cursor=cursor)
    return QuarantinedPageOut(
        items=[
            QuarantinedSignalOut(id=s.id, kind=s.kind.value, value=s.value, coalition=_state_out(state))
            for s, state in page.items
        ],
        next_cursor=page.next_cursor,
    )
