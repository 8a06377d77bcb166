"""`vigil generate` at scale: wall time, posts/second and peak RSS, in a fresh process per size.

    python bench/generate_memory.py                    # 1M posts
    python bench/generate_memory.py --ten-million      # 1M and 10M posts (about 10x the time)
    python bench/generate_memory.py --sizes 200000,1000000 --workdir /tmp/gen-bench

Each size runs `vigil generate` in a child of a small wrapper process that reads the child's peak
RSS with getrusage(RUSAGE_CHILDREN). The peer in the same run is the I/O floor: the same
posts.parquet read back and rewritten through schema.io.ParquetSink (zstd, same row groups), also
in a fresh process, so the generator's own cost is the difference.

Figures depend on the machine; on a shared machine note the contention next to them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

WRAPPER = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"rc": done.returncode, "seconds": seconds, "rss_mb": rss, "stdout": done.stdout,
                  "stderr": done.stderr[-4000:]}))
"""

REWRITE = r"""
import sys
from vigil.schema.io import ParquetSink, iter_table
from vigil.schema.tables import POSTS
with ParquetSink(sys.argv[2], POSTS) as sink:
    for batch in iter_table(sys.argv[1], POSTS, batch_size=200_000):
        sink.write(batch)
"""

VIGIL = [sys.executable, "-c", "from vigil.cli.app import main; main()"]


def measure(command: list[str]) -> dict[str, Any]:
    """Run ``command`` in a child of a wrapper process; its wall time and peak RSS."""
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, *command], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(out.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result['stderr']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000000", help="comma-separated post counts")
    parser.add_argument("--ten-million", action="store_true", help="also run 10,000,000 posts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="keep outputs here (default: a temp dir)")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",") if x]
    if args.ten_million and 10_000_000 not in sizes:
        sizes.append(10_000_000)

    with tempfile.TemporaryDirectory(prefix="vigil-gen-bench-") as tmp:
        work = args.workdir or Path(tmp)
        header = ("posts", "what", "seconds", "posts/s", "peak RSS MB", "posts.parquet MB")
        print(
            f"{header[0]:>12} {header[1]:<22} {header[2]:>8} {header[3]:>10} {header[4]:>12} {header[5]:>17}"
        )
        for n in sizes:
            out = work / f"gen-{n}"
            gen = measure(
                [*VIGIL, "generate", "--posts", str(n), "--seed", str(args.seed), "--out", str(out), "--json"]
            )
            size_mb = (out / "posts.parquet").stat().st_size / 2**20
            inside = json.loads(gen["stdout"])["seconds"]  # generate() alone, without CLI start-up
            print(f"{n:>12,} {'vigil generate':<22} {gen['seconds']:>8.1f} {n / gen['seconds']:>10,.0f} "
                  f"{gen['rss_mb']:>12,.0f} {size_mb:>17,.0f}")  # fmt: skip
            print(f"{n:>12,} {'  of which generate()':<22} {inside:>8.1f} {n / inside:>10,.0f}")
            floor = measure(
                [
                    sys.executable,
                    "-c",
                    REWRITE,
                    str(out / "posts.parquet"),
                    str(work / f"rewrite-{n}.parquet"),
                ]
            )
            rate = n / floor["seconds"]
            print(f"{n:>12,} {'peer: rewrite (I/O)':<22} {floor['seconds']:>8.1f} {rate:>10,.0f} "
                  f"{floor['rss_mb']:>12,.0f} {'':>17}")  # fmt: skip
            (work / f"rewrite-{n}.parquet").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
