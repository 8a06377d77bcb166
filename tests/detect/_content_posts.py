"""Hand-made posts tables for the content-trace tests (text, cross-lingual, image)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from vigil.core.settings import load_settings
from vigil.detect.duck import connect, register_posts
from vigil.schema.tables import POSTS, conform

START = datetime(2024, 5, 1, tzinfo=UTC)


def posts(rows: list[dict[str, Any]]) -> pa.Table:
    """A posts table from rows with ``account``, ``at`` (seconds after START) and any posts columns."""
    full = []
    for i, row in enumerate(rows):
        row = dict(row)
        at = float(row.pop("at", 0.0))
        full.append(
            {
                "platform": row.pop("platform", "x"),
                "post_id": row.pop("post_id", f"p{i}"),
                "account_id": row.pop("account"),
                "created_at": START + timedelta(seconds=at),
                **row,
            }
        )
    return conform(pa.Table.from_pylist(full, schema=POSTS.schema), POSTS)


def connection(table: pa.Table, tmp_path: Any) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with ``table`` as the posts view, spilling under ``tmp_path``."""
    con = connect(load_settings(temp_dir=tmp_path, duckdb_threads=1, duckdb_memory_limit="1GB"))
    register_posts(con, table)
    return con
