"""Request schemas of the meeting and election-calendar routes (``vigil.web.routes.meetings``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from vigil.web.schemas import In, MarkingIn


class MeetingIn(In):
    title: str = Field(min_length=1, max_length=300)
    starts_at: datetime
    invited: dict[str, Literal["chair", "member", "observer"]] = Field(default_factory=dict)
    recurrence: Literal["weekly", "fortnightly"] | None = None
    occurrences: int = Field(default=1, ge=1, le=104)


class InviteIn(In):
    org_id: str
    role: Literal["chair", "member", "observer"] = "member"


class ExpectIn(In):
    on: str | None = Field(default=None, max_length=40)
    event: str = Field(min_length=1, max_length=300)
    risk: str | None = Field(default=None, max_length=2000)


class UpdateIn(In):
    sees: dict[str, str | list[str]] = Field(default_factory=dict)
    expects: list[ExpectIn] = Field(default_factory=list, max_length=100)
    asks: str | None = Field(default=None, max_length=20_000)
    marking: MarkingIn | None = None


class ActionIn(In):
    text: str = Field(min_length=1, max_length=5000)
    kind: Literal["action", "decision"] = "action"
    owner_org_id: str | None = None
    due: datetime | None = None
    marking: MarkingIn | None = None


class StatusIn(In):
    status: Literal["open", "done", "dropped"]


class MinutesIn(In):
    text: str = Field(min_length=1, max_length=50_000)
    marking: MarkingIn | None = None


class ElectionDateIn(In):
    election: str = Field(min_length=1, max_length=200)
    kind: str = Field(examples=["debate", "election_day", "certification"])
    at: datetime
    title: str | None = Field(default=None, max_length=300)
