"""Segments of the PDQ index: additions and revocations never rebuild the big segment, and a saved
index reopens memory-mapped, answering exactly as before (and as a brute-force scan)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tests.match.test_index_pdq import flip_bits
from vigil.match.index import PdqIndex, load_index
from vigil.match.index.pdq import Layout


def bank(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random codes and queries at 0-34 bits from some of them (edges 31/32 included)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    picks = rng.integers(0, n, 60)
    queries = np.stack(
        [flip_bits(rng, codes[i], int(d)) for i, d in zip(picks, rng.integers(0, 35, 60), strict=True)]
    )
    return codes, queries


def brute_force(codes: np.ndarray, queries: np.ndarray, radius: int) -> set[tuple[int, int, int]]:
    """(query, row, distance) of every pair within ``radius``, by a numpy popcount scan."""
    stored = codes.view(np.uint64)
    found = set()
    for qi, query in enumerate(queries.view(np.uint64)):
        distance = np.bitwise_count(stored ^ query).sum(axis=1)
        found.update((qi, int(row), int(distance[row])) for row in np.flatnonzero(distance <= radius))
    return found


def by_id(index: PdqIndex, queries: np.ndarray) -> set[tuple[int, str, int]]:
    q, r, d = index.search_encoded(queries)
    return {(int(a), name, int(c)) for a, name, c in zip(q, index.entry_ids(r), d, strict=True)}


def expected(codes: np.ndarray, ids: list[str], queries: np.ndarray) -> set[tuple[int, str, int]]:
    return {(q, ids[r], d) for q, r, d in brute_force(codes, queries, 31)}


def test_additions_and_revocations_do_not_rebuild_the_big_segment() -> None:
    codes, queries = bank(1, 24_000)
    ids = [f"e{i}" for i in range(len(codes))]
    index = PdqIndex(threads=2)
    index.add_encoded(codes[:20_000], ids[:20_000])
    assert index.segment_sizes == [20_000, 0]
    big = index._segments[0]
    # 4,000 more in small batches: each batch waits in the pending buffer, then becomes small segments.
    for start in range(20_000, 24_000, 500):
        index.add_encoded(codes[start : start + 500], ids[start : start + 500])
    assert index._segments[0] is big and index._segments[0].tables is big.tables
    assert sum(index.segment_sizes) == 24_000 and len(index.segment_sizes) >= 2
    assert by_id(index, queries) == expected(codes, ids, queries)
    # Revoke 1,000 spread over every segment and the buffer: gone from results at once, no rebuild.
    gone = set(ids[::24])
    assert index.remove(gone) == len(gone)
    assert index._segments[0].tables is big.tables
    alive = np.array([i not in gone for i in ids])
    kept = [i for i in ids if i not in gone]
    assert by_id(index, queries) == expected(codes[alive], kept, queries)
    assert len(index) == len(kept)
    # Revoking most of the big segment rebuilds it from its live rows (dead rows are dropped).
    index.remove(ids[:12_000])
    assert index._segments[0].tables is not big.tables and not index._segments[0].dead
    alive &= np.array([int(i[1:]) >= 12_000 for i in ids])
    assert by_id(index, queries) == expected(
        codes[alive], [i for i, a in zip(ids, alive, strict=True) if a], queries
    )


def test_reopened_index_is_memory_mapped_and_answers_the_same(tmp_path: Path) -> None:
    codes, queries = bank(2, 30_000)
    ids = [f"sig-{i}" for i in range(len(codes))]
    index = PdqIndex(threads=2, layout=Layout(13, 19, 31))  # chunks straddle words
    index.add_encoded(codes[:25_000], ids[:25_000])
    index.add_encoded(codes[25_000:], ids[25_000:])  # a second segment
    index.remove(ids[:100])
    before = by_id(index, queries)
    assert before == expected(codes[100:], ids[100:], queries)
    index.save(tmp_path / "one")

    reopened = PdqIndex.load(tmp_path / "one")
    assert isinstance(reopened._segments[0].rows, np.memmap)  # nothing read or rebuilt up front
    assert isinstance(reopened._segments[0].tables.order, np.memmap)
    assert reopened.layouts == index.layouts and len(reopened) == len(index)
    assert by_id(reopened, queries) == before

    # The next generation links the immutable files instead of writing them again.
    reopened.add_encoded(flip_bits(np.random.default_rng(0), queries[0], 3)[None, :], ["late"])
    reopened.save(tmp_path / "two")
    first = {p.name.split("-")[0]: p for p in (tmp_path / "one").iterdir()}
    second = {p.name.split("-")[0]: p for p in (tmp_path / "two").iterdir()}
    for role in ("s0codes", "s0order", "s0starts", "s0ids"):
        assert os.stat(first[role]).st_ino == os.stat(second[role]).st_ino
    assert os.stat(first["s0alive"]).st_ino != os.stat(second["s0alive"]).st_ino
    again = load_index(tmp_path / "two")
    assert isinstance(again, PdqIndex)
    assert by_id(again, queries) == before | {(0, "late", 3)}


def test_tables_saved_for_another_radius_are_rebuilt(tmp_path: Path) -> None:
    codes, queries = bank(3, 12_000)
    ids = [f"e{i}" for i in range(len(codes))]
    index = PdqIndex(threshold=31)
    index.add_encoded(codes, ids)
    index.save(tmp_path / "i")
    manifest = tmp_path / "i" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"threshold": 31', '"threshold": 20'))
    narrower = load_index(tmp_path / "i")
    assert isinstance(narrower, PdqIndex) and narrower.radius == 20
    assert by_id(narrower, queries) == {(q, ids[r], d) for q, r, d in brute_force(codes, queries, 20)}


def test_approximate_option_returns_only_true_matches() -> None:
    """The faiss IVF option may miss matches (its recall is measured in bench/), never invents one."""
    from vigil.match.index.pdq_faiss import PdqIvfIndex

    codes, queries = bank(4, 20_000)
    ids = [f"e{i}" for i in range(len(codes))]
    index = PdqIvfIndex(threads=2, nprobe=16)
    index.add_encoded(codes, ids)
    assert index.layouts[0].startswith("IVF")
    truth = expected(codes, ids, queries)
    got = by_id(index, queries)
    assert got <= truth
    assert {t for t in truth if t[2] == 0} <= got  # an exact copy is in the list its query visits
    index.nprobe = 10_000  # every list: a scan
    assert by_id(index, queries) == truth
