"""The root command: version, help, and exit codes translated once in ``main``."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer

from vigil.cli import app as cli_app
from vigil.core.errors import NotFound


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigil.cli.app", *args], capture_output=True, text=True, timeout=120
    )


def test_version_and_help() -> None:
    assert _run("--version").stdout.strip().startswith("vigil ")
    assert "Usage" in _run("--help").stdout


def test_unknown_command_is_a_usage_error() -> None:
    result = _run("no-such-command")
    assert result.returncode == 2
    assert "No such command" in result.stderr


def test_exit_codes_survive_main(monkeypatch: pytest.MonkeyPatch) -> None:
    """typer.Exit(n) and VigilError both reach the process exit status."""
    app = typer.Typer()

    @app.command()
    def quit_with(code: int) -> None:
        raise typer.Exit(code)

    @app.command()
    def missing() -> None:
        raise NotFound("no case 'x'")

    monkeypatch.setattr(cli_app, "app", app)
    for argv, expected in ((["quit-with", "3"], 3), (["quit-with", "0"], 0), (["missing"], 3)):
        monkeypatch.setattr(sys, "argv", ["vigil", *argv])
        with pytest.raises(SystemExit) as exit_info:
            cli_app.main()
        assert exit_info.value.code == expected
