"""Vigil's default detection beside the three-trace yardstick on the IRA 2017 archive, one run.

    python bench/detect_ira.py [--data ../shared/data/ira-2017] [--work DIR] [--reuse]

Ingests ``tweets.csv.gz`` with the twitter-io layout (``--reuse`` keeps an earlier ingest in
``--work``), runs ``vigil detect`` with its defaults and the yardstick (bench/ira_yardstick.py, from
the data's README) on the same posts, and scores both against the Linvill-Warren persona labels
(``labels.csv``, ``account_category``): NMI, ARI, purity on the covered accounts, and coverage.
Extra ``--set key=value`` pairs go to DetectParams' graph block (e.g. ``--set objective=modularity``).
Prints wall and CPU seconds per step and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ira_yardstick import yardstick_communities
from vigil.core.progress import NoProgress
from vigil.detect.evaluate import evaluate, load_detections, load_label_file
from vigil.detect.params import make_params
from vigil.detect.pipeline import detect
from vigil.ingest.pipeline import ingest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ira-2017"


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime


def timed(label: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    wall, used, load = time.perf_counter(), cpu(), os.getloadavg()[0]
    result = fn(*args, **kwargs)
    print(
        f"{label:<10} {time.perf_counter() - wall:8.1f} s wall {cpu() - used:8.1f} s CPU"
        f"   load {load:.1f} -> {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    return result


def value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--work", type=Path, default=Path("/tmp/vigil-bench-ira"))
    parser.add_argument("--reuse", action="store_true", help="keep an earlier ingest in --work")
    parser.add_argument("--set", action="append", default=[], help="graph parameter key=value")
    args = parser.parse_args()
    posts = args.work / "ingest" / "posts.parquet"
    if not (args.reuse and posts.is_file()):
        summary = timed(
            "ingest", ingest, [args.data / "tweets.csv.gz"], layout="twitter-io", out_dir=args.work / "ingest"
        )
        print(
            f"           {summary.posts:,} posts, {summary.accounts:,} accounts, unmapped {summary.unmapped}"
        )
    graph = dict(item.split("=", 1) for item in args.set)
    params = make_params(graph={k: value(v) for k, v in graph.items()})
    timed("vigil", detect, posts, args.work / "detect", params, NoProgress())
    yard = timed("yardstick", yardstick_communities, str(posts))
    labels = load_label_file(
        args.data / "labels.csv", account_column="userid", label_column="account_category"
    )
    print(f"\n{'':<10} {'NMI':>6} {'ARI':>6} {'purity':>7} {'covered':>12} {'groups':>7} {'largest':>8}")
    for name, detected in (("vigil", load_detections(args.work / "detect")), ("yardstick", yard)):
        a = evaluate(detected, labels).agreement
        assert a is not None
        largest = max((len(m) for m in detected.values()), default=0)
        print(
            f"{name:<10} {a.nmi:6.3f} {a.ari:6.3f} {a.purity:7.3f} "
            f"{a.covered_accounts:4d} ({100 * a.coverage:4.1f}%) {len(detected):7d} {largest:8d}"
        )
    print(f"\nload average {os.getloadavg()}")


if __name__ == "__main__":
    main()
