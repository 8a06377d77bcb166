"""Ingest speed, rows per second: Vigil's ``generic`` and ``twitter-io`` layouts beside the toolkit.

    python bench/ingest_speed.py                          # 1M generated rows + the IRA 2017 archive
    python bench/ingest_speed.py --rows 200000 --row-path # also the row-by-row reference path

Sources, from one run:

* ``generic``: a CSV in coordination-network-toolkit's own input layout (bench/ingest_memory.py's
  generator: tweets in English, French and Arabic with hashtags, mentions and URLs, some with
  tracking parameters or on shorteners), read with ``--map`` onto Vigil's fields;
* ``twitter-io``: ../shared/data/ira-2017/tweets.csv.gz (654k real tweets, Twitter's
  information-operations layout), and the same tweets converted to the toolkit's layout for it.

Each line is one subprocess, measured for wall time, CPU time (user + system, all threads) and peak
RSS: Vigil's ``ingest`` without language identification (URL canonicalization, hashtags, mentions,
account deduplication, duplicate posts all included), then with it (measured separately, as issue
#22 asks), optionally the row path (``columnar=False``, the reference the fast path is tested
against), and the toolkit's ``preprocess_csv_files`` into its SQLite database (no URL
canonicalization, no language). The target is 300k rows/s on 2 cores without language
identification; print the load average with the figures (the machine is shared).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_memory import MAPPING, generate_csv

IRA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ira-2017" / "tweets.csv.gz"
TOOLKIT_COLUMNS = [
    "message_id",
    "user_id",
    "username",
    "repost_id",
    "reply_id",
    "message",
    "timestamp",
    "urls",
]


def measure(argv: list[str]) -> dict[str, Any]:
    """Run ``argv`` in a wrapper process: wall and CPU seconds and peak RSS (MB) of the command alone."""
    wrapper = (
        "import json,resource,subprocess,sys,time;t=time.perf_counter();"
        "r=subprocess.run(sys.argv[1:],capture_output=True);s=time.perf_counter()-t;"
        "u=resource.getrusage(resource.RUSAGE_CHILDREN);"
        "sys.stderr.write(r.stderr.decode()[-3000:]) if r.returncode else None;"
        "print(json.dumps({'rc':r.returncode,'seconds':s,'cpu':u.ru_utime+u.ru_stime,"
        "'out':r.stdout.decode().strip()[-2000:],'rss_mb':u.ru_maxrss/1024}))"
    )
    done = subprocess.run([sys.executable, "-c", wrapper, *argv], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["rc"]:
        raise RuntimeError(f"{argv} failed: {done.stderr}")
    return result


def ira_to_toolkit(source: Path, target: Path) -> int:
    """The IRA tweets in the toolkit's CSV layout (retweets keyed as the toolkit expects)."""
    rows = 0
    with gzip.open(source, "rt", encoding="utf-8", newline="") as inp, target.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(TOOLKIT_COLUMNS)
        for row in csv.DictReader(inp):
            when = time.mktime(time.strptime(row["tweet_time"], "%Y-%m-%d %H:%M"))
            urls = row["urls"].strip("[]").replace(", ", " ")
            writer.writerow([row["tweetid"], row["userid"], row["user_screen_name"], row["retweet_tweetid"],
                             row["in_reply_to_tweetid"], row["tweet_text"], int(when), urls])  # fmt: skip
            rows += 1
    return rows


def worker(args: argparse.Namespace) -> None:
    """One side of the comparison, inside a measured subprocess."""
    if args.worker == "toolkit":
        from coordination_network_toolkit.preprocess import preprocess_csv_files

        preprocess_csv_files(args.out, [args.source])
        print(json.dumps({"db": args.out}))
        return
    from vigil.core.settings import load_settings
    from vigil.ingest.pipeline import ingest

    generic = args.layout == "generic"
    summary = ingest(
        [args.source],
        layout=args.layout,
        out_dir=args.out,
        mapping=MAPPING if generic else None,
        platform="twitter" if generic else None,
        settings=load_settings(duckdb_threads=2, temp_dir=Path(args.out)),
        detect_language=args.worker == "vigil-lang",
        columnar=args.worker != "vigil-rows",
    )
    print(json.dumps({"posts": summary.posts, "accounts": summary.accounts, "urls": summary.urls}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="Generated rows of the generic layout.")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--row-path", action="store_true", help="Also time the row-by-row reference path.")
    parser.add_argument("--no-ira", action="store_true", help="Leave out the IRA archive.")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--layout", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="vigil-ingest-speed-"))
    workdir.mkdir(parents=True, exist_ok=True)
    here = str(Path(__file__).resolve())
    sources: list[tuple[str, Path, Path, int]] = []
    if args.rows > 0:  # --rows 0: the IRA archive only
        generated = workdir / f"toolkit-{args.rows}.csv"
        generate_csv(generated, args.rows)
        sources.append(("generic", generated, generated, args.rows))
    if not args.no_ira and IRA.exists():
        converted = workdir / "ira-toolkit.csv"
        sources.append(("twitter-io", IRA, converted, ira_to_toolkit(IRA, converted)))
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    print(f"{'layout':<11} {'rows':>9} {'side':<13} {'wall s':>7} {'CPU s':>7} {'rows/s':>9} {'RSS MB':>7}")
    sides = ["vigil", "vigil-lang", *(["vigil-rows"] if args.row_path else []), "toolkit"]
    for layout, source, toolkit_source, rows in sources:
        for side in sides:
            out = workdir / f"{side}-{layout}"
            if side == "toolkit":
                out = workdir / f"toolkit-{layout}.db"
                out.unlink(missing_ok=True)
            given = toolkit_source if side == "toolkit" else source
            argv = [sys.executable, here, "--worker", side, "--layout", layout,
                    "--source", str(given), "--out", str(out)]  # fmt: skip
            result = measure(argv)
            print(
                f"{layout:<11} {rows:>9,} {side:<13} {result['seconds']:>7.1f} {result['cpu']:>7.1f} "
                f"{rows / result['seconds']:>9,.0f} {result['rss_mb']:>7.0f}",
                flush=True,
            )
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
