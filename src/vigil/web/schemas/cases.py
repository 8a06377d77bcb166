"""Request and response schemas of the case routes (``vigil.web.routes.cases``): cases, actions,
embargo, timeline, checklist, network, opening from detection and exercises."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from vigil.cases.records import ActionKind, ActionTarget, Status
from vigil.exchange.records import TLP
from vigil.web.schemas import MAX_DB_INT, In, MarkingIn, MarkingOut, Out


class CaseIn(In):
    title: str = Field(min_length=1, max_length=300)
    summary: str | None = Field(default=None, max_length=20_000)
    attribution: str | None = Field(default=None, max_length=300, examples=["Iran-based", "unattributed"])
    confidence: int = Field(default=50, ge=0, le=100)
    techniques: list[str] = Field(default_factory=list, examples=[["T0049"]])
    owners: list[str] = Field(default_factory=list)
    campaign_id: str | None = None
    marking: MarkingIn | None = None


class CasePatch(In):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    summary: str | None = None
    attribution: str | None = None
    confidence: int | None = Field(default=None, ge=0, le=100)
    techniques: list[str] | None = None
    owners: list[str] | None = None


class EmbargoOut(BaseModel):
    until: datetime | None
    seconds_remaining: int
    active: bool


class CaseOut(Out):
    id: str
    title: str
    summary: str | None
    attribution: str | None
    confidence: int
    techniques: list[str]
    status: Status
    org_id: str
    marking: MarkingOut
    owners: list[str]
    campaign_id: str | None
    playbook_id: str | None
    exercise: bool
    embargo_until: datetime | None
    created_at: datetime
    modified_at: datetime
    detection: dict[str, Any]


class TransitionIn(In):
    status: Status
    reason: str | None = Field(default=None, max_length=2000)
    override_reason: str | None = Field(
        default=None, max_length=2000, description="Admins only: disclose before the embargo, with a reason."
    )


class CommentIn(In):
    text: str = Field(min_length=1, max_length=20_000)
    marking: MarkingIn | None = Field(default=None, description="Default: the case's marking.")


class LinkIn(In):
    signal_ids: list[str] = Field(min_length=1, max_length=10_000)


class ActionIn(In):
    action: ActionKind
    target: ActionTarget
    count: int = Field(ge=0, le=MAX_DB_INT)
    platform: str | None = Field(default=None, max_length=100)
    taken_at: datetime | None = None
    statement_url: str | None = Field(default=None, max_length=2000)
    note: str | None = Field(default=None, max_length=20_000)
    marking: MarkingIn | None = None


class ActionOut(Out):
    id: int
    case_id: str
    org_id: str
    action: ActionKind
    target: ActionTarget
    count: int
    platform: str | None
    taken_at: datetime
    statement_url: str | None
    note: str | None
    marking: MarkingOut
    created_at: datetime


class EventOut(Out):
    id: int
    at: datetime
    actor_key_id: str | None
    actor_org_id: str | None
    kind: str
    marking: MarkingOut
    detail: dict[str, Any]


class EmbargoIn(In):
    until: datetime | None = Field(description="Agreed joint-disclosure instant; null clears it.")
    override_reason: str | None = Field(
        default=None,
        max_length=2000,
        description="Needed (with an admin key) when you are not the case owner; recorded in the audit log.",
    )


class ChecklistOut(Out):
    id: int
    position: int
    text: str
    owner: str | None
    done_at: datetime | None
    done_by_key: str | None
    done_by_org: str | None


class CheckIn(In):
    done: bool = True
    note: str | None = Field(default=None, max_length=2000)


class FromDetectionIn(In):
    detected: dict[str, Any] = Field(description="A DetectedCampaign (vigil.cases.from_detection) as JSON.")
    marking: MarkingIn = Field(default_factory=lambda: MarkingIn(tlp=TLP.AMBER))
    title: str | None = Field(default=None, max_length=300)
    attribution: str | None = Field(default=None, max_length=300)
    techniques: list[str] = Field(default_factory=list)


class ExerciseIn(In):
    title: str | None = Field(default=None, max_length=300)
    marking: MarkingIn | None = None
    exercise: bool = Field(default=True, description="False activates the playbook on a real case.")


class NetworkOut(BaseModel):
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
