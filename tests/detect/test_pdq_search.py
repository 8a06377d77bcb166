"""Exact PDQ radius search (multi-index hashing against brute force) and the leader search of co_image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tests.detect._content_posts import connection, posts
from vigil.core.errors import InputError
from vigil.core.progress import NoProgress
from vigil.detect.similarity.clusters import leader_clusters
from vigil.detect.similarity.pdq import (
    PDQ_BYTES,
    MultiIndex,
    chunk_collisions,
    flat_radius_pairs,
    probe_plan,
    radius_pairs,
)
from vigil.detect.traces.image import BucketSets, ImageTraceParams, co_image, pdq_leaders

Codes = np.ndarray


def flip(rng: np.random.Generator, codes: Codes, bits: np.ndarray) -> Codes:
    """Each row of ``codes`` with ``bits[i]`` distinct random bits inverted."""
    out = np.unpackbits(codes, axis=1)
    for i, count in enumerate(bits.tolist()):
        out[i, rng.choice(256, size=count, replace=False)] ^= 1
    return np.packbits(out, axis=1)


def scan(queries: Codes, codes: Codes, radius: int) -> set[tuple[int, int, int]]:
    """Brute force with a numpy popcount: the truth every search is held to."""
    found: set[tuple[int, int, int]] = set()
    for qi, query in enumerate(queries):
        distance = np.bitwise_count(np.bitwise_xor(codes, query)).sum(axis=1)
        found.update((qi, int(row), int(distance[row])) for row in np.flatnonzero(distance <= radius))
    return found


def as_set(result: tuple[np.ndarray, np.ndarray, np.ndarray]) -> set[tuple[int, int, int]]:
    return set(zip(*(part.tolist() for part in result), strict=True))


def crowded(seed: int, n: int = 3000) -> tuple[Codes, Codes]:
    """Random codes plus memes re-encoded many times (crowded buckets), exact copies, a code and its
    complement (distance 256), and queries at every distance around the radius."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, (n, PDQ_BYTES), dtype=np.uint8)
    memes = rng.integers(0, 256, (5, PDQ_BYTES), dtype=np.uint8)
    variants = flip(rng, memes[rng.integers(0, 5, 600)], rng.integers(0, 20, 600))
    codes[: len(variants)] = variants
    codes[700] = codes[701]  # an exact copy
    codes[702] = ~codes[703]  # every bit differs
    queries = np.vstack(
        [
            codes[rng.integers(0, n, 150)],
            flip(rng, codes[rng.integers(0, n, 200)], rng.integers(25, 40, 200)),
            memes,
            codes[[700, 702]],
        ]
    )
    return codes, queries


@pytest.mark.parametrize("radius", [31, 32, 0, 15, 16, 40, 47])
def test_multi_index_equals_brute_force(radius: int) -> None:
    codes, queries = crowded(seed=radius)
    truth = scan(queries, codes, radius)
    q, x, d = radius_pairs(queries, codes, radius)
    assert len(q) == len(truth), "every pair exactly once"
    assert as_set((q, x, d)) == truth
    assert as_set(flat_radius_pairs(queries, codes, radius)) == truth
    if radius <= 32:  # filing every near chunk value: the same pairs, each once
        expanded = MultiIndex(codes, radius, expand=True).search(queries)
        assert len(expanded[0]) == len(truth) and as_set(expanded) == truth


def test_boundary_31_in_32_out_with_every_chunk_two_bits_off() -> None:
    rng = np.random.default_rng(5)
    base = rng.integers(0, 256, (1, PDQ_BYTES), dtype=np.uint8)
    bits = np.unpackbits(base, axis=1)
    # 32 bits: two in each 16-bit chunk, so no chunk is within one bit (the search must not find it
    # at 31); 31 bits: one chunk one bit off, the fifteen others two (found only through that one).
    two_each = bits.copy()
    for chunk in range(16):
        two_each[0, chunk * 16 + 3] ^= 1
        two_each[0, chunk * 16 + 11] ^= 1
    thirty_one = two_each.copy()
    thirty_one[0, 7 * 16 + 3] ^= 1
    codes = np.vstack([np.packbits(two_each, axis=1), np.packbits(thirty_one, axis=1)])
    assert as_set(radius_pairs(base, codes, 31)) == {(0, 1, 31)}
    assert as_set(radius_pairs(base, codes, 32)) == {(0, 0, 32), (0, 1, 31)}
    assert as_set(radius_pairs(base, codes, 30)) == set()


