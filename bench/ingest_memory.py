"""Ingest throughput and memory: Vigil's ``ingest`` against coordination-network-toolkit's ``preprocess``.

    python bench/ingest_memory.py                       # 200k and 1M rows
    python bench/ingest_memory.py --rows 100000 500000 --workdir /tmp/vigil-ingest-bench

For each size a CSV in the toolkit's own input layout (message_id, user_id, username, repost_id,
reply_id, message, timestamp, urls) is generated on the fly: tweets in English, French and Arabic
with hashtags, mentions and URLs (some with tracking parameters, some on shorteners). Then, each
in a fresh subprocess measured for wall time and peak RSS (``getrusage(RUSAGE_CHILDREN)`` in a
wrapper, so nothing of this script's own memory counts):

* Vigil: ``ingest(--layout generic --map ...)`` to posts.parquet + accounts.parquet: URL
  canonicalization, hashtag/mention extraction, language identification of every post, account
  deduplication;
* the same with ``detect_language=False`` (``vigil-nolang``), to show what language id costs;
* the toolkit: ``preprocess_csv_files`` into its SQLite database (no canonicalization, no language).

Constant memory shows as Vigil's peak RSS staying flat while the row count grows: Python holds
one batch at a time, and the DuckDB steps (account dedup, duplicate count) stay within
``--duckdb-memory`` (default 256MB here), spilling to disk beyond it.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MAPPING = {
    "post_id": "message_id",
    "account_id": "user_id",
    "account_handle": "username",
    "reshare_of": "repost_id",
    "reply_to": "reply_id",
    "text": "message",
    "created_at": "timestamp",
    "urls": "urls",
}
TEXTS = [
    "Go vote on Sunday, every single vote counts for our future {tag}",
    "Votez dimanche pour l'avenir de la France et de nos enfants {tag}",
    "صوتوا في الانتخابات يوم الأحد من أجل مستقبل بلادنا {tag}",
    "The polls open at 8am, bring your ID and check your polling station {tag}",
    "Les bureaux de vote ferment à 20 heures, n'oubliez pas votre carte {tag}",
]
TAGS = ["#vote", "#Election2024", "#présidentielle", "#الانتخابات", "#fraud", ""]
URLS = [
    "https://www.example-news.com/politics/{n}?utm_source=twitter",
    "http://bit.ly/{n:x}",
    "https://m.facebook.com/story.php?story_fbid={n}&fbclid=IwAR0",
    "https://youtu.be/v{n:x}?si=abc",
    "",
]


def generate_csv(path: Path, rows: int, seed: int = 7) -> None:
    """A toolkit-layout CSV of ``rows`` messages from 1/10 as many accounts."""
    rng = random.Random(seed)
    accounts = max(1, rows // 10)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["message_id", "user_id", "username", "repost_id", "reply_id", "message", "timestamp", "urls"]
        )
        start = 1_700_000_000
        for i in range(rows):
            user = rng.randrange(accounts)
            text = rng.choice(TEXTS).format(tag=rng.choice(TAGS))
            if rng.random() < 0.3:
                text = f"@user{rng.randrange(accounts)} {text}"
            url = rng.choice(URLS).format(n=rng.randrange(5000))
            repost = str(rng.randrange(max(1, i))) if i and rng.random() < 0.2 else ""
            writer.writerow([i, f"u{user}", f"user{user}", repost, "", text, start + i // 5, url])


def measure(argv: list[str]) -> dict[str, Any]:
    """Run ``argv`` in a wrapper process: wall seconds and peak RSS (MB) of the command alone."""
    wrapper = (
        "import json,resource,subprocess,sys,time;t=time.perf_counter();"
        "r=subprocess.run(sys.argv[1:],capture_output=True);s=time.perf_counter()-t;"
        "sys.stderr.write(r.stderr.decode()[-3000:]) if r.returncode else None;"
        "print(json.dumps({'rc':r.returncode,'seconds':s,'out':r.stdout.decode().strip()[-3000:],"
        "'rss_mb':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024}))"
    )
    done = subprocess.run([sys.executable, "-c", wrapper, *argv], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["rc"]:
        raise RuntimeError(f"{argv} failed: {done.stderr}")
    return result


def worker(args: argparse.Namespace) -> None:
    """One side of the comparison, inside a measured subprocess."""
    if args.worker.startswith("vigil"):
        from vigil.core.settings import load_settings
        from vigil.ingest.pipeline import ingest

        summary = ingest(
            [args.csv],
            layout="generic",
            fmt="csv",
            out_dir=args.out,
            mapping=MAPPING,
            platform="twitter",
            settings=load_settings(
                duckdb_threads=2, duckdb_memory_limit=args.duckdb_memory, temp_dir=Path(args.out)
            ),
            detect_language=args.worker == "vigil",
        )
        print(
            json.dumps(
                {"posts": summary.posts, "accounts": summary.accounts, "detected": summary.languages_detected}
            )
        )
    else:
        from coordination_network_toolkit.preprocess import preprocess_csv_files

        preprocess_csv_files(args.out, [args.csv])
        print(json.dumps({"db": args.out}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--duckdb-memory", default="256MB", help="DuckDB memory limit of the account dedup (it spills beyond)"
    )
    parser.add_argument("--worker", choices=["vigil", "vigil-nolang", "toolkit"], help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="vigil-ingest-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    here = str(Path(__file__).resolve())
    print(f"{'rows':>10} {'tool':>12} {'seconds':>8} {'rows/s':>9} {'peak RSS MB':>12}  notes", flush=True)
    for rows in args.rows:
        source = workdir / f"posts-{rows}.csv"
        started = time.perf_counter()
        generate_csv(source, rows)
        size_mb = source.stat().st_size / 2**20
        print(
            f"# generated {rows:,} rows ({size_mb:.0f} MB) in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        runs: dict[str, dict[str, Any]] = {}
        for name in ("vigil", "vigil-nolang"):
            out = workdir / f"{name}-{rows}"
            argv = [sys.executable, here, "--worker", name, "--csv", str(source), "--out", str(out)]
            runs[name] = measure([*argv, "--duckdb-memory", args.duckdb_memory])
        db = workdir / f"toolkit-{rows}.db"
        db.unlink(missing_ok=True)
        runs["toolkit"] = measure(
            [sys.executable, here, "--worker", "toolkit", "--csv", str(source), "--out", str(db)]
        )
        for name, result in runs.items():
            note = result["out"].splitlines()[-1] if result["out"] else ""
            print(
                f"{rows:>10,} {name:>12} {result['seconds']:>8.1f} {rows / result['seconds']:>9,.0f} "
                f"{result['rss_mb']:>12.0f}  {note}",
                flush=True,
            )


if __name__ == "__main__":
    main()
