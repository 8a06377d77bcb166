"""Content-trace throughput on generated posts: exact, near-duplicate and cross-lingual text, separately.

    python bench/detect_text.py                          # 1M generated posts
    python bench/detect_text.py --posts 200000 --workdir /tmp/vigil-text
    python bench/detect_text.py --posts-file posts.parquet --skip-crosslingual

1. generates posts with the synthetic generator (skipped with --posts-file or when the workdir
   already holds them);
2. runs each text stage in turn on one DuckDB connection and reports its wall time, CPU seconds,
   posts/second (posts with text, reshares excluded), the stage's own peak RSS (Linux: the
   kernel's high-water mark is reset before each stage), the RSS after it and DuckDB's share:
   normalize + exact grouping, exact events, near duplicates (MinHash LSH + exact Jaccard),
   cross-lingual (embedding of candidates + per-bucket search);
3. the normal forms of the same texts by the Arrow passes and by the compiled loop detection uses:
   CPU seconds of each and the number of unequal rows (0 expected);
4. peers in the same run: datasketch (``MinHash.bulk`` + ``MinHashLSH``) against Vigil's
   vectorized MinHash on the same sample of distinct normal forms (texts/s, and how many of the
   pairs at Jaccard >= threshold each finds); for the cross-lingual stage, how many texts an
   unfiltered all-texts embedding would have needed against what the prefilters embedded.

Figures depend on the machine; on a shared machine note the contention next to them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import time
from pathlib import Path
from typing import Any

import pyarrow as pa


def peak_rss_mb() -> float:
    """The process's peak RSS since start, or since the last :func:`reset_peak_rss` (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark so each stage reports its own peak (Linux; no-op elsewhere)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def duckdb_mb(con: Any) -> tuple[float, float]:
    """DuckDB's buffer-pool memory and its temporary (spilled) storage, in MB."""
    row = con.execute(
        "SELECT sum(memory_usage_bytes), sum(temporary_storage_bytes) FROM duckdb_memory()"
    ).fetchall()[0]
    return (row[0] or 0) / 2**20, (row[1] or 0) / 2**20


def ensure_posts(args: argparse.Namespace) -> Path:
    if args.posts_file:
        return Path(args.posts_file)
    out = Path(args.workdir) / f"gen-{args.posts}"
    posts = out / "posts.parquet"
    if posts.is_file():
        return posts
    from vigil.synth.config import GeneratorConfig
    from vigil.synth.generator import generate

    start = time.perf_counter()
    generate(GeneratorConfig(posts=args.posts, seed=args.seed), out)
    print(f"generated {args.posts:,} posts in {time.perf_counter() - start:.1f} s")
    return posts


def datasketch_peer(texts: list[str], threshold: float) -> dict[str, Any]:
    """datasketch on the same normal forms: word-bigram shingles, 128 permutations, LSH at threshold."""
    from datasketch import MinHash, MinHashLSH

    start = time.perf_counter()
    shingles = []
    for text in texts:
        toks = text.split(" ")
        grams = {" ".join(toks[i : i + 2]).encode() for i in range(max(len(toks) - 1, 1))}
        shingles.append(grams)
    hashes = MinHash.bulk(shingles, num_perm=128)
    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    for i, mh in enumerate(hashes):
        lsh.insert(str(i), mh)
    candidates = set()
    for i, mh in enumerate(hashes):
        for key in lsh.query(mh):
            j = int(key)
            if j != i:
                candidates.add((min(i, j), max(i, j)))
    seconds = time.perf_counter() - start
    true_pairs = {
        (i, j)
        for i, j in candidates
        if len(shingles[i] & shingles[j]) / len(shingles[i] | shingles[j]) >= threshold
    }
    return {"seconds": seconds, "texts_per_s": len(texts) / seconds, "pairs": true_pairs}


