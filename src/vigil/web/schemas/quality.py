"""Request and response schemas of the flood-quarantine routes (``routes.quality``): a member's
notice, the coalition state of a signal, a reviewer's release and the list of coalition-quarantined
signals (see vigil.exchange.flood)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from vigil.web.schemas import In


class NoticeOut(BaseModel):
    org_id: str
    action: str
    posts: int | None
    reason: str | None
    at: datetime


class QuarantineStateOut(BaseModel):
    signal_id: str
    state: Literal["none", "active", "released"] = Field(
        description="none: never coalition-quarantined; active: quarantined coalition-wide; released: lifted"
    )
    reporters: int = Field(description="members whose flood report counts now")
    reporting: int = Field(description="members whose current notice is 'quarantined'")
    threshold: int = Field(description="members needed for a coalition-wide quarantine")
    changed_at: datetime | None
    released_at: datetime | None
    released_by_org: str | None
    release_reason: str | None
    mine: NoticeOut | None = Field(description="your organisation's current notice")
    reporter_orgs: list[str] | None = Field(
        description="reporting members (shown to the signal's contributors)"
    )
    may_release: bool


class NoticeResultOut(BaseModel):
    signal_id: str
    action: str
    notified_orgs: list[str]
    coalition: QuarantineStateOut
    transition: Literal["quarantined", "released"] | None


class ReleaseIn(In):
    reason: str | None = Field(default=None, max_length=500)


class QuarantinedSignalOut(BaseModel):
    id: str
    kind: str
    value: str
    coalition: QuarantineStateOut


class QuarantinedPageOut(BaseModel):
    items: list[QuarantinedSignalOut]
    next_cursor: str | None
