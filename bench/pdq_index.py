"""PDQ index benchmark at bank sizes platforms plan for: Vigil's exact index against faiss, same run.

    nice -n 10 python bench/pdq_index.py                   # 1M, 3M and 10M in one run (~6 GB peak, minutes)
    python bench/pdq_index.py --sizes 1M,3M                # without the 10M bank
    python bench/pdq_index.py --sizes 200k --sets random --queries 2000   # quick look

For each size and data set, one table: build time, memory (RSS growth while building and the bytes
of the index's arrays), queries/second over all queries in batched calls (wall clock, and per
CPU-second of the process: the figure least distorted by other jobs on a shared machine; on two
free cores, wall q/s approaches twice it), and recall/precision against the exact answer of faiss
``IndexBinaryFlat.range_search`` (itself checked against a numpy popcount scan on a sample).
Indexes:

* ``vigil PdqIndex``: exact multi-index hashing, layout chosen from the bank size;
* ``faiss IndexBinaryFlat``: exact scan (queried on ``--flat-queries`` of the queries: it needs
  ~15 ms a query at 10M codes), the reference answer;
* ``vigil PdqIvfIndex``: the approximate option, faiss ``IndexBinaryIVF`` at several ``nprobe``,
  recall printed beside its speed.

Then, for Vigil at that size: one query at a time (latency), a save and a reopen (memory-mapped:
time until the first query is answered, and that every query answers the same), adding 100,000
codes and revoking 10,000 (time until queries see each change, without a rebuild).

Data sets: ``random`` (uniform codes; every query is a stored code with 0..31 bits flipped) and
``planted`` (90% random plus clusters of 10 near-duplicates of a base code at 0..40 bits; half the
queries are bases flipped 0..16 bits, with several true matches each, half fresh random codes).
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# faiss's OpenMP threads otherwise spin while waiting: on a shared machine that burns the CPU other
# jobs (and Vigil's own numpy threads) need, and makes faiss's CPU-second figures meaningless.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from vigil.match.index.pdq import PdqIndex
from vigil.match.index.pdq_faiss import PdqIvfIndex


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def flip(rng: np.random.Generator, codes: np.ndarray, max_bits: int) -> np.ndarray:
    """Each code with a random number (0..max_bits) of distinct random bits flipped."""
    out = codes.copy()
    for start in range(0, len(codes), 100_000):  # bounded temporaries at any size
        part = out[start : start + 100_000]
        bits = np.unpackbits(part, axis=1)
        counts = rng.integers(0, max_bits + 1, len(part))
        keys = rng.random((len(part), 256))
        # The `count` smallest random keys of a row choose its bits: distinct positions, vectorized.
        ranks = np.argsort(np.argsort(keys, axis=1), axis=1)
        bits ^= (ranks < counts[:, None]).astype(np.uint8)
        out[start : start + 100_000] = np.packbits(bits, axis=1)
    return out


def dataset(kind: str, n: int, q: int, radius: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "random":
        codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
        queries = flip(rng, codes[rng.integers(0, n, q)], radius)
        return codes, queries
    planted = n // 10
    bases = rng.integers(0, 256, (planted // 10, 32), dtype=np.uint8)
    codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    slots = rng.permutation(n)[: len(bases) * 10]
    codes[slots] = np.concatenate([flip(rng, bases, 40) for _ in range(10)])
    near = flip(rng, bases[rng.integers(0, len(bases), q // 2)], 16)
    fresh = rng.integers(0, 256, (q - q // 2, 32), dtype=np.uint8)
    return codes, np.concatenate([near, fresh])


def pairs_from_faiss(lims: np.ndarray, ids: np.ndarray) -> set[tuple[int, int]]:
    q_of = np.repeat(np.arange(len(lims) - 1), np.diff(lims).astype(np.intp))
    return set(zip(q_of.tolist(), ids.tolist(), strict=True))


def numpy_scan(codes: np.ndarray, queries: np.ndarray, radius: int) -> set[tuple[int, int]]:
    stored = codes.view(np.uint64)
    out = set()
    for qi, query in enumerate(queries.view(np.uint64)):
        distance = np.bitwise_count(stored ^ query).sum(axis=1)
        out.update((qi, int(row)) for row in np.flatnonzero(distance <= radius))
    return out


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - start, time.process_time() - cpu


def vigil_pairs(index: PdqIndex, queries: np.ndarray) -> set[tuple[int, int]]:
    qs, rows, _ = index.search_encoded(queries)
    return set(zip(qs.tolist(), rows.tolist(), strict=True))


def run(kind: str, n: int, q: int, flat_q: int, radius: int, threads: int, nprobes: list[int]) -> None:
    import faiss

    faiss.omp_set_num_threads(threads)
    codes, queries = dataset(kind, n, q, radius)
    ids = [f"indicator--{i:036d}" for i in range(n)]  # as long as real signal ids
    flat_q = min(flat_q, q)
    print(
        f"\n## {kind}: {n:,} codes, {q:,} queries (faiss flat: {flat_q:,}), "
        f"radius {radius}, {threads} threads"
    )
    print(f"load average {os.getloadavg()[0]:.1f}")
    rows: list[tuple[str, float, float, float | None, float, float, float, float]] = []

    def record(
        name: str,
        build: Callable[[], Any],
        search: Callable[[Any], set[tuple[int, int]]],
        asked: int,
        truth: set[tuple[int, int]] | None,
    ) -> tuple[Any, set[tuple[int, int]]]:
        gc.collect()
        before = rss_bytes()
        index, built, _ = timed(build)
        grown = rss_bytes() - before
        found, wall, cpu = timed(lambda: search(index))
        arrays = getattr(index, "table_bytes", None)
        if truth is None:
            recall = precision = float("nan")
        else:
            subset = {p for p in found if p[0] < asked} if asked < q else found
            recall = len(subset & truth) / len(truth) if truth else 1.0
            precision = len(subset & truth) / len(subset) if subset else 1.0
        rows.append(
            (
                name,
                built,
                grown / 2**20,
                None if arrays is None else arrays / 2**20,
                asked / wall,
                asked / max(cpu, 1e-9),
                recall,
                precision,
            )
        )
        return index, found

    def build_flat() -> Any:
        index = faiss.IndexBinaryFlat(256)
        index.add(codes)
        return index

    def search_flat(index: Any) -> set[tuple[int, int]]:
        lims, _, found = index.range_search(queries[:flat_q], radius + 1)  # faiss keeps d < radius
        return pairs_from_faiss(lims, found)

    flat, truth = record("faiss IndexBinaryFlat (exact)", build_flat, search_flat, flat_q, None)
    del flat
    sample = min(100, flat_q)
    assert {p for p in truth if p[0] < sample} == numpy_scan(codes, queries[:sample], radius), (
        "faiss flat disagrees with the numpy scan"
    )

    def build_vigil() -> PdqIndex:
        index = PdqIndex(threshold=radius, threads=threads)
        index.add_encoded(codes, ids)
        return index

    vigil, found = record("vigil PdqIndex (exact)", build_vigil, lambda i: vigil_pairs(i, queries), q, None)
    subset = {p for p in found if p[0] < flat_q}
    rows[-1] = (
        *rows[-1][:6],
        len(subset & truth) / max(len(truth), 1),
        len(subset & truth) / max(len(subset), 1),
    )

    ivf: PdqIvfIndex | None = None
    for nprobe in nprobes:
        if ivf is None:

            def build_ivf(nprobe: int = nprobe) -> PdqIvfIndex:
                index = PdqIvfIndex(threshold=radius, threads=threads, nprobe=nprobe)
                index.add_encoded(codes, ids)
                return index

            ivf, _ = record(
                f"vigil PdqIvfIndex nprobe={nprobe}",
                build_ivf,
                lambda i: vigil_pairs(i, queries[:flat_q]),
                flat_q,
                truth,
            )
        else:
            ivf.nprobe = nprobe
            gc.collect()
            found_ivf, wall, cpu = timed(lambda i=ivf: vigil_pairs(i, queries[:flat_q]))
            recall = len(found_ivf & truth) / max(len(truth), 1)
            precision = len(found_ivf & truth) / max(len(found_ivf), 1)
            rows.append(
                (
                    f"vigil PdqIvfIndex nprobe={nprobe}",
                    0.0,
                    0.0,
                    None,
                    flat_q / wall,
                    flat_q / max(cpu, 1e-9),
                    recall,
                    precision,
                )
            )
    del ivf
    gc.collect()

    print(
        f"true matches among the first {flat_q:,} queries: {len(truth):,} "
        f"(faiss flat checked against a numpy scan on {sample})"
    )
    print(f"vigil layout: {', '.join(vigil.layouts)}")
    print(
        f"| {'index':34} | build s | RSS +MB | array MB | queries/s | q/CPU-s | recall | precision |\n"
        f"|{'-' * 36}|---------|---------|----------|-----------|---------|--------|-----------|"
    )
    for name, built, grown, arrays, qps, qcpu, recall, precision in rows:
        arrays_text = f"{arrays:8.0f}" if arrays is not None else "       -"
        build_text = f"{built:7.1f}" if built else "      -"
        grown_text = f"{grown:7.0f}" if built else "      -"
        print(
            f"| {name:34} | {build_text} | {grown_text} | {arrays_text} | {qps:9,.0f} | {qcpu:7,.0f} | "
            f"{recall:6.4f} | {precision:9.4f} |"
        )

    holder = [vigil]
    del vigil  # after_build drops it before reopening the saved copy
    after_build(holder, ids, queries, n, threads)
    gc.collect()


def after_build(holder: list[PdqIndex], ids: list[str], queries: np.ndarray, n: int, threads: int) -> None:
    """Latency, save and reopen, then 100,000 additions and 10,000 revocations, on Vigil's index."""
    vigil = holder.pop()
    single = queries[:200]
    start, cpu = time.perf_counter(), time.process_time()
    for row in single:
        vigil.search_encoded(row[None, :])
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        f"vigil one query at a time: {wall / len(single) * 1e6:,.0f} µs/query wall, "
        f"{cpu / len(single) * 1e6:,.0f} µs CPU"
    )
    answer = vigil.search_encoded(queries[:500])

    with tempfile.TemporaryDirectory(prefix="vigil-pdq-bench-", dir=os.environ.get("VIGIL_TEMP_DIR")) as tmp:
        start = time.perf_counter()
        vigil.save(Path(tmp) / "pdq")
        saved = time.perf_counter() - start
        size = sum(p.stat().st_size for p in (Path(tmp) / "pdq").iterdir())
        del vigil
        gc.collect()
        before = rss_bytes()
        start = time.perf_counter()
        reopened = PdqIndex.load(Path(tmp) / "pdq")
        loaded = time.perf_counter() - start
        reopened.threads = threads
        reopened.search_encoded(queries[:1])
        first = time.perf_counter() - start
        again = reopened.search_encoded(queries[:500])
        same = all(np.array_equal(a, b) for a, b in zip(answer, again, strict=True))
        print(
            f"save {saved:.1f} s ({size / 2**20:,.0f} MB on disk); "
            f"reopen {loaded * 1000:,.0f} ms, first query "
            f"answered {first * 1000:,.0f} ms after the restart (memory-mapped, page cache warm), "
            f"RSS +{(rss_bytes() - before) / 2**20:,.0f} MB; same answers on 500 queries: {same}"
        )

        # Incremental: 100,000 new codes (planted near the first queries) and 10,000 revocations.
        rng = np.random.default_rng(7)
        extra = rng.integers(0, 256, (100_000, 32), dtype=np.uint8)
        extra[:100] = flip(rng, queries[:100], 5)
        extra_ids = [f"indicator--new-{i:032d}" for i in range(len(extra))]
        start = time.perf_counter()
        reopened.add_encoded(extra, extra_ids)
        added = time.perf_counter() - start
        start = time.perf_counter()
        visible = reopened.query_many([bytes(r).hex() for r in queries[:100]], normalized=True)
        seen = time.perf_counter() - start
        found_new = sum(any(m.entry_id.startswith("indicator--new-") for m in ms) for ms in visible)
        _, r0, _ = reopened.search_encoded(queries[:200])
        hit_ids = sorted(set(reopened.entry_ids(r0)))
        revoke = (hit_ids + ids[:: max(1, n // 10_000)])[:10_000]
        start = time.perf_counter()
        reopened.remove(revoke)
        removed_s = time.perf_counter() - start
        _, r1, _ = reopened.search_encoded(queries[:200])
        left = set(reopened.entry_ids(r1)) & set(revoke)
        print(
            f"add 100,000 codes: {added:.2f} s (segments now {reopened.segment_sizes}); "
            f"queries see {found_new}/100 planted additions ({seen * 1000:.0f} ms for 100 queries)"
        )
        print(
            f"revoke 10,000 signals: {removed_s:.2f} s; revoked ones still returned: {len(left)} "
            f"(was {len(set(hit_ids))} matched before); no rebuild of the {n:,}-code segment"
        )
        del reopened


def parse_size(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        default="1M,3M,10M",
        help="comma-separated bank sizes (default: the issue's three, in one run; ~2 GB at 10M)",
    )
    parser.add_argument("--queries", type=int, default=5_000)
    parser.add_argument("--flat-queries", type=int, default=1_000)
    parser.add_argument("--radius", type=int, default=31)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sets", default="random,planted")
    parser.add_argument("--nprobe", default="8,64", help="nprobe values of the approximate option")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}; cpus: {os.cpu_count()}")
    for size in [parse_size(s) for s in args.sizes.split(",")]:
        for kind in args.sets.split(","):
            run(
                kind,
                size,
                args.queries,
                args.flat_queries,
                args.radius,
                args.threads,
                [int(x) for x in args.nprobe.split(",")],
            )
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
