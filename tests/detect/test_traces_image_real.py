"""Co-image on the real German 2021 election archive: anonymized image-hash ids are exact items."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from tests.detect._content_posts import connection
from vigil.detect.contract import EVENTS
from vigil.detect.engine import EngineParams, run_trace
from vigil.detect.traces.image import co_image
from vigil.schema.tables import POSTS, conform


def archive_posts(source: Path) -> pa.Table:
    """One post per post_id with its anonymized image-hash ids (the only column this trace reads)."""
    table = duckdb.sql(
        f"""
        SELECT CASE WHEN account_id LIKE 'fb%' THEN 'facebook' ELSE 'twitter' END AS platform,
               CAST(post_id AS VARCHAR) AS post_id, any_value(account_id) AS account_id,
               make_timestamptz(CAST(min(timestamp) * 1000000 AS BIGINT)) AS created_at,
               list(DISTINCT 'phash:' || phash_id) FILTER (WHERE phash_id IS NOT NULL) AS image_ids
        FROM read_parquet('{source}') WHERE post_id IS NOT NULL GROUP BY ALL
        """
    ).to_arrow_table()
    return conform(table, POSTS)


def test_image_ids_of_the_real_archive(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "german-elections-2021" / "posts.parquet"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    con = connection(archive_posts(source), tmp_path)
    trace = co_image(con)
    assert trace.events.schema.equals(EVENTS)
    # Independently, from the raw archive: image ids that at least two accounts posted.
    expected = duckdb.sql(
        f"""
        SELECT count(*), sum(n) FROM (
            SELECT phash_id, count(DISTINCT post_id) AS n FROM read_parquet('{source}')
            WHERE phash_id IS NOT NULL AND post_id IS NOT NULL
            GROUP BY phash_id HAVING count(DISTINCT account_id) >= 2)
        """
    ).fetchall()[0]
    assert trace.stats["items"] == expected[0] > 0
    assert trace.events.num_rows == expected[1]
    assert all(item.startswith("phash:") for item in trace.events.column("item").to_pylist()[:100])
    # The same picture posted on both platforms pairs Facebook with Twitter accounts.
    edges = run_trace(con, trace.spec, EngineParams(min_items=1)).edges.to_pylist()
    assert edges
    assert any(e["account_a"].split(":")[0] != e["account_b"].split(":")[0] for e in edges)
