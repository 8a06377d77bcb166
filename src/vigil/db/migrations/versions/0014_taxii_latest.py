"""The TAXII index's latest-version flag (#23, vigil.exchange.taxii_models): ``taxii_objects.latest``
and the partial page index of the rows that can be a ``match[version]=last`` answer.

The column is added with a constant default (NEWEST, 1: no table rewrite on either backend; every
row of an id with one version is right as it is), then only the rows of ids with several versions,
or hidden by a same-millisecond version of their contribution, are set: the expression below is
``vigil.exchange.taxii_index.latest_value`` as SQL text (the application's code is not imported
into a migration; tests/exchange/test_taxii_latest.py checks the two agree).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_T = "taxii_objects"
_SHADOWED = f"""{_T}.contribution_id IS NOT NULL AND EXISTS (SELECT 1 FROM taxii_objects AS o
    WHERE o.stix_id = {_T}.stix_id AND o.modified = {_T}.modified AND o.org_id = {_T}.org_id
      AND o.seq > {_T}.seq AND o.contribution_id IS NOT NULL)"""
_NEWER = f"""EXISTS (SELECT 1 FROM taxii_objects AS o
    WHERE o.stix_id = {_T}.stix_id AND o.modified > {_T}.modified)"""
_SAME_NEWER = f"""EXISTS (SELECT 1 FROM taxii_objects AS o
    WHERE o.stix_id = {_T}.stix_id AND o.modified > {_T}.modified AND o.org_id = {_T}.org_id
      AND o.tlp = {_T}.tlp AND o.spec_version = {_T}.spec_version AND o.stix_type = {_T}.stix_type
      AND (o.contribution_id = {_T}.contribution_id
           OR o.contribution_id IS NULL AND {_T}.contribution_id IS NULL)
      AND NOT EXISTS (SELECT 1 FROM taxii_object_shares AS a WHERE a.object_seq = {_T}.seq
          AND NOT EXISTS (SELECT 1 FROM taxii_object_shares AS b
                          WHERE b.object_seq = o.seq AND b.org_id = a.org_id))
      AND NOT EXISTS (SELECT 1 FROM taxii_object_shares AS b WHERE b.object_seq = o.seq
          AND NOT EXISTS (SELECT 1 FROM taxii_object_shares AS a
                          WHERE a.object_seq = {_T}.seq AND a.org_id = b.org_id)))"""
# the rows that are not the one newest version of their id (the others keep the default, NEWEST)
BACKFILL = f"""UPDATE taxii_objects
SET latest = CASE WHEN {_SHADOWED} THEN 0 WHEN NOT {_NEWER} THEN 1 WHEN {_SAME_NEWER} THEN 0 ELSE 2 END
WHERE {_NEWER} OR ({_SHADOWED})"""


def upgrade() -> None:
    op.add_column(_T, sa.Column("latest", sa.SmallInteger(), server_default=sa.text("1"), nullable=False))
    op.execute(sa.text(BACKFILL))
    op.create_index(
        "ix_taxii_objects_latest",
        _T,
        ["bucket", "date_added", "stix_id", "modified", "seq"],
        unique=False,
        sqlite_where=sa.text("latest > 0"),
        postgresql_where=sa.text("latest > 0"),
    )


def downgrade() -> None:
    op.drop_index("ix_taxii_objects_latest", table_name=_T)
    # ALTER TABLE ... DROP COLUMN on both (SQLite 3.35+), not a batch copy of the table: SQLite
    # drops the old table with foreign keys on, which deletes its rows' shares (ON DELETE CASCADE)
    op.drop_column(_T, "latest")