def vigil_peer(texts: list[str], threshold: float) -> dict[str, Any]:
    from vigil.detect.similarity.minhash import MinHashParams, near_duplicate_pairs, shingle_sets

    start = time.perf_counter()
    sets = shingle_sets(pa.array(texts, pa.string()))
    a, b, _ = near_duplicate_pairs(sets, MinHashParams(), threshold)
    seconds = time.perf_counter() - start
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return {"seconds": seconds, "texts_per_s": len(texts) / seconds, "pairs": pairs}


def exact_pairs(texts: list[str], threshold: float) -> set[tuple[int, int]]:
    """Every pair of texts with shingle Jaccard >= threshold, without MinHash (prefix filtering).

    With each text's shingles ordered rarest first, two texts with J >= t share a shingle within
    each one's first ``|A| - ceil(t |A|) + 1`` (Bayardo et al.'s AllPairs bound), so the pairs within
    each shingle's list of such prefixes include every answer; each is then checked exactly.
    """
    import math

    import numpy as np

    from vigil.detect.similarity.minhash import jaccard, shingle_sets

    sets = shingle_sets(pa.array(texts, pa.string()))
    sizes = sets.sizes
    owner = np.repeat(np.arange(len(sets), dtype=np.int64), sizes)
    distinct, inverse, counts = np.unique(sets.values, return_inverse=True, return_counts=True)
    rarity = counts[inverse]
    order = np.lexsort((sets.values, rarity, owner))  # per text: rarest first
    rank = np.arange(len(order)) - sets.offsets[owner[order]]
    prefix = np.array([s - math.ceil(threshold * s - 1e-9) + 1 for s in sizes.tolist()], dtype=np.int64)
    kept = order[rank < prefix[owner[order]]]
    values, owners = sets.values[kept], owner[kept]
    by_value = np.lexsort((owners, values))
    values, owners = values[by_value], owners[by_value]
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    found: list[Any] = []
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        if hi - lo > 1:
            members = owners[lo:hi]
            i, j = np.triu_indices(len(members), k=1)
            found.append((members[i] << 32) | members[j])
    del distinct
    if not found:
        return set()
    encoded = np.unique(np.concatenate(found))
    a, b = encoded >> 32, encoded & 0xFFFFFFFF
    sim = jaccard(sets, a, b)
    keep = sim >= threshold
    return set(zip(a[keep].tolist(), b[keep].tolist(), strict=True))


def connected_share(truth: set[tuple[int, int]], found: set[tuple[int, int]], n: int) -> float:
    """Share of the true pairs whose texts the found pairs connect (what components-style items see)."""
    import numpy as np

    from vigil.detect.similarity.clusters import connected_components

    if not truth:
        return 1.0
    a = np.array([p[0] for p in found], dtype=np.int64)
    b = np.array([p[1] for p in found], dtype=np.int64)
    labels = connected_components(n, a, b)
    return sum(labels[x] == labels[y] for x, y in truth) / len(truth)


