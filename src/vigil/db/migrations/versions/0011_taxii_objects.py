"""TAXII object index and persisted add-objects statuses (#23, vigil.exchange.taxii_models).

``taxii_objects`` starts empty: contribution versions are projected into it by the TAXII server
(``vigil.exchange.taxii_index.project_contributions``) on its first read, so no application code
runs inside the migration.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "taxii_objects",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stix_id", sa.String(length=300), nullable=False),
        sa.Column("stix_type", sa.String(length=250), nullable=False),
        sa.Column("spec_version", sa.String(length=16), nullable=False),
        sa.Column("modified", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_added", sa.DateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("tlp", sa.String(length=20), nullable=False),
        sa.Column("bucket", sa.String(length=10), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("signal_id", sa.String(length=64), nullable=True),
        sa.Column("contribution_id", sa.Integer(), nullable=True),
        sa.Column("contribution_version", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_taxii_objects_org_id_orgs")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_taxii_objects")),
        sa.UniqueConstraint(
            "contribution_id", "contribution_version", name=op.f("uq_taxii_objects_contribution_id")
        ),
    )
    op.create_index(
        "ix_taxii_objects_page",
        "taxii_objects",
        ["bucket", "date_added", "stix_id", "modified", "seq"],
        unique=False,
    )
    op.create_index("ix_taxii_objects_stix_id", "taxii_objects", ["stix_id", "modified"], unique=False)
    op.create_table(
        "taxii_object_shares",
        sa.Column("object_seq", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["object_seq"],
            ["taxii_objects.seq"],
            name=op.f("fk_taxii_object_shares_object_seq_taxii_objects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("object_seq", "org_id", name=op.f("pk_taxii_object_shares")),
    )
    op.create_index(
        op.f("ix_taxii_object_shares_org_id"), "taxii_object_shares", ["org_id"], unique=False
    )
    op.create_table(
        "taxii_statuses",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("collection", sa.String(length=64), nullable=False),
        sa.Column("request_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total_count", sa.Integer(), nullable=False),
        sa.Column("success_count", sa.Integer(), nullable=False),
        sa.Column("failure_count", sa.Integer(), nullable=False),
        sa.Column("pending_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxii_statuses")),
    )
    op.create_index(op.f("ix_taxii_statuses_org_id"), "taxii_statuses", ["org_id"], unique=False)
    op.create_table(
        "taxii_status_details",
        sa.Column("status_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("object_id", sa.String(length=300), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["status_id"],
            ["taxii_statuses.id"],
            name=op.f("fk_taxii_status_details_status_id_taxii_statuses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("status_id", "position", name=op.f("pk_taxii_status_details")),
    )


def downgrade() -> None:
    op.drop_table("taxii_status_details")
    op.drop_index(op.f("ix_taxii_statuses_org_id"), table_name="taxii_statuses")
    op.drop_table("taxii_statuses")
    op.drop_index(op.f("ix_taxii_object_shares_org_id"), table_name="taxii_object_shares")
    op.drop_table("taxii_object_shares")
    op.drop_index("ix_taxii_objects_stix_id", table_name="taxii_objects")
    op.drop_index("ix_taxii_objects_page", table_name="taxii_objects")
    op.drop_table("taxii_objects")
