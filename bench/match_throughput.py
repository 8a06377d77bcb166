"""Matching throughput: Vigil's match index and matcher against python-threatexchange's indexes.

Builds a match index the way a fetch does (contribution records -> ``MatchIndex.reconcile`` ->
``save`` -> ``open_index``), writes a posts file, runs ``match_posts`` end to end, and then looks the
same derived values (URLs and PDQ hashes) up in python-threatexchange 1.2's own indexes
(``TrivialSignalTypeIndex`` for URLs, ``PDQIndex`` = faiss ``IndexBinaryMultiHash`` at distance 31),
the peer the Vigil signal interfaces are modelled on. Both sides must find the same (value,
signal) pairs; the script checks that and prints build/save/load/query times.

    nice python bench/match_throughput.py [--signals 100000] [--posts 100000]

Needs the bench extra (``pip install -e '.[bench]'``: threatexchange).
"""

from __future__ import annotations

import argparse
import gc
import io
import random
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vigil.core.ids import stable_id
from vigil.ingest.urls import canonicalize
from vigil.match.matcher import match_posts
from vigil.match.state import ContributionRecord, MatchIndex, open_index
from vigil.schema.io import ParquetSink
from vigil.schema.tables import POSTS
from vigil.signals import get_signal_type
from vigil.signals.derive import derive_post_signals

T0 = datetime(2026, 5, 1, tzinfo=UTC)
WORDS = [
    "vote",
    "ballot",
    "fraud",
    "rigged",
    "count",
    "poll",
    "election",
    "mail",
    "box",
    "stolen",
    "truth",
    "media",
    "share",
    "now",
    "before",
    "deleted",
]


def flip(code: int, bits: int, rng: random.Random) -> int:
    for position in rng.sample(range(256), bits):
        code ^= 1 << position
    return code


