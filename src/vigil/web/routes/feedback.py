"""Feedback counted and sent back (``/api/v1``): per-member counts of what members said about a
signal, and the feedback an organisation's own contributions received (issue 18, part 1).

Both answer only with feedback the caller may see (``vigil.exchange.store.feedback_counts``).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query

from vigil.core.errors import PermissionDenied
from vigil.exchange.store.feedback_counts import SORTS
from vigil.web.deps import PrincipalDep, StoreDep
from vigil.web.schemas import ERROR_RESPONSES
from vigil.web.schemas.feedback import ReceivedPageOut, SignalFeedbackOut

router = APIRouter(responses=ERROR_RESPONSES)


@router.get(
    "/signals/{signal_id}/feedback",
    response_model=SignalFeedbackOut,
    tags=["sightings"],
    summary="Feedback on a signal counted per member, per contribution and per day",
)
def signal_feedback(
    signal_id: str,
    principal: PrincipalDep,
    store: StoreDep,
    since: datetime | None = Query(default=None, description="Only feedback given at or after this instant."),
) -> SignalFeedbackOut:
    return SignalFeedbackOut.of(store.feedback_counts(principal, signal_id, since=since))


@router.get(
    "/feedback",
    response_model=ReceivedPageOut,
    tags=["sightings"],
    summary="Feedback other members gave on your organisation's contributions",
)
def feedback_received(
    principal: PrincipalDep,
    store: StoreDep,
    org: str = Query(
        default="me", description="'me' (or your organisation's id): feedback is sent to its source only."
    ),
    since: datetime | None = Query(default=None, description="Only feedback given at or after this instant."),
    sort: str = Query(default="matches", description=f"One of {', '.join(SORTS)} (highest or latest first)."),
    limit: int = Query(default=50, ge=1, le=1000),
    offset: int = Query(default=0, ge=0, le=2_000_000_000),
) -> ReceivedPageOut:
    if org not in ("me", principal.org_id):
        raise PermissionDenied(
            "feedback on an organisation's contributions is sent to that organisation only; use org=me",
            org=org,
        )
    page = store.feedback_received(principal, since=since, sort=sort, limit=limit, offset=offset)
    return ReceivedPageOut.of(principal.org_id, page)
