"""Many-row writes of the bulk signal paths (``submit_signals``, ``revoke_signals``) below
SQLAlchemy's statement layer.

Why: with Core ``executemany`` SQLAlchemy still builds a parameter dictionary per row and runs
each value through its type's bind processor (the UTC datetime type, JSON), which was about half
of a 20,000-signal submission's CPU. Here each datetime or JSON document is converted once per
distinct value by the column type's own processor (the stored text is the same as SQLAlchemy
writes), and the rows go to the driver as tuples: ``executemany`` on SQLite, ``COPY`` for inserts
on PostgreSQL. Statements still run on the session's connection, in its transaction.

New contributions get their ids here (``next_ids``), so the rows just inserted are not read back:
on SQLite the transaction holds the write lock from its start (``BEGIN IMMEDIATE``, see
``vigil.db.database``), so ``max(id) + 1 ...`` is free; on PostgreSQL they come from the column's
sequence.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from vigil.exchange.models import ContributionRow, SignalRow

# rows per executemany call: bounds the memory of one call's parameter list, not a limit on a batch
ROWS_PER_CALL = 5000
IN_LIST = 500  # values per IN list on SQLite (under its limit of bound parameters)
# the audit_log columns the bulk paths write, in this order
AUDIT_COLUMNS = (
    "at",
    "actor_key_id",
    "actor_org_id",
    "action",
    "target_type",
    "target_id",
    "tlp",
    "detail",
    "subject_org_id",
)


def table_of(model: type[Any]) -> Table:
    """The Core table of a model (for statements below the ORM)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class Values:
    """Values as the driver takes them (and datetimes as SQLAlchemy reads them) for ``dialect``,
    each converted once per distinct value. Needs no connection, so a batch's rows can be prepared
    before its write transaction begins (on SQLite, before it takes the write lock)."""

    def __init__(self, dialect: Any) -> None:
        self.dialect = dialect
        self._times: dict[datetime, Any] = {}
        self._documents: dict[Hashable, Any] = {}
        self._time_bind: Callable[[Any], Any] | None = None
        self._read_times: dict[Any, Any] = {}
        self._time_result: Callable[[Any], Any] | None = None
        self._json_bind: Callable[[Any], Any] | None = None

    def time(self, value: datetime | None) -> Any:
        """``value`` as the driver takes it for a UTC datetime column (once per distinct value:
        a batch's stamps repeat)."""
        if value is None:
            return None
        found = self._times.get(value)
        if found is None:
            if self._time_bind is None:
                from vigil.db.base import UTCDateTime

                self._time_bind = _bind_processor(UTCDateTime(), self.dialect)
            found = self._times[value] = self._time_bind(value)
        return found

    def document(self, build: Callable[..., Any], *args: Hashable) -> Any:
        """The JSON document ``build(*args)`` as the driver takes it, built and serialised once per
        distinct ``(build, args)`` (items of a batch mostly share their snapshot and detail)."""
        key = (build, args)
        found = self._documents.get(key)
        if found is None:
            found = self._documents[key] = self.json(build(*args))
        return found

    def json(self, value: Any) -> Any:
        """``value`` as the driver takes it for a JSON column."""
        if self._json_bind is None:
            from sqlalchemy import JSON

            self._json_bind = _bind_processor(JSON(), self.dialect)
        return self._json_bind(value)

    def read_optional_time(self, raw: Any) -> datetime | None:
        """``read_time`` of a nullable column."""
        return None if raw is None else self.read_time(raw)

    def read_time(self, raw: Any) -> datetime:
        """A (NOT NULL) UTC datetime column's value as ``select_in`` returns it, as SQLAlchemy
        would read it (once per distinct value)."""
        found = self._read_times.get(raw)
        if found is None:
            if self._time_result is None:
                from vigil.db.base import UTCDateTime

                processor = UTCDateTime().dialect_impl(self.dialect).result_processor(self.dialect, None)
                self._time_result = processor if processor is not None else (lambda v: v)
            found = self._read_times[raw] = self._time_result(raw)
        assert isinstance(found, datetime)
        return found


