"""Ingest speed, rows per second: Vigil's ``generic`` and ``twitter-io`` layouts beside the toolkit.

    python bench/ingest_speed.py                          # 1M generated rows + the IRA 2017 archive
    python bench/ingest_speed.py --rows 200000 --row-path # also the row-by-row reference path
    python bench/ingest_speed.py --before 4d8cb41         # also the code of that commit, same run
                                                          # (and its posts/accounts tables compared)

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
against), optionally the same ingest by an earlier commit of Vigil (``--before REV``: its ``src``
from ``git archive``, first on PYTHONPATH; "before" the change being measured), and the toolkit's
``preprocess_csv_files`` into its SQLite database (no URL canonicalization, no language). The
target is 300k rows/s on 2 cores without language identification; rows per CPU-second say what
the machine's load does not. Print the load average with the figures (the machine is shared).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_memory import MAPPING, generate_csv  # standard library only

IRA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ira-2017" / "tweets.csv.gz"


def export_source(rev: str, target: Path) -> Path:
    """``src`` of commit ``rev`` extracted under ``target`` (git archive: the repository is not touched)."""
    root = Path(__file__).resolve().parents[1]
    archive = subprocess.run(["git", "-C", str(root), "archive", rev, "src"], capture_output=True, check=True)
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    return target / "src"


def measure(argv: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``argv`` in a wrapper process: wall and CPU seconds and peak RSS (MB) of the command alone."""
    wrapper = (
        "import json,resource,subprocess,sys,time;t=time.perf_counter();"
        "r=subprocess.run(sys.argv[1:],capture_output=True);s=time.perf_counter()-t;"
        "u=resource.getrusage(resource.RUSAGE_CHILDREN);"
        "sys.stderr.write(r.stderr.decode()[-3000:]) if r.returncode else None;"
        "print(json.dumps({'rc':r.returncode,'seconds':s,'cpu':u.ru_utime+u.ru_stime,"
        "'out':r.stdout.decode().strip()[-2000:],'rss_mb':u.ru_maxrss/1024}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *argv], capture_output=True, text=True, check=True, env=env
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["rc"]:
        raise RuntimeError(f"{argv} failed: {done.stderr}")
    return result


def ira_to_toolkit(source: Path, target: Path) -> int:
    """The IRA tweets in the toolkit's CSV layout (retweets keyed as the toolkit expects)."""
    # Imported here: the measured workers run this file too, and the ingest needs no detect code.
    from vigil.detect.toolkit_compat import TOOLKIT_CSV_COLUMNS

    rows = 0
    with gzip.open(source, "rt", encoding="utf-8", newline="") as inp, target.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(TOOLKIT_CSV_COLUMNS)
        for row in csv.DictReader(inp):
            when = time.mktime(time.strptime(row["tweet_time"], "%Y-%m-%d %H:%M"))
            urls = row["urls"].strip("[]").replace(", ", " ")
            writer.writerow([row["tweetid"], row["userid"], row["user_screen_name"], row["retweet_tweetid"],
                             row["in_reply_to_tweetid"], row["tweet_text"], int(when), urls])  # fmt: skip
            rows += 1
    return rows


def same_outputs(workdir: Path, layout: str) -> str:
    """Whether this tree's ingest wrote the tables the --before commit wrote, row for row; raises if not."""
    import pyarrow.parquet as pq

    for name in ("posts.parquet", "accounts.parquet"):
        now = pq.read_table(workdir / f"vigil-{layout}" / name)
        before = pq.read_table(workdir / f"vigil-before-{layout}" / name)
        if not now.equals(before):
            raise RuntimeError(f"{layout}: {name} differs from the --before commit's")
    return f"equal ({now.num_rows:,} accounts, posts too)"


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
        detect_language=args.worker == "vigil-lang",  # "vigil-before": the --before commit's code
        columnar=args.worker != "vigil-rows",
    )
    import vigil

    code = str(Path(vigil.__file__).resolve().parents[1])  # which src/ ran: this tree or --before's
    print(
        json.dumps({"posts": summary.posts, "accounts": summary.accounts, "urls": summary.urls, "src": code})
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="Generated rows of the generic layout.")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--row-path", action="store_true", help="Also time the row-by-row reference path.")
    parser.add_argument("--no-ira", action="store_true", help="Leave out the IRA archive.")
    parser.add_argument(
        "--sides",
        nargs="+",
        default=None,
        help="Only these sides (vigil vigil-before vigil-lang vigil-rows toolkit).",
    )
    parser.add_argument(
        "--before", metavar="REV", default=None,
        help="Also run the ingest (no language id) with the src/ of this git commit, e.g. 4d8cb41.",
    )  # fmt: skip
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
    before_env = None
    if args.before:
        before_src = export_source(args.before, workdir / f"before-{args.before}")
        before_env = {**os.environ, "PYTHONPATH": str(before_src)}
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    print(f"{'layout':<11} {'rows':>9} {'side':<13} {'wall s':>7} {'CPU s':>7} {'rows/s':>9} "
          f"{'rows/CPU-s':>10} {'RSS MB':>7}")  # fmt: skip
    sides = [
        "vigil", *(["vigil-before"] if args.before else []), "vigil-lang",
        *(["vigil-rows"] if args.row_path else []), "toolkit",
    ]  # fmt: skip
    if args.sides:
        sides = [side for side in sides if side in args.sides]
    for layout, source, toolkit_source, rows in sources:
        for side in sides:
            out = workdir / f"{side}-{layout}"
            if side == "toolkit":
                out = workdir / f"toolkit-{layout}.db"
                out.unlink(missing_ok=True)
            given = toolkit_source if side == "toolkit" else source
            argv = [sys.executable, here, "--worker", side, "--layout", layout,
                    "--source", str(given), "--out", str(out)]  # fmt: skip
            result = measure(argv, before_env if side == "vigil-before" else None)
            if side == "vigil-before":
                ran = json.loads(result["out"].splitlines()[-1])["src"]
                if not ran.startswith(str(workdir.resolve())):
                    raise RuntimeError(f"--before ran {ran}, not the exported commit")
            print(
                f"{layout:<11} {rows:>9,} {side:<13} {result['seconds']:>7.1f} {result['cpu']:>7.1f} "
                f"{rows / result['seconds']:>9,.0f} {rows / result['cpu']:>10,.0f} {result['rss_mb']:>7.0f}",
                flush=True,
            )
        if "vigil" in sides and "vigil-before" in sides:
            same = same_outputs(workdir, layout)
            print(f"{layout:<11} outputs of vigil and vigil-before: {same}", flush=True)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
