"""``vigil serve --workers 2`` (issue #23): two server processes on one port, each with its own TAXII
key cache; a key revoked by another process (the CLI) is refused at once by both, on the fast
lane's reads and the routes' alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.cli_helpers import cli_ok
from tests.exchange.conftest import free_port, wait_for_health

TAXII = "application/taxii+json;version=2.1"
READS = (
    "/taxii2/api1/collections/coalition/objects/?limit=5",
    "/taxii2/api1/collections/coalition/manifest/",
    "/taxii2/api1/collections/coalition/objects/indicator--00000000-0000-4000-8000-000000000000/",
)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_two_workers_serve_and_refuse_a_revoked_key_at_once(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "VIGIL_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigil", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_health(proc, base, timeout=90, what="vigil serve --workers 2")
        # the parent migrated the database once, then started two workers (plus uvicorn's
        # multiprocessing helper, if any, which serves nothing)
        assert (tmp_path / "vigil.db").is_file()
        assert len(_children(proc.pid)) >= 2
        cli_ok("org", "create", "Platform A", "--kind", "platform", "--data-dir", str(tmp_path))
        made = json.loads(
            cli_ok("key", "create", "--org", "Platform A", "--json", "--data-dir", str(tmp_path))
        )
        headers = {"Accept": TAXII, "Authorization": f"Bearer {made['key']}"}

        def statuses() -> set[int]:
            # a new connection per request: the kernel hands them to either worker
            seen = set()
            for _ in range(8):
                for path in READS:
                    seen.add(httpx.get(base + path, headers=headers, timeout=30).status_code)
            return seen

        assert statuses() == {200, 404}  # both workers now hold the key (the id is not there: 404)
        cli_ok("key", "revoke", made["id"], "--data-dir", str(tmp_path))
        assert statuses() == {401}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
