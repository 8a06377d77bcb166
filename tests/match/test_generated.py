"""Matching a generated data set (``vigil.synth``, 5,000 posts on several platforms): partners share
a few URLs, hashtags, an account and PDQ hashes taken from it; the matcher must find exactly the
posts a plain scan of the table finds (canonical URL equal, hashtag present, same platform and
handle, PDQ within 31 bits by numpy popcount), across several batches."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from tests.match.conftest import Coalition
from vigil.match.fetch import fetch_signals
from vigil.match.matcher import match_posts
from vigil.match.state import open_index
from vigil.schema.io import read_table
from vigil.schema.tables import POSTS
from vigil.synth import GeneratorConfig, generate


def hamming(a: str, codes: list[str]) -> np.ndarray:
    x = np.frombuffer(bytes.fromhex(a), dtype=np.uint8)
    ys = np.frombuffer(b"".join(bytes.fromhex(c) for c in codes), dtype=np.uint8).reshape(-1, 32)
    return np.unpackbits(ys ^ x, axis=1).sum(axis=1)  # type: ignore[no-any-return]


def test_generated_posts_match_exactly_what_a_scan_finds(sqlite_exchange: Coalition, tmp_path: Path) -> None:
    generate(GeneratorConfig(posts=5000, seed=3), tmp_path / "gen")
    posts_path = tmp_path / "gen" / "posts.parquet"
    rows = read_table(posts_path, POSTS).to_pylist()

    urls = Counter(u["canonical"] for r in rows for u in r["urls"] or [] if u["domain"])
    tags = Counter(t for r in rows for t in r["hashtags"] or [])
    images = [(r["post_id"], code) for r in rows for code in r["image_pdq"] or []]
    shared_urls = [u for u, _ in urls.most_common(3)]
    shared_tags = [t for t, n in tags.items() if 2 <= n <= 5][:2]
    codes = [code for _, code in images]
    # The two images with the most near-duplicates (campaigns reuse edited images).
    packed = np.frombuffer(b"".join(bytes.fromhex(c) for c in codes), dtype=np.uint8).reshape(-1, 32)
    table = np.unpackbits(packed, axis=1).astype(np.int16)  # n x 256 bits
    distances = table.sum(1)[:, None] + table.sum(1)[None, :] - 2 * table @ table.T  # pairwise Hamming
    crowd = list((distances <= 31).sum(axis=1))
    shared_pdq = [codes[i] for i in sorted(range(len(codes)), key=lambda i: -crowd[i])[:1]]
    shared_pdq.append(next(c for c in codes if (hamming(c, shared_pdq) > 64).all()))
    account = next(r for r in rows if r["account_handle"])
    for value in shared_urls:
        sqlite_exchange.submit("source", "url", value)
    for value in shared_tags:
        sqlite_exchange.submit("source", "hashtag", value)
    for value in shared_pdq:
        sqlite_exchange.submit("source", "image_pdq", value)
    sqlite_exchange.submit("source", "account", f"{account['platform']}:@{account['account_handle']}")

    expected = set()
    for r in rows:
        if any(u["canonical"] in shared_urls for u in r["urls"] or []):
            expected.add((r["post_id"], "url"))
        if set(r["hashtags"] or []) & set(shared_tags):
            expected.add((r["post_id"], "hashtag"))
        if (r["platform"], (r["account_handle"] or "").lower()) == (
            account["platform"],
            account["account_handle"].lower(),
        ):
            expected.add((r["post_id"], "account"))
    for value in shared_pdq:
        for (post_id, _), distance in zip(images, hamming(value, codes), strict=True):
            if distance <= 31:
                expected.add((post_id, "image_pdq"))
    assert len({k for _, k in expected}) == 4 and len(expected) > 20

    fetch_signals(tmp_path / "index", sqlite_exchange.base_url, sqlite_exchange.keys["us"])
    run = match_posts(posts_path, open_index(tmp_path / "index"), tmp_path / "out", batch_rows=700)
    found = {(r["post_id"], r["signal_type"]) for r in pq.read_table(run.matches_path).to_pylist()}
    assert found == expected
    assert Counter(k for _, k in found)["image_pdq"] > 5  # near-duplicates at various distances
    assert run.posts_read == 5000
