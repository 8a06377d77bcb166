"""End-to-end `vigil detect` on generated posts: throughput, peak memory, accuracy; community peers.

    python bench/detect_end_to_end.py                       # 1M generated posts
    python bench/detect_end_to_end.py --posts 200000 --workdir /tmp/vigil-e2e
    python bench/detect_end_to_end.py --posts-file P.parquet --labels L.parquet

1. generates posts with `vigil generate` (skipped with --posts-file), timed;
2. runs `vigil detect` in a fresh process: wall time, posts/second, peak RSS of that process
   (getrusage(RUSAGE_CHILDREN) read by a wrapper), and the stage timings it reports;
3. runs `vigil evaluate` when labels exist: campaign-level F1, account P/R, organic share flagged;
4. peers in the same run, on the run's own combined account graph: Vigil's community step
   (igraph's Leiden, CPM, seeded) against leidenalg's CPM at the same resolution, igraph's Leiden
   with modularity, igraph's Louvain (multilevel) and connected components, each with its time and
   its campaign-level F1 on the same labels.

Figures depend on the machine; on a shared machine note the contention next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

WRAPPER = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
rss = usage.ru_maxrss / 1024
print(json.dumps({"rc": done.returncode, "seconds": seconds, "rss_mb": rss, "stdout": done.stdout,
                  "cpu": usage.ru_utime + usage.ru_stime, "stderr": done.stderr[-4000:]}))
"""
# --stage-cpu: the same ``detect`` call as ``vigil detect`` (default parameters), with a Progress that
# notes the process's CPU time (all threads) and wall time at each stage's start; one JSON line out.
STAGE_WORKER = r"""
import json, sys, time
from vigil.detect.pipeline import detect

class Stages:
    def __init__(self):
        self.marks = []
    def plan(self, stages):
        pass
    def start(self, description, total=None):
        self.marks.append((description, time.process_time(), time.perf_counter()))
    def advance(self, amount=1):
        pass
    def finish(self):
        self.marks.append(("", time.process_time(), time.perf_counter()))

stages = Stages()
stages.marks.append(("start", time.process_time(), time.perf_counter()))
accounts = sys.argv[3] if len(sys.argv) > 3 else None
detect(sys.argv[1], sys.argv[2], None, stages, accounts_path=accounts)
stages.marks.append(("end", time.process_time(), time.perf_counter()))
rows, marks = [], stages.marks
for (name, cpu, wall), (_, cpu2, wall2) in zip(marks, marks[1:]):
    if name:  # a gap between a stage's finish and the next start is counted as "between stages"
        rows.append([name, cpu2 - cpu, wall2 - wall])
    elif cpu2 - cpu > 0.05:
        rows.append(["between stages", cpu2 - cpu, wall2 - wall])
print(json.dumps(rows))
"""

VIGIL = [sys.executable, "-c", "from vigil.cli.app import main; main()"]


def measure(command: list[str]) -> dict[str, Any]:
    """Run ``command`` in a child of a wrapper process; its wall time and peak RSS."""
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, *command], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(out.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"{' '.join(command[3:])} failed:\n{result['stderr']}")
    return result


