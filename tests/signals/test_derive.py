"""Deriving signals from whole posts/accounts tables, on hand-made rows and on real data."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from vigil.core.errors import InputError
from vigil.schema.tables import ACCOUNTS, POSTS, conform
from vigil.signals import derive_account_signals, derive_post_signals, get_signal_type

from .conftest import sample_account, sample_post


def _posts() -> pa.Table:
    second = sample_post() | {
        "post_id": "1002",
        "account_handle": None,
        "text": "ok",
        "urls": [],
        "hashtags": ["#1"],
        "image_pdq": [],
        "image_ids": [],
    }
    return conform(pa.Table.from_pylist([sample_post(), second]), POSTS)


def test_post_table_derivation_equals_row_derivation() -> None:
    posts = _posts()
    table = derive_post_signals(posts)
    expected = []
    for row in posts.to_pylist():
        for name in (
            "account",
            "url",
            "domain",
            "hashtag",
            "text_exact",
            "text_minhash",
            "image_pdq",
            "image_md5",
        ):
            for value in get_signal_type(name).derive_from_post(row):  # type: ignore[attr-defined]
                expected.append((row["post_id"], name, value))
    got = list(
        zip(
            table["post_id"].to_pylist(),
            table["signal_type"].to_pylist(),
            table["value"].to_pylist(),
            strict=True,
        )
    )
    assert sorted(got) == sorted(expected)
    counts = {
        name: table["signal_type"].to_pylist().count(name) for name in set(table["signal_type"].to_pylist())
    }
    # The second post: account id only, text too short, "#1" is not a hashtag.
    assert counts == {
        "account": 3,
        "url": 1,
        "domain": 1,
        "hashtag": 1,
        "text_exact": 1,
        "text_minhash": 1,
        "image_pdq": 1,
        "image_md5": 1,
    }


def test_choosing_types() -> None:
    table = derive_post_signals(_posts(), ["hashtag"])
    assert table["value"].to_pylist() == ["wahl2021"]
    with pytest.raises(InputError, match="technique signals cannot be derived from posts"):
        derive_post_signals(_posts(), ["technique"])
    with pytest.raises(InputError, match="unknown signal type"):
        derive_post_signals(_posts(), ["nope"])


def test_account_table() -> None:
    accounts = conform(pa.Table.from_pylist([sample_account()]), ACCOUNTS)
    table = derive_account_signals(accounts)
    assert table["value"].to_pylist() == ["twitter:12345", "twitter:@vote_bot_77"]


def test_real_german_election_posts(shared_data: Path) -> None:
    """Real, anonymized posts through the ingest adapter: accounts are signals, anonymized ids
    (``url:123``, ``domain:45``, ``hashtag:6``, ``phash:7``) are not URLs, domains, hashtags or MD5s."""
    from vigil.ingest.adapters import make_adapter
    from vigil.ingest.adapters.base import AdapterOptions

    path = shared_data / "german-elections-2021" / "posts.parquet"
    adapter = make_adapter("german-elections", AdapterOptions(batch_size=5000))
    batch = next(iter(adapter.batches(path, "parquet")))
    posts = adapter.to_posts(batch)
    assert posts.num_rows > 1000
    table = derive_post_signals(posts)
    assert set(table["signal_type"].to_pylist()) == {"account"}
    values = table["value"].to_pylist()
    assert len(values) == posts.num_rows  # one account value per post (no handles in this data)
    assert all(v.startswith(("facebook:fb_", "twitter:tw_")) for v in values)
    assert all(get_signal_type("account").normalize(v) == v for v in values)
