"""Running ``vigil`` commands in a test, in process: the one copy of what CLI tests need.

``cli_ok`` runs through Typer's runner (output captured, exit 0 checked); ``cli_exit`` and
``cli_fails`` run through the real entry point, ``vigil.cli.app.main``, so that the error handler
and its exit codes (``vigil.core.errors``) are what is tested.
"""

from __future__ import annotations

import sys

import pytest


def cli_ok(*args: str) -> str:
    """``vigil ARGS`` in process; its output, after checking it exited 0."""
    from typer.testing import CliRunner

    from vigil.cli.app import app

    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def cli_exit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    """``vigil ARGS`` through the real entry point: its exit code and its stderr."""
    from vigil.cli.app import main

    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["vigil", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return int(exited.value.code or 0), capsys.readouterr().err


def cli_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], code: int, *args: str
) -> str:
    """``vigil ARGS`` through the real entry point; its stderr, after checking it exited with ``code``."""
    exit_code, err = cli_exit(monkeypatch, capsys, *args)
    assert exit_code == code, (args, err)
    return err
