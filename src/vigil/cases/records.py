"""The vocabulary of cases, independent of storage: what ``CaseService`` returns and routes serialise.

Values of the enums are stable names stored in the database and used in the API and CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from vigil.exchange.records import Marking


class Status(StrEnum):
    """The workflow of a case (see ``vigil.cases.workflow`` for the allowed moves)."""

    TRIAGE = "triage"
    INVESTIGATING = "investigating"
    COORDINATED_ACTION = "coordinated-action"
    DISCLOSED = "disclosed"
    CLOSED = "closed"


class ActionKind(StrEnum):
    """What a member did on its own service."""

    REMOVED = "removed"
    LABELLED = "labelled"
    DEMOTED = "demoted"


class ActionTarget(StrEnum):
    """What the action applied to."""

    ACCOUNTS = "accounts"
    PAGES = "pages"
    CHANNELS = "channels"
    GROUPS = "groups"
    POSTS = "posts"


class EventKind(StrEnum):
    """Kinds of timeline entry."""

    CREATED = "created"
    UPDATED = "updated"
    STATUS = "status"
    COMMENT = "comment"
    SIGNALS_LINKED = "signals_linked"
    ACTION = "action"
    EMBARGO = "embargo"
    CHECKLIST = "checklist"
    CHECKED = "checked"
    DISCLOSURE = "disclosure"


@dataclass
class Case:
    id: str
    title: str
    summary: str | None
    attribution: str | None
    confidence: int
    techniques: tuple[str, ...]
    status: Status
    org_id: str  # the organisation that opened the case
    marking: Marking
    owners: tuple[str, ...]
    campaign_id: str | None
    playbook_id: str | None
    exercise: bool
    embargo_until: datetime | None
    created_at: datetime
    modified_at: datetime
    # The detection run the case came from (run, campaign, score, counts), without the graph.
    detection: dict[str, Any] = field(default_factory=dict)


@dataclass
class Action:
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
    marking: Marking
    created_at: datetime


@dataclass
class TimelineEvent:
    """One entry of a case's append-only timeline: who (key, org), when, what (kind + detail)."""

    id: int
    case_id: str
    at: datetime
    actor_key_id: str | None
    actor_org_id: str | None
    kind: EventKind
    marking: Marking
    detail: dict[str, Any]


@dataclass
class ChecklistItem:
    id: int
    case_id: str
    position: int
    text: str
    owner: str | None
    done_at: datetime | None
    done_by_key: str | None
    done_by_org: str | None


@dataclass(frozen=True)
class Embargo:
    """The agreed joint-disclosure time as one member sees it now."""

    until: datetime | None
    seconds_remaining: int  # 0 once passed (or when none is set)

    @property
    def active(self) -> bool:
        return self.until is not None and self.seconds_remaining > 0


@dataclass
class NetworkNode:
    id: str  # "platform:account_id"
    platform: str
    posts: int = 0
    source: str = "detection"  # "detection" or "signal"


@dataclass
class NetworkEdge:
    a: str
    b: str
    weight: float


@dataclass
class CaseNetwork:
    """The account graph of a case: what the viewer may see of detection evidence and linked accounts."""

    nodes: list[NetworkNode]
    edges: list[NetworkEdge]
