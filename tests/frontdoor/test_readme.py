"""README.md runs as written: its ``console`` blocks, in order, on a demo's output.

The demo (``tests.web.fixtures.demo_run``, shared with the dashboard tests) is copied, so the
tour's new cases and keys do not leak into other tests; ``vigil serve`` serves the copy as
``./dev demo`` would, and the copy's ``demo.env`` names that server (its port is free, not 8000).
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.exchange.conftest import wait_for_health
from tests.frontdoor.readme import README, Command, Result, commands, key_lines, run, shell_env
from tests.support.postgres import free_port


def test_the_extractor_reads_commands_continuations_and_their_output() -> None:
    markdown = "\n".join(
        [
            "```bash",
            "./dev test",
            "```",
            "```console",
            "$ vigil thing --a 1 \\",
            "      --b 2",
            "┌──────┬────┐",
            "│ rows │ 12 │",
            "│ …    │    │",
            "wrote 12 rows to out-3.parquet (campaign--0ab1…)",
            "$ echo done",
            "done",
            "```",
        ]
    )
    found = commands(markdown)
    assert [c.text for c in found] == ["vigil thing --a 1 \\\n      --b 2", "echo done"]
    labels, patterns = key_lines(found[0].expected)
    assert labels == ["rows"]
    assert len(patterns) == 1
    assert patterns[0].search("wrote 7 rows to out-9.parquet (campaign--ffff-1234)")
    assert not patterns[0].search("wrote 7 posts to out-9.parquet")


def test_a_command_that_fails_or_prints_other_lines_is_reported() -> None:
    command = Command("vigil x", ["│ posts │ 3 │", "published 3 signals (TLP:AMBER)"], line=7)
    assert Result(command, 0, "│ posts │ 4 │\npublished 9 signals (TLP:AMBER)\n").problems() == []
    assert Result(command, 2, "error: no such file").problems()[0].startswith(
        "README.md:7 `vigil x` exited 2"
    )
    problems = Result(command, 0, "│ accounts │ 4 │\npublished 9 signals (TLP:GREEN)\n").problems()
    assert "no 'posts' in its output" in problems[0]
    assert "no line like" in problems[1]


@pytest.fixture
def served_copy(demo_run: dict[str, Any], tmp_path: Path) -> Iterator[Path]:
    """A copy of the demo in tmp_path/vigil-demo, served on a free port named in its demo.env."""
    copy = tmp_path / "vigil-demo"
    # The database through SQLite's backup API: other tests' servers may be writing to it.
    shutil.copytree(demo_run["data_dir"], copy, ignore=shutil.ignore_patterns("vigil.db*"))
    source = sqlite3.connect(demo_run["data_dir"] / "vigil.db")
    target = sqlite3.connect(copy / "vigil.db")
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    port = free_port()
    env_file = copy / "demo.env"
    text, n = re.subn(r"(?m)^DEMO_URL=.*$", f"DEMO_URL=http://127.0.0.1:{port}", env_file.read_text())
    assert n == 1
    env_file.write_text(text)
    env = shell_env(Path(sys.executable).parent)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigil.cli.app", "serve", "--data-dir", str(copy), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_health(proc, f"http://127.0.0.1:{port}", timeout=60, what="vigil serve of the demo's copy")
        yield copy
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_every_readme_command_runs_as_written(served_copy: Path) -> None:
    found = commands(README.read_text("utf-8"))
    assert len(found) >= 20, "the README tour lost its commands"
    results = run(found, served_copy.parent, shell_env(Path(sys.executable).parent))
    problems = [p for r in results for p in r.problems()]
    assert not problems, "\n".join(problems)
    # What the README says the commands leave behind is there.
    for name in ("gen/labels.parquet", "det/campaigns.json", "bundle.json", "brief.pdf", "pack.html"):
        assert (served_copy.parent / name).stat().st_size > 0, name
    assert (served_copy / "disclosure-report.html").is_file()
