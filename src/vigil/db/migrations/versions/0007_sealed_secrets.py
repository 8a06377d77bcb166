"""Secrets at rest: webhook secrets and federation peers' API keys are stored sealed
(``vigil.exchange.secrets_box``); ``push_subscriptions.secret`` becomes Text, as a sealed value
(``fernet:<token>``, about 150 characters) no longer fits in 100.

Existing clear values are marked ``clear:<value>`` here and sealed by the application, not by this
migration. Why: a migration runs from wherever ``upgrade`` is called (``vigil db upgrade
--data-dir X``, ``vigil serve``'s app factory given a Settings object, tests), with only a
connection; it cannot know which settings (hence which key file or ``VIGIL_SECRET_KEY``) the caller
uses, and sealing with the wrong key would make every webhook and pull fail. The code that holds
the caller's settings seals the marked values instead, all of them at once (``seal_legacy``): the
push worker at each round, each federation pull, and ``vigil push rekey``; a ``clear:`` value is
never sent anywhere without being sealed in the same transaction. The marker keeps the scheme
explicit: a value without ``fernet:`` or ``clear:`` is refused, never guessed at.

Downgrade strips the marker and opens sealed values with the key of the process settings
(``VIGIL_SECRET_KEY`` or ``data_dir/secret.key``); a wrong key stops it with a ConfigError and the
transaction changes nothing.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here: the stored schemes are part of the data format, not of the current code.
SEALED, LEGACY = "fernet:", "clear:"
COLUMNS = (("push_subscriptions", "secret"), ("federation_peers", "api_key"))


def _scrub_freed_space() -> None:
    # SQLite keeps old bytes in freed space: the table batch mode copies and drops, and the
    # values rewritten below, would leave the clear secrets in the file. Zero what is freed.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(sa.text("PRAGMA secure_delete = ON"))


def upgrade() -> None:
    _scrub_freed_space()
    with op.batch_alter_table("push_subscriptions", schema=None) as batch_op:
        batch_op.alter_column("secret", existing_type=sa.String(length=100), type_=sa.Text())
    for table, column in COLUMNS:
        op.execute(
            sa.text(
                f"UPDATE {table} SET {column} = :legacy || {column} "
                f"WHERE {column} NOT LIKE :sealed AND {column} NOT LIKE :marked"
            ).bindparams(legacy=LEGACY, sealed=SEALED + "%", marked=LEGACY + "%")
        )


def downgrade() -> None:
    _scrub_freed_space()
    connection = op.get_bind()
    for table, column in COLUMNS:
        connection.execute(
            sa.text(
                f"UPDATE {table} SET {column} = SUBSTR({column}, :start) WHERE {column} LIKE :marked"
            ).bindparams(start=len(LEGACY) + 1, marked=LEGACY + "%")
        )
        sealed = connection.execute(
            sa.text(f"SELECT id, {column} FROM {table} WHERE {column} LIKE :sealed").bindparams(
                sealed=SEALED + "%"
            )
        ).all()
        if sealed:
            from vigil.core.settings import get_settings
            from vigil.exchange.secrets_box import load_box

            box = load_box(get_settings())
            for row_id, value in sealed:
                connection.execute(
                    sa.text(f"UPDATE {table} SET {column} = :clear WHERE id = :id"),
                    {"clear": box.open(value, what=f"{table}.{column} of {row_id}"), "id": row_id},
                )
    with op.batch_alter_table("push_subscriptions", schema=None) as batch_op:
        batch_op.alter_column("secret", existing_type=sa.Text(), type_=sa.String(length=100))
