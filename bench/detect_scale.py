"""Scale benchmark of the detection engine: link, reshare, hashtag and image traces.

    python bench/detect_scale.py                         # cascades 1M, 3M, 10M (bench/cascades.py)
    python bench/detect_scale.py --data ira              # ../shared/data/ira-2017 in the toolkit's layout
    python bench/detect_scale.py --data generated --sizes 1000000,10000000   # this file's generator
    python bench/detect_scale.py --data generated --sizes 1 --posts posts.parquet --traces co_image

``--data cascades`` (the default; issue 22's target "four traces at 10M posts in < 2 minutes on 2
cores and < 4 GB, growing no faster than the co-action pairs"): per size, posts from
``bench/cascades.py`` (retweet cascades, Zipf accounts, Pareto appeal; nothing of Vigil's
generators) are exported in coordination-network-toolkit's CSV layout, and from that one CSV
the run measures, each in a fresh process: the toolkit's ``preprocess`` (the peer; ``--toolkit
compute`` also runs its ``compute co_link`` and ``co_retweet``), ``vigil ingest`` of the CSV
(generic layout, the toolkit's columns, no language identification), and the four traces on the
ingested posts, one after the other in one process. It prints per trace the co-action pairs
(matched post pairs in the window), CPU seconds, wall seconds and CPU microseconds per pair; per
size the process's peak RSS, ingest's CPU and wall, the totals, and at the end how CPU and pairs
grew from size to size. ``--sql-pairs`` also times the traces with the SQL bucket self-join as
the pair step (what the numba step replaced; same edges). ``--data ira`` does the same on the
IRA 2017 archive converted to the toolkit's layout (a retweet's ``repost_id`` is its text's hash:
the archive has no retweeted ids), with the toolkit's compute.

Posts come from a small vectorised generator here (skewed item popularity, reshares, replies,
hashtags, mentions, pictures with re-posted and re-encoded memes, planted bursts of coordinated
accounts, some with one picture); pass ``--posts FILE`` to benchmark any posts table instead
(for example ``vigil generate`` output).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vigil.schema.io import ParquetSink
from vigil.schema.tables import POSTS, URL_STRUCT
from vigil.synth.arrowkit import hex_strings
from vigil.synth.items import flip_bits

sys.path.insert(0, str(Path(__file__).resolve().parent))

T0 = 1_700_000_000
SPAN = 7 * 24 * 3600  # one week of posts
# Pictures, after the real 2021 German election archive (4% of tweets and 15% of Facebook posts
# carry one; a distinct image hash per 1.4 and 2.9 image posts): 8% of originals (5.6% of posts),
# a distinct hash per about 1.5 image posts.
IMAGE_P = 0.08
MEME_P = 0.5  # share of pictures that re-post a popular meme (skewed popularity)
EXACT_COPY_P = 0.7  # of meme re-posts, the same file (same hash); others re-encoded, 1-8 bits flipped
CAMPAIGN_IMAGE_P = 0.5  # share of planted link bursts that also post one picture (0-10 bits flipped)


def _prefixed(prefix: str, values: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(values), pa.string()), "")


def _skewed(rng: np.random.Generator, size: int, pool: int, power: float) -> np.ndarray:
    """Indices in [0, pool) with a heavy head: P(index < k) = (k / pool) ** (1 / power)."""
    return np.minimum((pool * rng.random(size) ** power).astype(np.int64), pool - 1)


def _lists(counts: np.ndarray, values: pa.Array) -> pa.Array:
    offsets = np.zeros(len(counts) + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _images(rng: np.random.Generator, original: np.ndarray, memes: np.ndarray) -> pa.Array:
    """image_pdq lists: fresh pictures and re-posted memes on ``IMAGE_P`` of the original posts."""
    has = original & (rng.random(len(original)) < IMAGE_P)
    m = int(has.sum())
    codes = rng.integers(0, 256, (m, 32), dtype=np.uint8)
    meme = rng.random(m) < MEME_P
    k = int(meme.sum())
    flips = np.where(rng.random(k) < EXACT_COPY_P, 0, rng.integers(1, 9, k))
    codes[meme] = flip_bits(rng, memes[_skewed(rng, k, len(memes), 3.0)], flips)
    return _lists(has.astype(np.int32), hex_strings(codes))


def _chunk(
    rng: np.random.Generator,
    start: int,
    size: int,
    n_total: int,
    img_rng: np.random.Generator,
    memes: np.ndarray,
) -> pa.Table:
    n_accounts = max(100, n_total // 20)
    url_pool, tag_pool, reshare_pool = max(50, n_total // 4), max(20, n_total // 100), max(50, n_total // 10)
    ids = np.arange(start, start + size)
    account = _skewed(rng, size, n_accounts, 2.0)
    ts = T0 + rng.integers(0, SPAN, size)
    kind = rng.random(size)
    is_reshare, is_reply = kind < 0.3, (kind >= 0.3) & (kind < 0.38)
    original = ~is_reshare

    # URLs: 70% of originals carry one, 10% two; 5% of links are on a shortener.
    n_urls = np.where(original, (rng.random(size) < 0.7).astype(np.int32) + (rng.random(size) < 0.1), 0)
    total = int(n_urls.sum())
    url_idx = _skewed(rng, total, url_pool, 3.0)
    short = rng.random(total) < 0.05
    site = url_idx % max(10, url_pool // 20)
    domain = pc.if_else(
        pa.array(short), "bit.ly", pc.binary_join_element_wise(_prefixed("site", site), ".example", "")
    )
    url = pc.binary_join_element_wise("https://", domain, "/a", pc.cast(pa.array(url_idx), pa.string()), "")
    urls = _lists(
        n_urls, pa.StructArray.from_arrays([url, url, domain, pa.array(short)], fields=list(URL_STRUCT))
    )

    n_tags = np.where(rng.random(size) < 0.5, rng.integers(1, 4, size), 0)
    tags = _lists(n_tags, _prefixed("h", _skewed(rng, int(n_tags.sum()), tag_pool, 2.0)))
    n_mentions = (rng.random(size) < 0.15).astype(np.int32)
    mentions = _lists(n_mentions, _prefixed("acc", _skewed(rng, int(n_mentions.sum()), n_accounts, 2.0)))

    reshare_of = pc.if_else(pa.array(is_reshare), _prefixed("p", _skewed(rng, size, reshare_pool, 3.0)), None)
    reply_to = pc.if_else(pa.array(is_reply), _prefixed("p", _skewed(rng, size, reshare_pool, 3.0)), None)
    return pa.table(
        {
            "platform": pa.array(["x"] * size),
            "post_id": _prefixed("p", ids),
            "account_id": _prefixed("acc", account),
            "created_at": pa.array(ts * 1_000_000, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "urls": urls,
            "hashtags": tags,
            "mentions": mentions,
            "reshare_of": reshare_of,
            "reply_to": reply_to,
            "image_pdq": _images(img_rng, original, memes),
        }
    )


def _campaigns(rng: np.random.Generator, start: int, n_total: int, img_rng: np.random.Generator) -> pa.Table:
    """Planted coordination: groups of 8 accounts posting the same fresh link and hashtag pair (half
    of these bursts with one picture, re-encoded per account), or resharing the same post, within
    20 s of each other, 30 times per group. ``img_rng`` draws the pictures, so the other columns
    are those of a run without pictures."""
    groups, members, bursts = max(1, n_total // 20_000), 8, 30
    rows: dict[str, list[Any]] = {
        k: [] for k in ("post_id", "account_id", "ts", "url", "tags", "reshare", "pdq")
    }
    n = start
    for g in range(groups):
        for b in range(bursts):
            at = T0 + int(rng.integers(0, SPAN - 60))
            reshare = rng.random() < 0.3
            pictures: list[list[str]] = [[] for _ in range(members)]
            if not reshare and img_rng.random() < CAMPAIGN_IMAGE_P:
                base = np.repeat(img_rng.integers(0, 256, (1, 32), dtype=np.uint8), members, axis=0)
                copies = flip_bits(img_rng, base, img_rng.integers(0, 11, members))
                pictures = [[h] for h in hex_strings(copies).to_pylist()]
            for m in range(members):
                rows["post_id"].append(f"p{n}")
                rows["account_id"].append(f"camp{g}_{m}")
                rows["ts"].append(at + int(rng.integers(0, 21)))
                rows["url"].append(None if reshare else f"https://camp{g}.example/{b}")
                rows["tags"].append([f"camp{g}", f"burst{b}"])
                rows["reshare"].append(f"camp{g}_{b}" if reshare else None)
                rows["pdq"].append(pictures[m])
                n += 1

    def link(u: str) -> dict[str, Any]:
        return {"url": u, "canonical": u, "domain": u.split("/")[2], "is_shortener": False}

    urls = [[] if u is None else [link(u)] for u in rows["url"]]
    return pa.table(
        {
            "platform": ["x"] * len(urls),
            "post_id": rows["post_id"],
            "account_id": rows["account_id"],
            "created_at": pa.array(np.array(rows["ts"]) * 1_000_000, pa.int64()).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "urls": pa.array(urls, pa.list_(URL_STRUCT)),
            "hashtags": rows["tags"],
            "reshare_of": rows["reshare"],
            "image_pdq": pa.array(rows["pdq"], pa.list_(pa.string())),
        }
    )


def _viral(start: int, count: int) -> pa.Table:
    """One link posted by ``count`` distinct accounts within five minutes: a viral burst."""
    u = "https://viral.example/story"
    link = {"url": u, "canonical": u, "domain": "viral.example", "is_shortener": False}
    ts = T0 + 3600 + (np.arange(count) * 300) // count
    return pa.table(
        {
            "platform": ["x"] * count,
            "post_id": [f"p{start + i}" for i in range(count)],
            "account_id": [f"fan{i}" for i in range(count)],
            "created_at": pa.array(ts * 1_000_000, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "urls": pa.array([[link]] * count, pa.list_(URL_STRUCT)),
        }
    )


def generate_posts(path: Path, n: int, *, seed: int = 1, chunk: int = 1_000_000, viral: int = 0) -> Path:
    """Write about ``n`` generated posts (plus planted campaign posts and, if ``viral``, that many
    posts of one viral link) to ``path`` once; reuse the file after."""
    if path.is_file():
        return path
    rng = np.random.default_rng(seed)
    # Pictures come from their own generator: every other column is what it was before they existed.
    img_rng = np.random.default_rng([seed, 1])
    memes = img_rng.integers(0, 256, (max(20, n // 2000), 32), dtype=np.uint8)
    with ParquetSink(path, POSTS) as sink:
        for start in range(0, n, chunk):
            sink.write(_chunk(rng, start, min(chunk, n - start), n, img_rng, memes))
        sink.write(_campaigns(rng, n, n, img_rng))
        if viral:
            sink.write(_viral(2 * n, viral))
    return path


def measure(argv: list[str]) -> dict[str, Any]:
    """Run ``argv`` in a fresh wrapper process: wall ``seconds``, ``cpu`` seconds (user + system, all
    processes) and ``rss_mb`` (peak RSS of the largest process).

    The wrapper waits for the command, so getrusage(RUSAGE_CHILDREN) there covers the command and
    every worker it spawned and waited for, and nothing of this benchmark's own memory.
    """
    wrapper = (
        "import json,resource,subprocess,sys,time;t=time.perf_counter();"
        "r=subprocess.run(sys.argv[1:],stdout=subprocess.PIPE,stderr=subprocess.PIPE);"
        "s=time.perf_counter()-t;"
        "sys.stderr.write(r.stderr.decode()[-2000:]) if r.returncode else None;"
        "u=resource.getrusage(resource.RUSAGE_CHILDREN);"
        "print(json.dumps({'rc':r.returncode,'seconds':s,'out':r.stdout.decode().strip()[-4000:],"
        "'cpu':u.ru_utime+u.ru_stime,'rss_mb':u.ru_maxrss/1024,'load':__import__('os').getloadavg()[0]}))"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, *argv], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if result["rc"]:
        raise RuntimeError(f"{argv} failed: {out.stderr}")
    return result


def worker(args: argparse.Namespace) -> None:
    """Run the engine on ``args.posts`` (inside a measured subprocess)."""
    from vigil.core.settings import load_settings
    from vigil.detect import duck
    from vigil.detect.engine import (
        EngineParams,
        index_events,
        materialize_events,
        run_traces,
        windowed_pairs_sql,
    )
    from vigil.detect.traces import select_traces
    from vigil.detect.traces.image import CO_IMAGE, ImageTraceParams, co_image

    if args.pair_step == "kernel":
        from vigil.detect import pairs  # noqa: F401  (numba and the kernels: counted with the imports)

    con = duck.connect(load_settings(temp_dir=Path(args.workdir) / "spill"))
    duck.register_posts(con, args.posts)
    names = args.traces.split(",")
    traces = select_traces([name for name in names if name != CO_IMAGE])
    image_stats: dict[str, float] = {}
    if CO_IMAGE in names:
        # The content trace clusters the pictures first, then runs through the engine like the others.
        image = co_image(con, ImageTraceParams(search=args.pdq_search))
        image_stats = image.stats
        traces.append(image.spec)
    if args.pairs:
        # Only the pair step of the first trace (no popularity cap), bucketed or as a plain range join.
        materialize_events(con, traces[0])
        if args.pairs == "bucket":
            con.execute("CREATE TEMP TABLE _k AS SELECT row_number() OVER () AS iid, item FROM "
                        "(SELECT DISTINCT item FROM _vg_ev)")  # fmt: skip
            index_events(con, 60.0, items="_k")
            query = f"SELECT count(*) FROM ({windowed_pairs_sql('_vg_evj', 60.0)})"
        else:
            query = """WITH ev AS (SELECT DISTINCT * FROM _vg_ev)
                       SELECT count(*) FROM ev e1 JOIN ev e2 ON e1.item = e2.item
                       AND e2.ts BETWEEN e1.ts - 60 AND e1.ts + 60 AND e1.account < e2.account"""
        print(json.dumps({"pairs": con.execute(query).fetchall()[0][0]}))
        return
    params = EngineParams(max_window_accounts=None) if args.no_crowd_cap else EngineParams()
    result = run_traces(con, traces, params, out_dir=Path(args.workdir) / "out")
    stats = [{"trace": s.trace, "edges": s.n_edges, "pairs": s.n_pairs} for s in result.stats]
    print(json.dumps({"traces": stats, "image": image_stats}))


FOUR_TRACES = "co_link,co_reshare,co_hashtag,co_image"
IRA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ira-2017" / "tweets.csv.gz"


def traces_worker(args: argparse.Namespace) -> None:
    """Run the traces one after the other on ``args.posts`` (inside a measured subprocess) and print,
    per trace, its matched post pairs, edges, CPU (this process, all threads) and wall seconds."""
    started = time.process_time()
    from vigil.core.settings import load_settings
    from vigil.detect import duck, engine
    from vigil.detect.engine import EngineParams, run_traces
    from vigil.detect.traces import select_traces
    from vigil.detect.traces.image import CO_IMAGE, ImageTraceParams, co_image

    engine.PAIR_STEP = args.pair_step
    con = duck.connect(load_settings(temp_dir=Path(args.workdir) / "spill"))
    duck.register_posts(con, args.posts)
    rows: list[dict[str, Any]] = []
    imports = time.process_time() - started
    for name in args.traces.split(","):
        cpu, wall = time.process_time(), time.perf_counter()
        # The image trace clusters the pictures first (counted in its time), then runs like the others.
        spec = co_image(con, ImageTraceParams()).spec if name == CO_IMAGE else select_traces([name])[0]
        result = run_traces(con, [spec], EngineParams(), out_dir=Path(args.workdir) / f"out-{name}")
        stats = result.stats[0]
        rows.append({"trace": name, "pairs": stats.n_pairs, "edges": stats.n_edges,
                     "cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall})  # fmt: skip
    print(json.dumps({"imports_cpu": imports, "traces": rows}))


def ingest_worker(args: argparse.Namespace) -> None:
    """``vigil ingest`` of the toolkit CSV ``args.csv`` into ``args.out`` (a measured subprocess)."""
    from detect_vs_toolkit import TOOLKIT_MAPPING
    from vigil.core.settings import load_settings
    from vigil.ingest.pipeline import ingest

    settings = load_settings(temp_dir=Path(args.workdir) / "spill")
    summary = ingest([Path(args.csv)], layout="generic", out_dir=Path(args.out), mapping=TOOLKIT_MAPPING,
                     platform="x", settings=settings, detect_language=False)  # fmt: skip
    print(json.dumps({"posts": getattr(summary, "posts", None)}))


def ira_toolkit_csv(source: Path, target: Path) -> Path:
    """The IRA archive (Twitter's information-operations layout) in the toolkit's CSV layout, once.

    The archive has no retweeted tweet ids (its README): a retweet's ``repost_id`` is the hash of
    its text, so co-retweet means retweeting the same text, as the archive's own yardstick does.
    URLs are the t.co links of the text, space-separated; times are POSIX seconds.
    """
    if target.is_file():
        return target
    import duckdb

    tmp = target.with_suffix(".tmp.csv")
    con = duckdb.connect()
    con.execute(
        f"""
        COPY (
            SELECT tweetid AS message_id, userid AS user_id, user_screen_name AS username,
                   CASE WHEN is_retweet = 'True' THEN 'rt' || md5(coalesce(tweet_text, '')) ELSE '' END
                       AS repost_id,
                   coalesce(in_reply_to_tweetid, '') AS reply_id, coalesce(tweet_text, '') AS message,
                   CAST(epoch(strptime(tweet_time, '%Y-%m-%d %H:%M')) AS DOUBLE) AS timestamp,
                   array_to_string(string_split(trim(coalesce(urls, ''), '[]'), ', '), ' ') AS urls
            FROM read_csv('{source}', all_varchar = true, header = true)
        ) TO '{tmp}' (HEADER, DELIMITER ',', QUOTE '"')
        """
    )
    con.close()
    tmp.replace(target)
    return target


def _line(label: str, m: dict[str, Any], extra: str = "") -> str:
    return (f"  {label:<34} wall {m['seconds']:7.1f} s  CPU {m['cpu']:7.1f} s  "
            f"peak RSS {m['rss_mb']:6.0f} MB  load {m['load']:4.1f}{extra}")  # fmt: skip


def pipeline_sizes(args: argparse.Namespace) -> None:
    """``--data cascades`` / ``--data ira``: toolkit preprocess, vigil ingest, the four traces."""
    from vigil.detect import duck
    from vigil.detect.toolkit_compat import export_toolkit_csv

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = [0] if args.data == "ira" else [int(s) for s in args.sizes.split(",")]
    steps = ["sql", "kernel"] if args.sql_pairs else ["kernel"]
    print(f"detect_scale --data {args.data}: traces {args.traces}; {os.cpu_count()} CPUs shared with "
          f"other work (load printed per step; CPU seconds are the figure to compare)")  # fmt: skip
    growth: list[tuple[int, int, float, float]] = []
    for n in sizes:
        if args.data == "ira":
            csv = ira_toolkit_csv(Path(args.ira), workdir / "ira-2017-toolkit.csv")
            label = "IRA 2017"
        else:
            from cascades import generate_cascades

            posts = generate_cascades(workdir / f"cascades-{n}.parquet", n)
            csv = workdir / f"toolkit-cascades-{n}.csv"
            if not csv.is_file():
                con = duck.connect()
                export_toolkit_csv(con, csv.with_suffix(".tmp"), posts=posts)
                con.close()
                csv.with_suffix(".tmp").replace(csv)
            label = f"{n:,} cascade posts"
        print(f"{label} (toolkit CSV {csv.stat().st_size / 1e6:,.0f} MB)")
        if args.toolkit != "none":
            db = workdir / f"{csv.stem}.db"
            for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
                stale.unlink(missing_ok=True)
            cli = [sys.executable, "-m", "coordination_network_toolkit", str(db)]
            toolkit_cpu = 0.0
            m = measure([*cli, "preprocess", "--format", "csv", str(csv)])
            toolkit_cpu += m["cpu"]
            print(_line("toolkit preprocess", m))
            if args.toolkit == "compute" or args.data == "ira":
                for command in ("co_link", "co_retweet"):
                    m = measure([*cli, "compute", command, "--time_window", "60", "--min_edge_weight", "2",
                                 "--n_cpus", "2"])  # fmt: skip
                    toolkit_cpu += m["cpu"]
                    print(_line(f"toolkit compute {command}", m))
                print(f"  toolkit total CPU {toolkit_cpu:.1f} s")
        ingested = workdir / f"ingested-{csv.stem}"
        base = [sys.executable, __file__, "--workdir", str(workdir)]
        m_ingest = measure([*base, "--role", "ingest", "--csv", str(csv), "--out", str(ingested)])
        rows = pq.ParquetFile(ingested / "posts.parquet").metadata.num_rows
        print(
            _line(
                f"vigil ingest ({rows:,} posts)", m_ingest, f"  {rows / m_ingest['cpu']:,.0f} rows per CPU-s"
            )
        )
        for step in steps:
            m = measure([*base, "--role", "traces", "--posts", str(ingested / "posts.parquet"),
                         "--traces", args.traces, "--pair-step", step])  # fmt: skip
            out = json.loads(m["out"].splitlines()[-1])
            pairs = sum(t["pairs"] for t in out["traces"])
            traces_cpu = sum(t["cpu"] for t in out["traces"])
            print(_line(f"vigil four traces ({step} pair step)", m))
            for t in out["traces"]:
                per = f"{1e6 * t['cpu'] / t['pairs']:6.2f} us/pair" if t["pairs"] else "      -"
                print(f"      {t['trace']:<11} {t['pairs']:>12,} pairs  {t['edges']:>9,} edges  "
                      f"CPU {t['cpu']:6.1f} s  wall {t['wall']:6.1f} s  {per}")  # fmt: skip
            print(f"      traces {traces_cpu:.1f} CPU-s for {pairs:,} pairs = "
                  f"{1e6 * traces_cpu / max(pairs, 1):.2f} us/pair (process {m['cpu']:.1f} CPU-s, imports "
                  f"{out['imports_cpu']:.1f})")  # fmt: skip
            if step == "kernel":
                total_cpu = m_ingest["cpu"] + m["cpu"]
                total_wall = m_ingest["seconds"] + m["seconds"]
                print(f"  vigil ingest + four traces: CPU {total_cpu:.1f} s, wall {total_wall:.1f} s (at the "
                      f"loads above), peak RSS {max(m_ingest['rss_mb'], m['rss_mb']):.0f} MB")  # fmt: skip
                growth.append((n, pairs, m["cpu"], total_cpu))
    for (n0, p0, c0, t0), (n1, p1, c1, t1) in itertools.pairwise(growth):
        print(f"  {n0:,} -> {n1:,} posts: pairs x{p1 / p0:.2f}, four traces' CPU x{c1 / c0:.2f}, "
              f"with ingest x{t1 / t0:.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", choices=["cascades", "ira", "generated"], default="cascades")
    parser.add_argument("--sizes", help="posts per size (cascades: 1M,3M,10M; generated: 1M,10M)")
    parser.add_argument("--ira", default=str(IRA), help="the IRA archive (tweets.csv.gz) for --data ira")
    parser.add_argument(
        "--toolkit",
        choices=["preprocess", "compute", "none"],
        default="preprocess",
        help="the toolkit's steps to run beside Vigil (--data ira always computes)",
    )
    parser.add_argument("--sql-pairs", action="store_true", help="also time the SQL bucket-join pair step")
    parser.add_argument("--role", choices=["traces", "ingest"], help=argparse.SUPPRESS)
    parser.add_argument("--pair-step", choices=["kernel", "sql"], default="kernel", help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "vigil-bench"))
    parser.add_argument("--traces", default=FOUR_TRACES)
    parser.add_argument(
        "--pdq-search",
        choices=["mih", "flat"],
        default="mih",
        help="co_image's radius search (flat: faiss IndexBinaryFlat brute force, the peer)",
    )
    parser.add_argument("--posts", help="benchmark this posts file instead of generated ones")
    parser.add_argument(
        "--no-image-peer",
        dest="image_peer",
        action="store_false",
        help="skip co_image with faiss IndexBinaryFlat (the peer of the multi-index search)",
    )
    parser.add_argument(
        "--no-pair-peer",
        dest="pair_peer",
        action="store_false",
        help="skip the bucket-join vs range-join pair step at the smallest size",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pairs", choices=["bucket", "range"], help=argparse.SUPPRESS)
    parser.add_argument("--no-crowd-cap", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--viral",
        type=int,
        default=10_000,
        help="also time co_link at the smallest size on posts with one link shared by this many "
        "accounts in five minutes, with and without the crowd cap (0: skip)",
    )
    args = parser.parse_args()
    if args.role == "traces":
        traces_worker(args)
        return
    if args.role == "ingest":
        ingest_worker(args)
        return
    if args.worker:
        worker(args)
        return
    if args.data != "generated":
        args.sizes = args.sizes or "1000000,3000000,10000000"
        pipeline_sizes(args)
        return
    args.sizes = args.sizes or "1000000,10000000"
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"detect_scale: traces {args.traces}; {os.cpu_count()} CPUs (shared machine: figures are indicative)"
    )
    for i, n in enumerate(sizes):
        if args.posts:
            posts = Path(args.posts)
        else:
            started = time.perf_counter()
            posts = generate_posts(workdir / f"posts-{n}-img.parquet", n)
            print(f"  posts ready: {posts} ({time.perf_counter() - started:.1f} s)")
        rows = pq.ParquetFile(posts).metadata.num_rows
        base = [sys.executable, __file__, "--worker", "--workdir", str(workdir), "--posts", str(posts)]
        runs: list[tuple[str, list[str]]] = [(t, []) for t in args.traces.split(",")]
        if "co_image" in args.traces.split(",") and args.image_peer:
            runs.append(("co_image", ["--pdq-search", "flat"]))
        runs.append((args.traces, []))
        for traces, extra in runs:
            m = measure([*base, "--traces", traces, *extra])
            label = traces if len(traces) < 40 else f"all {len(traces.split(','))}"
            label += " (faiss flat)" if extra else ""
            image = json.loads(m["out"])["image"]
            found = ""
            if image:
                pairs = image.get("leader_pairs", image.get("similar_pdq_pairs", 0.0))
                kind = "leader" if "leader_pairs" in image else "similar"
                found = (
                    f"  ({image['distinct_pdq']:,.0f} distinct PDQ, {pairs:,.0f} {kind} pairs, "
                    f"{image['items']:,.0f} items, co_image clustering {image['seconds_pdq']:.1f} s)"
                )
            print(
                f"  {rows:>11,} posts  {label:<32} {m['seconds']:7.1f} s  "
                f"{rows / m['seconds']:>10,.0f} posts/s  CPU {m['cpu']:6.1f} s  "
                f"peak RSS {m['rss_mb']:7.0f} MB  load {m['load']:.1f}{found}"
            )
        if i == 0 and args.pair_peer:
            for how in ("bucket", "range"):
                m = measure([*base, "--traces", "co_link", "--pairs", how])
                pairs = json.loads(m["out"])["pairs"]
                print(
                    f"  co_link pair step only, {how + ' join':<12} {m['seconds']:7.1f} s  "
                    f"peak RSS {m['rss_mb']:7.0f} MB  ({pairs:,} pairs)"
                )
        if i == 0 and args.viral and not args.posts:
            viral = generate_posts(workdir / f"posts-{n}-img-viral{args.viral}.parquet", n, viral=args.viral)
            vbase = [sys.executable, __file__, "--worker", "--workdir", str(workdir), "--posts", str(viral)]
            for label, extra in (("crowd cap 1000", []), ("no crowd cap", ["--no-crowd-cap"])):
                m = measure([*vbase, "--traces", "co_link", *extra])
                pairs = json.loads(m["out"])["traces"][0]["pairs"]
                print(
                    f"  + viral link x{args.viral:,}, co_link, {label:<15} {m['seconds']:7.1f} s  "
                    f"peak RSS {m['rss_mb']:7.0f} MB  ({pairs:,} pairs)"
                )


if __name__ == "__main__":
    main()
