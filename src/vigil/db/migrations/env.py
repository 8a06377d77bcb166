"""Alembic environment: runs on the connection ``vigil.db.upgrade`` passes in, or on the
URL in the config when invoked by the ``alembic`` command itself (for writing new revisions)."""

from __future__ import annotations

import importlib

from alembic import context
from sqlalchemy import Connection

from vigil.db import Base, make_engine

# The packages that declare tables on ``Base``. Only ``alembic revision --autogenerate`` needs them
# all loaded (to compare every table); they are named, not imported, because vigil.db sits below
# them in the layers (docs/architecture.md).
MODEL_MODULES = (
    "vigil.exchange.models",
    "vigil.exchange.lifecycle_models",
    "vigil.exchange.taxii_models",
    "vigil.exchange.flood_models",
    "vigil.cases.models",
    "vigil.cases.meetings_models",
    "vigil.cases.policies_models",
    "vigil.web.sessions_models",
)

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode recreates tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    for name in MODEL_MODULES:
        importlib.import_module(name)
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `vigil db upgrade`")
run_migrations_online()
