"""The other signal types at bank sizes platforms plan for, and the streaming matcher's posts/second.

    nice python bench/match_scale.py                         # 1M signals per type, 200k posts
    nice python bench/match_scale.py --sizes 1M,3M --posts 500000

Part 1, per type (``url``, ``domain``, ``account``: the exact hash-map index; ``text_minhash``: the
banded LSH index), at each size: build time (values normalized as a fetch does), memory (RSS growth),
queries/second (``query_many(normalized=True)``, as the matcher calls it; half the queries are stored
values) and the memory per signal, from which the 10M figure is extrapolated when 10M is not run.

Part 2, the streaming matcher: ``match_posts`` over ``--posts`` posts (text, a link, a hashtag,
an account, a third with an image) against banks of every type at once, in posts/second, with the
share of time spent deriving signal values from the posts (``derive_post_signals``: URL
canonicalization, MinHash signatures of every text, ...) measured separately on the same posts.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

# Shared with the other benches: their bank records, words and RSS reading.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from detect_text import current_rss_mb
from match_throughput import WORDS as THROUGHPUT_WORDS
from match_throughput import bank_record
from vigil.core.ids import stable_id
from vigil.ingest.text import normalize_texts
from vigil.ingest.urls import canonicalize
from vigil.match.index import new_index
from vigil.match.matcher import match_posts
from vigil.match.state import MatchIndex
from vigil.schema.io import ParquetSink
from vigil.schema.tables import POSTS
from vigil.signals import get_signal_type
from vigil.signals.derive import derive_post_signals
from vigil.signals.text_minhash import signatures_of_normal_forms, signatures_to_hex_array

# The throughput bench's words, then German and French ones (same order: same texts as before).
WORDS = [
    *THROUGHPUT_WORDS,
    "wahl",
    "stimme",
    "urne",
    "betrug",
    "zählung",
    "élection",
    "scrutin",
    "fraude",
    "bureau",
    "vote",
    "urne",
]
T0 = datetime(2026, 5, 1, tzinfo=UTC)


def values_of(kind: str, n: int, rng: random.Random) -> list[str]:
    if kind == "url":
        return [f"https://outlet-{i % 50_000}.info/story/{i}" for i in range(n)]
    if kind == "domain":
        return [f"site-{i}.net" for i in range(n)]
    if kind == "account":
        return [f"twitter:@user{i}" for i in range(n)]
    # The same values as hash_text of each text, normalized and hashed in one batch (hash_text
    # normalizes one text per call: ~10 ms each, minutes for a bank).
    texts = [" ".join(rng.choice(WORDS) for _ in range(20)) + f" n{i}" for i in range(n)]
    normal = normalize_texts(pa.array(texts, pa.string())).to_pylist()
    hexes: list[str] = signatures_to_hex_array(signatures_of_normal_forms(normal)).to_pylist()
    return hexes


def part_one(sizes: list[int], kinds: list[str], queries: int) -> None:
    rng = random.Random(3)
    print(
        f"| {'type':12} | {'signals':>10} | {'build s':>7} | {'RSS +MB':>7} | {'B/signal':>8} | "
        f"{'queries/s':>9} | {'q/CPU-s':>8} | hits |"
    )
    print(f"|{'-' * 14}|{'-' * 12}|---------|---------|----------|-----------|----------|------|")
    for kind in kinds:
        for n in sizes:
            if kind == "text_minhash" and n > 1_000_000:
                print(f"| {kind:12} | {n:>10,} | skipped: 512 bytes of signature per signal, see docs |")
                continue
            values = values_of(kind, n, rng)
            ids = [f"indicator--{i:036d}" for i in range(n)]
            gc.collect()
            before = current_rss_mb()
            start = time.perf_counter()
            index = new_index(kind)
            index.add_many(values, ids)
            built = time.perf_counter() - start
            grown = current_rss_mb() - before
            normal = get_signal_type(kind).normalize_many(values[: queries // 2])
            asked = list(normal) + [v + "x" if kind != "text_minhash" else v[::-1] for v in normal]
            start, cpu = time.perf_counter(), time.process_time()
            found = index.query_many(asked, normalized=True)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            hits = sum(bool(f) for f in found)
            print(
                f"| {kind:12} | {n:>10,} | {built:7.1f} | {grown:7.0f} | {grown * 2**20 / n:8.0f} | "
                f"{len(asked) / wall:9,.0f} | {len(asked) / max(cpu, 1e-9):8,.0f} | {hits / len(asked):.2f} |"
            )
            del index, values, ids, found
            gc.collect()


def build_posts(path: Path, n: int, bank: dict[str, list[str]], rng: random.Random) -> None:
    urls, tags, pdqs = bank["url"], bank["hashtag"], bank["image_pdq"]
    schema = pa.schema(
        [
            POSTS.schema.field(name)
            for name in (
                "platform",
                "post_id",
                "account_id",
                "account_handle",
                "created_at",
                "text",
                "urls",
                "hashtags",
                "image_pdq",
            )
        ]
    )
    with ParquetSink(path, POSTS) as sink:
        for start in range(0, n, 50_000):
            rows = []
            for i in range(start, min(n, start + 50_000)):
                planted = i % 20 == 0
                link = rng.choice(urls) if planted else f"https://elsewhere-{i % 9000}.org/p/{i}"
                rows.append(
                    {
                        "platform": "twitter",
                        "post_id": str(i),
                        "account_id": str(i % 50_000),
                        "account_handle": f"user{i % 50_000}",
                        "created_at": T0 + timedelta(seconds=i),
                        "text": " ".join(rng.choice(WORDS) for _ in range(14)),
                        "urls": [canonicalize(link).as_dict()],
                        "hashtags": [rng.choice(tags)] if planted else [f"t{i % 777}"],
                        "image_pdq": [rng.choice(pdqs) if planted else f"{rng.getrandbits(256):064x}"]
                        if i % 3 == 0
                        else [],
                    }
                )
            sink.write(pa.Table.from_pylist(rows, schema=schema))


def part_two(per_type: int, posts: int) -> None:
    rng = random.Random(9)
    kinds = ("url", "domain", "account", "hashtag", "image_pdq", "text_minhash")
    bank = {
        "url": values_of("url", per_type, rng),
        "domain": values_of("domain", per_type, rng),
        "account": values_of("account", per_type, rng),
        "hashtag": [f"tag{i}" for i in range(per_type)],
        "image_pdq": [f"{rng.getrandbits(256):064x}" for _ in range(per_type)],
        "text_minhash": values_of("text_minhash", min(per_type, 20_000), rng),
    }
    with tempfile.TemporaryDirectory(prefix="vigil-stream-") as tmp:
        root = Path(tmp)
        index = MatchIndex(directory=root / "index")
        now = datetime.now(UTC)
        for kind in kinds:
            for value in bank[kind]:
                stix = stable_id("indicator", "bench", kind, value)
                index.contributions[stix] = bank_record(stix, kind, value, "identity--bench", now)
        start = time.perf_counter()
        index.reconcile()
        print(
            f"\nstreaming: banks {', '.join(f'{k} {len(bank[k]):,}' for k in kinds)} "
            f"(indexed in {time.perf_counter() - start:.1f} s)"
        )
        build_posts(root / "posts.parquet", posts, bank, rng)
        for kind in kinds:  # fold pending rows into segments first, as match_posts does
            found = index.indexes[kind]
            seal = getattr(found, "seal", None)
            if seal:
                seal()
        gc.collect()
        start, cpu = time.perf_counter(), time.process_time()
        run = match_posts(root / "posts.parquet", index, root / "out")
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        table = pq.read_table(root / "posts.parquet")
        start_d, cpu_d = time.perf_counter(), time.process_time()
        for at in range(0, table.num_rows, 20_000):
            derive_post_signals(table.slice(at, 20_000), list(kinds))
        wall_d, cpu_d = time.perf_counter() - start_d, time.process_time() - cpu_d
        print(
            f"match_posts: {posts:,} posts in {wall:.1f} s wall, {cpu:.1f} CPU-s: "
            f"{posts / wall:,.0f} posts/s ({posts / cpu:,.0f} per CPU-second); "
            f"{run.matches:,} match rows, {run.posts_matched:,} posts matched"
        )
        print(
            f"of which deriving the signal values of the posts: {cpu_d:.1f} CPU-s "
            f"({100 * cpu_d / max(cpu, 1e-9):.0f}%; {posts / max(cpu_d, 1e-9):,.0f} posts per CPU-second "
            f"for derivation alone, {wall_d:.1f} s wall)"
        )


def parse_size(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1M")
    parser.add_argument("--types", default="url,domain,account,text_minhash")
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--bank", type=int, default=100_000, help="signals per type for the streaming part")
    parser.add_argument("--posts", type=int, default=200_000)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    if args.sizes:  # --sizes "" runs the streaming part only
        part_one([parse_size(s) for s in args.sizes.split(",")], args.types.split(","), args.queries)
    part_two(args.bank, args.posts)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
