"""Database connection and schema upgrades for every table of Vigil.

``Database(url)`` owns one engine and hands out transactional sessions: ``with db.session() as s``
commits when the block ends normally and rolls back on any exception, so a failed request changes
nothing. ``upgrade(url)`` brings a database to the newest Alembic revision shipped in
``vigil/db/migrations`` (run by ``vigil db upgrade`` and on ``vigil serve`` start).

SQLite (the embedded default) runs with WAL, foreign keys on, a busy timeout, and every
transaction started with ``BEGIN IMMEDIATE``, so the API's worker threads share one file safely
(one writer at a time). PostgreSQL serves concurrent writers; the store locks the signal row it
changes (``SELECT ... FOR UPDATE``) so concurrent submissions of one value cannot lose updates.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from vigil.core.errors import ConfigError, ExternalServiceError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_MIGRATION_LOCK = 0x5649_4731  # an arbitrary constant naming Vigil's migration advisory lock


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module (which would run SELECTs outside any
    # transaction) and begin every transaction ourselves, below.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


READ_ONLY = "vigil_read_only"  # execution option of ``Database.read_session`` connections


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock at the start: concurrent requests queue on the busy timeout
    # instead of reading a snapshot and failing (or losing an update) when they later write.
    # Most transactions write anyway (reads of AMBER/RED material add audit entries).
    # Read-only sessions begin DEFERRED: under WAL they read a snapshot and never wait for a writer.
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get their directory created and the pragmas above."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"invalid database URL {url!r}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in {"psycopg2", "default"}:
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is what Vigil installs
    # JIT compilation costs PostgreSQL 100-250 ms per statement with many subqueries (TAXII pages)
    # and never pays off for requests that read a page of rows.
    return create_engine(parsed, pool_pre_ping=True, connect_args={"options": "-c jit=off"})


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Apply migrations up to ``revision``; returns the revision the database is at afterwards."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    config = _alembic_config(engine)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Several servers starting at once on one database: one migrates, the others wait
                # here and then find nothing left to do. (SQLite's BEGIN IMMEDIATE does the same.)
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        raise ExternalServiceError(f"cannot reach database {engine.url!r}: {exc.orig}") from exc


def head_revision() -> str:
    """The newest revision shipped with this version of Vigil."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return MigrationContext.configure(connection).get_current_revision()


class Database:
    """One engine plus a session factory. Create once per process (the app factory or a CLI command)."""

    def __init__(self, url: str, *, auto_upgrade: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )
        if auto_upgrade:
            upgrade(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed at the end of the block, rolled back on error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reading only: on SQLite it takes no write lock (WAL snapshot), so readers
        never wait for a writer; on PostgreSQL it is an ordinary (MVCC) transaction. Rolled back at
        the end: anything written in it is discarded."""
        session = self._readers()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
