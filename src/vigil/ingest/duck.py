"""DuckDB connections for ingest's out-of-core steps (grouping rows into posts, deduplicating accounts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from vigil.core.settings import Settings, get_settings


def sql_string(value: str | Path) -> str:
    """A SQL string literal (file paths cannot be bound as parameters of table functions)."""
    return "'" + str(value).replace("'", "''") + "'"


def connect(settings: Settings | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB bounded by the configured memory limit, spilling to the temp directory."""
    settings = settings or get_settings()
    con = duckdb.connect()
    con.execute(f"SET memory_limit = {sql_string(settings.duckdb_memory_limit)}")
    con.execute(f"SET threads = {int(settings.duckdb_threads)}")
    if settings.temp_dir is not None:
        con.execute(f"SET temp_directory = {sql_string(settings.temp_dir)}")
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET TimeZone = 'UTC'")
    # DuckDB prints its own progress bar on stdout for statements past 2 s: over the CLI's bars.
    con.execute("SET enable_progress_bar = false")
    return con


def first_row(con: duckdb.DuckDBPyConnection, query: str) -> tuple[Any, ...] | None:
    """The first row of ``query``, or None; the result is read to the end (DuckDB 2.0 refuses new work
    on a connection with an unfinished result)."""
    rows = con.execute(query).fetchall()
    return tuple(rows[0]) if rows else None
