"""Request and response schemas of the exchange's lifecycle routes: federation peers
(``routes.federation``), push subscriptions (``routes.subscriptions``), warning-list edits
(``routes.warninglists``) and quarantine notices (``routes.quality``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vigil.web.schemas import In


class PeerIn(In):
    name: str = Field(min_length=1, max_length=200)
    url: str
    key: str = Field(min_length=1, description="API key on the peer (stored; never shown again)")
    as_org: str = Field(description="local organisation (id or name) the peer's signals are contributed as")
    collections: list[str] = Field(default_factory=list)
    max_tlp: str = "GREEN"


class QuarantineNoticeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["quarantined", "released"]
    posts: int = Field(default=0, ge=0, le=2_000_000_000)  # posts matched when quarantined
    reason: str | None = Field(default=None, max_length=500)


class QuarantineNoticeOut(BaseModel):
    signal_id: str
    action: str
    notified_orgs: list[str]


class SubscriptionIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    url: str = Field(
        description="https URL that receives POSTed events (public addresses only, unless the "
        "server's push_allow_http / push_allow_private / push_allowed_hosts say otherwise)"
    )
    kinds: list[str] = Field(default_factory=list, description="signal kinds; empty: all")
    tlps: list[str] = Field(default_factory=list, description="TLPs of the changed contribution; empty: all")
    campaign_id: str | None = None
    events: list[str] = Field(
        default_factory=list,
        description="event types or families (signal, action_item, meeting, all); empty: the signal events",
    )


class EventsIn(BaseModel):
    events: list[str] = Field(description="event types or families (signal, action_item, meeting, all)")


class OverrideIn(BaseModel):
    kind: str
    value: str
    reason: str = Field(min_length=1, max_length=2000)


class EditIn(BaseModel):
    add: list[str] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)
    reason: str | None = None
