"""PDQ index benchmark: Vigil's multi-index hashing index against faiss binary indexes, same run.

    python bench/pdq_index.py                      # 1M codes, 10k queries, radius 31, 2 threads
    python bench/pdq_index.py --codes 200000 --queries 5000 --radius 31 --threads 2

Two data sets of ``--codes`` 256-bit codes, each searched with ``--queries`` queries:

* ``random``: uniform random codes; every query is a stored code with 0..radius random bits
  flipped (at least one true match each). Random codes are the easy case for candidate counts.
* ``planted``: 90% random codes plus near-duplicate clusters (10 copies of each base code at 0..40
  bits); half the queries are bases flipped by 0..16 bits (several true matches each, crowded
  buckets), half fresh random codes (almost no match).

For each index: build time, memory (RSS growth while building, and the bytes of its arrays),
queries/second over all queries in one batched call (wall clock, and per CPU-second of the
process's threads: the figure contention on a shared machine distorts least), and
recall/precision against the exact result of faiss ``IndexBinaryFlat.range_search`` (radius + 1:
faiss keeps distances strictly below it),
itself checked against a numpy popcount scan on a sample of queries. Peers: faiss
``IndexBinaryFlat`` (exact scan) and ``IndexBinaryMultiHash`` (16 x 16 bits, nflip=1).

Figures depend on the machine; on a shared machine note the contention (load average is printed).
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from vigil.match.index.pdq import PdqIndex


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def flip(rng: np.random.Generator, codes: np.ndarray, max_bits: int) -> np.ndarray:
    """Each code with a random number (0..max_bits) of distinct random bits flipped."""
    bits = np.unpackbits(codes, axis=1)
    counts = rng.integers(0, max_bits + 1, len(codes))
    keys = rng.random((len(codes), 256))
    # The `count` smallest random keys of a row choose its bits: distinct positions, vectorized.
    ranks = np.argsort(np.argsort(keys, axis=1), axis=1)
    bits ^= (ranks < counts[:, None]).astype(np.uint8)
    return np.packbits(bits, axis=1)


def dataset(kind: str, n: int, q: int, radius: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "random":
        codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
        queries = flip(rng, codes[rng.integers(0, n, q)], radius)
        return codes, queries
    planted = n // 10
    bases = rng.integers(0, 256, (planted // 10, 32), dtype=np.uint8)
    clusters = np.concatenate([flip(rng, bases, 40) for _ in range(10)])
    codes = np.concatenate([rng.integers(0, 256, (n - len(clusters), 32), dtype=np.uint8), clusters])
    codes = codes[rng.permutation(len(codes))]
    near = flip(rng, bases[rng.integers(0, len(bases), q // 2)], 16)
    fresh = rng.integers(0, 256, (q - q // 2, 32), dtype=np.uint8)
    return codes, np.concatenate([near, fresh])


def pairs_from_faiss(lims: np.ndarray, ids: np.ndarray) -> set[tuple[int, int]]:
    out = set()
    for qi in range(len(lims) - 1):
        for row in ids[lims[qi] : lims[qi + 1]]:
            out.add((qi, int(row)))
    return out


def numpy_scan(codes: np.ndarray, queries: np.ndarray, radius: int) -> set[tuple[int, int]]:
    stored = codes.view(np.uint64)
    out = set()
    for qi, query in enumerate(queries.view(np.uint64)):
        distance = np.bitwise_count(stored ^ query).sum(axis=1)
        out.update((qi, int(row)) for row in np.flatnonzero(distance <= radius))
    return out


def measure(build: Callable[[], Any], search: Callable[[Any], set[tuple[int, int]]]) -> dict[str, Any]:
    gc.collect()
    before = rss_bytes()
    start = time.perf_counter()
    index = build()
    built = time.perf_counter() - start
    grown = rss_bytes() - before
    start, cpu = time.perf_counter(), time.process_time()
    found = search(index)
    searched, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    return {
        "index": index,
        "build_s": built,
        "rss_mb": grown / 2**20,
        "search_s": searched,
        "cpu_s": cpu_s,
        "found": found,
    }


def run(kind: str, n: int, q: int, radius: int, threads: int) -> None:
    import faiss

    faiss.omp_set_num_threads(threads)
    codes, queries = dataset(kind, n, q, radius)
    ids = [f"s{i}" for i in range(n)]
    print(f"\n## {kind}: {n:,} codes, {q:,} queries, radius {radius}, {threads} threads")

    def build_vigil() -> PdqIndex:
        index = PdqIndex(threshold=radius, threads=threads)
        index.add_encoded(codes, ids)
        index.compact()
        return index

    def search_vigil(index: PdqIndex) -> set[tuple[int, int]]:
        qs, rows, _ = index.search_encoded(queries)
        return set(zip(qs.tolist(), rows.tolist(), strict=True))

    def build_flat() -> Any:
        index = faiss.IndexBinaryFlat(256)
        index.add(codes)
        return index

    def build_multihash() -> Any:
        index = faiss.IndexBinaryMultiHash(256, 16, 16)
        index.nflip = 1
        index.add(codes)
        return index

    def search_faiss(index: Any) -> set[tuple[int, int]]:
        lims, _, found = index.range_search(queries, radius + 1)
        return pairs_from_faiss(lims, found)

    results = {
        "vigil PdqIndex (MIH 16x16)": measure(build_vigil, search_vigil),
        "faiss IndexBinaryFlat": measure(build_flat, search_faiss),
        "faiss IndexBinaryMultiHash": measure(build_multihash, search_faiss),
    }
    truth = results["faiss IndexBinaryFlat"]["found"]
    sample = min(200, q)
    scanned = numpy_scan(codes, queries[:sample], radius)
    assert {p for p in truth if p[0] < sample} == scanned, "faiss flat disagrees with the numpy scan"
    vigil = results["vigil PdqIndex (MIH 16x16)"]["index"]
    array_bytes = {
        "vigil PdqIndex (MIH 16x16)": vigil.table_bytes,
        "faiss IndexBinaryFlat": codes.nbytes,
        "faiss IndexBinaryMultiHash": None,
    }
    print(f"true matches: {len(truth):,} (faiss flat checked against a numpy scan on {sample} queries)")
    print(
        f"| {'index':28} | build s | RSS +MB | array MB | queries/s | q/CPU-s | recall | precision |\n"
        f"|{'-' * 30}|---------|---------|----------|-----------|---------|--------|-----------|"
    )
    for name, res in results.items():
        found = res["found"]
        recall = len(found & truth) / len(truth) if truth else 1.0
        precision = len(found & truth) / len(found) if found else 1.0
        arrays = array_bytes[name]
        arrays_text = f"{arrays / 2**20:8.1f}" if arrays is not None else "       -"
        print(
            f"| {name:28} | {res['build_s']:7.2f} | {res['rss_mb']:7.0f} | {arrays_text} | "
            f"{q / res['search_s']:9,.0f} | {q / res['cpu_s']:7,.0f} | {recall:6.4f} | {precision:9.4f} |"
        )
    # Latency of one query at a time (no batching), Vigil only.
    single = queries[:200]
    start = time.perf_counter()
    for row in single:
        vigil.search_encoded(row[None, :])
    per_query = (time.perf_counter() - start) / len(single)
    print(f"vigil one query at a time: {per_query * 1e6:.0f} µs/query ({1 / per_query:,.0f} queries/s)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--codes", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--radius", type=int, default=31)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sets", default="random,planted")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}; cpus: {os.cpu_count()}")
    for kind in args.sets.split(","):
        run(kind, args.codes, args.queries, args.radius, args.threads)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