def normalizer_sides(con: Any, batch_rows: int = 100_000) -> dict[str, Any]:
    """The normalize stage's two implementations on the same texts (posts with text, no reshares):
    the Arrow passes (``vigil.ingest.text.normalize_texts``) and the compiled loop detection uses
    (``vigil.detect.traces.text_normal``); CPU seconds of each, and whether every row is equal.

    The compiled side's first call (numba's import or compilation, the tables) is timed apart.
    """
    from vigil.detect.traces.text_normal import normalize_texts_compiled
    from vigil.ingest.text import normalize_texts

    texts = (
        con.sql("SELECT text FROM posts WHERE text IS NOT NULL AND reshare_of IS NULL")
        .to_arrow_table()["text"]
        .combine_chunks()
    )
    cpu = cpu_seconds()
    normalize_texts_compiled(texts.slice(0, 20_000), min_rows=0)
    first = cpu_seconds() - cpu
    batches = range(0, len(texts), batch_rows)
    sides: dict[str, Any] = {}
    results: dict[str, pa.Array] = {}
    for name, fn in (("arrow passes", normalize_texts), ("compiled loop", normalize_texts_compiled)):
        cpu = cpu_seconds()
        results[name] = pa.concat_arrays([fn(texts.slice(i, batch_rows)) for i in batches])
        sides[name] = round(cpu_seconds() - cpu, 2)
    unequal = len(texts) - sum(
        a == b
        for a, b in zip(
            results["arrow passes"].to_pylist(), results["compiled loop"].to_pylist(), strict=True
        )
    )
    print(
        f"normal forms of {len(texts):,} texts: Arrow passes {sides['arrow passes']:.2f} s CPU, compiled "
        f"loop {sides['compiled loop']:.2f} s CPU (+{first:.2f} s first call), unequal rows: {unequal}"
    )
    return {"texts": len(texts), "cpu_seconds": sides, "first_call_cpu": round(first, 2), "unequal": unequal}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--posts-file")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--workdir", default="/tmp/vigil-bench-text")
    parser.add_argument("--skip-crosslingual", action="store_true")
    parser.add_argument("--peer-sample", type=int, default=20_000)
    args = parser.parse_args()
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    posts = ensure_posts(args)

    from vigil.core.settings import load_settings
    from vigil.detect.duck import connect, register_posts
    from vigil.detect.traces.crosslingual import co_text_crosslingual
    from vigil.detect.traces.text import (
        TEXTS_TABLE,
        TextTraceParams,
        co_text_exact,
        co_text_near,
        prepare_texts,
    )

    con = connect(load_settings())
    register_posts(con, posts)
    total_posts = int(con.execute("SELECT count(*) FROM posts").fetchall()[0][0])
    params = TextTraceParams()
    report: dict[str, Any] = {"posts": total_posts, "cpu_count": os.cpu_count(), "load_avg": os.getloadavg()}
    stages: list[dict[str, Any]] = []

    def stage(name: str, run: Any, n: float | None) -> Any:
        reset_peak_rss()
        cpu = cpu_seconds()
        start = time.perf_counter()
        result = run()
        seconds = time.perf_counter() - start
        cpu = cpu_seconds() - cpu
        if n is None:  # the normalize stage counts the posts with text itself
            n = result["posts_with_text"]
        duck_mem, duck_tmp = duckdb_mb(con)
        row = {
            "stage": name,
            "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu, 2),
            "posts_per_s": round(n / seconds),
            "stage_peak_rss_mb": round(peak_rss_mb()),
            "rss_after_mb": round(current_rss_mb()),
            "duckdb_mb": round(duck_mem),
            "duckdb_spilled_mb": round(duck_tmp),
            "load_avg": os.getloadavg()[0],
        }
        stages.append(row)
        print(
            f"{name:<28} {seconds:8.1f} s (CPU {cpu:7.1f} s) {n / seconds:>10,.0f} posts/s  "
            f"peak RSS {row['stage_peak_rss_mb']:,} MB (after {row['rss_after_mb']:,} MB; DuckDB "
            f"{duck_mem:,.0f} MB + {duck_tmp:,.0f} MB spilled)  load {row['load_avg']:.1f}",
            flush=True,
        )
        return result

    prepared: dict[str, float] = stage("normalize + exact grouping", lambda: prepare_texts(con, params), None)
    n_text = prepared["posts_with_text"]
    print(
        f"  posts with text (no reshares) {n_text:,.0f}, kept (>= {params.min_tokens} tokens) "
        f"{prepared['posts_kept']:,.0f}, distinct normal forms {prepared['distinct_texts']:,.0f}"
    )
    report["normalizer_sides"] = normalizer_sides(con)
    exact = stage("co_text_exact events", lambda: co_text_exact(con, params), n_text)
    near = stage("co_text_near", lambda: co_text_near(con, params), n_text)
    print(
        f"  near: {near.stats['candidate_pairs']:,.0f} LSH candidates checked, "
        f"{near.stats['similar_pairs']:,.0f} similar pairs, {near.stats['items']:,.0f} items"
    )
    report.update(prepared=prepared, exact=exact.stats, near=near.stats)
    if not args.skip_crosslingual:
        xl = stage("co_text_crosslingual", lambda: co_text_crosslingual(con), n_text)
        per_s = xl.stats["embedded"] / max(xl.stats.get("seconds_embed_search", 0.0), 1e-9)
        print(
            f"  cross-lingual: {xl.stats['candidate_groups']:,.0f} candidate groups, "
            f"{xl.stats['embedded']:,.0f} embedded ({per_s:,.0f}/s incl. search) instead of "
            f"{prepared['distinct_texts']:,.0f} distinct texts unfiltered; {xl.stats['items']:,.0f} items"
        )
        report["crosslingual"] = xl.stats
        # The embedder alone on candidate-like texts, to separate its rate from the search's.
        from vigil.detect.similarity.embed import default_embedder

        sample_texts = [
            r[0] for r in con.execute("SELECT text FROM posts WHERE text IS NOT NULL LIMIT 1000").fetchall()
        ]
        start = time.perf_counter()
        default_embedder().encode(sample_texts)
        rate = len(sample_texts) / (time.perf_counter() - start)
        print(f"  embedder alone: {rate:,.0f} texts/s on {len(sample_texts):,} post texts")
        report["embed_per_s"] = rate

    # Peers on the same sample of distinct normal forms.
    sample = [
        r[0]
        for r in con.execute(
            f"SELECT norm FROM {TEXTS_TABLE} "
            f"USING SAMPLE {int(args.peer_sample)} ROWS (reservoir, 7) ORDER BY norm"
        ).fetchall()
    ]
    ours = vigil_peer(sample, params.near_threshold)
    theirs = datasketch_peer(sample, params.near_threshold)
    both = ours["pairs"] | theirs["pairs"]
    print(f"near-duplicate peers on {len(sample):,} distinct texts (Jaccard >= {params.near_threshold}):")
    for name, res in (
        ("vigil (numpy MinHash + LSH + exact check)", ours),
        ("datasketch MinHash.bulk + MinHashLSH", theirs),
    ):
        found = len(res["pairs"])
        print(
            f"  {name:<44} {res['seconds']:7.2f} s {res['texts_per_s']:>9,.0f} texts/s  "
            f"pairs {found:,} of {len(both):,}"
        )
    # Recall against the exact all-pairs answer on the same sample.
    start = time.perf_counter()
    truth = exact_pairs(sample, params.near_threshold)
    exact_seconds = time.perf_counter() - start
    recall = len(ours["pairs"] & truth) / max(len(truth), 1)
    linked = connected_share(truth, ours["pairs"], len(sample))
    print(
        f"  exact all-pairs check ({exact_seconds:.1f} s): {len(truth):,} pairs; vigil's LSH pairs find "
        f"{recall:.4f} of them directly, and connect {linked:.4f} of them (leader pairs link the rest)"
    )
    report["exact_check"] = {"pairs": len(truth), "pair_recall": recall, "connected_recall": linked}
    report["peers"] = {
        "sample": len(sample),
        "vigil": {k: v for k, v in ours.items() if k != "pairs"} | {"pairs": len(ours["pairs"])},
        "datasketch": {k: v for k, v in theirs.items() if k != "pairs"} | {"pairs": len(theirs["pairs"])},
        "union_pairs": len(both),
    }
    report["stages"] = stages
    report["load_avg_end"] = os.getloadavg()
    out = Path(args.workdir) / "bench_detect_text.json"
    out.write_text(json.dumps(report, indent=2, default=float) + "\n")
    print(
        f"load average at start {report['load_avg'][0]:.1f}, at end {report['load_avg_end'][0]:.1f} "
        f"on {os.cpu_count()} cores; written {out}"
    )


if __name__ == "__main__":
    main()
