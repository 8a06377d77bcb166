"""``match_posts`` over a hand-made posts file finds exactly the planted matches, end to end from
signals fetched over TAXII from a running exchange."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.match._planted import PDQ, flip, plant_posts, plant_signals
from tests.match.conftest import T0, Coalition, post, write_posts
from vigil.core.errors import DataError, InputError
from vigil.core.settings import load_settings
from vigil.match.fetch import fetch_signals
from vigil.match.matcher import match_posts
from vigil.match.state import open_index


def test_finds_exactly_the_planted_matches(sqlite_exchange: Coalition, tmp_path: Path) -> None:
    ex = sqlite_exchange
    ids = plant_signals(ex)
    fetch_signals(tmp_path / "index", ex.base_url, ex.keys["us"])
    posts, expected = plant_posts(tmp_path / "posts.parquet")
    index = open_index(tmp_path / "index")

    run = match_posts(posts, index, tmp_path / "out", batch_rows=4)  # several batches
    rows = pq.read_table(run.matches_path).to_pylist()
    assert {(r["post_id"], r["signal_type"]) for r in rows} == expected
    assert run.posts_read == 15 and run.posts_matched == 9
    # The hashtag signal has two contributions (source and gov): one row each, each with its own org.
    hashtag_rows = [r for r in rows if r["post_id"] == "hashtag"]
    assert {r["org_id"] for r in hashtag_rows} == {ex.orgs["source"], ex.orgs["gov"]}
    assert {r["confidence"] for r in hashtag_rows} == {60, 90}
    assert len(rows) == len(expected) + 2  # the two posts with the hashtag
    by_post = {(r["post_id"], r["signal_type"]): r for r in rows}
    url = by_post[("url-variant", "url")]
    assert url["signal_id"] == ids["url"] and url["signal_value"] == "https://example-news.com/article/1"
    assert url["post_value"] == "https://example-news.com/article/1"
    assert url["campaign_name"] == "Cloned outlets" and url["stix_id"].startswith("indicator--")
    assert url["created_at"] == T0.replace(minute=2) and url["platform"] == "twitter"
    assert by_post[("account", "account")]["tlp"] == "AMBER"
    assert by_post[("account", "account")]["account_handle"] == "Bot_One"
    pdq = by_post[("pdq-31", "image_pdq")]
    assert pdq["distance"] == 31.0 and pdq["similarity"] == pytest.approx(1 - 31 / 256)
    assert 0 < by_post[("arabic", "text_minhash")]["distance"] <= 0.3
    assert by_post[("arabic", "text_minhash")]["signal_id"] == ids["arabic"]

    summary = {(r["signal_id"], r["platform"]): r for r in pq.read_table(run.summary_path).to_pylist()}
    url_summary = summary[(ids["url"], "twitter")]
    assert url_summary["posts"] == 3 and url_summary["accounts"] == 2
    assert url_summary["first_seen"] == T0.replace(minute=1) and url_summary["last_seen"] == T0.replace(
        minute=15
    )
    assert url_summary["campaigns"] == ["Cloned outlets"]
    assert summary[(ids["hashtag"], "twitter")]["posts"] == 2
    assert len(summary) == 7  # one row per matched signal (all on twitter)


def test_a_directory_of_posts_and_one_file_give_the_same_matches(
    sqlite_exchange: Coalition, tmp_path: Path
) -> None:
    ex = sqlite_exchange
    ex.submit("source", "image_pdq", PDQ)
    fetch_signals(tmp_path / "index", ex.base_url, ex.keys["us"])
    index = open_index(tmp_path / "index")
    folder = tmp_path / "posts"
    write_posts(folder / "a.parquet", [post("p1", pdq=[flip(PDQ, 10)])])
    write_posts(folder / "b.parquet", [post("p2", pdq=[flip(PDQ, 40)]), post("p3", pdq=[PDQ])])
    run = match_posts(folder, index, tmp_path / "out")
    assert sorted(r["post_id"] for r in pq.read_table(run.matches_path).to_pylist()) == ["p1", "p3"]
    with pytest.raises(InputError, match="does not exist"):
        match_posts(tmp_path / "missing.parquet", index, tmp_path / "out2")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(DataError, match=r"bad\.parquet"):
        match_posts(tmp_path / "bad.parquet", index, tmp_path / "out3")
    assert not (tmp_path / "out3" / "matches.parquet").exists()


def test_thresholds_configured_now_apply_to_an_index_built_earlier(
    sqlite_exchange: Coalition, tmp_path: Path
) -> None:
    ex = sqlite_exchange
    ex.submit("source", "image_pdq", PDQ)
    fetch_signals(tmp_path / "index", ex.base_url, ex.keys["us"])  # built at the default radius, 31
    posts = write_posts(
        tmp_path / "p.parquet", [post("near", pdq=[flip(PDQ, 20)]), post("far", pdq=[flip(PDQ, 31)])]
    )
    default = match_posts(posts, open_index(tmp_path / "index"), tmp_path / "a")
    assert sorted(r["post_id"] for r in pq.read_table(default.matches_path).to_pylist()) == ["far", "near"]
    strict = open_index(tmp_path / "index", settings=load_settings(signal_thresholds={"image_pdq": 24}))
    assert strict.indexes["image_pdq"].threshold == 24
    run = match_posts(posts, strict, tmp_path / "b")
    assert [r["post_id"] for r in pq.read_table(run.matches_path).to_pylist()] == ["near"]


def test_summary_sets_are_each_groups_sorted_distinct_values() -> None:
    """The summary's stix_ids/campaigns/tlps (built column-wise) equal Python's sorted distinct
    non-null values per (signal, platform), on rows with repeats, nulls and non-ASCII names."""
    import random
    from datetime import UTC, datetime

    import pyarrow as pa

    from vigil.match.matcher import _SUMMARY_INPUT, _summary_table

    rng = random.Random(5)
    names = ["Ärger", "zeta", "alpha", "Zeta", "ω", None]
    rows: list[dict[str, Any]] = [
        {
            "signal_id": f"s{rng.randrange(30)}",
            "signal_type": "url",
            "signal_value": "v",
            "platform": rng.choice(["x", "tg"]),
            "post_id": str(rng.randrange(50)),
            "account_id": str(rng.randrange(9)),
            "created_at": datetime(2026, 1, 1, tzinfo=UTC),
            "distance": 0.0,
            "stix_id": rng.choice(names),
            "campaign": rng.choice(names),
            "tlp": rng.choice(["green", "amber", None]),
        }
        for _ in range(400)
    ]
    table = _summary_table([pa.Table.from_pylist(rows).select(_SUMMARY_INPUT)])
    expected: dict[tuple[str, str], dict[str, set[str]]] = {}
    for row in rows:
        group = expected.setdefault(
            (row["signal_id"], row["platform"]), {"stix_id": set(), "campaign": set(), "tlp": set()}
        )
        for name in group:
            if row[name] is not None:
                group[name].add(row[name])
    assert table.num_rows == len(expected)
    for got in table.to_pylist():
        want = expected[(got["signal_id"], got["platform"])]
        assert got["stix_ids"] == sorted(want["stix_id"])
        assert got["campaigns"] == sorted(want["campaign"])
        assert got["tlps"] == sorted(want["tlp"])