def test_probe_plan_follows_the_pigeonhole_bound() -> None:
    chunk_of, masks, chunk_radius = probe_plan(31)  # type: ignore[misc]
    assert len(chunk_of) == 16 * 17 and set(chunk_radius.tolist()) == {1}
    chunk_of, masks, chunk_radius = probe_plan(15)  # type: ignore[misc]
    assert len(chunk_of) == 16 and not masks.any()  # every chunk looked up as is
    chunk_of, _, chunk_radius = probe_plan(20)  # type: ignore[misc]
    # 20 = 16 + 4: chunks 0-4 within one bit, the others equal.
    assert chunk_radius.tolist() == [1] * 5 + [0] * 11 and len(chunk_of) == 5 * 17 + 11
    assert probe_plan(60) is None


def test_beyond_multi_index_falls_back_to_the_scan() -> None:
    codes, queries = crowded(seed=2, n=800)
    queries = queries[:40]
    assert as_set(radius_pairs(queries, codes, 70)) == scan(queries, codes, 70)
    with pytest.raises(ValueError, match="beyond"):
        MultiIndex(codes, 70)


def test_empty_inputs() -> None:
    none = np.zeros((0, PDQ_BYTES), dtype=np.uint8)
    one = np.zeros((1, PDQ_BYTES), dtype=np.uint8)
    for queries, codes in ((none, one), (one, none), (none, none)):
        assert all(len(part) == 0 for part in radius_pairs(queries, codes))


def test_bucket_sets_tell_posts_within_one_bucket() -> None:
    # hash 0: buckets 1 and 5; hash 1: bucket 3; hash 2: bucket 6; hash 3: bucket 2.
    sets = BucketSets(np.array([0, 0, 1, 2, 3]), np.array([5, 1, 3, 6, 2]), 4)
    a = np.array([0, 1, 0, 1, 2, 3])
    b = np.array([1, 0, 2, 3, 0, 0])
    assert sets.near(a, b).tolist() == [False, False, True, True, True, True]
    assert sets.first.tolist() == [1, 3, 6, 2] and sets.last.tolist() == [5, 3, 6, 2]


def leaders_from_all_pairs(codes: Codes, sets: BucketSets, radius: int) -> np.ndarray:
    """Leader clustering of every pair within ``radius`` posted within one bucket of each other."""
    q, x, d = flat_radius_pairs(codes, codes, radius)
    earlier = x < q
    q, x, d = q[earlier], x[earlier], d[earlier]
    near = sets.near(q, x)
    return leader_clusters(len(codes), q[near], x[near], d[near].astype(np.float64))


@pytest.mark.parametrize("batch", [31, 200, 5000])
def test_leader_search_equals_leader_clustering_of_every_pair(batch: int) -> None:
    rng = np.random.default_rng(batch)
    n = 1500
    codes = rng.integers(0, 256, (n, PDQ_BYTES), dtype=np.uint8)
    memes = rng.integers(0, 256, (8, PDQ_BYTES), dtype=np.uint8)
    meme_rows = rng.choice(n, 700, replace=False)
    # Re-encodings up to 30 bits: two variants of one meme can be 31+ bits apart (several leaders).
    codes[meme_rows] = flip(rng, memes[rng.integers(0, 8, 700)], rng.integers(0, 31, 700))
    # First-seen buckets increase with the id (ids are in first-seen order); a third of the
    # hashes are posted again later, some after a gap of several buckets.
    first = np.sort(rng.integers(0, 12, n))
    again = rng.random(n) < 0.3
    later = first + rng.integers(1, 6, n)
    cids = np.concatenate([np.arange(n), np.flatnonzero(again)])
    buckets = np.concatenate([first, later[again]])
    sets = BucketSets(cids, buckets, n)
    labels, checked = pdq_leaders(codes, sets, 31, NoProgress(), batch=batch)
    expected = leaders_from_all_pairs(codes, sets, 31)
    assert labels.tolist() == expected.tolist()
    assert (labels != np.arange(n)).sum() > 300  # memes did cluster
    assert checked < (expected != np.arange(n)).sum() * 20


def test_crowded_new_hashes_are_split_and_stay_exact() -> None:
    # One batch, no earlier leaders: 1,800 re-encodings (up to 14 bits) of 4 memes among 600
    # spread-out hashes, all in one bucket. The group is crowded, so it is solved half by half.
    rng = np.random.default_rng(9)
    n = 2400
    codes = rng.integers(0, 256, (n, PDQ_BYTES), dtype=np.uint8)
    memes = rng.integers(0, 256, (4, PDQ_BYTES), dtype=np.uint8)
    rows = rng.choice(n, 1800, replace=False)
    codes[rows] = flip(rng, memes[rng.integers(0, 4, 1800)], rng.integers(0, 15, 1800))
    assert chunk_collisions(codes) > 100 * chunk_collisions(codes[np.setdiff1d(np.arange(n), rows)])
    sets = BucketSets(np.arange(n), np.zeros(n, dtype=np.int64), n)
    labels, checked = pdq_leaders(codes, sets, 31, NoProgress(), batch=n)
    assert labels.tolist() == leaders_from_all_pairs(codes, sets, 31).tolist()
    similar = len(flat_radius_pairs(codes, codes, 31)[0]) // 2
    assert checked < similar / 20  # the pairs among a meme's re-encodings were not all checked


