"""Which posts a campaign's report quotes (vigil.detect.evidence.post_details)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from vigil.detect.campaigns import CAMPAIGN_EVIDENCE
from vigil.detect.evidence import SAMPLE_POSTS, post_details


def test_posts_of_one_account_in_the_same_second_are_quoted_by_post_id(tmp_path: Path) -> None:
    # One account posts the item 3 x SAMPLE_POSTS times in one second (archives to the minute do):
    # the quoted posts are the first SAMPLE_POSTS by post id, in every run.
    n = 3 * SAMPLE_POSTS
    ids = [f"p{i:03d}" for i in range(n)]
    shuffled = ids[1::2] + ids[::2]
    ts = pa.array([1_700_000_000_000_000] * n, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    evidence = pa.table(
        {
            "campaign_id": ["c1"] * n,
            "trace": ["co_hashtag"] * n,
            "kind": ["hashtag"] * n,
            "item": ["#x"] * n,
            "account_a": ["tw:a"] * n,
            "post_a": shuffled,
            "ts_a": ts,
            "account_b": ["tw:b"] * n,
            "post_b": [f"b{i}" for i in range(n)],
            "ts_b": ts,
        },
        schema=CAMPAIGN_EVIDENCE,
    )
    posts = tmp_path / "posts.parquet"
    pq.write_table(
        pa.table(
            {
                "platform": ["tw"] * (2 * n),
                "account_id": ["a"] * n + ["b"] * n,
                "post_id": ids + [f"b{i}" for i in range(n)],
                "lang": ["en"] * (2 * n),
                "text": ["t"] * (2 * n),
            }
        ),
        posts,
    )
    for _ in range(3):
        _, samples = post_details(evidence, posts)
        accounts, quoted_ids = samples["account"].to_pylist(), samples["post_id"].to_pylist()
        quoted = [p for a, p in zip(accounts, quoted_ids, strict=True) if a == "tw:a"]
        # Account b sorts after a at the same second: the first SAMPLE_POSTS quoted are a's.
        assert quoted == ids[:SAMPLE_POSTS]
