"""The generic layout: column mapping, timestamps, list columns, text fallback, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.ingest.conftest import by_key, read_rows
from vigil.core.errors import DataError, InputError
from vigil.ingest.pipeline import ingest

MAPPING = {
    "post_id": "id",
    "account_id": "author",
    "created_at": "time",
    "text": "body",
    "platform": "network",
    "hashtags": "tags",
    "urls": "links",
    "image_pdq": "pdq",
    "account_handle": "channel",
}


def test_jsonl_with_mapping(fixtures: Path, tmp_path: Path) -> None:
    summary = ingest([fixtures / "generic_posts.jsonl"], layout="generic", out_dir=tmp_path, mapping=MAPPING)
    assert (summary.posts, summary.accounts) == (3, 3)
    assert summary.platforms == {"telegram": 2, "vk": 1}
    posts = by_key(read_rows(tmp_path / "posts.parquet"))
    one, two, three = posts["1"], posts["2"], posts["3"]
    assert one["created_at"] == datetime(2022, 4, 15, 5, 20, tzinfo=UTC)
    assert one["account_handle"] == "news_chan"
    # no tags/links value in that row: taken from the text
    assert one["hashtags"] == ["vote"]
    assert [u["canonical"] for u in one["urls"]] == ["https://example.com/a"]  # type: ignore[union-attr]
    assert (one["lang"], one["lang_detected"]) == ("en", True)
    assert two["created_at"] == datetime(2022, 4, 15, 5, 21, 0, 500000, tzinfo=UTC)
    assert two["hashtags"] == ["vote", "france"]
    assert two["extra"] == {"views": "1200"}
    assert three["created_at"] == datetime(2022, 4, 15, 5, 21, tzinfo=UTC)
    assert three["image_pdq"] == ["f" * 64]
    assert three["lang"] is None


def test_csv_with_separator_and_unix_ms(fixtures: Path, tmp_path: Path) -> None:
    source = tmp_path / "posts.csv"
    lines = (fixtures / "generic_posts.csv").read_text().splitlines()
    source.write_text("\n".join([lines[0], lines[1]]) + "\n")
    ingest([source], layout="generic", out_dir=tmp_path / "out", time_format="unix_ms", list_separator="|")
    (post,) = read_rows(tmp_path / "out" / "posts.parquet")
    assert post["created_at"] == datetime(2022, 4, 15, 5, 20, tzinfo=UTC)
    assert post["hashtags"] == ["vote", "france"]
    assert post["mentions"] == ["alice", "bob"]
    assert [u["is_shortener"] for u in post["urls"]] == [False, True]  # type: ignore[union-attr]
    (account,) = read_rows(tmp_path / "out" / "accounts.parquet")
    assert (account["platform"], account["account_id"], account["followers"]) == ("facebook", "acc1", 10)


def test_bad_integer(fixtures: Path, tmp_path: Path) -> None:
    path = fixtures / "generic_posts.csv"
    with pytest.raises(DataError) as info:
        ingest([path], layout="generic", out_dir=tmp_path, time_format="unix_ms", list_separator="|")
    assert (
        str(info.value)
        == f"{path}, row 2, column 'followers': not an integer: 'ten'; expected a whole number"
    )


def test_missing_mapped_column(fixtures: Path, tmp_path: Path) -> None:
    path = fixtures / "generic_posts.jsonl"
    with pytest.raises(DataError) as info:
        ingest([path], layout="generic", out_dir=tmp_path, mapping={**MAPPING, "created_at": "when"})
    assert str(info.value) == (
        f"{path}, column 'when': missing column for the field created_at; "
        "expected a column 'when' or --map created_at=COLUMN"
    )


def test_platform_needed(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("post_id,account_id,created_at\n1,a,2021-01-01\n")
    with pytest.raises(InputError, match="no platform: the file has no 'platform' column; give --platform"):
        ingest([path], layout="generic", out_dir=tmp_path / "out")
    summary = ingest([path], layout="generic", out_dir=tmp_path / "out", platform="tiktok")
    assert summary.platforms == {"tiktok": 1}


def test_unknown_field_and_bad_pdq(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("post_id,account_id,created_at,image_pdq\n1,a,2021-01-01,abc\n")
    with pytest.raises(InputError, match="unknown field 'author'"):
        ingest([path], layout="generic", out_dir=tmp_path / "out", mapping={"author": "account_id"})
    with pytest.raises(DataError) as info:
        ingest([path], layout="generic", out_dir=tmp_path / "out", platform="x")
    assert str(info.value) == (
        f"{path}, row 1, column 'image_pdq': not a PDQ hash: 'abc'; expected 64 hexadecimal characters"
    )


def test_bad_time_with_custom_format(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"post_id": 1, "account_id": "a", "created_at": "2021-01-01"}\n')
    with pytest.raises(DataError) as info:
        ingest([path], layout="generic", out_dir=tmp_path / "out", platform="x", time_format="%d/%m/%Y")
    assert str(info.value) == (
        f"{path}, row 1, column 'created_at': not a timestamp: '2021-01-01'; "
        "expected the time format '%d/%m/%Y'"
    )


def test_list_field_that_is_not_a_list(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(
        '{"post_id": 1, "account_id": "a", "created_at": 1, "platform": "x", "image_ids": [7, 8.0]}\n'
        '{"post_id": 2, "account_id": "a", "created_at": 1, "platform": "x", "hashtags": {"a": 1}}\n'
    )
    with pytest.raises(DataError) as info:
        ingest([path], layout="generic", out_dir=tmp_path / "out")
    assert str(info.value) == (
        f"{path}, row 2, column 'hashtags': not a list: {{'a': 1}}; "
        "expected a list, a JSON array or separated text"
    )
    path.write_text(
        '{"post_id": 1, "account_id": "a", "created_at": 1, "platform": "x", "image_ids": [7, 8.0]}\n'
    )
    ingest([path], layout="generic", out_dir=tmp_path / "out")
    (post,) = read_rows(tmp_path / "out" / "posts.parquet")
    assert post["image_ids"] == ["7", "8"]
