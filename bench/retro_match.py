"""Retroactive matching at scale: 10k new signals against 1M stored posts, in bounded time and memory.

    nice -n 10 python bench/retro_match.py                     # 1M posts, 10k new signals
    nice -n 10 python bench/retro_match.py --posts 200000      # quicker

The stored posts (spread over the last 28 days; every post has an image, half a link) are written
to Parquet in chunks. The member's index holds an older bank (``--old`` PDQ signals, already
matched on earlier days) plus the ``--signals`` new ones (half PDQ hashes, half URLs; a share of
both planted in the posts, images re-encoded a few bits off). The index is saved as two fetches
would (the old bank three days ago, the new signals an hour ago, each recording its arrivals) and
reopened; ``retro_arrivals`` (what ``vigil match retro`` runs) finds the signals that arrived since
its checkpoint (a day ago), builds an index of those only and streams the posts of the last 30 days
through the ordinary matcher.

Printed: wall and CPU seconds, posts per CPU-second, peak RSS (memory stays one batch plus the
new signals' index: it does not grow with the posts), matches found. The peer is a plain numpy
brute-force scan (XOR + popcount of every post hash against every new PDQ hash) over the first
``--check`` posts: its matches must equal Vigil's on those posts, and its rate is printed beside
Vigil's.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from match_throughput import bank_record
from vigil.core.ids import stable_id
from vigil.ingest.urls import canonicalize
from vigil.match.feedback import ArrivalLog
from vigil.match.retro import retro_arrivals
from vigil.match.state import MatchIndex, open_index
from vigil.schema.io import ParquetSink
from vigil.schema.tables import POSTS

CHUNK = 100_000
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def flip(code: bytes, rng: random.Random, bits: int) -> bytes:
    value = int.from_bytes(code, "big")
    for p in rng.sample(range(256), bits):
        value ^= 1 << p
    return value.to_bytes(32, "big")


def make_data(
    path: Path, posts: int, signals: int, old: int, seed: int
) -> tuple[MatchIndex, list[bytes], int]:
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    new_pdq = [nrng.bytes(32) for _ in range(signals // 2)]
    new_urls = [f"https://news-{i}.example.org/story/{i * 7}" for i in range(signals - signals // 2)]
    pool = [f"https://site-{i}.example.com/p/{i}" for i in range(5_000)]
    url_pool = [canonicalize(u).as_dict() for u in pool]
    new_url_dicts = [canonicalize(u).as_dict() for u in new_urls]
    planted = 0
    schema = pa.schema(
        [
            POSTS.schema.field(n)
            for n in ("platform", "post_id", "account_id", "created_at", "urls", "image_pdq")
        ]
    )
    span = 28 * 86_400
    with ParquetSink(path, POSTS) as sink:
        for start in range(0, posts, CHUNK):
            n = min(CHUNK, posts - start)
            codes = nrng.bytes(32 * n)
            images = [[codes[32 * i : 32 * i + 32].hex()] for i in range(n)]
            urls: list[list[dict[str, object]]] = [[] for _ in range(n)]
            for i in range(0, n, 2):
                urls[i] = [url_pool[rng.randrange(len(url_pool))]]
            for i in range(0, n, 500):  # 1 post in 500 carries a new image, re-encoded
                images[i] = [flip(new_pdq[rng.randrange(len(new_pdq))], rng, rng.randrange(0, 20)).hex()]
                planted += 1
            for i in range(1, n, 1_000):  # 1 in 1,000 links a new URL
                urls[i] = [new_url_dicts[rng.randrange(len(new_url_dicts))]]
                planted += 1
            created = [NOW - timedelta(seconds=rng.randrange(span)) for _ in range(n)]
            sink.write(
                pa.table(
                    {
                        "platform": ["twitter"] * n,
                        "post_id": [f"p{start + i}" for i in range(n)],
                        "account_id": [f"a{(start + i) % 50_000}" for i in range(n)],
                        "created_at": created,
                        "urls": urls,
                        "image_pdq": images,
                    },
                    schema=schema,
                )
            )
    print(f"  posts written: {posts:,} ({planted:,} carry a new signal)")
    index = MatchIndex(directory=path.parent / "index")
    before = NOW - timedelta(days=3)
    for i in range(old):
        stix = stable_id("indicator", "old", str(i))
        index.contributions[stix] = bank_record(
            stix, "image_pdq", nrng.bytes(32).hex(), "identity--x", before
        )
    index.reconcile(before)  # the first fetch: the old bank arrives
    ArrivalLog.of_index(index).record(before, {r.signal_id for r in index.contributions.values()})
    index.save()
    index = open_index(index.directory)  # the second fetch, an hour ago: the new signals
    arrived: set[str] = set()
    for i, code in enumerate(new_pdq):
        stix = stable_id("indicator", "new-pdq", str(i))
        record = bank_record(stix, "image_pdq", code.hex(), "identity--x", NOW)
        index.upsert(record)
        arrived.add(record.signal_id)
    for i, url in enumerate(new_urls):
        stix = stable_id("indicator", "new-url", str(i))
        record = bank_record(stix, "url", url, "identity--x", NOW)
        index.upsert(record)
        arrived.add(record.signal_id)
    index.reconcile(NOW)
    ArrivalLog.of_index(index).record(NOW - timedelta(hours=1), arrived)
    index.save()
    return open_index(index.directory), new_pdq, len(arrived)


def brute_force(path: Path, new_pdq: list[bytes], limit: int) -> tuple[set[str], float]:
    """Posts among the first ``limit`` whose image is within 31 bits of a new PDQ hash."""
    table = pq.read_table(str(path), columns=["post_id", "image_pdq"]).slice(0, limit)
    ids = table.column("post_id").to_pylist()
    codes = np.frombuffer(
        b"".join(bytes.fromhex(c[0]) for c in table.column("image_pdq").to_pylist()), dtype=np.uint64
    ).reshape(-1, 4)
    bank = np.frombuffer(b"".join(new_pdq), dtype=np.uint64).reshape(-1, 4)
    found: set[str] = set()
    t0 = cpu_s()
    for s in range(0, len(codes), 2_000):
        block = codes[s : s + 2_000]
        dist = np.bitwise_count(block[:, None, :] ^ bank[None, :, :]).sum(axis=2)
        for row in np.nonzero((dist <= 31).any(axis=1))[0]:
            found.add(ids[s + int(row)])
    return found, cpu_s() - t0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--signals", type=int, default=10_000)
    parser.add_argument(
        "--old", type=int, default=50_000, help="older PDQ signals in the index (not re-matched)"
    )
    parser.add_argument("--check", type=int, default=50_000, help="posts the brute-force peer scans")
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vigil-retro-") as tmp:
        path = Path(tmp) / "posts.parquet"
        t0 = time.perf_counter()
        index, new_pdq, new_count = make_data(path, args.posts, args.signals, args.old, args.seed)
        print(
            f"  data made in {time.perf_counter() - t0:.1f} s; new signals: {new_count:,}; "
            f"index holds {sum(index.indexed_count().values()):,}; RSS peak so far {peak_rss_mb():.0f} MB"
        )
        rss_before = peak_rss_mb()
        wall, cpu = time.perf_counter(), cpu_s()
        retro = retro_arrivals(
            index.directory,
            index,
            path,
            Path(tmp) / "out",
            days=30,
            since=NOW - timedelta(days=1),
            now=NOW,
        )
        wall, cpu = time.perf_counter() - wall, cpu_s() - cpu
        run = retro.run
        assert run is not None and retro.signals == new_count, (retro.signals, new_count)
        print(
            f"Vigil retro_arrivals: {retro.signals:,} signals arrived since the checkpoint; "
            f"{run.posts_read:,} posts ({run.posts_too_old:,} too old), "
            f"{run.signals_matched:,} signals matched in {run.posts_matched:,} posts "
            f"({run.matches:,} rows: {run.by_type})"
        )
        print(
            f"  wall {wall:.1f} s, CPU {cpu:.1f} s, {run.posts_read / max(cpu, 1e-9):,.0f} posts per CPU-s; "
            f"peak RSS {peak_rss_mb():.0f} MB (before the run {rss_before:.0f} MB)"
        )
        assert run.matches_path is not None
        vigil_pdq = {
            r["post_id"]
            for r in pq.read_table(str(run.matches_path), columns=["post_id", "signal_type"]).to_pylist()
            if r["signal_type"] == "image_pdq" and int(r["post_id"][1:]) < args.check
        }
        peer, peer_cpu = brute_force(path, new_pdq, args.check)
        print(
            f"numpy brute force over the first {args.check:,} posts x {len(new_pdq):,} PDQ hashes: "
            f"{len(peer):,} posts, CPU {peer_cpu:.1f} s "
            f"({args.check / max(peer_cpu, 1e-9):,.0f} posts per CPU-s, "
            f"PDQ only); same posts as Vigil: {peer == vigil_pdq}"
        )
        print(f"load: {Path('/proc/loadavg').read_text().split()[:3]}")
        if peer != vigil_pdq:
            sys.exit(1)


if __name__ == "__main__":
    main()
