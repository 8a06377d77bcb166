"""Push events other than signal changes (action-item reminders): each subscription chooses the
event types it receives (``events``; existing subscriptions keep exactly the signal events they
had), and a delivery's ``signal_id`` may be empty for events that are not about a signal.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (not imported from vigil.exchange.push): a migration must not change when code does.
SIGNAL_EVENTS = ["signal.created", "signal.updated", "signal.revoked", "signal.expired"]


def upgrade() -> None:
    # Added nullable, filled, then made NOT NULL: a JSON server default is spelled differently
    # on SQLite and PostgreSQL, an UPDATE through SQLAlchemy's JSON type is not.
    with op.batch_alter_table("push_subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("events", sa.JSON(), nullable=True))
    subscriptions = sa.table("push_subscriptions", sa.column("events", sa.JSON()))
    op.execute(subscriptions.update().values(events=SIGNAL_EVENTS))
    with op.batch_alter_table("push_subscriptions", schema=None) as batch_op:
        batch_op.alter_column("events", existing_type=sa.JSON(), nullable=False)
    with op.batch_alter_table("push_deliveries", schema=None) as batch_op:
        batch_op.alter_column("signal_id", existing_type=sa.String(length=64), nullable=True)


def downgrade() -> None:
    # Deliveries of other events have no signal: they go, signal deliveries stay.
    op.execute(sa.text("DELETE FROM push_deliveries WHERE signal_id IS NULL"))
    with op.batch_alter_table("push_deliveries", schema=None) as batch_op:
        batch_op.alter_column("signal_id", existing_type=sa.String(length=64), nullable=False)
    with op.batch_alter_table("push_subscriptions", schema=None) as batch_op:
        batch_op.drop_column("events")
