from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vigil.core.errors import SchemaError
from vigil.schema import POSTS, SCHEMA_VERSION, conform, validate_schema
from vigil.schema.io import ParquetSink, iter_table, table_kind


def _posts(n: int = 3) -> pa.Table:
    return pa.table(
        {
            "platform": ["twitter"] * n,
            "post_id": [str(i) for i in range(n)],
            "account_id": ["a1"] * n,
            "created_at": [datetime(2020, 11, 3, 12, 0, i, tzinfo=UTC) for i in range(n)],
            "text": ["مرحبا بالعالم", "Bonjour à tous", "hello"][:n],
            "urls": [
                [
                    {
                        "url": "https://WWW.Example.com/a?utm_source=x",
                        "canonical": "https://example.com/a",
                        "domain": "example.com",
                        "is_shortener": False,
                    }
                ]
            ]
            * n,
            "hashtags": [["vote", "election2020"]] * n,
            "extra": pa.array([[("k", "v")]] * n, type=pa.map_(pa.string(), pa.string())),
        }
    )


def test_round_trip_preserves_values_and_version(tmp_path: Path) -> None:
    path = tmp_path / "posts.parquet"
    with ParquetSink(path, POSTS) as sink:
        sink.write(_posts())
    assert table_kind(path) == "posts"
    assert pq.read_schema(path).metadata[b"vigil.schema_version"] == str(SCHEMA_VERSION).encode()
    back = pa.Table.from_batches(list(iter_table(path, POSTS)))
    assert back.num_rows == 3
    row = back.to_pylist()[0]
    assert row["text"] == "مرحبا بالعالم"
    assert row["urls"][0]["domain"] == "example.com"
    assert row["hashtags"] == ["vote", "election2020"]
    assert row["extra"] == [("k", "v")]
    assert row["created_at"] == datetime(2020, 11, 3, 12, 0, 0, tzinfo=UTC)
    assert row["reshare_of"] is None


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "posts.parquet"
    with pytest.raises(RuntimeError), ParquetSink(path, POSTS) as sink:
        sink.write(_posts())
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_missing_required_column_is_named() -> None:
    table = _posts().drop(["account_id"])
    with pytest.raises(SchemaError, match="column 'account_id'"):
        conform(table, POSTS, source="in.parquet")


def test_wrong_type_is_named() -> None:
    schema = POSTS.schema.set(POSTS.schema.get_field_index("hashtags"), pa.field("hashtags", pa.string()))
    with pytest.raises(SchemaError, match=r"column 'hashtags': wrong type string; expected list"):
        validate_schema(schema, POSTS)


def test_foreign_version_is_refused() -> None:
    schema = POSTS.schema.with_metadata({b"vigil.schema_version": b"999"})
    with pytest.raises(SchemaError, match="schema version 999"):
        validate_schema(schema, POSTS)
