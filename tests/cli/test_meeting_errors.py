"""A bad date in a meeting command names the option it came from, exits 2 and stores nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.cli.app import app, main

runner = CliRunner()


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def _fails(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["vigil", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    return capsys.readouterr().err


def test_bad_dates_name_their_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    _run("org", "create", "Examplebook", "--kind", "platform")
    err = _fails(monkeypatch, capsys, "meeting", "new", "Sync", "--at", "tomorrow", "--as-org", "Examplebook")
    assert "--at: not a timestamp: 'tomorrow'" in err
    assert "meeting--" not in _run("meeting", "list", "--as-org", "Examplebook").replace("Meetings (0)", "")

    mid = _run("meeting", "new", "Sync", "--at", "2026-12-01T10:00Z", "--as-org", "Examplebook").split()[0]
    err = _fails(
        monkeypatch, capsys, "meeting", "action", mid, "Do it", "--due", "someday", "--as-org", "Examplebook"
    )
    assert "--due: not a timestamp: 'someday'" in err
    assert "Do it" not in _run("meeting", "actions", "--as-org", "Examplebook")

    err = _fails(
        monkeypatch, capsys, "election", "add", "General", "debate", "next week", "--as-org", "Examplebook"
    )
    assert "AT: not a timestamp: 'next week'" in err
