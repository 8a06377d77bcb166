"""Member policy register (#19, vigil.cases.policies_models): one append-only row per version of
a member's policy in one policy area, with the policy's marking and its note's own marking.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "policy_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("area", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("effective_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source_url", sa.String(length=2000), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("tlp", sa.String(length=20), nullable=False),
        sa.Column("shared_with", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("note_tlp", sa.String(length=20), nullable=False),
        sa.Column("note_shared_with", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by_key", sa.String(length=64), nullable=False),
        sa.Column("recorded_by_org", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_policy_versions_org_id_orgs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_versions")),
        sa.UniqueConstraint("org_id", "area", "version", name=op.f("uq_policy_versions_org_id")),
    )
    op.create_index(op.f("ix_policy_versions_org_id"), "policy_versions", ["org_id"], unique=False)
    op.create_index(op.f("ix_policy_versions_area"), "policy_versions", ["area"], unique=False)
    op.create_index(op.f("ix_policy_versions_recorded_at"), "policy_versions", ["recorded_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_policy_versions_recorded_at"), table_name="policy_versions")
    op.drop_index(op.f("ix_policy_versions_area"), table_name="policy_versions")
    op.drop_index(op.f("ix_policy_versions_org_id"), table_name="policy_versions")
    op.drop_table("policy_versions")
