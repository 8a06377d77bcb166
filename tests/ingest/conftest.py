"""Fixtures of the ingest tests: the small source files under tests/fixtures/ingest."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


def read_rows(path: Path) -> list[dict[str, object]]:
    """All rows of a written Parquet file, maps as dicts, in file order."""
    rows: list[dict[str, object]] = pq.read_table(path).to_pylist()
    for row in rows:
        extra = row.get("extra")
        if isinstance(extra, list):
            row["extra"] = dict(extra)
    return rows


def by_key(rows: list[dict[str, object]], key: str = "post_id") -> dict[object, dict[str, object]]:
    return {row[key]: row for row in rows}


def as_table(rows: list[dict[str, object]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)