def build_signals(n: int, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, value): a third URLs, a third PDQ, the rest hashtags/domains/accounts/MinHash."""
    out: list[tuple[str, str]] = []
    for i in range(n // 3):
        out.append(("url", f"https://outlet-{i % 5000}.info/story/{i}"))
    for _ in range(n // 3):
        out.append(("image_pdq", f"{rng.getrandbits(256):064x}"))
    rest = n - len(out)
    minhash = get_signal_type("text_minhash")
    for i in range(rest):
        kind = ("hashtag", "domain", "account", "text_minhash")[i % 4]
        if kind == "hashtag":
            out.append((kind, f"tag{i}"))
        elif kind == "domain":
            out.append((kind, f"site-{i}.net"))
        elif kind == "account":
            out.append((kind, f"twitter:@user{i}"))
        elif i % 40 == 3:  # MinHash is costly to compute; a few hundred are plenty
            text = " ".join(rng.choice(WORDS) for _ in range(25)) + f" number {i}"
            out.append((kind, minhash.hash_text(text)))  # type: ignore[attr-defined]
    return out


def bank_record(stix: str, kind: str, value: str, org_id: str, now: datetime) -> ContributionRecord:
    """One GREEN contribution of a coalition bank, as a fetch would have stored it."""
    return ContributionRecord(
        stix_id=stix,
        signal_id=stable_id("indicator", kind, value),
        kind=kind,
        value=value,
        org_id=org_id,
        tlp="GREEN",
        confidence=80,
        labels=[],
        modified=now,
        valid_until=None,
        revoked=False,
        collection="coalition",
    )


def build_index(directory: Path, signals: list[tuple[str, str]]) -> MatchIndex:
    index = MatchIndex(directory=directory)
    now = datetime.now(UTC)
    for i, (kind, value) in enumerate(signals):
        stix = stable_id("indicator", "bench", str(i))
        index.contributions[stix] = bank_record(stix, kind, value, "identity--bench", now)
    index.reconcile()
    return index


def build_posts(path: Path, n: int, signals: list[tuple[str, str]], rng: random.Random) -> None:
    urls = [v for k, v in signals if k == "url"]
    codes = [int(v, 16) for k, v in signals if k == "image_pdq"]
    tags = [v for k, v in signals if k == "hashtag"]
    rows = []
    for i in range(n):
        planted = i % 10 == 0  # 10% of posts carry something shared
        link = rng.choice(urls) + "?utm_source=x" if planted else f"https://elsewhere-{i}.org/p/{i}"
        pdq = []
        if i % 3 == 0:
            code = flip(rng.choice(codes), rng.randrange(0, 40), rng) if planted else rng.getrandbits(256)
            pdq = [f"{code:064x}"]
        rows.append(
            {
                "platform": "twitter",
                "post_id": str(i),
                "account_id": str(i % 20000),
                "account_handle": f"user{i % 20000}",
                "created_at": T0 + timedelta(seconds=i),
                "text": " ".join(rng.choice(WORDS) for _ in range(12)),
                "urls": [canonicalize(link).as_dict()],
                "hashtags": [rng.choice(tags)] if planted and tags else [],
                "image_pdq": pdq,
            }
        )
    schema = pa.schema([POSTS.schema.field(name) for name in rows[0]])
    with ParquetSink(path, POSTS) as sink:
        for start in range(0, n, 50_000):
            sink.write(pa.Table.from_pylist(rows[start : start + 50_000], schema=schema))


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(label: str, fn, results: dict[str, tuple[float, float]]):  # type: ignore[no-untyped-def]
    wall, c = time.perf_counter(), cpu()
    value = fn()
    results[label] = (time.perf_counter() - wall, cpu() - c)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signals", type=int, default=100_000)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    times: dict[str, tuple[float, float]] = {}

    signals = build_signals(args.signals, rng)
    with tempfile.TemporaryDirectory(prefix="vigil-match-bench-") as tmp:
        root = Path(tmp)
        index = timed("vigil: build index (reconcile)", lambda: build_index(root / "index", signals), times)
        timed("vigil: save index", index.save, times)
        loaded = timed("vigil: open index", lambda: open_index(root / "index"), times)
        size = sum(p.stat().st_size for p in (root / "index").rglob("*") if p.is_file())
        build_posts(root / "posts.parquet", args.posts, signals, rng)
        run = timed(
            "vigil: match_posts end to end",
            lambda: match_posts(root / "posts.parquet", loaded, root / "out"),
            times,
        )

        # The same lookups in both libraries: the derived URL and PDQ values of every post.
        posts = pq.read_table(root / "posts.parquet")
        derived = derive_post_signals(posts, ["url", "image_pdq"])
        values = {
            k: derived.filter(pc.equal(derived["signal_type"], k))["value"].to_pylist()
            for k in ("url", "image_pdq")
        }
        vigil_pairs: set[tuple[str, str]] = set()
        for kind, vals in values.items():
            gc.collect()  # a collection triggered by the previous step must not land in this timing
            found = timed(
                f"vigil: query {kind} ({len(vals):,} values)",
                lambda k=kind, v=vals: loaded.indexes[k].query_many(v),
                times,
            )
            vigil_pairs |= {(v, m.entry_id) for v, ms in zip(vals, found, strict=True) for m in ms}
            # What the matcher does: derived values are normalized already, so it skips that pass.
            gc.collect()
            trusted = timed(
                f"vigil: query {kind}, normalized=True",
                lambda k=kind, v=vals: loaded.indexes[k].query_many(v, normalized=True),
                times,
            )
            assert trusted == found, f"{kind}: normalized=True changed the answer"

        from threatexchange.signal_type.pdq.pdq_index import PDQIndex
        from threatexchange.signal_type.signal_base import TrivialSignalTypeIndex

        peer_pairs: set[tuple[str, str]] = set()
        by_kind = {
            k: [(v, stable_id("indicator", k, v)) for kk, v in signals if kk == k]
            for k in ("url", "image_pdq")
        }
        url_index = timed(
            "threatexchange: build url index", lambda: TrivialSignalTypeIndex.build(by_kind["url"]), times
        )
        pdq_index = timed(
            "threatexchange: build PDQIndex", lambda: PDQIndex.build(by_kind["image_pdq"]), times
        )
        buffer = io.BytesIO()
        timed("threatexchange: serialize PDQIndex (pickle)", lambda: pdq_index.serialize(buffer), times)
        for kind, peer in (("url", url_index), ("image_pdq", pdq_index)):
            vals = values[kind]
            found = timed(
                f"threatexchange: query {kind} ({len(vals):,} values)",
                lambda p=peer, v=vals: [p.query(x) for x in v],
                times,
            )
            peer_pairs |= {(v, m.metadata) for v, ms in zip(vals, found, strict=True) for m in ms}

    print(
        f"\nmatch throughput: {args.signals:,} signals, {args.posts:,} posts "
        f"({len(signals):,} values indexed)"
    )
    print(f"{'step':<58}{'wall s':>9}{'CPU s':>9}")
    print("-" * 76)
    for label, (wall, c) in times.items():
        print(f"{label:<58}{wall:>9.2f}{c:>9.2f}")
    end_to_end = times["vigil: match_posts end to end"][0]
    print(
        f"\nvigil end to end: {args.posts / end_to_end:,.0f} posts/s, {run.matches:,} match rows, "
        f"{run.posts_matched:,} posts matched; index on disk {size / 1e6:.1f} MB, "
        f"pickle of the peer's PDQ index {buffer.tell() / 1e6:.1f} MB"
    )
    for kind in ("url", "image_pdq"):
        ours = times[f"vigil: query {kind} ({len(values[kind]):,} values)"][1]
        theirs = times[f"threatexchange: query {kind} ({len(values[kind]):,} values)"][1]
        print(f"{kind}: CPU-seconds per query, threatexchange / vigil = {theirs / max(ours, 1e-9):.1f}x")
    for kind in ("url", "image_pdq"):
        plain = times[f"vigil: query {kind} ({len(values[kind]):,} values)"][1]
        trusted = times[f"vigil: query {kind}, normalized=True"][1]
        print(f"{kind}: query CPU without the normalize pass {trusted:.2f} s instead of {plain:.2f} s")
    same = vigil_pairs == peer_pairs
    print(
        f"same (value, signal) pairs found: {same} (vigil {len(vigil_pairs):,}, "
        f"threatexchange {len(peer_pairs):,}; only vigil {len(vigil_pairs - peer_pairs):,}, "
        f"only threatexchange {len(peer_pairs - vigil_pairs):,})"
    )


if __name__ == "__main__":
    main()
