"""The same detection SQL on DuckDB and on Spark: wall time at 1M and 10M posts, and the ratio.

    python bench/spark_vs_duckdb.py                              # 1M and 10M posts
    python bench/spark_vs_duckdb.py --sizes 1000000 --master local[2] --workdir /tmp/vigil-bench

Posts come from bench/detect_scale.py's vectorised generator (skewed item popularity, reshares,
replies, hashtags, mentions, planted coordinated bursts); the file is reused across runs. For each
size both engines run the same traces through :func:`vigil.detect.engine.run_traces`; the script
checks that the edge and evidence tables are identical, and prints per engine the wall time,
posts/second, and the work that drives the cost (events, matched post pairs in the window, edges).
Spark's session start-up is timed separately from its run. The peer is DuckDB in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detect_scale import generate_posts  # a sibling script, not a package
from vigil.detect.duck import connect, register_posts
from vigil.detect.engine import EngineParams, RunResult, run_traces
from vigil.detect.engines.spark import SparkConnection, make_session
from vigil.detect.engines.spark import register_posts as register_spark
from vigil.detect.traces import select_traces


def _work(run: RunResult) -> tuple[int, int, int]:
    return (
        sum(s.n_events for s in run.stats),
        sum(s.n_pairs for s in run.stats),
        sum(s.n_edges for s in run.stats),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--traces", default="co_link,co_reshare,co_hashtag")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="3g")
    parser.add_argument("--shuffle-partitions", default="8")
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "vigil-bench"))
    args = parser.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    traces = select_traces(args.traces.split(","))
    params = EngineParams()
    print(
        f"spark_vs_duckdb: traces {args.traces}; {os.cpu_count()} CPUs shared with other work "
        f"(load average {os.getloadavg()[0]:.1f}): figures are indicative",
        flush=True,
    )
    started = time.perf_counter()
    spark = make_session(
        args.master,
        config={
            "spark.driver.memory": args.driver_memory,
            "spark.sql.shuffle.partitions": args.shuffle_partitions,
            "spark.local.dir": str(work / "spark-tmp"),
        },
    )
    print(f"  spark session start ({args.master}): {time.perf_counter() - started:.1f} s", flush=True)
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            posts = generate_posts(work / f"posts-{size}.parquet", size)
            rows = pq.ParquetFile(posts).metadata.num_rows
            timings: dict[str, float] = {}
            runs: dict[str, RunResult] = {}
            for engine in ("duckdb", "spark"):
                out = work / f"out-{engine}-{size}"
                t0 = time.perf_counter()
                if engine == "duckdb":
                    con = connect()
                    register_posts(con, posts)
                    runs[engine] = run_traces(con, traces, params, out_dir=out)
                    con.close()
                else:
                    sc = SparkConnection(spark)
                    register_spark(sc, posts)
                    runs[engine] = run_traces(sc, traces, params, out_dir=out)
                    sc.close()
                timings[engine] = time.perf_counter() - t0
                events, pairs, edges = _work(runs[engine])
                print(
                    f"  {rows:>11,} posts  {engine:<6} {timings[engine]:8.1f} s  "
                    f"{rows / timings[engine]:>10,.0f} posts/s  "
                    f"events {events:,}  pairs {pairs:,}  edges {edges:,}  "
                    f"(load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
            same = all(
                pq.read_table(getattr(runs["duckdb"], f)).equals(pq.read_table(getattr(runs["spark"], f)))
                for f in ("edges_path", "evidence_path")
            )
            print(
                f"  {rows:>11,} posts  spark/duckdb time ratio {timings['spark'] / timings['duckdb']:.1f}x; "
                f"identical edges and evidence: {same}",
                flush=True,
            )
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
