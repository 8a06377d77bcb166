"""Trust boundary (#15): organisation lifecycle and feedback that keeps its visibility.

* ``org_status``: an organisation's status when not active (``suspended``, ``offboarded``); a
  table of its own so that ``orgs`` keeps the columns earlier revisions wrote.
* ``basis`` (JSON) on ``opinions``, ``opinion_history`` and ``sightings``: the contributions a piece
  of feedback was given on, with their markings at that moment (``vigil.exchange.policy.Basis``).

Existing feedback is backfilled conservatively: its basis is the giver's own contribution to the
signal (with that contribution's current marking) when it has one, and empty otherwise, which makes
it visible to the giver only. Widening it again is the giver's act (setting the opinion again).
The rule is frozen here as plain SQL on the stored rows, not imported from the application.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FEEDBACK = ("opinions", "opinion_history", "sightings")


def upgrade() -> None:
    op.create_table(
        "org_status",
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name="fk_org_status_org_id_orgs"),
        sa.PrimaryKeyConstraint("org_id", name="pk_org_status"),
    )
    for table in FEEDBACK:
        op.add_column(table, sa.Column("basis", sa.JSON(), nullable=True))
    _backfill()


def _backfill() -> None:
    bind = op.get_bind()
    shares: dict[int, list[str]] = {}
    for contribution_id, org_id in bind.execute(
        sa.text("SELECT contribution_id, org_id FROM contribution_shares")
    ):
        shares.setdefault(int(contribution_id), []).append(str(org_id))
    own: dict[tuple[str, str], dict[str, object]] = {}
    for cid, signal_id, org_id, tlp in bind.execute(
        sa.text("SELECT id, signal_id, org_id, tlp FROM contributions")
    ):
        own[(str(signal_id), str(org_id))] = {
            "c": int(cid),
            "org": str(org_id),
            "tlp": str(tlp),
            "to": sorted(shares.get(int(cid), [])),
        }
    for table in FEEDBACK:
        meta = sa.MetaData()
        feedback = sa.Table(
            table,
            meta,
            sa.Column("signal_id", sa.String),
            sa.Column("org_id", sa.String),
            sa.Column("basis", sa.JSON),
        )
        pairs = bind.execute(sa.select(feedback.c.signal_id, feedback.c.org_id).distinct()).all()
        for signal_id, org_id in pairs:
            basis = own.get((str(signal_id), str(org_id)))
            bind.execute(
                feedback.update()
                .where(feedback.c.signal_id == signal_id, feedback.c.org_id == org_id)
                .values(basis=[basis] if basis else [])
            )


def downgrade() -> None:
    for table in FEEDBACK:
        op.drop_column(table, "basis")
    op.drop_table("org_status")
