"""The streamed, bounded-memory co-text path gives the same clusters as a plain in-memory computation.

The reference below is the straightforward version of the same definition: every normalized post
in memory, each time bucket's texts (previous bucket carried over) sketched with full MinHash
signature matrices, all pairs collected, then leader clustering in one go. The trace under test
streams the normalized posts through Parquet, keeps only band keys across buckets, spills pairs to
DuckDB and reads them back sorted in batches; the batch sizes are shrunk here so that every
streamed step really runs over several batches.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from vigil.core.settings import load_settings
from vigil.detect.duck import connect, register_posts
from vigil.detect.similarity.clusters import leader_clusters, leader_clusters_scored, leader_clusters_sorted
from vigil.detect.similarity.minhash import (
    MinHashParams,
    band_keys,
    decode_pairs,
    jaccard,
    lsh_candidates,
    lsh_candidates_from_keys,
    lsh_pairs,
    shingle_sets,
    signatures,
    sketch,
)
from vigil.detect.traces.base import ACCOUNT_SQL, TS_SQL
from vigil.detect.traces.text import GROUPS_TABLE, TEXTS_TABLE, TextTraceParams, text_traces
from vigil.ingest.text import normalize_texts, token_counts
from vigil.synth.config import GeneratorConfig
from vigil.synth.generator import generate

POSTS = 40_000


@pytest.fixture(scope="module")
def posts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated-text")
    generate(GeneratorConfig(posts=POSTS, seed=11, days=4), out)
    return out / "posts.parquet"


class Reference(NamedTuple):
    distinct: list[str]
    labels: list[int]
    pairs: int
    exact: set[str]


def _reference(posts_file: Path, tmp_path: Path, params: TextTraceParams) -> Reference:
    """Distinct texts, their near-duplicate labels and exact items, all computed in memory."""
    con = connect(load_settings(temp_dir=tmp_path, duckdb_threads=1))
    register_posts(con, posts_file)
    rows = con.sql(
        f"SELECT {ACCOUNT_SQL} AS account, {TS_SQL} AS ts, text FROM posts "
        "WHERE text IS NOT NULL AND reshare_of IS NULL"
    ).to_arrow_table()
    norm = normalize_texts(rows.column("text"))
    keep = pc.greater_equal(token_counts(norm), params.min_tokens)
    accounts = rows.column("account").filter(keep).to_pylist()
    times = rows.column("ts").filter(keep).to_pylist()
    texts = norm.filter(keep).to_pylist()
    first: dict[str, float] = {}
    posters: dict[str, set[str]] = defaultdict(set)
    for text, ts, account in zip(texts, times, accounts, strict=True):
        first[text] = min(ts, first.get(text, ts))
        posters[text].add(account)
    distinct = sorted(first, key=lambda t: (first[t], t))
    xid = {t: i for i, t in enumerate(distinct)}
    by_bucket: dict[int, set[int]] = defaultdict(set)
    for text, ts in zip(texts, times, strict=True):
        by_bucket[int(np.floor(ts / params.bucket_seconds))].add(xid[text])
    mh = params.minhash
    found: list[tuple[int, int, float]] = []
    prev: tuple[int, list[int]] | None = None
    for bucket in sorted(by_bucket):
        current = sorted(by_bucket[bucket])
        old = prev[1] if prev is not None and prev[0] == bucket - 1 else []
        carried = set(old)
        new = [x for x in current if x not in carried]
        union = old + new
        sets = shingle_sets(pa.array([distinct[x] for x in union]), mh.shingle_size)
        a, b = lsh_candidates(signatures(sets, mh), mh)
        fresh = b >= len(old)
        a, b = a[fresh], b[fresh]
        sim = jaccard(sets, a, b)
        for i, j, s in zip(a.tolist(), b.tolist(), sim.tolist(), strict=True):
            if s >= params.near_threshold:
                found.append((min(union[i], union[j]), max(union[i], union[j]), s))
        prev = (bucket, current)
    pa_, pb_, ps_ = (np.array(col) for col in zip(*found, strict=True))
    labels = leader_clusters(len(distinct), pa_.astype(np.int64), pb_.astype(np.int64), 1.0 - ps_)
    exact = {t for t in distinct if len(posters[t]) >= params.min_accounts}
    return Reference(distinct, labels.tolist(), len(found), exact)


def test_streamed_traces_equal_the_in_memory_computation(
    posts_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vigil.detect.traces.content as content_module
    import vigil.detect.traces.text as text_module

    # Small batches everywhere: normalization, candidate checks, pair read-back, member scoring.
    monkeypatch.setattr(content_module, "PAIR_BATCH", 97)
    monkeypatch.setattr(text_module, "_SCORE_SLICE", 101)
    monkeypatch.setattr(text_module, "_CANDIDATE_CHUNK", 499)
    params = TextTraceParams(batch_rows=5_000, temp_dir=tmp_path)
    con = connect(load_settings(temp_dir=tmp_path, duckdb_threads=1, duckdb_memory_limit="1GB"))
    register_posts(con, posts_file)
    exact, near, prepared = text_traces(con, params)
    expected = _reference(posts_file, tmp_path, params)

    distinct = [r[0] for r in con.execute(f"SELECT norm FROM {TEXTS_TABLE} ORDER BY xid").fetchall()]
    assert distinct == expected.distinct
    labels = [r[0] for r in con.execute(f"SELECT gid FROM {GROUPS_TABLE} ORDER BY xid").fetchall()]
    assert labels == expected.labels
    assert near.stats["similar_pairs"] == expected.pairs > 100  # the data has real near duplicates

    # Near items: groups of 2+ distinct texts; every member text maps to its representative.
    sizes = Counter(labels)
    multi = {g for g, size in sizes.items() if size >= 2}
    members = near.members
    assert members.num_rows == near.stats["events"] > 0
    key_to_rep = dict(
        zip(members.column("key").to_pylist(), members.column("representative").to_pylist(), strict=True)
    )
    position = {t: i for i, t in enumerate(distinct)}
    for key, rep in key_to_rep.items():
        assert distinct[labels[position[key]]] == rep
        assert labels[position[key]] in multi
    assert set(exact.members.column("key").to_pylist()) == expected.exact
    assert prepared["distinct_texts"] == len(distinct)
    # Events read back equal the members (same posts and items).
    assert near.events.num_rows == members.num_rows
    assert sorted(near.events.column("post_id").to_pylist()) == sorted(members.column("post_id").to_pylist())


def test_sketch_in_blocks_equals_whole_signatures() -> None:
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(300)]
    texts = [" ".join(rng.choice(words, size=int(rng.integers(1, 25)))) for _ in range(1_000)]
    params = MinHashParams()
    sets, keys = sketch(pa.array(texts), params, block=37)
    whole = shingle_sets(pa.array(texts), params.shingle_size)
    assert np.array_equal(sets.offsets, whole.offsets) and np.array_equal(sets.values, whole.values)
    assert np.array_equal(keys, band_keys(signatures(whole, params), params))
    a, b = lsh_candidates_from_keys(keys)
    a2, b2 = lsh_candidates(signatures(whole, params), params)
    assert np.array_equal(a, a2) and np.array_equal(b, b2) and len(a) > 0
    # Split into blocks and keeping only pairs that reach the second block: the same pairs, filtered.
    fresh = decode_pairs(lsh_pairs([keys[:, :600], keys[:, 600:]], fresh_from=600))
    assert np.array_equal(fresh[0], a[b >= 600]) and np.array_equal(fresh[1], b[b >= 600])


def test_leader_clusters_from_sorted_batches_equal_the_in_memory_pass() -> None:
    rng = np.random.default_rng(5)
    n = 400
    a = rng.integers(0, n, 3_000)
    b = rng.integers(0, n, 3_000)
    ok = a != b
    a, b = a[ok], b[ok]
    distance = rng.integers(0, 5, len(a)) / 10.0  # many ties: the earlier node decides
    expected = leader_clusters(n, a, b, distance)
    later, earlier = np.maximum(a, b), np.minimum(a, b)
    order = np.lexsort((earlier, distance, later))
    later, earlier = later[order], earlier[order]
    for size in (1, 7, 250, len(later)):
        batches = [(later[i : i + size], earlier[i : i + size]) for i in range(0, len(later), size)]
        assert np.array_equal(leader_clusters_sorted(n, batches), expected)
    assert len(set(expected.tolist())) < n  # some nodes joined leaders


def _python_leaders(
    n: int, later: list[int], earlier: list[int], sim: list[float]
) -> tuple[list[int], list[float]]:
    """Leader clustering as the definition reads: pairs sorted by (later, distance, earlier), each
    node joins its first candidate that is a leader (score: that pair's similarity), else leads."""
    labels, score, leader = list(range(n)), [1.0] * n, [True] * n
    for node_later, node_earlier, s in sorted(
        zip(later, earlier, sim, strict=True), key=lambda p: (p[0], 1.0 - p[2], p[1])
    ):
        if leader[node_later] and labels[node_later] == node_later and leader[node_earlier]:
            labels[node_later], score[node_later], leader[node_later] = node_earlier, s, False
    return labels, score


def test_scored_leader_pass_equals_the_plain_definition() -> None:
    rng = np.random.default_rng(9)
    n = 300
    a = rng.integers(0, n, 2_000)
    b = rng.integers(0, n, 2_000)
    ok = a != b
    a, b = a[ok], b[ok]
    sim = rng.integers(6, 11, len(a)) / 10.0  # many ties: the earlier node decides
    later, earlier = np.maximum(a, b), np.minimum(a, b)
    expected_labels, expected_score = _python_leaders(n, later.tolist(), earlier.tolist(), sim.tolist())
    order = np.lexsort((earlier, 1.0 - sim, later))
    later, earlier, sim = later[order], earlier[order], sim[order]
    for size in (1, 13, len(later)):
        batches = [
            (later[i : i + size], earlier[i : i + size], sim[i : i + size])
            for i in range(0, len(later), size)
        ]
        labels, score = leader_clusters_scored(n, batches)
        assert labels.tolist() == expected_labels and score.tolist() == expected_score
    assert np.array_equal(leader_clusters(n, a, b, 1.0 - sim[np.argsort(order)]), np.asarray(expected_labels))
    assert sum(label != node for node, label in enumerate(expected_labels)) > 50
