"""``vigil org|key|db|audit`` on a real database, and ``vigil serve`` as a real process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.cli_helpers import cli_ok
from vigil.cli.app import main
from vigil.db import head_revision

from .conftest import free_port, wait_for_health

runner = CliRunner()


def test_org_key_revoke_audit_round_trip(db_url: str) -> None:
    url = ["--database-url", db_url]
    org = json.loads(cli_ok("org", "create", "Examplebook", "--kind", "platform", "--json", *url))[0]
    assert org["kind"] == "platform" and org["id"].startswith("identity--")
    assert [o["name"] for o in json.loads(cli_ok("org", "list", "--json", *url))] == ["Examplebook"]
    created = json.loads(
        cli_ok(
            "key", "create", "--org", "Examplebook", "--role", "read-only", "--expires", "30d", "--json", *url
        )
    )
    assert created["key"].startswith(f"vigil_{created['id']}_") and created["expires_at"]
    keys = json.loads(cli_ok("key", "list", "--json", *url))
    assert [k["id"] for k in keys] == [created["id"]] and "key" not in keys[0]
    assert "revoked key" in cli_ok("key", "revoke", created["id"], *url)
    assert json.loads(cli_ok("key", "list", "--json", *url))[0]["revoked_at"]
    actions = [e["action"] for e in json.loads(cli_ok("audit", "--json", *url))]
    assert actions == ["key.revoke", "key.create", "org.create"]
    assert f"{head_revision()} -> {head_revision()}" in cli_ok("db", "upgrade", *url).replace("\n", "")


def test_cli_errors_exit_non_zero_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``main()`` (the console script) turns VigilError into its exit code and a message."""
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path))
    for argv, code, message in [
        (["org", "create", "X", "--kind", "alien"], 2, "unknown organisation kind 'alien'"),
        (["key", "revoke", "nope"], 3, "no key 'nope'"),
        (["key", "create", "--org", "ghost"], 3, "no organisation 'ghost'"),
    ]:
        monkeypatch.setattr(sys, "argv", ["vigil", *argv])
        with pytest.raises(SystemExit) as exited:
            main()
        assert exited.value.code == code, argv
        assert message in " ".join(capsys.readouterr().err.split()), argv


def test_vigil_serve_runs_the_api(tmp_path: Path) -> None:
    vigil = shutil.which("vigil") or pytest.skip("the vigil script is not installed")
    port = free_port()
    env = {**os.environ, "VIGIL_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [vigil, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_health(proc, base, timeout=60, what="vigil serve")
        # the server migrated the embedded SQLite file under the data dir on start
        assert (tmp_path / "vigil.db").is_file()
        cli_ok("org", "create", "Gov", "--kind", "government", "--data-dir", str(tmp_path))
        key = json.loads(cli_ok("key", "create", "--org", "Gov", "--json", "--data-dir", str(tmp_path)))[
            "key"
        ]
        me = httpx.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert me.status_code == 200 and me.json()["org_kind"] == "government"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
