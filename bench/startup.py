"""Start-up time of the ``vigil`` command: ``vigil --help`` and every ``vigil CMD --help``.

    python bench/startup.py              # 7 runs each, median
    python bench/startup.py --runs 15

Each invocation is a fresh interpreter (``python -m vigil ...``), timed for wall clock and CPU
(user + system, from ``getrusage(RUSAGE_CHILDREN)``). Beside them, from the same run:

* ``python -c pass``: the interpreter alone, the floor;
* coordination-network-toolkit's CLI ``compute_networks --help`` (the peer; it is in the bench extra).

The target (issue #22) is 0.3 s wall for every line on an idle machine; the load average is printed
with the figures because on a shared 2-core machine wall time grows with it while CPU time does not.
Vigil's bytecode is compiled first, as ``pip install`` does (this machine sets
PYTHONDONTWRITEBYTECODE, under which every run would compile the CLI's modules again).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

TARGET_SECONDS = 0.3


def _time(argv: list[str], runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``argv`` over ``runs`` fresh processes."""
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def _commands() -> list[str]:
    """Every top-level command and group of the app, as ``vigil --help`` lists them."""
    import typer.main

    from vigil.cli.app import app

    return sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="Runs per command (median reported).")
    args = parser.parse_args()

    python = sys.executable
    import vigil

    subprocess.run([python, "-m", "compileall", "-q", os.path.dirname(vigil.__file__)], check=True)
    rows: list[tuple[str, list[str]]] = [("python -c pass", [python, "-c", "pass"])]
    toolkit = shutil.which("compute_networks") or os.path.join(os.path.dirname(python), "compute_networks")
    if os.path.exists(toolkit):
        rows.append(("toolkit: compute_networks --help", [toolkit, "--help"]))
    rows.append(("vigil --help", [python, "-m", "vigil", "--help"]))
    rows += [(f"vigil {name} --help", [python, "-m", "vigil", name, "--help"]) for name in _commands()]
    rows.append(("vigil case create --help", [python, "-m", "vigil", "case", "create", "--help"]))

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}  ({args.runs} runs, median)")
    print(f"{'command':<38} {'wall s':>7} {'CPU s':>7}")
    worst = 0.0
    for label, argv in rows:
        wall, cpu = _time(argv, args.runs)
        if label.startswith("vigil"):
            worst = max(worst, wall)
        print(f"{label:<38} {wall:7.3f} {cpu:7.3f}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    verdict = "within" if worst <= TARGET_SECONDS else "above"
    print(f"slowest vigil line: {worst:.3f} s wall ({verdict} the {TARGET_SECONDS} s target)")


if __name__ == "__main__":
    main()
