"""Signals, their contributions, versions, opinions and sightings, and campaigns (``/api/v1``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pydantic_core
from fastapi import APIRouter, Query, Response

from vigil.exchange.records import TLP, Marking, SignalKind
from vigil.exchange.store import SignalFilter, SignalSubmission
from vigil.exchange.store.bulk import BulkReport, write_chunk, write_hold
from vigil.exchange.store.signals import SIGNAL_SORTS, check_sort
from vigil.web.deps import PrincipalDep, StoreDep
from vigil.web.routes import feedback
from vigil.web.schemas import (
    ERROR_RESPONSES,
    BulkItemOut,
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    ContributionOut,
    MarkingIn,
    OpinionIn,
    OpinionOut,
    RevokedOut,
    SightingIn,
    SightingOut,
    SignalBulkIn,
    SignalBulkOut,
    SignalIn,
    SignalOut,
    SignalPageOut,
    SignalRevokeIn,
    SignalRevokeOut,
    VersionsOut,
)

router = APIRouter(responses=ERROR_RESPONSES)


def _marking(body: MarkingIn) -> Marking:
    return Marking(body.tlp, tuple(body.shared_with))


@router.get(
    "/signals", response_model=SignalPageOut, tags=["signals"], summary="Search signals visible to you"
)
def list_signals(
    principal: PrincipalDep,
    store: StoreDep,
    kind: list[SignalKind] = Query(default=[], description="Signal kinds (repeatable)."),
    tlp: list[TLP] = Query(default=[], description="Markings of a visible contribution (repeatable)."),
    tag: str | None = None,
    campaign: str | None = Query(default=None, description="Campaign id."),
    org: str | None = Query(default=None, description="Contributing organisation id."),
    q: str | None = Query(default=None, description="Case-insensitive text in the value or a description."),
    modified_after: datetime | None = None,
    include_revoked: bool = True,
    min_score: float | None = Query(
        default=None,
        ge=0,
        le=100,
        description="Decay score at least this (MISP polynomial model, current opinions you can see).",
    ),
    limit: int = Query(default=100, ge=1, le=10_000),
    cursor: str | None = Query(default=None, description="``next_cursor`` of the previous page (same sort)."),
    sort: str = Query(
        default="changed",
        description="Sort key: " + ", ".join(SIGNAL_SORTS) + " (the dashboard's columns); ties by id.",
    ),
    order: str = Query(default="asc", description="asc or desc."),
) -> SignalPageOut:
    check_sort(sort, order)  # before any read: a bad key is a 400 naming it
    filters = SignalFilter(
        kinds=tuple(kind),
        tlps=tuple(tlp),
        tag=tag,
        campaign_id=campaign,
        org_id=org,
        text=q,
        modified_after=modified_after,
        include_revoked=include_revoked,
        min_score=min_score,
    )
    page = store.list_signals(principal, filters, limit=limit, cursor=cursor, sort=sort, order=order)
    return SignalPageOut(
        items=[SignalOut.model_validate(s) for s in page.items], next_cursor=page.next_cursor, more=page.more
    )


@router.post(
    "/signals",
    response_model=SignalOut,
    status_code=201,
    tags=["signals"],
    summary="Submit a signal (adds or replaces your organisation's contribution)",
)
def submit_signal(body: SignalIn, principal: PrincipalDep, store: StoreDep) -> SignalOut:
    signal = store.submit_signal(
        principal,
        body.kind,
        body.value,
        marking=_marking(body.marking),
        confidence=body.confidence,
        tags=body.tags,
        first_seen=body.first_seen,
        last_seen=body.last_seen,
        campaign_id=body.campaign_id,
        description=body.description,
        language=body.language,
        valid_until=body.valid_until,
    )
    return SignalOut.model_validate(signal)


@router.post(
    "/signals/bulk",
    response_model=SignalBulkOut,
    tags=["signals"],
    summary="Submit many signals in one request (same checks, versions and audit entries as one by one)",
)
def submit_signals(body: SignalBulkIn, principal: PrincipalDep, store: StoreDep) -> Response:
    report = store.submit_signals(
        principal,
        [
            SignalSubmission(
                s.kind,
                s.value,
                _marking(s.marking),
                confidence=s.confidence,
                tags=s.tags,
                first_seen=s.first_seen,
                last_seen=s.last_seen,
                campaign_id=s.campaign_id,
                description=s.description,
                language=s.language,
                valid_until=s.valid_until,
            )
            for s in body.signals
        ],
        atomic=body.atomic,
        # checked on a read snapshot, then written in short transactions (no long write lock)
        chunk=write_chunk(store.session),
        hold=write_hold(store.session),
    )
    return _bulk_answer(report)


def _bulk_answer(report: BulkReport) -> Response:
    """``SignalBulkOut`` of ``report`` as JSON, written directly: FastAPI would validate and dump
    10,000 ``BulkItemOut`` models two more times (about as much CPU as validating the request).
    A stored item is the model's fields in its order; a rejected one (rare) goes through the model,
    whose ``details`` may hold any value."""
    items: list[dict[str, Any]] = []
    for item in report.items:
        if item.error is None:
            items.append(
                {
                    "index": item.index,
                    "kind": item.kind,
                    "value": item.value,
                    "signal_id": item.signal_id,
                    "version": item.version,
                    "created": item.created,
                    "error": None,
                }
            )
        else:
            items.append(BulkItemOut.model_validate(item.to_dict()).model_dump(mode="json"))
    stored = len(items) - len(report.rejected)
    body = {"stored": stored, "rejected": len(items) - stored, "items": items}
    return Response(pydantic_core.to_json(body), media_type="application/json")


@router.post(
    "/signals/revoke",
    response_model=SignalRevokeOut,
    tags=["signals"],
    summary="Withdraw your organisation's contributions to many signals (all or nothing)",
)
def revoke_signals(body: SignalRevokeIn, principal: PrincipalDep, store: StoreDep) -> SignalRevokeOut:
    revoked = store.revoke_signals(principal, body.ids)
    return SignalRevokeOut(
        revoked=len(revoked),
        items=[
            RevokedOut(signal_id=r.signal_id, version=r.version, revoked_at=r.revoked_at) for r in revoked
        ],
    )


@router.get(
    "/signals/lookup",
    response_model=SignalOut,
    tags=["signals"],
    summary="Find the signal for a kind and value",
)
def lookup_signal(principal: PrincipalDep, store: StoreDep, kind: SignalKind, value: str) -> SignalOut:
    return SignalOut.model_validate(store.find_signal(principal, kind, value))


@router.get("/signals/{signal_id}", response_model=SignalOut, tags=["signals"], summary="One signal")
def get_signal(signal_id: str, principal: PrincipalDep, store: StoreDep) -> SignalOut:
    return SignalOut.model_validate(store.get_signal(principal, signal_id))


@router.get(
    "/signals/{signal_id}/contributions",
    response_model=list[ContributionOut],
    tags=["signals"],
    summary="The contributions to a signal you may see",
)
def list_contributions(signal_id: str, principal: PrincipalDep, store: StoreDep) -> list[ContributionOut]:
    return [ContributionOut.model_validate(c) for c in store.get_signal(principal, signal_id).contributions]


@router.get(
    "/signals/{signal_id}/versions",
    response_model=VersionsOut,
    tags=["signals"],
    summary="Modification times of every version of the contributions you may see",
)
def list_versions(signal_id: str, principal: PrincipalDep, store: StoreDep) -> VersionsOut:
    return VersionsOut(id=signal_id, versions=store.list_versions(principal, signal_id))


@router.post(
    "/signals/{signal_id}/revoke",
    response_model=SignalOut,
    tags=["signals"],
    summary="Withdraw your organisation's contribution",
)
def revoke_signal(signal_id: str, principal: PrincipalDep, store: StoreDep) -> SignalOut:
    return SignalOut.model_validate(store.revoke_signal(principal, signal_id))


@router.get(
    "/signals/{signal_id}/opinions",
    response_model=list[OpinionOut],
    tags=["opinions"],
    summary="Current opinions of every organisation (history=true: all, oldest first)",
)
def list_opinions(
    signal_id: str, principal: PrincipalDep, store: StoreDep, history: bool = False
) -> list[OpinionOut]:
    return [OpinionOut.model_validate(o) for o in store.list_opinions(principal, signal_id, history=history)]


@router.put(
    "/signals/{signal_id}/opinion",
    response_model=OpinionOut,
    tags=["opinions"],
    summary="Set your organisation's opinion (confirmed, disputed, false_positive)",
)
def set_opinion(signal_id: str, body: OpinionIn, principal: PrincipalDep, store: StoreDep) -> OpinionOut:
    marking = _marking(body.marking) if body.marking is not None else None
    return OpinionOut.model_validate(
        store.set_opinion(principal, signal_id, body.value, body.comment, marking=marking)
    )


@router.get(
    "/signals/{signal_id}/sightings",
    response_model=list[SightingOut],
    tags=["sightings"],
    summary="Sightings",
)
def list_sightings(signal_id: str, principal: PrincipalDep, store: StoreDep) -> list[SightingOut]:
    return [SightingOut.model_validate(s) for s in store.list_sightings(principal, signal_id)]


@router.post(
    "/signals/{signal_id}/sightings",
    response_model=SightingOut,
    status_code=201,
    tags=["sightings"],
    summary="Report that your organisation saw this signal",
)
def add_sighting(signal_id: str, body: SightingIn, principal: PrincipalDep, store: StoreDep) -> SightingOut:
    sighting = store.add_sighting(
        principal,
        signal_id,
        count=body.count,
        first_seen=body.first_seen,
        last_seen=body.last_seen,
        platform=body.platform,
        marking=_marking(body.marking) if body.marking is not None else None,
    )
    return SightingOut.model_validate(sighting)


@router.get(
    "/campaigns", response_model=list[CampaignOut], tags=["campaigns"], summary="Campaigns visible to you"
)
def list_campaigns(principal: PrincipalDep, store: StoreDep) -> list[CampaignOut]:
    return [CampaignOut.model_validate(c) for c in store.list_campaigns(principal)]


@router.post(
    "/campaigns", response_model=CampaignOut, status_code=201, tags=["campaigns"], summary="New campaign"
)
def create_campaign(body: CampaignIn, principal: PrincipalDep, store: StoreDep) -> CampaignOut:
    campaign = store.create_campaign(
        principal,
        body.name,
        marking=_marking(body.marking),
        description=body.description,
        attribution=body.attribution,
        techniques=body.techniques,
    )
    return CampaignOut.model_validate(campaign)


@router.get(
    "/campaigns/{campaign_id}", response_model=CampaignOut, tags=["campaigns"], summary="One campaign"
)
def get_campaign(campaign_id: str, principal: PrincipalDep, store: StoreDep) -> CampaignOut:
    return CampaignOut.model_validate(store.get_campaign(principal, campaign_id))


@router.patch(
    "/campaigns/{campaign_id}",
    response_model=CampaignOut,
    tags=["campaigns"],
    summary="Change your organisation's campaign",
)
def update_campaign(
    campaign_id: str, body: CampaignPatch, principal: PrincipalDep, store: StoreDep
) -> CampaignOut:
    campaign = store.update_campaign(
        principal,
        campaign_id,
        name=body.name,
        marking=_marking(body.marking) if body.marking else None,
        description=body.description,
        attribution=body.attribution,
        techniques=body.techniques,
    )
    return CampaignOut.model_validate(campaign)


# Feedback counts (``/signals/{id}/feedback``, ``/feedback``) live in their own module; they are
# mounted with the signal routes so the app factory needs no line of its own.
router.include_router(feedback.router)
