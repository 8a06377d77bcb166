"""A private copy of the shared demo and a ``vigil serve`` over it, for browser tests that write.

The session's demo server is shared by every dashboard test, and some of them count what the demo
stored (cases, audit entries); tests that open cases and share signals work on their own copy so
they never change what the others read.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.web.fixtures import _free_port


def copy_demo(source: Path, target: Path) -> Path:
    """Copy a demo data directory; the database through SQLite's backup (other servers are live)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("vigil.db*", "generated"))
    with sqlite3.connect(source / "vigil.db") as src, sqlite3.connect(target / "vigil.db") as dst:
        src.backup(dst)
    return target


@contextmanager
def serve(data_dir: Path) -> Iterator[str]:
    """``vigil serve --data-dir`` on a free port until the block ends; yields its base URL."""
    port = _free_port()
    env = {**os.environ}
    env.pop("VIGIL_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigil.cli.app", "serve", "--data-dir", str(data_dir), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"vigil serve did not start: {proc.stderr.read().decode() if proc.stderr else ''}"
                )
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if proc.stderr:
            proc.stderr.close()