class RowWriter:
    """Multi-row INSERT and UPDATE on ``session``'s connection (see the module docstring).

    The connection is taken at the first statement, not here: on SQLite that begins the write
    transaction (``BEGIN IMMEDIATE``, the write lock), so what a caller computes between making
    the writer and its first statement holds no lock. ``values``: conversions (and their caches)
    shared with the caller's preparation of the rows."""

    def __init__(self, session: Session, values: Values | None = None) -> None:
        self._session = session
        self._connection: Any = None
        self.dialect = session.get_bind().dialect
        self.postgres = self.dialect.name == "postgresql"
        self._mark = "?" if self.dialect.paramstyle == "qmark" else "%s"
        self._quote = self.dialect.identifier_preparer.quote
        self.values = values if values is not None else Values(self.dialect)
        self.time = self.values.time
        self.document = self.values.document
        self.json = self.values.json
        self.read_time = self.values.read_time
        self.read_optional_time = self.values.read_optional_time

    @property
    def connection(self) -> Any:
        """The session's connection (its transaction begins with the first use)."""
        if self._connection is None:
            self._connection = self._session.connection()
        return self._connection

    # -- statements --------------------------------------------------------------------------

    def insert(self, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert ``rows`` (tuples in the order of ``columns``), in order."""
        if not rows:
            return
        names = ", ".join(self._quote(c) for c in columns)
        if self.postgres:
            self._copy(f"COPY {self._quote(table.name)} ({names}) FROM STDIN", rows)
            return
        marks = ", ".join(self._mark for _ in columns)
        self._many(f"INSERT INTO {self._quote(table.name)} ({names}) VALUES ({marks})", rows)

    def insert_missing(
        self, table: Table, columns: Sequence[str], key: str, rows: Sequence[tuple[Any, ...]]
    ) -> set[Any]:
        """Insert the ``rows`` whose ``key`` is not taken yet; returns the keys inserted.

        PostgreSQL: ``ON CONFLICT DO NOTHING ... RETURNING`` (another transaction may have
        inserted one since the caller looked). SQLite: a plain insert, since the caller's
        transaction holds the database's write lock from its start (``BEGIN IMMEDIATE``) and no
        row can have appeared since it looked; a row that did fails the statement (IntegrityError)
        rather than being passed over unseen."""
        if not rows:
            return set()
        index = list(columns).index(key)
        names = ", ".join(self._quote(c) for c in columns)
        if self.postgres:
            source = self._unnest(table, columns)
            found = self.connection.exec_driver_sql(
                f"INSERT INTO {self._quote(table.name)} ({names}) SELECT * FROM {source} "
                f"ON CONFLICT ({self._quote(key)}) DO NOTHING RETURNING {self._quote(key)}",
                tuple(list(column) for column in zip(*rows, strict=True)),
            )
            return {r[0] for r in found}
        marks = ", ".join(self._mark for _ in columns)
        self._many(f"INSERT INTO {self._quote(table.name)} ({names}) VALUES ({marks})", rows)
        return {row[index] for row in rows}

    def update(self, table: Table, columns: Sequence[str], key: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """``UPDATE table SET columns... WHERE key = ?`` per row (each tuple: the values, then the
        key). On PostgreSQL one statement joins the table to the rows as arrays (``unnest``)
        instead of one statement per row."""
        if not rows:
            return
        name = self._quote(table.name)
        if self.postgres:
            every = (*columns, key)
            source = self._unnest(table, every)
            aliases = ", ".join(f"v{i}" for i in range(len(every)))
            sets = ", ".join(f"{self._quote(c)} = u.v{i}" for i, c in enumerate(columns))
            self.connection.exec_driver_sql(
                f"UPDATE {name} SET {sets} FROM {source} AS u({aliases}) "
                f"WHERE {name}.{self._quote(key)} = u.v{len(columns)}",
                tuple(list(column) for column in zip(*rows, strict=True)),
            )
            return
        sets = ", ".join(f"{self._quote(c)} = {self._mark}" for c in columns)
        self._many(f"UPDATE {name} SET {sets} WHERE {self._quote(key)} = {self._mark}", rows)

    def _unnest(self, table: Table, columns: Sequence[str]) -> str:
        """``unnest(%s::type[], ...)``: one array parameter per column (PostgreSQL)."""
        types = [table.c[c].type.compile(dialect=self.dialect) for c in columns]
        return "unnest(" + ", ".join(f"{self._mark}::{t}[]" for t in types) + ")"

    def select_in(
        self,
        table: Table,
        columns: Sequence[str],
        key: str,
        values: Sequence[Any],
        *,
        where: tuple[str, Any] | None = None,
        lock: bool = False,
    ) -> list[tuple[Any, ...]]:
        """``columns`` of the rows whose ``key`` is one of ``values`` (and ``where`` column equals
        its value), as the driver returns them, ordered by ``key``; ``lock``: ``FOR UPDATE`` (on
        PostgreSQL; SQLite's transaction holds the database's write lock already). One statement
        with an array on PostgreSQL; on SQLite lists of 500.

        On PostgreSQL the array is joined (``unnest``) rather than tested with ``= ANY``: while a
        bulk submission grows a table faster than autovacuum re-analyses it, the planner kept
        scanning the organisation's contributions through ``org_id`` and comparing each with
        the 500 ids of the array (a chunked 20,000-signal submission spent 9 s there, 3x the
        server CPU of the rest); joined, the worst plan is a hash join, the usual one a lookup
        per id in the unique index."""
        if self.postgres:
            name = self._quote(table.name)
            column = f"{name}.{self._quote(key)}"
            kind = table.c[key].type.compile(dialect=self.dialect)
            sql = (
                f"SELECT {', '.join(f'{name}.{self._quote(c)}' for c in columns)} "
                f"FROM unnest({self._mark}::{kind}[]) AS wanted(k) JOIN {name} ON {column} = wanted.k"
            )
            params: tuple[Any, ...] = (list(dict.fromkeys(values)),)  # each id once: one row each
            if where is not None:
                sql += f" WHERE {name}.{self._quote(where[0])} = {self._mark}"
                params = (*params, where[1])
            sql += f" ORDER BY {column}" + (f" FOR UPDATE OF {name}" if lock else "")
            return [tuple(r) for r in self.connection.exec_driver_sql(sql, params)]
        names = ", ".join(self._quote(c) for c in columns)
        head = f"SELECT {names} FROM {self._quote(table.name)} WHERE "
        extra: tuple[Any, ...] = ()
        if where is not None:
            head += f"{self._quote(where[0])} = {self._mark} AND "
            extra = (where[1],)
        tail = f" ORDER BY {self._quote(key)}"
        found: list[tuple[Any, ...]] = []
        for start in range(0, len(values), IN_LIST):
            part = values[start : start + IN_LIST]
            marks = ", ".join(self._mark for _ in part)
            sql = f"{head}{self._quote(key)} IN ({marks}){tail}"
            found.extend(tuple(r) for r in self.connection.exec_driver_sql(sql, (*extra, *part)))
        return found

    def next_ids(self, table: Table, count: int) -> list[int]:
        """``count`` fresh values of ``table``'s integer ``id`` for rows about to be inserted."""
        if count == 0:
            return []
        name = self._quote(table.name)
        if self.postgres:
            sequence = f"pg_get_serial_sequence('{table.name}', 'id')"
            found = self.connection.exec_driver_sql(
                f"SELECT nextval({sequence}) FROM generate_series(1, {count:d})"
            )
            return [int(r[0]) for r in found]
        top = self.connection.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {name}").scalar()
        start = int(top or 0) + 1
        return list(range(start, start + count))

    def _many(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        for start in range(0, len(rows), ROWS_PER_CALL):
            self.connection.exec_driver_sql(sql, list(rows[start : start + ROWS_PER_CALL]))

    def _copy(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
        # COPY is a driver feature SQLAlchemy does not wrap: run it on the same DBAPI connection
        # (same transaction), and raise driver errors as SQLAlchemy's, as every other statement
        # does (so the web layer maps a lost database to 503 the same way).
        raw = self.connection.connection.driver_connection
        assert raw is not None
        try:
            with raw.cursor() as cursor, cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
        except self.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(
                sql, None, exc, self.dialect.loaded_dbapi.Error, dialect=self.dialect
            ) from exc


def expire_loaded(session: Session, signal_ids: set[str], contribution_ids: set[int]) -> None:
    """Rows were written below the ORM: copies of them the session already holds would be stale,
    so they are expired (reloaded on next access), as the ORM path left them fresh."""
    for obj in list(session.identity_map.values()):
        if (isinstance(obj, SignalRow) and obj.id in signal_ids) or (
            isinstance(obj, ContributionRow) and obj.id in contribution_ids
        ):
            session.expire(obj)


def _bind_processor(type_: Any, dialect: Any) -> Callable[[Any], Any]:
    """The bind processing SQLAlchemy itself applies to ``type_`` on ``dialect`` (identity if none)."""
    processor = type_.dialect_impl(dialect).bind_processor(dialect)
    return processor if processor is not None else (lambda v: v)
