"""Request and response bodies of the REST API, apart from storage models and domain records.

``*In`` models are what clients send (unknown fields are refused, so a typo is an error rather than
silently ignored); ``*Out`` models are what the API answers, built from ``vigil.exchange.records``.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime
from typing import Annotated, Any

import pydantic_core
from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, ModelWrapValidatorHandler, model_validator

from vigil.exchange.audit import AuditEntry
from vigil.exchange.records import MAX_DB_INT as MAX_DB_INT  # re-exported for the routes
from vigil.exchange.records import TLP, OpinionValue, OrgKind, OrgStatus, Role, SignalKind

# Every integer a request carries is bounded to what an SQL ``integer`` column holds (PostgreSQL
# fails above 2^31-1, SQLite above 2^63-1): larger values are a 400 naming the field, never a 500.
DbId = Annotated[int, Path(ge=1, le=MAX_DB_INT, description="A row id (1 to 2^31-1).")]


def _no_nul(value: Any, where: str) -> None:
    """PostgreSQL text cannot hold U+0000 (it answered 500): refuse it anywhere in a request body."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{where or 'a value'} contains a NUL character (U+0000), which is not allowed")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key, where)
            _no_nul(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _no_nul(item, f"{where}[{index}]")


# True while an envelope that checked its whole body for NUL at once is being validated: the
# models nested in it skip their own walk (a 10,000-item bulk body was walked three times, about
# 25 ms of CPU per 1,000 items, more than validating it).
_NUL_CHECKED: ContextVar[bool] = ContextVar("vigil_nul_checked", default=False)


def _no_nul_once(data: Any) -> None:
    """``_no_nul`` of a whole body in one pass: serialised to JSON in Rust (pydantic-core), where a
    NUL is always written ``\\u0000``; the Python walk (which names where it is) runs only when
    that text occurs (a NUL, or a literal backslash-u0000) or the body is not plain JSON data."""
    try:
        text = pydantic_core.to_json(data)
    except (pydantic_core.PydanticSerializationError, ValueError, TypeError):
        _no_nul(data, "")
        return
    if b"\\u0000" in text:
        _no_nul(data, "")


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        if not _NUL_CHECKED.get():
            _no_nul(data, "")
        return data


class Envelope(In):
    """A body holding many items: NUL is looked for once over the whole body (``_no_nul_once``),
    not once more per nested model."""

    @model_validator(mode="wrap")
    @classmethod
    def _refuse_nul(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        if _NUL_CHECKED.get():
            return handler(data)
        _no_nul_once(data)
        token = _NUL_CHECKED.set(True)
        try:
            return handler(data)
        finally:
            _NUL_CHECKED.reset(token)


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorOut(BaseModel):
    """Every error answer (see docs/api.md)."""

    error: str = Field(description="Error type, e.g. InputError, AuthenticationError, NotFound.")
    message: str = Field(description="What was wrong, for humans.")
    details: dict[str, Any] | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in {
        400: "Invalid input (malformed JSON, unknown value, invalid field)",
        401: "Missing, unknown, revoked or expired API key",
        403: "The key's role may not do this",
        404: "Not found, or not visible to you",
        409: "Conflicts with stored state",
        413: "Request body too large",
    }.items()
}


class MarkingIn(In):
    tlp: TLP = Field(description="TLP 2.0 level: CLEAR, GREEN, AMBER, AMBER+STRICT or RED.")
    shared_with: list[str] = Field(
        default_factory=list, description="Organisation ids an AMBER, AMBER+STRICT or RED item also reaches."
    )


class MarkingOut(Out):
    tlp: TLP
    shared_with: list[str]


class OrgIn(In):
    name: str = Field(min_length=1, max_length=200)
    kind: OrgKind
    operator: bool = False


class OrgOut(Out):
    id: str
    name: str
    kind: OrgKind
    operator: bool
    created_at: datetime
    status: OrgStatus = OrgStatus.ACTIVE


class OrgStatusIn(In):
    reason: str = Field(min_length=1, max_length=2000, description="Why; recorded in the audit log.")


class KeyIn(In):
    org_id: str | None = Field(default=None, description="Default: the caller's organisation.")
    role: Role
    name: str = Field(default="", max_length=200)
    expires_at: datetime | None = None


class KeyOut(Out):
    id: str
    org_id: str
    name: str
    role: Role
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    created_by: str | None


class KeyCreatedOut(KeyOut):
    key: str = Field(description="The API key itself. Shown only in this answer; store it now.")


class MeOut(BaseModel):
    key_id: str
    org_id: str
    org_kind: OrgKind
    role: Role
    operator: bool
    permissions: list[str]


class SignalIn(In):
    kind: SignalKind
    value: str = Field(min_length=1)
    marking: MarkingIn = Field(default_factory=lambda: MarkingIn(tlp=TLP.AMBER))
    confidence: int = Field(default=50, ge=0, le=100)
    tags: list[str] = Field(default_factory=list)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    campaign_id: str | None = None
    description: str | None = Field(default=None, max_length=20_000)
    language: str | None = Field(default=None, max_length=16)
    valid_until: datetime | None = None


class SignalBulkIn(Envelope):
    signals: list[SignalIn] = Field(min_length=1, max_length=10_000)
    atomic: bool = Field(
        default=True,
        description="true: one bad item rejects the batch (400/409 naming each bad item, nothing stored); "
        "false: the good items are stored and the bad ones listed with their errors.",
    )


class BulkItemOut(BaseModel):
    index: int
    kind: str
    value: str
    signal_id: str | None = None
    version: int | None = None
    created: bool = False
    error: ErrorOut | None = None


class SignalBulkOut(BaseModel):
    stored: int
    rejected: int
    items: list[BulkItemOut]


class SignalRevokeIn(In):
    ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1,
        max_length=10_000,
        description="Signals whose contribution by your organisation to withdraw. All or nothing: an id "
        "you have no contribution to (404), already revoked (409) or listed twice (400) revokes none, "
        "and the error names the first such id and its position.",
    )