def community_peers(run_dir: Path, labels: Path | None) -> list[dict[str, Any]]:
    """Vigil's Leiden step against other community methods on the run's own combined graph."""
    import leidenalg
    import numpy as np
    import pyarrow.parquet as pq

    from vigil.detect.evaluate import evaluate, load_labels
    from vigil.detect.graph import combine, leiden
    from vigil.detect.params import DetectParams

    params = json.loads((run_dir / "campaigns.json").read_text())["params"]
    detect_params = DetectParams(**params)
    edges = pq.read_table(run_dir / "edges.parquet").drop_columns(["campaign_id"])
    graph = combine(edges, detect_params.graph)
    g = graph.to_igraph()
    names = graph.accounts.to_pylist()
    label_table = load_labels(labels) if labels else None
    min_size = detect_params.graph.min_campaign_size

    def score(membership: np.ndarray) -> float | None:
        if label_table is None:
            return None
        groups: dict[str, set[str]] = {}
        for vertex, community in enumerate(membership.tolist()):
            groups.setdefault(str(community), set()).add(names[vertex])
        kept = {k: v for k, v in groups.items() if len(v) >= min_size}
        return evaluate(kept, label_table).campaign_f1

    methods: dict[str, Any] = {
        "vigil: igraph Leiden CPM (seeded)": lambda: leiden(graph, detect_params.graph),
        "leidenalg CPM, same resolution": lambda: np.asarray(
            leidenalg.find_partition(
                g,
                leidenalg.CPMVertexPartition,
                weights="weight",
                resolution_parameter=detect_params.graph.resolution,
                n_iterations=-1,
                seed=detect_params.graph.seed,
            ).membership
        ),
        "igraph Leiden, modularity": lambda: np.asarray(
            g.community_leiden(objective_function="modularity", weights="weight", n_iterations=-1).membership
        ),
        "igraph Louvain (multilevel)": lambda: np.asarray(
            g.community_multilevel(weights="weight").membership
        ),
        "connected components": lambda: np.asarray(g.connected_components().membership),
    }
    rows = []
    for name, run in methods.items():
        start = time.perf_counter()
        membership = run()
        seconds = time.perf_counter() - start
        sizes = np.bincount(membership)
        rows.append(
            {
                "method": name,
                "seconds": seconds,
                "communities_kept": int((sizes >= min_size).sum()),
                "campaign_f1": score(membership),
            }
        )
    rows.append({"graph": {"vertices": g.vcount(), "edges": g.ecount()}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=1_000_000, help="posts to generate")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--posts-file", type=Path, help="benchmark this posts table instead of generating")
    parser.add_argument("--labels", type=Path, help="labels.parquet for --posts-file")
    parser.add_argument("--accounts", type=Path, help="accounts.parquet for --posts-file")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--stage-cpu",
        action="store_true",
        help="run detect() in a worker that reports CPU seconds per stage (instead of the vigil CLI)",
    )
    parser.add_argument("--no-peers", action="store_true", help="leave out the community-method peers")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="vigil-e2e-"))
    workdir.mkdir(parents=True, exist_ok=True)

    if args.posts_file:
        posts, labels, accounts = args.posts_file, args.labels, args.accounts
        print(f"posts: {posts}")
    else:
        data = workdir / f"gen-{args.posts}-{args.seed}"
        posts, labels, accounts = data / "posts.parquet", data / "labels.parquet", data / "accounts.parquet"
        if not posts.is_file():
            gen = measure(
                [*VIGIL, "generate", "--posts", str(args.posts), "--seed", str(args.seed), "--out", str(data)]
            )
            print(f"generate {args.posts:,} posts: {gen['seconds']:.1f} s, peak RSS {gen['rss_mb']:.0f} MB")

    out = workdir / "detect"
    have_accounts = bool(accounts and accounts.is_file())
    if args.stage_cpu:
        command = [sys.executable, "-c", STAGE_WORKER, str(posts), str(out)]
        command += [str(accounts)] if have_accounts else []
    else:
        command = [*VIGIL, "detect", str(posts), "--out", str(out)]
        command += ["--accounts", str(accounts)] if have_accounts else []
    load = os.getloadavg()[0]
    run = measure(command)
    summary = json.loads((out / "campaigns.json").read_text())
    n_posts = summary["run"]["n_posts"]
    print(
        f"vigil detect: {n_posts:,} posts in {run['seconds']:.1f} s wall, {run['cpu']:.1f} s CPU = "
        f"{n_posts / run['seconds']:,.0f} posts/s, "
        f"peak RSS {run['rss_mb']:.0f} MB, {len(summary['campaigns'])} campaigns "
        f"(load {load:.1f} before, {os.getloadavg()[0]:.1f} after)"
    )
    if args.stage_cpu:
        for name, cpu, wall in json.loads(run["stdout"].strip().splitlines()[-1]):
            print(f"  stage {name:<40} {cpu:7.1f} s CPU {wall:7.1f} s wall")
    stats = json.loads((out / "traces.json").read_text())
    for s in stats:
        print(
            f"  trace {s['trace']:<16} {s['seconds']:7.2f} s  "
            f"events {s['n_events']:>10,}  edges {s['n_edges']:>9,}"
        )
    print(f"  graph: {summary['graph']}")
    if labels and labels.is_file():
        ev = measure([*VIGIL, "evaluate", str(out), str(labels), "--json", "-"])
        figures = json.loads(ev["stdout"])
        print(
            f"evaluate: campaign F1 {figures['campaign_f1']:.3f}, "
            f"account P {figures['account_precision']:.3f} "
            f"R {figures['account_recall']:.3f}, organic flagged {figures['organic_flagged_share']:.2%}, "
            f"detected matching nothing {figures['detected_matching_nothing']}"
        )
        for style in figures["by_style"]:
            print(
                f"  {style['style']:<16} campaigns {style['planted_campaigns']:>3}  "
                f"F1 {style['campaign_f1']:.3f}"
            )
    if args.no_peers:
        return
    print("community step on the same combined graph (peers):")
    for row in community_peers(out, labels if labels and labels.is_file() else None):
        if "graph" in row:
            print(f"  graph: {row['graph']}")
            continue
        f1 = "n/a" if row["campaign_f1"] is None else f"{row['campaign_f1']:.3f}"
        print(
            f"  {row['method']:<32} {row['seconds']:7.3f} s  "
            f"communities >= min size {row['communities_kept']:>5}  campaign F1 {f1}"
        )


if __name__ == "__main__":
    main()
