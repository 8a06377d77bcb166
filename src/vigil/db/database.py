"""Database connection and schema upgrades for every table of Vigil.

``Database(url)`` owns one engine and hands out transactional sessions: ``with db.session() as s``
commits when the block ends normally and rolls back on any exception, so a failed request changes
nothing. ``upgrade(url)`` brings a database to the newest Alembic revision shipped in
``vigil/db/migrations`` (run by ``vigil db upgrade`` and on ``vigil serve`` start).

SQLite (the embedded default) runs with WAL, foreign keys on, a busy timeout, and every write
transaction started with ``BEGIN IMMEDIATE``, so the API's worker threads share one file safely
(one writer at a time). PostgreSQL serves concurrent writers; the store locks the signal row it
changes (``SELECT ... FOR UPDATE``) so concurrent submissions of one value cannot lose updates.

Reads take no write lock. ``db.read_session()`` is a snapshot (SQLite: a deferred ``BEGIN`` under
WAL; PostgreSQL: ``BEGIN READ ONLY``, MVCC) that never waits for a writer, and any write in it
fails loudly (SQLite's ``query_only``, PostgreSQL's read-only transaction) instead of being
discarded. ``db.reading()`` is the same for a whole request (the API's and the pages' GETs): the
writes a read implies (audit entries of AMBER/RED reads, a dashboard session's last-seen time)
are handed to ``after_read(session)`` and run after the read, in one short write transaction of
their own; if that transaction fails, ``reading`` raises, so the request fails with it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from vigil.core.errors import ConfigError, ExternalServiceError, VigilError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_MIGRATION_LOCK = 0x5649_4731  # an arbitrary constant naming Vigil's migration advisory lock


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    # Take transaction control away from the sqlite3 module (which would run SELECTs outside any
    # transaction) and begin every transaction ourselves, below.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    record.info[READ_ONLY] = False  # query_only is off on a new connection


READ_ONLY = "vigil_read_only"  # execution option of ``Database.read_session`` connections


AFTER_READ = "vigil_after_read"  # Session.info key of ``Database.reading``'s deferred writes


class WriteInReadSession(VigilError):
    """A programming error: code running in a read session tried to write (the API answers 500)."""


class DeferredWriteFailed(VigilError):
    """The write transaction after a read (its audit entries) failed: the read is not answered
    (503, like an unavailable database), so nothing is shown without its audit entry."""

    http_status = 503
    exit_code = 69  # EX_UNAVAILABLE


def after_read(session: Session) -> list[Callable[[Session], None]] | None:
    """The list of writes to run after the read when ``session`` is a ``Database.reading`` session
    (append a callable taking the write session); None for any other session, whose caller writes
    in it directly (its own transaction)."""
    found: list[Callable[[Session], None]] | None = session.info.get(AFTER_READ)
    return found


def _refused_write(exc: DBAPIError) -> bool:
    """Whether ``exc`` is a write refused because the transaction is read-only."""
    orig = exc.orig
    # 8: SQLITE_READONLY (query_only); 25006: PostgreSQL's read_only_sql_transaction
    return getattr(orig, "sqlite_errorcode", None) == 8 or getattr(orig, "sqlstate", None) == "25006"


def _read_only(connection: Any) -> bool:
    return bool(connection.get_execution_options().get(READ_ONLY))


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock at the start: concurrent writers queue on the busy timeout
    # instead of reading a snapshot and failing (or losing an update) when they later write.
    # Read-only sessions begin DEFERRED: under WAL they read a snapshot and never wait for a writer;
    # query_only makes a write in one fail at once (SQLITE_READONLY) rather than take the write
    # lock from inside a snapshot. The pragma is switched only when the pooled connection's mode
    # changes (kept in its info), so a run of reads or of writes costs no extra statement.
    read_only = _read_only(connection)
    info = connection.connection.info
    if info.get(READ_ONLY) is not read_only:
        connection.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")
        info[READ_ONLY] = read_only
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
    if not read_only:
        info[_BEGAN] = time.perf_counter()  # the write lock is held from here to the commit


def _postgresql_begin(connection: Any) -> None:
    # psycopg sends BEGIN with the first statement; with read_only set it sends BEGIN READ ONLY
    # (no extra round trip), so a write in a read session fails instead of being rolled back unseen.
    driver = connection.connection.driver_connection
    read_only = _read_only(connection)
    if getattr(driver, "read_only", None) is not read_only and hasattr(driver, "read_only"):
        driver.read_only = read_only
    if not read_only:
        connection.connection.info[_BEGAN] = time.perf_counter()


# How long each write transaction lasted (on SQLite: how long it held the database's write lock,
# from BEGIN IMMEDIATE to the COMMIT statement), on the ``vigil.db.locks`` logger: DEBUG for every
# one (benches turn it on to find the longest hold), INFO for one held over SLOW_WRITE_S (a reader
# of audited material and every other writer waited that long on SQLite; INFO, not WARNING: a CLI
# import in one transaction is expected to be long, and Python prints unhandled warnings). Costs
# a clock read and a dict entry per transaction.
locks_log = logging.getLogger("vigil.db.locks")
SLOW_WRITE_S = 1.0
_BEGAN = "vigil_write_began"


def _write_ended(connection: Any) -> None:
    began = connection.connection.info.pop(_BEGAN, None)
    if began is None:
        return
    held = time.perf_counter() - began
    if held > SLOW_WRITE_S:
        locks_log.info("a write transaction was held %.0f ms", 1000 * held)
    elif locks_log.isEnabledFor(logging.DEBUG):
        locks_log.debug("write transaction held %.1f ms", 1000 * held)


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
        _time_writes(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in {"psycopg2", "default"}:
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is what Vigil installs
    # JIT compilation costs PostgreSQL 100-250 ms per statement with many subqueries (TAXII pages)
    # and never pays off for requests that read a page of rows.
    engine = create_engine(parsed, pool_pre_ping=True, connect_args={"options": "-c jit=off"})
    if parsed.get_backend_name() == "postgresql":
        event.listen(engine, "begin", _postgresql_begin)
        _time_writes(engine)
    return engine


def _time_writes(engine: Engine) -> None:
    event.listen(engine, "commit", _write_ended)
    event.listen(engine, "rollback", _write_ended)


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
        never wait for a writer; on PostgreSQL a read-only (MVCC) transaction. A write in it fails
        (SQLite ``query_only``, PostgreSQL's read-only transaction). Ended by a COMMIT when the
        block ends well (nothing to write: it keeps psycopg's prepared statements, see
        ``reading``), rolled back when it raises."""
        session = self._readers()
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        else:
            session.commit()
        finally:
            session.close()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read session for a whole request whose implied writes come after it.

        The block reads a snapshot (``read_session``: no write lock, never waits for a writer). The
        writes a read implies are not made in it but handed to ``after_read(session)`` (audit
        entries of AMBER/RED reads, a dashboard session's last-seen time); when the block ends
        normally the read transaction ends first, then they run in one short write transaction,
        and if that fails ``DeferredWriteFailed`` (503) is raised: a read whose audit entry could
        not be written fails too (fail closed), it is never answered without it. On SQLite that
        transaction waits for the write lock like any writer (writers hold it for short chunks);
        a read that implies no write (most) never waits. When the block raises, the
        deferred writes are dropped, as a write transaction would have rolled them back.

        An ORM change left in the session (a write a read path forgot to defer) raises
        ``WriteInReadSession`` rather than being discarded."""
        session = self._readers()
        pending: list[Callable[[Session], None]] = []
        session.info[AFTER_READ] = pending
        read_whole = False
        try:
            try:
                yield session
            except DBAPIError as exc:
                if _refused_write(exc):
                    raise WriteInReadSession(
                        "a read-only request tried to write: defer the write with after_read(session),"
                        f" or serve the route on the write path ({exc.orig})"
                    ) from exc
                raise
            if session.new or session.dirty or session.deleted:
                changed = {type(o).__name__ for o in (*session.new, *session.dirty, *session.deleted)}
                raise WriteInReadSession(
                    f"a read-only request changed {', '.join(sorted(changed))}: defer the write with"
                    " after_read(session), or serve the route on the write path"
                )
            read_whole = True
        finally:
            # A read that ended well is committed, not rolled back: the transaction is read-only
            # either way, but psycopg forgets the connection's prepared statements on ROLLBACK
            # (and not on COMMIT), so every PostgreSQL read re-planned its statements.
            if read_whole:
                session.commit()
            else:
                session.rollback()
            session.close()
        if pending:
            try:
                with self.session() as writer:
                    for write in pending:
                        write(writer)
            except SQLAlchemyError as exc:
                raise DeferredWriteFailed(
                    "the request was read but not answered: the audit entries of what it read could"
                    f" not be written ({type(exc).__name__}); nothing was shown, try again",
                ) from exc

    def dispose(self) -> None:
        self.engine.dispose()
