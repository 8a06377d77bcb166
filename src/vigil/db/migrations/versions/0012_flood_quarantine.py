"""Flood quarantine at the exchange (#18, vigil.exchange.flood_models): members' flood notices
(history), each member's current notice per signal, and the coalition-wide state per signal.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "flood_notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("signal_id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("posts", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_flood_notices_org_id_orgs")),
        sa.ForeignKeyConstraint(
            ["signal_id"], ["signals.id"], name=op.f("fk_flood_notices_signal_id_signals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flood_notices")),
    )
    op.create_index(op.f("ix_flood_notices_signal_id"), "flood_notices", ["signal_id"], unique=False)
    op.create_table(
        "flood_reports",
        sa.Column("signal_id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("posts", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["flood_notices.id"], name=op.f("fk_flood_reports_notice_id_flood_notices")
        ),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_flood_reports_org_id_orgs")),
        sa.ForeignKeyConstraint(
            ["signal_id"], ["signals.id"], name=op.f("fk_flood_reports_signal_id_signals")
        ),
        sa.PrimaryKeyConstraint("signal_id", "org_id", name=op.f("pk_flood_reports")),
    )
    op.create_index(op.f("ix_flood_reports_org_id"), "flood_reports", ["org_id"], unique=False)
    op.create_table(
        "flood_quarantines",
        sa.Column("signal_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reporters", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_by_org", sa.String(length=64), nullable=True),
        sa.Column("released_by_key", sa.String(length=32), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.Column("note_id", sa.String(length=100), nullable=False),
        sa.Column("note_versions", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["signal_id"], ["signals.id"], name=op.f("fk_flood_quarantines_signal_id_signals")
        ),
        sa.PrimaryKeyConstraint("signal_id", name=op.f("pk_flood_quarantines")),
    )
    op.create_index(op.f("ix_flood_quarantines_state"), "flood_quarantines", ["state"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_flood_quarantines_state"), table_name="flood_quarantines")
    op.drop_table("flood_quarantines")
    op.drop_index(op.f("ix_flood_reports_org_id"), table_name="flood_reports")
    op.drop_table("flood_reports")
    op.drop_index(op.f("ix_flood_notices_signal_id"), table_name="flood_notices")
    op.drop_table("flood_notices")
