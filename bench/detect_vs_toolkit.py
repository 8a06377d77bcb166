"""Vigil's engine against coordination-network-toolkit 1.5.2, end to end, on the same posts.

    python bench/detect_vs_toolkit.py                  # 1M posts from bench/cascades.py
    python bench/detect_vs_toolkit.py --posts-count 200000 --workdir /tmp/vigil-bench
    python bench/detect_vs_toolkit.py --generator scale   # bench/detect_scale.py's posts

Both sides run co_link and co_retweet (Vigil: co_reshare) at a 60 s window with minimum edge
weight 2 on 2 CPUs, each step in a fresh subprocess measured for wall time and peak RSS (largest
process of the step, getrusage(RUSAGE_CHILDREN) in a wrapper). The toolkit reads a CSV that Vigil
exports from the posts table (export not timed): its ``preprocess`` into SQLite, then ``compute``.
Vigil reads the posts Parquet directly and runs (a) its own engine (IDF weights, no popularity cap
here, min_coactions 2) and (b) its toolkit-compatible mode, whose edges are then checked equal to
the toolkit's, row for row. Before computing, the toolkit's ``""`` URL rows (its CSV reader files
every URL-less message under the URL "") are deleted for a fair comparison (timed apart).

CSV in, edges out, two ways, each in one measured process from the toolkit's own CSV:
(c) ``toolkit_csv_edges`` reads the CSV directly (DuckDB's reader, only the columns the commands
use) and computes both networks; its edges are also checked against the toolkit's, row for row;
(d) ``vigil ingest`` (generic layout, the toolkit's columns mapped, no language identification)
writes Vigil's posts table, then the compatible mode runs on it (the CPU of the two parts is
printed apart: ingest is its own stage with its own bench, ``bench/ingest_speed.py``).

Posts come from ``bench/cascades.py`` by default (no planted coordination; retweet cascades with a
long tail of popularity: the most matched pairs per post), or ``--generator scale``.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

COMMANDS = {"co_link": "co_link", "co_retweet": "co_reshare"}
# The toolkit's CSV columns onto Vigil's fields, for `vigil ingest --layout generic`.
TOOLKIT_MAPPING = {
    "post_id": "message_id", "account_id": "user_id", "account_handle": "username",
    "reshare_of": "repost_id", "reply_to": "reply_id", "text": "message", "created_at": "timestamp",
    "urls": "urls",
}  # fmt: skip
WINDOW, MIN_WEIGHT, CPUS = 60, 2, 2


def worker(args: argparse.Namespace) -> None:
    """Vigil's side, inside a measured subprocess; also prints its import and compute times (wall and
    CPU of this process: the CPU figures are the ones a loaded machine distorts least). Each side
    imports only what it uses: the CSV path needs neither the engine nor the settings (pydantic),
    whose imports cost more CPU than its computation at 1M posts."""
    started, started_cpu = time.perf_counter(), time.process_time()
    workdir = Path(args.workdir)
    parts: dict[str, float] = {}
    if args.worker == "csv":
        from vigil.detect.toolkit_compat import toolkit_csv_edges

        imported, imported_cpu = time.perf_counter(), time.process_time()
        con = bare_connection(workdir / "spill")
        tables = toolkit_csv_edges(
            con, args.csv, tuple(COMMANDS), time_window=WINDOW, min_edge_weight=MIN_WEIGHT
        )
        # Edges out, as Parquet, by the DuckDB already loaded, in the order computed (DuckDB's
        # parallel writer reorders rows unless told to keep them: at 5M posts it did).
        con.execute("SET preserve_insertion_order = true")
        for command, table in tables.items():
            con.from_arrow(table).write_parquet(str(workdir / f"csv-{command}.parquet"))
        counts = {c: t.num_rows for c, t in tables.items()}
    elif args.worker == "engine":
        from vigil.core.settings import load_settings
        from vigil.detect import duck
        from vigil.detect.engine import EngineParams, run_traces
        from vigil.detect.traces import select_traces
        from vigil.detect.window import FixedWindow

        imported, imported_cpu = time.perf_counter(), time.process_time()
        con = duck.connect(load_settings(duckdb_threads=CPUS, temp_dir=workdir / "spill"))
        duck.register_posts(con, args.posts)
        params = EngineParams(
            window=FixedWindow(WINDOW), min_items=1, min_coactions=MIN_WEIGHT, max_item_accounts=None
        )
        result = run_traces(con, select_traces(COMMANDS.values()), params, out_dir=workdir / "vigil-out")
        counts = {s.trace: s.n_edges for s in result.stats}
    else:  # the compatible mode on a posts table: the given one, or the one `vigil ingest` writes
        import pyarrow.parquet as pq

        from vigil.core.settings import load_settings
        from vigil.detect import duck
        from vigil.detect.toolkit_compat import toolkit_edges

        settings = load_settings(duckdb_threads=CPUS, temp_dir=workdir / "spill")
        if args.worker == "ingest":
            from vigil.ingest.pipeline import ingest
        imported, imported_cpu = time.perf_counter(), time.process_time()
        posts = Path(args.posts)
        if args.worker == "ingest":
            posts = workdir / "ingested"
            ingest([Path(args.csv)], layout="generic", out_dir=posts, mapping=TOOLKIT_MAPPING, platform="x",
                   settings=settings, detect_language=False)  # fmt: skip
            parts["ingest_cpu"] = time.process_time() - imported_cpu
            parts["ingest_s"] = time.perf_counter() - imported
            posts = posts / "posts.parquet"
        con = duck.connect(settings)
        duck.register_posts(con, posts)
        counts = {}
        for command in COMMANDS:
            table = toolkit_edges(con, command, time_window=WINDOW, min_edge_weight=MIN_WEIGHT)
            prefix = "ingest" if args.worker == "ingest" else "compat"
            pq.write_table(table, workdir / f"{prefix}-{command}.parquet")
            counts[command] = table.num_rows
    done, done_cpu = time.perf_counter(), time.process_time()
    print(
        json.dumps(
            {
                "edges": counts,
                "start_cpu": started_cpu,
                "import_s": imported - started,
                "import_cpu": imported_cpu - started_cpu,
                "compute_s": done - imported,
                "compute_cpu": done_cpu - imported_cpu,
                **parts,
            }
        )
    )


def bare_connection(spill: Path) -> Any:
    """DuckDB set as ``vigil.detect.duck.connect`` sets it with default settings (2 threads, the
    default 3GB memory limit, a spill directory), without importing the settings machinery."""
    import duckdb

    spill.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"SET threads = {CPUS}")
    con.execute("SET memory_limit = '3GB'")  # vigil.core.settings: duckdb_memory_limit's default
    con.execute("SET temp_directory = ?", [str(spill)])
    con.execute("SET preserve_insertion_order = false")
    return con


def measured(argv: list[str]) -> dict[str, Any]:
    """:func:`detect_scale.measure` plus the 1-minute load average before and after the step."""
    from detect_scale import measure

    before = os.getloadavg()[0]
    result = measure(argv)
    return {**result, "load_before": before, "load_after": os.getloadavg()[0]}


def toolkit_rows(db: Path, command: str) -> list[tuple[str, str, int]]:
    with sqlite3.connect(db) as sql:
        rows = sql.execute(
            f"SELECT user_1, user_2, weight FROM {command}_network "
            "WHERE user_1 != user_2 ORDER BY user_1, user_2"
        ).fetchall()
    return [(u1, u2, int(w)) for u1, u2, w in rows]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts-count", type=int, default=1_000_000)
    parser.add_argument("--posts", help="use this posts Parquet file (e.g. from `vigil generate`)")
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "vigil-bench"))
    parser.add_argument("--generator", choices=["cascades", "scale"], default="cascades")
    parser.add_argument("--no-ingest", action="store_true", help="skip `vigil ingest` + compatible mode")
    parser.add_argument("--worker", choices=["engine", "compat", "csv", "ingest"], help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    # Imported here, not at the top: the measured worker subprocesses load only what they use.
    import pyarrow.parquet as pq

    from cascades import generate_cascades
    from detect_scale import generate_posts
    from vigil.detect import duck
    from vigil.detect.toolkit_compat import export_toolkit_csv

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if args.posts:
        posts = Path(args.posts)
    elif args.generator == "cascades":
        posts = generate_cascades(workdir / f"cascades-{args.posts_count}.parquet", args.posts_count)
    else:
        posts = generate_posts(workdir / f"posts-{args.posts_count}.parquet", args.posts_count)
    n = pq.ParquetFile(posts).metadata.num_rows
    csv_path, db = workdir / f"toolkit-{posts.stem}.csv", workdir / f"toolkit-{posts.stem}.db"
    con = duck.connect()
    export_toolkit_csv(con, csv_path, posts=posts)
    con.close()
    for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        stale.unlink(missing_ok=True)
    print(f"detect_vs_toolkit: {n:,} posts, window {WINDOW} s, min edge weight {MIN_WEIGHT}, {CPUS} CPUs "
          f"({os.cpu_count()} on this shared machine: figures are indicative)")  # fmt: skip

    toolkit_cli = [sys.executable, "-m", "coordination_network_toolkit", str(db)]
    steps = {"preprocess": measured([*toolkit_cli, "preprocess", "--format", "csv", str(csv_path)])}
    started = time.perf_counter()
    with sqlite3.connect(db) as sql:
        removed = sql.execute("DELETE FROM message_url WHERE url = ''").rowcount
    fix_seconds = time.perf_counter() - started
    for command in COMMANDS:
        steps[command] = measured(
            [*toolkit_cli, "compute", command, "--time_window", str(WINDOW), "--min_edge_weight",
             str(MIN_WEIGHT), "--n_cpus", str(CPUS)]
        )  # fmt: skip
    base = [sys.executable, __file__, "--workdir", str(workdir), "--posts", str(posts), "--worker"]
    engine, compat = measured([*base, "engine"]), measured([*base, "compat"])
    from_csv = measured([*base, "csv", "--csv", str(csv_path)])
    ingested = None if args.no_ingest else measured([*base, "ingest", "--csv", str(csv_path)])

    for name, m in steps.items():
        print(
            f"  toolkit {name:<12} {m['seconds']:8.1f} s   CPU {m['cpu']:7.1f} s   "
            f"peak RSS {m['rss_mb']:7.0f} MB   load {m['load_before']:4.1f} -> {m['load_after']:4.1f}"
        )
    print(f"  (toolkit: deleting its {removed:,} empty-URL rows took {fix_seconds:.1f} s, not counted)")
    toolkit_total = sum(m["seconds"] for m in steps.values())
    toolkit_compute = steps["co_link"]["seconds"] + steps["co_retweet"]["seconds"]
    toolkit_compute_cpu = steps["co_link"]["cpu"] + steps["co_retweet"]["cpu"]
    toolkit_rss = max(m["rss_mb"] for m in steps.values())
    toolkit_cpu = sum(m["cpu"] for m in steps.values())
    print(
        f"  toolkit total        {toolkit_total:8.1f} s   CPU {toolkit_cpu:7.1f} s   "
        f"peak RSS {toolkit_rss:7.0f} MB"
    )
    runs = [("vigil engine", engine), ("vigil compat", compat), ("vigil CSV->edges", from_csv)]
    if ingested is not None:
        runs.append(("vigil ingest+compat", ingested))
    for label, m in runs:
        inner = json.loads(m["out"].splitlines()[-1])
        print(
            f"  {label:<20} {m['seconds']:8.1f} s   CPU {m['cpu']:7.1f} s   peak RSS {m['rss_mb']:7.0f} MB   "
            f"load {m['load_before']:4.1f} -> {m['load_after']:4.1f}\n"
            f"      end to end: {toolkit_total / m['seconds']:5.1f}x faster (wall), "
            f"{toolkit_cpu / m['cpu']:5.1f}x less CPU; vs toolkit compute only: "
            f"{toolkit_compute / m['seconds']:5.1f}x (wall); edges {inner['edges']}\n"
            f"      in process: interpreter start {inner['start_cpu']:.2f} s CPU; imports "
            f"{inner['import_s']:.2f} s ({inner['import_cpu']:.2f} s CPU); compute "
            f"{inner['compute_s']:.2f} s ({inner['compute_cpu']:.2f} s CPU); toolkit / Vigil compute: "
            f"{toolkit_compute / inner['compute_s']:5.1f}x wall, "
            f"{toolkit_compute_cpu / inner['compute_cpu']:5.1f}x CPU"
            + (
                f"\n      of which ingest {inner['ingest_cpu']:.2f} s CPU ({inner['ingest_s']:.2f} s), "
                "compatible mode "
                f"{inner['compute_cpu'] - inner['ingest_cpu']:.2f} s CPU"
                if "ingest_cpu" in inner
                else ""
            )
        )

    equal = True
    for command in COMMANDS:
        theirs = toolkit_rows(db, command)
        for label, prefix in (("compat", "compat"), ("CSV->edges", "csv"), ("ingest+compat", "ingest")):
            if prefix == "ingest" and ingested is None:
                continue
            table = pq.read_table(workdir / f"{prefix}-{command}.parquet")
            users = [table["user_1"].to_pylist(), table["user_2"].to_pylist()]
            if prefix == "ingest":
                # Ingest qualifies the CSV's user ids ("x:acc1") with the platform given ("x:").
                users = [[u.removeprefix("x:") for u in column] for column in users]
            ours = list(zip(*users, table["weight"].to_pylist(), strict=True))
            same = ours == theirs
            equal &= same
            print(f"  {command}: toolkit {len(theirs):,} directed edges, vigil {label} {len(ours):,}: "
                  f"{'IDENTICAL' if same else 'DIFFERENT'}")  # fmt: skip
    sys.exit(0 if equal else 1)


if __name__ == "__main__":
    main()
