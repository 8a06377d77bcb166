"""Audit entries name whose material a read touched (``subject_org_id``), so an organisation's
admins can see who read what it shared.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy on SQLite), so the append-only triggers stay in place.
    op.add_column("audit_log", sa.Column("subject_org_id", sa.String(length=64), nullable=True))
    op.create_index("ix_audit_log_subject_org_id", "audit_log", ["subject_org_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_log_subject_org_id", table_name="audit_log")
    op.drop_column("audit_log", "subject_org_id")
