"""Fixtures of the dashboard tests: one ``vigil demo --no-serve`` data directory shared by the
test workers, a real ``vigil serve`` on a free port per worker, and Debian's chromium driven by
Playwright."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.exchange.conftest import wait_for_health
from tests.support.postgres import free_port

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-output" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
DEMO_POSTS = 30_000


def run_vigil(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The real ``vigil`` command, in a child process."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("VIGIL_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "vigil.cli.app", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``vigil demo --no-serve`` once for all workers (a file lock makes the others wait for it)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the xdist workers of this run
    data_dir = root / "vigil-demo"
    with open(root / "vigil-demo.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        record = root / "vigil-demo.result.json"
        if not record.exists():
            if data_dir.exists():
                shutil.rmtree(data_dir)
            done = run_vigil("demo", "--no-serve", "--posts", str(DEMO_POSTS), "--data-dir", str(data_dir))
            record.write_text(
                json.dumps({"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr})
            )
        result: dict[str, Any] = json.loads(record.read_text())
    assert result["returncode"] == 0, result["stderr"][-3000:]
    result["data_dir"] = data_dir
    result["demo"] = json.loads((data_dir / "demo.json").read_text())
    result["keys"] = json.loads((data_dir / "demo-keys.json").read_text())["keys"]
    return result


@pytest.fixture(scope="session")
def server(demo_run: dict[str, Any]) -> Iterator[str]:
    """``vigil serve`` over the demo's data directory, on a free port, until the session ends."""
    with serve(demo_run["data_dir"]) as url:
        yield url


@contextmanager
def serve(data_dir: Path) -> Iterator[str]:
    """``vigil serve --data-dir`` on a free port until the block ends; yields its base URL.

    The server gets one second to finish open requests when stopped: a browser that keeps a
    connection busy would otherwise hold every teardown for the full wait below."""
    port = free_port()
    env = {**os.environ}
    env.pop("VIGIL_DATABASE_URL", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vigil.cli.app",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--shutdown-timeout",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for_health(proc, url, timeout=60, what=f"vigil serve on port {port}")
        except AssertionError as exc:
            if proc.poll() is None:
                proc.kill()
            error = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"{exc}: {error[-3000:]}") from exc
        yield url
    finally:
        started = time.monotonic()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
        stopped = time.monotonic() - started
        if stopped > 5:
            warnings.warn(f"vigil serve on port {port} took {stopped:.1f} s to stop", stacklevel=1)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"!!! BROWSER TESTS SKIPPED: {CHROMIUM} is missing. Install it with "
            "`apt-get install -y chromium` (./dev test does) — the dashboard is NOT tested in a "
            "browser in this run !!!"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="en-GB")
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


def sign_in(page: Any, url: str, key: str, path: str = "/") -> None:
    """Sign in through the form, as a person would."""
    page.goto(f"{url}/login?next={path}")
    page.fill("#api_key", key)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
