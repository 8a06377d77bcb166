"""A bad date in a meeting command names the option it came from, exits 2 and stores nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.cli_helpers import cli_fails, cli_ok

runner = CliRunner()


def test_bad_dates_name_their_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    cli_ok("org", "create", "Examplebook", "--kind", "platform")
    err = cli_fails(
        monkeypatch, capsys, 2, "meeting", "new", "Sync", "--at", "tomorrow", "--as-org", "Examplebook"
    )
    assert "--at: not a timestamp: 'tomorrow'" in err
    assert "meeting--" not in cli_ok("meeting", "list", "--as-org", "Examplebook").replace("Meetings (0)", "")

    mid = cli_ok("meeting", "new", "Sync", "--at", "2026-12-01T10:00Z", "--as-org", "Examplebook").split()[0]
    err = cli_fails(
        monkeypatch,
        capsys,
        2,
        "meeting",
        "action",
        mid,
        "Do it",
        "--due",
        "someday",
        "--as-org",
        "Examplebook",
    )
    assert "--due: not a timestamp: 'someday'" in err
    assert "Do it" not in cli_ok("meeting", "actions", "--as-org", "Examplebook")

    err = cli_fails(
        monkeypatch, capsys, 2, "election", "add", "General", "debate", "next week", "--as-org", "Examplebook"
    )
    assert "AT: not a timestamp: 'next week'" in err