class RevokedOut(BaseModel):
    signal_id: str
    version: int
    revoked_at: datetime


class SignalRevokeOut(BaseModel):
    revoked: int
    items: list[RevokedOut]


class ContributionOut(Out):
    org_id: str
    marking: MarkingOut
    confidence: int
    tags: list[str]
    first_seen: datetime | None
    last_seen: datetime | None
    campaign_id: str | None
    description: str | None
    created_at: datetime
    modified_at: datetime
    valid_until: datetime | None
    revoked: bool
    version: int


class OpinionIn(In):
    value: OpinionValue
    comment: str | None = Field(default=None, max_length=20_000)
    marking: MarkingIn | None = Field(
        default=None,
        description="Narrows who sees it (never wider than the contribution it is given on; 400 if wider). "
        "Default: as the contribution.",
    )


class OpinionOut(Out):
    org_id: str
    value: OpinionValue
    comment: str | None
    created_at: datetime
    marking: MarkingOut | None = None  # the giver's narrowing, if it chose one


class SightingIn(In):
    count: int = Field(ge=1, le=MAX_DB_INT)
    first_seen: datetime
    last_seen: datetime
    platform: str | None = Field(default=None, max_length=100)
    marking: MarkingIn | None = Field(
        default=None,
        description="Narrows who sees it (never wider than the contribution it is given on; 400 if wider). "
        "Default: as the contribution.",
    )


class SightingOut(Out):
    org_id: str
    count: int
    first_seen: datetime
    last_seen: datetime
    platform: str | None
    created_at: datetime
    marking: MarkingOut | None = None  # the giver's narrowing, if it chose one


class SignalOut(Out):
    id: str
    kind: SignalKind
    value: str
    language: str | None
    contributions: list[ContributionOut]
    opinions: list[OpinionOut]
    sightings: list[SightingOut]
    revoked: bool
    valid_until: datetime | None
    created_at: datetime | None
    modified_at: datetime | None


class SignalPageOut(BaseModel):
    items: list[SignalOut]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last.")
    more: bool


class VersionsOut(BaseModel):
    id: str
    versions: list[datetime]


class CampaignIn(In):
    name: str = Field(min_length=1, max_length=300)
    marking: MarkingIn
    description: str | None = Field(default=None, max_length=20_000)
    attribution: str | None = Field(default=None, max_length=300)
    techniques: list[str] = Field(default_factory=list)


class CampaignPatch(In):
    """Fields to change; absent ones stay as they are."""

    name: str | None = Field(default=None, min_length=1, max_length=300)
    marking: MarkingIn | None = None
    description: str | None = Field(default=None, max_length=20_000)
    attribution: str | None = Field(default=None, max_length=300)
    techniques: list[str] | None = None


class CampaignOut(Out):
    id: str
    name: str
    description: str | None
    attribution: str | None
    org_id: str
    marking: MarkingOut
    techniques: list[str]
    created_at: datetime | None
    modified_at: datetime | None


class AuditEntryOut(Out):
    id: int
    at: datetime
    actor_key_id: str | None
    actor_org_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    tlp: str | None
    detail: dict[str, Any]
    subject_org_id: str | None = Field(description="Whose AMBER/RED material a read touched.")
    redacted: bool = Field(
        default=False,
        description="About an object you may not see: its id and detail are withheld (docs/exchange.md).",
    )

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls.model_validate(entry)