class _Steps:
    """A Progress that records each advance."""

    def __init__(self) -> None:
        self.steps: list[float] = []

    def start(self, description: str, total: float | None = None) -> None:
        return None

    def advance(self, amount: float = 1) -> None:
        self.steps.append(amount)

    def finish(self) -> None:
        return None


def test_leader_search_advances_within_a_batch_and_counts_every_hash_once() -> None:
    # One batch of a crowded group (solved half by half): the bar moves many times inside it, and
    # its advances add up to the number of hashes, so it ends at its total.
    rng = np.random.default_rng(9)
    n = 2400
    codes = rng.integers(0, 256, (n, PDQ_BYTES), dtype=np.uint8)
    memes = rng.integers(0, 256, (4, PDQ_BYTES), dtype=np.uint8)
    rows = rng.choice(n, 1800, replace=False)
    codes[rows] = flip(rng, memes[rng.integers(0, 4, 1800)], rng.integers(0, 15, 1800))
    sets = BucketSets(np.arange(n), np.zeros(n, dtype=np.int64), n)
    steps = _Steps()
    pdq_leaders(codes, sets, 31, steps, batch=n)
    assert sum(steps.steps) == n
    assert len([s for s in steps.steps if s > 0]) >= 4
    assert max(steps.steps) <= n // 2
    # Several batches: still every hash once.
    steps = _Steps()
    pdq_leaders(codes, sets, 31, steps, batch=700)
    assert sum(steps.steps) == n


def test_chunk_collisions_counts_pairs_with_an_equal_chunk() -> None:
    codes = np.zeros((3, PDQ_BYTES), dtype=np.uint8)
    codes[1, 0] = 1  # differs from row 0 in chunk 0 only
    codes[2, :] = 255  # shares no chunk with the others
    assert chunk_collisions(codes) == 15 + 0 + 0  # rows 0 and 1 share 15 chunks


def generated_posts(seed: int) -> pa.Table:
    """Posts over four days: fresh pictures, memes re-posted by many accounts (exact copies and
    re-encodings), and one group re-posting its own picture within seconds."""
    rng = np.random.default_rng(seed)
    memes = rng.integers(0, 256, (6, PDQ_BYTES), dtype=np.uint8)
    rows = []
    for _ in range(900):
        kind = rng.random()
        if kind < 0.5:
            code = rng.integers(0, 256, (1, PDQ_BYTES), dtype=np.uint8)
        else:
            code = flip(rng, memes[rng.integers(0, 6, 1)], rng.integers(0, 12, 1) * (kind < 0.8))
        at = float(rng.integers(0, 4 * 86_400))
        rows.append({"account": f"u{rng.integers(0, 300)}", "image_pdq": [code[0].tobytes().hex()], "at": at})
    picture = rng.integers(0, 256, (1, PDQ_BYTES), dtype=np.uint8)
    for m in range(6):
        code = flip(rng, picture, np.array([m * 2]))
        rows.append({"account": f"camp{m}", "image_pdq": [code[0].tobytes().hex()], "at": 50_000.0 + m})
    return posts(rows)


@pytest.mark.parametrize("clustering", ["leader", "components"])
def test_co_image_results_do_not_depend_on_the_search(tmp_path: Path, clustering: str) -> None:
    table = generated_posts(seed=3)
    by_search = {}
    for search in ("mih", "flat"):
        params = ImageTraceParams(clustering=clustering, search=search)  # type: ignore[arg-type]
        trace = co_image(connection(table, tmp_path), params)
        by_search[search] = trace.members.sort_by([("item", "ascending"), ("post_id", "ascending")])
    assert by_search["mih"].equals(by_search["flat"])
    assert by_search["mih"].num_rows > 300
    camp = [r["item"] for r in by_search["mih"].to_pylist() if r["account"].startswith("x:camp")]
    assert len(camp) == 6 and len(set(camp)) == 1


def test_unknown_search_is_refused() -> None:
    with pytest.raises(InputError, match="search"):
        ImageTraceParams(search="annoy")  # type: ignore[arg-type]
