"""Signal lifecycle (vigil.exchange.lifecycle_models): federation peers, checkpoints and the
objects peers sent; push subscriptions and deliveries (dead letters); warning-list edits and
analysts' overrides.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "warninglist_edits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("list_name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warninglist_edits")),
    )
    with op.batch_alter_table("warninglist_edits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_warninglist_edits_list_name"), ["list_name"], unique=False)

    op.create_table(
        "federation_peers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("api_key", sa.Text(), nullable=False),
        sa.Column("collections", sa.JSON(), nullable=False),
        sa.Column("as_org_id", sa.String(length=64), nullable=False),
        sa.Column("max_tlp", sa.String(length=20), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_pull_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["as_org_id"], ["orgs.id"], name=op.f("fk_federation_peers_as_org_id_orgs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_peers")),
        sa.UniqueConstraint("name", name=op.f("uq_federation_peers_name")),
    )
    with op.batch_alter_table("federation_peers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_federation_peers_as_org_id"), ["as_org_id"], unique=False)

    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("tlps", sa.JSON(), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.Column("scanned_until", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_push_subscriptions_org_id_orgs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_subscriptions")),
    )
    with op.batch_alter_table("push_subscriptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_push_subscriptions_org_id"), ["org_id"], unique=False)

    op.create_table(
        "warninglist_overrides",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("list_name", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_warninglist_overrides_org_id_orgs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warninglist_overrides")),
        sa.UniqueConstraint("org_id", "kind", "value", name=op.f("uq_warninglist_overrides_org_id")),
    )
    with op.batch_alter_table("warninglist_overrides", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_warninglist_overrides_org_id"), ["org_id"], unique=False)

    op.create_table(
        "federation_checkpoints",
        sa.Column("peer_id", sa.String(length=64), nullable=False),
        sa.Column("collection_id", sa.String(length=64), nullable=False),
        sa.Column("added_after", sa.String(length=40), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["peer_id"],
            ["federation_peers.id"],
            name=op.f("fk_federation_checkpoints_peer_id_federation_peers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("peer_id", "collection_id", name=op.f("pk_federation_checkpoints")),
    )
    op.create_table(
        "federation_objects",
        sa.Column("peer_id", sa.String(length=64), nullable=False),
        sa.Column("stix_id", sa.String(length=100), nullable=False),
        sa.Column("signal_id", sa.String(length=64), nullable=False),
        sa.Column("modified", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("obj", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["peer_id"],
            ["federation_peers.id"],
            name=op.f("fk_federation_objects_peer_id_federation_peers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("peer_id", "stix_id", name=op.f("pk_federation_objects")),
    )
    with op.batch_alter_table("federation_objects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_federation_objects_signal_id"), ["signal_id"], unique=False)

    op.create_table(
        "push_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("event_key", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("signal_id", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["push_subscriptions.id"],
            name=op.f("fk_push_deliveries_subscription_id_push_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_deliveries")),
        sa.UniqueConstraint("subscription_id", "event_key", name=op.f("uq_push_deliveries_subscription_id")),
    )
    with op.batch_alter_table("push_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_push_deliveries_signal_id"), ["signal_id"], unique=False)
        batch_op.create_index("ix_push_deliveries_status_next", ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("push_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_push_deliveries_status_next")
        batch_op.drop_index(batch_op.f("ix_push_deliveries_signal_id"))

    op.drop_table("push_deliveries")
    with op.batch_alter_table("federation_objects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_federation_objects_signal_id"))

    op.drop_table("federation_objects")
    op.drop_table("federation_checkpoints")
    with op.batch_alter_table("warninglist_overrides", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_warninglist_overrides_org_id"))

    op.drop_table("warninglist_overrides")
    with op.batch_alter_table("push_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_push_subscriptions_org_id"))

    op.drop_table("push_subscriptions")
    with op.batch_alter_table("federation_peers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_federation_peers_as_org_id"))

    op.drop_table("federation_peers")
    with op.batch_alter_table("warninglist_edits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_warninglist_edits_list_name"))

    op.drop_table("warninglist_edits")
