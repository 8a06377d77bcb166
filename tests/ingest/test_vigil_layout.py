"""The vigil layout: files already in Vigil's schema are validated and re-conformed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.ingest.conftest import read_rows
from vigil.core.errors import DataError, InputError, SchemaError
from vigil.ingest.pipeline import ingest
from vigil.schema.tables import ACCOUNTS, LABELS, POSTS, empty_table

POST = {
    "platform": "facebook",
    "post_id": "p1",
    "account_id": "a1",
    "account_handle": "Alice",
    "created_at": datetime(2024, 5, 1, 12, tzinfo=UTC),
    "text": "Votez dimanche pour l'avenir de la France et de nos enfants",
    "lang": None,
    "urls": [
        {
            "url": "https://x.example/a",
            "canonical": "https://x.example/a",
            "domain": "x.example",
            "is_shortener": False,
        }
    ],
    "hashtags": ["vote"],
}


NULLABLE = pa.schema([field.with_nullable(True) for field in POSTS.schema])  # as foreign writers do


def _write(path: Path, rows: list[dict[str, object]], schema: pa.Schema) -> Path:
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def test_round_trip_of_posts_and_accounts(tmp_path: Path) -> None:
    posts = _write(
        tmp_path / "posts.parquet", [POST, {**POST, "post_id": "p2", "lang": "en"}], POSTS.with_metadata()
    )
    accounts = _write(
        tmp_path / "accounts.parquet",
        [{"platform": "facebook", "account_id": "a1", "display_name": "Alice A.", "followers": 5}],
        ACCOUNTS.with_metadata(),
    )
    summary = ingest([posts, accounts], layout="vigil", fmt="parquet", out_dir=tmp_path / "out")
    assert (summary.posts, summary.accounts, summary.languages_detected) == (2, 1, 1)
    p1, p2 = read_rows(tmp_path / "out" / "posts.parquet")
    assert (p1["lang"], p1["lang_detected"]) == ("fr", True)  # filled in
    assert p2["lang"] == "en"
    assert p1["urls"] == POST["urls"]
    (account,) = read_rows(tmp_path / "out" / "accounts.parquet")
    assert (account["handle"], account["display_name"], account["followers"]) == ("Alice", "Alice A.", 5)


def test_foreign_types_are_conformed(tmp_path: Path) -> None:
    # a file written by another tool: no Vigil metadata, nanosecond timestamps, large strings
    table = pa.table(
        {
            "platform": pa.array(["x"], pa.large_string()),
            "post_id": pa.array(["1"], pa.large_string()),
            "account_id": pa.array(["a"], pa.large_string()),
            "created_at": pa.array([1_600_000_000_000_000_000], pa.timestamp("ns", tz="UTC")),
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    ingest([tmp_path / "in.parquet"], layout="vigil", out_dir=tmp_path / "out")
    (post,) = read_rows(tmp_path / "out" / "posts.parquet")
    assert post["created_at"] == datetime(2020, 9, 13, 12, 26, 40, tzinfo=UTC)


def test_null_in_required_column_names_the_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "posts.parquet", [POST, {**POST, "account_id": None}], NULLABLE)
    with pytest.raises(DataError) as info:
        ingest([path], layout="vigil", out_dir=tmp_path / "out")
    assert str(info.value) == (
        f"{path}, row 2, column 'account_id': missing value; "
        "expected a value in the required column account_id"
    )


def test_missing_column_and_other_version(tmp_path: Path) -> None:
    path = tmp_path / "posts.parquet"
    pq.write_table(pa.table({"platform": ["x"], "post_id": ["1"], "created_at": [1]}), path)
    with pytest.raises(SchemaError, match=r"column 'account_id': missing column of the posts table"):
        ingest([path], layout="vigil", out_dir=tmp_path / "out")
    old = empty_table(POSTS).replace_schema_metadata(
        {b"vigil.table": b"posts", b"vigil.schema_version": b"0"}
    )
    pq.write_table(old, path)
    with pytest.raises(SchemaError, match="written with schema version 0, this Vigil reads 1"):
        ingest([path], layout="vigil", out_dir=tmp_path / "out")


def test_refuses_csv_and_labels(tmp_path: Path) -> None:
    csv_path = tmp_path / "posts.csv"
    csv_path.write_text("platform,post_id\n")
    with pytest.raises(InputError, match="the vigil layout reads parquet, not csv"):
        ingest([csv_path], layout="vigil", out_dir=tmp_path / "out")
    labels = tmp_path / "labels.parquet"
    pq.write_table(empty_table(LABELS), labels)
    with pytest.raises(InputError, match="holds Vigil's labels table"):
        ingest([labels], layout="vigil", out_dir=tmp_path / "out")


def test_accounts_beside_posts_are_read_too(tmp_path: Path) -> None:
    _write(tmp_path / "posts.parquet", [POST], POSTS.with_metadata())
    _write(
        tmp_path / "accounts.parquet",
        [{"platform": "facebook", "account_id": "a1", "followers": 42}],
        ACCOUNTS.with_metadata(),
    )
    summary = ingest([tmp_path / "posts.parquet"], layout="vigil", out_dir=tmp_path / "out")
    assert summary.rows_read == 2
    (account,) = read_rows(tmp_path / "out" / "accounts.parquet")
    assert (account["handle"], account["followers"]) == ("Alice", 42)
    # given explicitly as well: read once
    again = ingest(
        [tmp_path / "posts.parquet", tmp_path / "accounts.parquet"],
        layout="vigil",
        out_dir=tmp_path / "again",
    )
    assert again.rows_read == 2
