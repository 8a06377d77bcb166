"""DuckDB connections for detection: bounded threads and memory, a spill directory, posts as a view.

Detection runs out of core: DuckDB streams Parquet, spills joins and aggregations to
``temp_directory`` when ``memory_limit`` is reached, and uses ``threads`` cores. All three come from
:class:`~vigil.core.settings.Settings` (``VIGIL_DUCKDB_THREADS``, ``VIGIL_DUCKDB_MEMORY_LIMIT``,
``VIGIL_TEMP_DIR``) so one laptop setting governs every detection step.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from vigil.core.errors import DataError, InputError
from vigil.core.scratch import process_scratch
from vigil.core.settings import Settings, get_settings
from vigil.detect.sql import SqlConnection
from vigil.schema.tables import POSTS, validate_schema

# The name under which the engine and every trace's SQL see the posts table.
POSTS_VIEW = "posts"
SPOOL_PREFIX = "vigil-detect-"  # + pid-host-random: one spill directory per process

PostsSource: TypeAlias = str | Path | Sequence[str | Path] | pa.Table
# Posts files on this machine: a file, a directory of them, or a list of either.
LocalPosts: TypeAlias = str | Path | Sequence[str | Path]


def connect(settings: Settings | None = None, *, database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection configured from ``settings`` (default: the process settings)."""
    settings = settings or get_settings()
    base = settings.temp_dir or Path(tempfile.gettempdir()) / "vigil-duckdb"
    # This process's own spill directory (the traces' spools go inside it, see spool_dir): removed
    # at exit, and by the next run if this one is killed (vigil.core.scratch).
    temp_dir = process_scratch(base, SPOOL_PREFIX)
    con = duckdb.connect(database)
    try:
        con.execute(f"SET threads = {int(settings.duckdb_threads)}")
        con.execute("SET memory_limit = ?", [settings.duckdb_memory_limit])
        con.execute("SET temp_directory = ?", [str(temp_dir)])
        # Output order is imposed explicitly where it matters; not preserving it lets joins stream.
        con.execute("SET preserve_insertion_order = false")
        # DuckDB prints its own progress bar to stdout for any statement past 2 s (under load, many):
        # it broke the CLI's Rich bars and the JSON a bench worker writes on stdout.
        con.execute("SET enable_progress_bar = false")
        # DuckDB's allocator keeps freed pages (outside memory_limit) until a thread purges them: at
        # 10M posts the image clustering's ~1 GB stayed resident through every later trace. A
        # background purge and a lower flush threshold hand them back to the system.
        con.execute("SET allocator_background_threads = true")
        con.execute("SET allocator_flush_threshold = '64MB'")
    except duckdb.Error as exc:
        con.close()
        raise InputError(f"invalid DuckDB setting: {exc}") from exc
    return con


def spool_dir(con: duckdb.DuckDBPyConnection) -> Path | None:
    """Where a step may spool its own temporary files: the connection's spill directory
    (``VIGIL_TEMP_DIR``), or None (the system's temporary directory) when it has none."""
    try:
        rows = con.execute("SELECT current_setting('temp_directory')").fetchall()
    except duckdb.Error:
        return None
    path = Path(str(rows[0][0])) if rows and rows[0][0] else None
    return path if path is not None and path.is_absolute() and path.is_dir() else None


def parquet_files(source: LocalPosts) -> list[Path]:
    """The Parquet files of a file, a directory (searched recursively) or a list of them."""
    paths = [Path(source)] if isinstance(source, str | Path) else [Path(p) for p in source]
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.rglob("*.parquet"))
            if not found:
                raise DataError("directory holds no .parquet files", file=str(path))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise DataError("no such file or directory", file=str(path))
    if not files:
        raise InputError("no posts files given")
    return files


def register_posts(con: duckdb.DuckDBPyConnection, source: PostsSource, *, name: str = POSTS_VIEW) -> None:
    """Make ``source`` (Parquet file(s)/directory of the posts table, or an Arrow table) the view ``name``.

    Every file's schema is checked against the posts table first, so a wrong file fails with the
    file and column named rather than deep inside a trace's SQL.
    """
    if isinstance(source, pa.Table):
        validate_schema(source.schema, POSTS, source="<arrow table>")
        con.register(f"{name}__arrow", source)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {name}__arrow")
        return
    files = parquet_files(source)
    for file in files:
        try:
            schema = pq.read_schema(str(file))
        except (OSError, pa.ArrowInvalid) as exc:
            raise DataError(f"not a readable Parquet file: {exc}", file=str(file)) from exc
        validate_schema(schema, POSTS, source=str(file))
    listing = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM read_parquet([{listing}])")


def first_row(con: SqlConnection, query: str) -> tuple[object, ...] | None:
    """The first row of ``query``, or None. Reads the whole result: DuckDB 2 refuses further work on
    a connection whose last result was only partly fetched."""
    rows = con.execute(query).fetchall()
    return tuple(rows[0]) if rows else None


def count_rows(con: SqlConnection, relation: str) -> int:
    """The number of rows of a table, view or parenthesised query."""
    rows = con.execute(f"SELECT count(*) FROM {relation}").fetchall()
    return int(rows[0][0])
