"""Benchmark of detection's campaigns step alone, on the engine outputs of an earlier run.

    python bench/detect_campaigns.py RUN_DIR --out OUT [--posts posts.parquet] [--accounts accounts.parquet]

RUN_DIR holds a run's ``edges.parquet`` and ``evidence.parquet`` (a ``campaign_id`` column, which
the campaigns step adds when it rewrites edges.parquet, is dropped). They are copied into OUT, then
``campaigns_from_run`` builds the graph, the campaigns and the output files there, as ``vigil
detect`` does after its engine step. Printed per stage (reading, campaigns, enrichment, writing):
wall seconds, CPU seconds (user + system) and the peak RSS reached during that stage (the kernel's
high-water mark is reset between stages through /proc/self/clear_refs), and the whole step's.

Running the same command with ``PYTHONPATH=<other checkout>/src`` benchmarks another version on the
same inputs; the outputs can then be compared table by table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

# Same measurements as the text bench (the kernel's VmHWM reset per stage, user + system CPU).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from detect_text import cpu_seconds, current_rss_mb, peak_rss_mb, reset_peak_rss
from vigil.core.settings import get_settings
from vigil.detect.engine import RunResult
from vigil.detect.params import DetectParams
from vigil.detect.pipeline import campaigns_from_run


class StageClock:
    """A Progress that records wall, CPU and peak RSS between consecutive ``advance`` calls."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = names  # progress description -> the stage name of each advance
        self.stages: list[dict[str, Any]] = []
        self._current: list[str] = []
        self._mark()

    def _mark(self) -> None:
        self._wall, self._cpu = time.perf_counter(), cpu_seconds()
        reset_peak_rss()

    def start(self, description: str, total: float | None = None) -> None:
        self._current = list(self.names.get(description, []))
        self._mark()

    def advance(self, amount: float = 1) -> None:
        name = self._current.pop(0) if self._current else "?"
        self.stages.append(
            {
                "stage": name,
                "seconds": round(time.perf_counter() - self._wall, 2),
                "cpu_seconds": round(cpu_seconds() - self._cpu, 2),
                "peak_rss_mb": round(peak_rss_mb()),
                "rss_after_mb": round(current_rss_mb()),
            }
        )
        self._mark()

    def finish(self) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "run_dir", type=Path, help="directory with the engine's edges.parquet and evidence.parquet"
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory (replaced)")
    parser.add_argument("--posts", type=Path, help="the posts table (languages and quoted posts)")
    parser.add_argument("--accounts", type=Path, help="the accounts table (creation dates)")
    parser.add_argument("--traces", help="comma-separated trace names, recorded in the parameters")
    args = parser.parse_args()

    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    edges = pq.read_table(args.run_dir / "edges.parquet")
    if "campaign_id" in edges.column_names:
        edges = edges.drop_columns(["campaign_id"])
    pq.write_table(edges, args.out / "edges.parquet")
    del edges
    shutil.copyfile(args.run_dir / "evidence.parquet", args.out / "evidence.parquet")
    accounts = None
    if args.accounts is not None:
        accounts = pq.read_table(args.accounts).select(["platform", "account_id", "created_at"])

    params = DetectParams(traces=args.traces.split(",") if args.traces else None)
    run = RunResult(
        edges_path=args.out / "edges.parquet",
        evidence_path=args.out / "evidence.parquet",
        stats_path=args.out / "traces.json",
    )
    clock = StageClock(
        {"graph and campaigns": ["read", "find_campaigns", "enrich"], "writing outputs": ["write"]}
    )
    wall, cpu = time.perf_counter(), cpu_seconds()
    start_rss = round(current_rss_mb())
    campaign_set, _ = campaigns_from_run(
        run,
        args.posts if args.posts is not None else args.out / "no-posts.parquet",
        args.out,
        params,
        accounts=accounts,
        settings=get_settings(),
        progress=clock,
        run_info={"posts": str(args.posts), "bench": "detect_campaigns"},
    )
    total = {
        "stage": "total",
        "seconds": round(time.perf_counter() - wall, 2),
        "cpu_seconds": round(cpu_seconds() - cpu, 2),
        "peak_rss_mb": max(s["peak_rss_mb"] for s in clock.stages),
        "rss_before_mb": start_rss,
    }
    for row in [*clock.stages, total]:
        print(
            f"{row['stage']:15} {row['seconds']:8.2f} s {row['cpu_seconds']:8.2f} cpu s "
            f"peak {row['peak_rss_mb']:6d} MB",
            flush=True,
        )
    print(json.dumps({"stages": clock.stages, "total": total, "graph": campaign_set.graph}))


if __name__ == "__main__":
    main()
