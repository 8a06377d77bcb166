"""The German election 2021 layout: rows per (post, object) grouped into posts, on a small
fixture and on the real shared file."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.ingest.conftest import by_key, read_rows
from vigil.core.errors import DataError
from vigil.ingest.pipeline import ingest


def test_groups_rows_into_posts(fixtures: Path, tmp_path: Path) -> None:
    summary = ingest([fixtures / "german_small.csv"], layout="german-elections", out_dir=tmp_path)
    assert (summary.rows_read, summary.posts, summary.accounts) == (6, 2, 2)
    assert summary.skipped == {"no post id": 1}
    posts = by_key(read_rows(tmp_path / "posts.parquet"))
    fb, tw = posts["10"], posts["20"]
    assert (fb["platform"], fb["account_id"]) == ("facebook", "fb_1")
    assert fb["urls"] == [
        {"url": "url:100", "canonical": "url:100", "domain": "domain:7", "is_shortener": False}
    ]
    assert fb["hashtags"] == ["hashtag:55"]
    assert (tw["platform"], tw["account_id"]) == ("twitter", "tw_2")
    # a domain without a URL: the URL is unknown
    assert tw["urls"] == [{"url": None, "canonical": None, "domain": "domain:8", "is_shortener": False}]
    assert tw["image_ids"] == ["phash:900"]
    assert tw["created_at"].timestamp() == 1630000100.0  # type: ignore[union-attr]


def test_account_without_platform_prefix(fixtures: Path, tmp_path: Path) -> None:
    path = fixtures / "german_bad_prefix.csv"
    with pytest.raises(DataError) as info:
        ingest([path], layout="german-elections", out_dir=tmp_path)
    assert str(info.value) == (
        f"{path}, row 2, column 'account_id': account id without a platform prefix: 'xx_9'; "
        "expected fb_<id> or tw_<id>"
    )


def test_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text("account_id,post_id\nfb_1,1\n")
    with pytest.raises(DataError) as info:
        ingest([path], layout="german-elections", out_dir=tmp_path / "out")
    assert (
        str(info.value)
        == f"{path}, column 'timestamp': missing column required by the german-elections layout"
    )


def test_real_file(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "german-elections-2021" / "posts.parquet"
    summary = ingest([source], layout="german-elections", out_dir=tmp_path)
    # expected figures computed independently from the source file
    con = duckdb.connect()
    rows, posts, fb, tw, accounts, links = con.execute(
        f"""SELECT count(*),
                   count(DISTINCT post_id),
                   count(DISTINCT post_id) FILTER (WHERE account_id LIKE 'fb\\_%' ESCAPE '\\'),
                   count(DISTINCT post_id) FILTER (WHERE account_id LIKE 'tw\\_%' ESCAPE '\\'),
                   count(DISTINCT account_id) FILTER (WHERE post_id IS NOT NULL),
                   count(DISTINCT (post_id, url_id, domain_id))
                       FILTER (WHERE url_id IS NOT NULL OR domain_id IS NOT NULL)
            FROM '{source}'"""
    ).fetchall()[0]
    assert rows == 218_971
    assert summary.rows_read == rows
    assert summary.skipped == {"no post id": 3}
    assert summary.posts == posts
    assert summary.platforms == {"twitter": tw, "facebook": fb}
    assert summary.accounts == accounts
    assert summary.urls == links
    written = con.execute(
        f"SELECT count(*), count(DISTINCT (platform, post_id)) FROM '{tmp_path / 'posts.parquet'}'"
    ).fetchall()[0]
    assert written == (posts, posts)


def test_same_posts_from_jsonl_and_parquet(fixtures: Path, tmp_path: Path) -> None:
    import csv
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    def typed(key: str, value: str) -> object:
        if key == "account_id" or not value:
            return value or None
        return float(value) if key == "timestamp" else int(value)

    with (fixtures / "german_small.csv").open() as handle:
        rows = [{k: typed(k, v) for k, v in r.items()} for r in csv.DictReader(handle)]
    jsonl = tmp_path / "g.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    parquet = tmp_path / "g.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    results = []
    for source in (fixtures / "german_small.csv", jsonl, parquet):
        ingest([source], layout="german-elections", out_dir=tmp_path / source.suffix)
        results.append(read_rows(tmp_path / source.suffix / "posts.parquet"))
    assert results[0] == results[1] == results[2]
    assert len(results[0]) == 2
