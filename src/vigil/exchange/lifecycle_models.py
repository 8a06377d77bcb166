"""Tables of the signal lifecycle: federation peers and what they sent, push subscriptions and
deliveries (dead letters are deliveries in state ``dead``), warning-list edits and overrides.

They live on the shared ``vigil.db.Base`` (revision 0004) but only ``federation``, ``push``
and ``warninglists`` touch them; the store itself never does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vigil.db import ID, Base


class FederationPeerRow(Base):
    """Another Vigil (or any TAXII 2.1 server) this instance pulls from, as one local organisation."""

    __tablename__ = "federation_peers"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(String(500))
    # The peer's API key, sealed (``secrets_box``, revision 0007): opened only to call the peer,
    # never returned by the API or CLI.
    api_key: Mapped[str] = mapped_column(Text)
    collections: Mapped[list[str]]  # ids or aliases; empty: every readable collection
    as_org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    max_tlp: Mapped[str] = mapped_column(String(20))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    last_pull_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class FederationCheckpointRow(Base):
    __tablename__ = "federation_checkpoints"

    peer_id: Mapped[str] = mapped_column(
        ForeignKey("federation_peers.id", ondelete="CASCADE"), primary_key=True
    )
    collection_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    added_after: Mapped[str] = mapped_column(String(40))  # the peer's X-TAXII-Date-Added-Last, verbatim
    updated_at: Mapped[datetime]


class FederationObjectRow(Base):
    """The latest version of each indicator a peer sent: a local contribution is the merge of them."""

    __tablename__ = "federation_objects"

    peer_id: Mapped[str] = mapped_column(
        ForeignKey("federation_peers.id", ondelete="CASCADE"), primary_key=True
    )
    stix_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    signal_id: Mapped[str] = mapped_column(ID, index=True)
    modified: Mapped[datetime]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    obj: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]


class SubscriptionRow(Base):
    __tablename__ = "push_subscriptions"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(1000))
    # HMAC key, sealed (``secrets_box``, revision 0007: Text, as a sealed value is longer than
    # the clear one): opened only to sign; shown to the subscriber once, never listed.
    secret: Mapped[str] = mapped_column(Text)
    kinds: Mapped[list[str]]
    tlps: Mapped[list[str]]
    campaign_id: Mapped[str | None] = mapped_column(ID)
    # Event types it receives (revision 0006); existing subscriptions kept the signal events only.
    events: Mapped[list[str]]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(32))
    scanned_until: Mapped[datetime]  # changes up to here have been turned into deliveries


class DeliveryRow(Base):
    """One event for one subscription: pending, delivered, or dead (the dead-letter list)."""

    __tablename__ = "push_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_key"),
        Index("ix_push_deliveries_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("push_subscriptions.id", ondelete="CASCADE"))
    # signal, contributor and version (or the caller's key for other events): no duplicates
    event_key: Mapped[str] = mapped_column(String(200))
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(32))
    signal_id: Mapped[str | None] = mapped_column(ID, index=True)  # None: not a signal event (0006)
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class WarningListEditRow(Base):
    """A value added to or removed from a warning list through the API or CLI (on top of its file)."""

    __tablename__ = "warninglist_edits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    list_name: Mapped[str] = mapped_column(String(100), index=True)
    value: Mapped[str] = mapped_column(Text)
    op: Mapped[str] = mapped_column(String(8))  # add | remove
    org_id: Mapped[str | None] = mapped_column(ID)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class WarningListOverrideRow(Base):
    """An analyst's reasoned permission to share one listed value as its organisation."""

    __tablename__ = "warninglist_overrides"
    __table_args__ = (UniqueConstraint("org_id", "kind", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(Text)
    list_name: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
