"""Drop two indexes that a unique constraint already provides (#23, bulk submission speed).

``ix_contributions_signal_id`` is the leading column of ``uq_contributions_signal_id``
(signal_id, org_id), and ``ix_contribution_versions_contribution_id`` the leading column of
``uq_contribution_versions_contribution_id`` (contribution_id, version): both backends answer a
lookup or a join on the leading column from the unique index (checked with EXPLAIN QUERY PLAN /
EXPLAIN on the store's queries, docs/stix-taxii.md), so the extra index only cost a B-tree insert
per row written (a random-position one for the signal id: about a quarter of a contribution
insert on SQLite).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_contributions_signal_id", table_name="contributions")
    op.drop_index("ix_contribution_versions_contribution_id", table_name="contribution_versions")


def downgrade() -> None:
    op.create_index(
        "ix_contribution_versions_contribution_id", "contribution_versions", ["contribution_id"], unique=False
    )
    op.create_index("ix_contributions_signal_id", "contributions", ["signal_id"], unique=False)
