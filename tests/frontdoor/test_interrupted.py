"""Interrupted work leaves nothing behind: a ``vigil ingest`` or ``vigil detect`` killed with SIGKILL
leaves its spool directory, and the next run of the same command removes it (only stale ones: a
directory whose owner process is alive is kept)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vigil.core import scratch
from vigil.detect.duck import SPOOL_PREFIX
from vigil.ingest.pipeline import STAGE_PREFIX


@pytest.fixture
def live_pid() -> Iterator[int]:
    """A process that is alive for the test (a concurrent run's stand-in)."""
    proc = subprocess.Popen(["sleep", "120"])
    yield proc.pid
    proc.kill()
    proc.wait()


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()  # reaped: the pid names no process now
    return proc.pid


def test_sweep_removes_only_what_dead_processes_left(tmp_path: Path, live_pid: int) -> None:
    prefix = ".vigil-x-"
    dead = tmp_path / f"{prefix}{_dead_pid()}-{scratch.HOST}-abc"
    alive = tmp_path / f"{prefix}{live_pid}-{scratch.HOST}-abc"
    mine = scratch.make_scratch(tmp_path, prefix)
    elsewhere = tmp_path / f"{prefix}{_dead_pid()}-00000000-abc"  # another host's: never ours to judge
    old_legacy, new_legacy = tmp_path / f"{prefix}k2j3h4", tmp_path / f"{prefix}p9q8r7"
    other = tmp_path / "unrelated-1-2"
    for path in (dead, alive, elsewhere, old_legacy, new_legacy, other):
        path.mkdir()
        (path / "part.parquet").write_bytes(b"x" * 1000)
    hours_ago = time.time() - 2 * scratch.LEGACY_AGE_S
    os.utime(old_legacy, (hours_ago, hours_ago))
    removed = scratch.sweep(tmp_path, prefix)
    assert sorted(removed) == sorted([dead, old_legacy])
    assert not dead.exists() and not old_legacy.exists()
    for kept in (alive, mine, elsewhere, new_legacy, other):
        assert kept.is_dir()
    assert scratch.sweep(tmp_path / "missing", prefix) == []


def _vigil(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "vigil.cli.app", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _kill_when(proc: subprocess.Popen[bytes], parent: Path, prefix: str, timeout: float = 120) -> Path:
    """SIGKILL ``proc`` once its spool directory under ``parent`` holds something; returns it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p in parent.glob(f"{prefix}{proc.pid}-*") if p.is_dir()] if parent.is_dir() else []
        if found and any(found[0].iterdir()):
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate()  # reaped (its pid names no process) and its pipe closed
            return found[0]
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the run ended (exit {proc.returncode}) before its spool appeared: {err[-2000:]!r}")
        time.sleep(0.002)
    proc.kill()
    proc.communicate()
    pytest.fail(f"no {prefix}{proc.pid}-* directory appeared under {parent}")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    return {**env, **extra}


def _finish(proc: subprocess.Popen[bytes]) -> None:
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()[-3000:]


def test_a_killed_ingest_is_cleaned_up_by_the_next_one(
    demo_run: dict[str, Any], tmp_path: Path, live_pid: int
) -> None:
    posts = demo_run["data_dir"] / "generated" / "posts.parquet"  # 30,000 posts and their accounts
    out = tmp_path / "out"
    killed = _vigil("ingest", str(posts), "--layout", "vigil", "--out", str(out), env=_env())
    left = _kill_when(killed, out, STAGE_PREFIX)
    assert any(left.iterdir()), "the killed run left its stage (what this test is about)"
    assert not (out / "posts.parquet").exists()
    concurrent = out / f"{STAGE_PREFIX}{live_pid}-{scratch.HOST}-busy"
    concurrent.mkdir()

    _finish(_vigil("ingest", str(posts), "--layout", "vigil", "--out", str(out), env=_env()))
    assert not left.exists()
    assert concurrent.is_dir(), "a live run's stage was removed"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["accounts.parquet", "posts.parquet", concurrent.name]
    )


def test_a_killed_detect_is_cleaned_up_by_the_next_one(demo_run: dict[str, Any], tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    posts = tmp_path / "posts.parquet"  # a slice of the demo's posts: the second run completes fast
    pq.write_table(pq.read_table(demo_run["data_dir"] / "generated" / "posts.parquet").slice(0, 8000), posts)
    spill = tmp_path / "spill"
    env = _env(VIGIL_TEMP_DIR=str(spill))
    args = ["detect", str(posts)]
    killed = _vigil(*args, "--out", str(tmp_path / "det1"), env=env)
    left = _kill_when(killed, spill, SPOOL_PREFIX)
    assert any(left.iterdir()), "the killed run left its spool"

    _finish(_vigil(*args, "--out", str(tmp_path / "det2"), env=env))
    assert not left.exists()
    assert list(spill.iterdir()) == [], "a finished run removes its own spool at exit"
    assert (tmp_path / "det2" / "campaigns.json").is_file()
