"""The member policy register (``/api/v1``): record a member's policy in one area, the current
register, every version, a diff between two dates, the member x area matrix, election readiness
and the changes since the last meeting.

Routes parse and serialise only; ``vigil.cases.policies.PolicyService`` decides (only the member
records its own policies; each reader sees each policy and each note as its TLP allows).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder

from vigil.cases.policies import (
    Matrix,
    PolicyAreas,
    PolicyChange,
    PolicyService,
    PolicyVersion,
)
from vigil.cases.policies_stix import policy_bundle
from vigil.exchange.records import TLP, Marking
from vigil.web.deps import PolicyServiceDep, PrincipalDep
from vigil.web.schemas import ERROR_RESPONSES, MarkingIn
from vigil.web.schemas.policies import PolicyIn

router = APIRouter(responses=ERROR_RESPONSES, tags=["policies"])
MAX_LIST = 10_000


def _marking(body: MarkingIn | None, default: TLP) -> Marking:
    return Marking(body.tlp, tuple(body.shared_with)) if body else Marking(default)


def version_out(s: PolicyService, v: PolicyVersion | None) -> dict[str, Any] | None:
    return jsonable_encoder(s.as_json(v)) if v is not None else None


def change_out(s: PolicyService, c: PolicyChange) -> dict[str, Any]:
    return {
        "org_id": c.org_id,
        "area": c.area,
        "fields": list(c.fields),
        "before": version_out(s, c.before),
        "after": version_out(s, c.after),
    }


def matrix_out(s: PolicyService, m: Matrix) -> dict[str, Any]:
    return {
        "at": jsonable_encoder(m.at),
        "tlp": m.tlp.value,
        "members": m.members,
        "areas": [a.key for a in m.areas],
        "cells": {o: {a: version_out(s, v) for a, v in row.items()} for o, row in m.cells.items()},
        "gaps": [list(g) for g in m.gaps],
    }


@router.get("/policy-areas", summary="The policy areas, titled in English, French and Arabic")
def areas(request: Request, principal: PrincipalDep) -> list[dict[str, Any]]:
    del principal  # any member may read the list; the dependency authenticates
    return [
        {"key": a.key, "titles": a.titles}
        for a in PolicyAreas.load(request.app.state.settings.data_dir).areas
    ]


@router.post("/policies", status_code=201, summary="Record a new version of your organisation's policy")
def record(body: PolicyIn, s: PolicyServiceDep) -> Any:
    version = s.record(
        body.area,
        body.status,
        effective_from=body.effective_from,
        effective_until=body.effective_until,
        source_url=body.source_url,
        summary=body.summary,
        language=body.language,
        marking=_marking(body.marking, TLP.GREEN),
        note=body.note,
        note_marking=_marking(body.note_marking, TLP.AMBER),
    )
    return version_out(s, version)


@router.get("/policies", summary="The register now: each member's current policy per area you may see")
def current(
    s: PolicyServiceDep,
    org_id: str | None = Query(None, max_length=64),
    area: str | None = Query(None, max_length=64),
    at: datetime | None = None,
) -> list[Any]:
    state = s.state_at(at)
    return [
        version_out(s, v)
        for (o, a), v in sorted(state.items())
        if (org_id is None or o == org_id) and (area is None or a == area)
    ]


@router.get("/policies/history", summary="Every version you may see, oldest first")
def history(
    s: PolicyServiceDep,
    org_id: str | None = Query(None, max_length=64),
    area: str | None = Query(None, max_length=64),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(1000, ge=1, le=MAX_LIST, description="At most this many versions (the newest)."),
) -> list[Any]:
    found = s.history(org_id=org_id, area=area, since=since, until=until)
    return [version_out(s, v) for v in found[-limit:]]


@router.get("/policies/diff", summary="What changed in the register between two dates")
def diff(
    s: PolicyServiceDep,
    since: datetime,
    until: datetime | None = None,
) -> list[Any]:
    return [change_out(s, c) for c in s.diff(since, until)]


@router.get("/policies/matrix", summary="Member x area: current policies, gaps flagged")
def matrix(s: PolicyServiceDep, at: datetime | None = None) -> dict[str, Any]:
    return matrix_out(s, s.matrix(at))


@router.get("/policies/readiness", summary="Which members have which policy in force by election day")
def readiness(
    s: PolicyServiceDep,
    election: str = Query(min_length=1, max_length=200),
) -> dict[str, Any]:
    r = s.readiness(election)
    return {
        "election": r.election,
        "day": jsonable_encoder(r.day),
        "members": r.members,
        "areas": [a.key for a in r.areas],
        "in_force": r.in_force,
        "ready": r.ready,
    }


@router.get("/meetings/{meeting_id}/policy-changes", summary="Policy changes since the last meeting")
def since_meeting(meeting_id: str, s: PolicyServiceDep) -> Any:
    since, until, changes = s.since_meeting(meeting_id)
    return {
        "since": jsonable_encoder(since),
        "until": jsonable_encoder(until),
        "changes": [change_out(s, c) for c in changes],
    }


@router.get("/policies/stix", summary="Every policy version and note you may see, as a STIX 2.1 bundle")
def stix(s: PolicyServiceDep) -> dict[str, Any]:
    return policy_bundle(s)
