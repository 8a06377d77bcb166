"""SQLAlchemy 2 tables of the exchange. Rows are mapped to ``vigil.exchange.records`` by the store;
nothing outside ``vigil.exchange`` should touch these classes.

Every change to these tables needs an Alembic revision in ``vigil/db/migrations/versions``.
Markings (``shared_with``) and tags are child tables rather than JSON so visibility and tag filters
are plain indexed SQL on both SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from vigil.db.base import ID, Base


class OrgRow(Base):
    __tablename__ = "orgs"

    id: Mapped[str] = mapped_column(ID, primary_key=True)  # identity--<uuid>, also its STIX identity id
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    operator: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class OrgStatusRow(Base):
    """An organisation's membership status when it is not ``active``: ``suspended`` (keys refused,
    contributions kept) or ``offboarded`` (final). No row means active. Revision 0009 (a table of
    its own, so ``orgs`` keeps the shape every earlier revision wrote)."""

    __tablename__ = "org_status"

    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    changed_at: Mapped[datetime]


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # public key id, part of the key
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    secret_hash: Mapped[str] = mapped_column(String(64))  # sha256 hex of the whole key
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(32))
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class CampaignRow(Base):
    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(ID, primary_key=True)  # campaign--<uuid>
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    attribution: Mapped[str | None] = mapped_column(String(300))
    tlp: Mapped[str] = mapped_column(String(20))
    techniques: Mapped[list[str]]
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime]


class CampaignShareRow(Base):
    __tablename__ = "campaign_shares"

    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), primary_key=True, index=True)


class SignalRow(Base):
    """One indicator: (kind, normalized value), shared by every organisation that contributed it."""

    __tablename__ = "signals"
    __table_args__ = (Index("ix_signals_modified_at_id", "modified_at", "id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)  # stable_id("indicator", kind, value)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    value: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime]
    # Bumped on any change to any contribution; orders listings (per-caller times are derived).
    modified_at: Mapped[datetime]


class ContributionRow(Base):
    """One member's submission of a signal, with that member's marking and metadata."""

    __tablename__ = "contributions"
    __table_args__ = (UniqueConstraint("signal_id", "org_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # no index of its own: the unique (signal_id, org_id) serves it (migration 0013)
    signal_id: Mapped[str] = mapped_column(ForeignKey("signals.id"))
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    tlp: Mapped[str] = mapped_column(String(20))
    confidence: Mapped[int] = mapped_column(Integer)
    first_seen: Mapped[datetime | None]
    last_seen: Mapped[datetime | None]
    campaign_id: Mapped[str | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    valid_until: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime] = mapped_column(index=True)


class ContributionShareRow(Base):
    __tablename__ = "contribution_shares"

    contribution_id: Mapped[int] = mapped_column(
        ForeignKey("contributions.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), primary_key=True, index=True)


class ContributionTagRow(Base):
    __tablename__ = "contribution_tags"

    contribution_id: Mapped[int] = mapped_column(
        ForeignKey("contributions.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)


class ContributionVersionRow(Base):
    """Every state a contribution has had (append-only): TAXII object versions come from here."""

    __tablename__ = "contribution_versions"
    __table_args__ = (UniqueConstraint("contribution_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # no index of its own: the unique (contribution_id, version) serves it (migration 0013)
    contribution_id: Mapped[int] = mapped_column(ForeignKey("contributions.id"))
    version: Mapped[int] = mapped_column(Integer)
    modified_at: Mapped[datetime]
    snapshot: Mapped[dict[str, Any]]


class OpinionRow(Base):
    """The current opinion of one organisation on one signal."""

    __tablename__ = "opinions"

    signal_id: Mapped[str] = mapped_column(ForeignKey("signals.id"), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), primary_key=True)
    value: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    # The contributions it was given on, with their markings then (vigil.exchange.policy.Basis):
    # it is visible only as they were. Revision 0009.
    basis: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)


class OpinionHistoryRow(Base):
    """Every opinion ever set (append-only)."""

    __tablename__ = "opinion_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    signal_id: Mapped[str] = mapped_column(ForeignKey("signals.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"))
    value: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    # The contributions it was given on, with their markings then (vigil.exchange.policy.Basis):
    # it is visible only as they were. Revision 0009.
    basis: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)


class SightingRow(Base):
    __tablename__ = "sightings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    signal_id: Mapped[str] = mapped_column(ForeignKey("signals.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"))
    count: Mapped[int] = mapped_column(Integer)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    platform: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    # The contributions it was given on, with their markings then (vigil.exchange.policy.Basis):
    # it is visible only as they were. Revision 0009.
    basis: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)


class AuditRow(Base):
    """Append-only: the code has no update or delete path, and database triggers refuse both."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_key_id: Mapped[str | None] = mapped_column(String(32))
    actor_org_id: Mapped[str | None] = mapped_column(ID, index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(ID, index=True)
    tlp: Mapped[str | None] = mapped_column(String(20))
    detail: Mapped[dict[str, Any]]
    # Whose material a read touched (the source org of an AMBER/RED contribution or campaign), so
    # an organisation's admins can see who read what it shared. Added in revision 0002.
    subject_org_id: Mapped[str | None] = mapped_column(ID, index=True)
