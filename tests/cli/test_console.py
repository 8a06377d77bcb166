"""CLI tables keep identifiers whole on narrow terminals, so they can be pasted into the next command."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.table import Table

from vigil.cli.console import PIPE_WIDTH, VigilConsole, is_id_header

MEETING_ID = "meeting--d04b9662-e484-4fd1-98fe-10fd417e63c9"


def _table() -> Table:
    table = Table(title="Meetings")
    for column in ("id", "starts", "title", "owner_org_id"):
        table.add_column(column)
    table.add_row(MEETING_ID, "2026-11-26T15:00:00.000Z", "Election security sync", "org--0123456789abcdef")
    return table


def _render(console_type: type[Console], width: int) -> str:
    out = io.StringIO()
    console_type(file=out, width=width, color_system=None).print(_table())
    return out.getvalue()


def test_ids_stay_whole_where_plain_rich_would_cut_them() -> None:
    assert MEETING_ID not in _render(Console, 100)  # what happens without the Vigil console
    narrow = _render(VigilConsole, 100)
    assert MEETING_ID in narrow
    assert "org--0123456789abcdef" in narrow
    assert "…" in narrow  # the other columns gave way


def test_id_headers() -> None:
    assert all(is_id_header(h) for h in ("id", "org_id", "key id", "API key", "signal"))
    assert not any(is_id_header(h) for h in ("title", "starts", "idle", "valid"))


def test_ids_fold_whole_when_they_cannot_fit() -> None:
    table = Table()
    table.add_column("id")
    table.add_row(MEETING_ID)
    out = io.StringIO()
    VigilConsole(file=out, width=24, color_system=None).print(table)
    assert "…" not in out.getvalue()
    assert MEETING_ID in "".join(ch for ch in out.getvalue() if ch not in "│─┏┓┗┛┃━┡┩└┘┌┐ \n")


def test_output_to_a_pipe_is_wide_unless_columns_says_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert VigilConsole(file=io.StringIO()).width == PIPE_WIDTH
    assert Console(file=io.StringIO()).width == 80  # what Rich alone assumes
    assert VigilConsole(file=io.StringIO(), width=70).width == 70
    monkeypatch.setenv("COLUMNS", "90")
    assert VigilConsole(file=io.StringIO()).width == 90
    # A campaign table of `vigil detect` keeps its ids and its other columns whole in a log.
    monkeypatch.delenv("COLUMNS")
    out = io.StringIO()
    table = Table()
    headers = ("rank", "score", "accounts", "platforms", "traces", "items", "posts", "languages", "campaign")
    for column in headers:
        table.add_column(column)
    campaign = "campaign--0d9bb443-739e-556c-bddd-7b73123a049b"
    row = ("1", "0.818", "27", "facebook, telegram", "co_link, co_image", "149", "2595", "en, fr", campaign)
    table.add_row(*row)
    VigilConsole(file=out, color_system=None).print(table)
    assert campaign in out.getvalue() and "facebook, telegram" in out.getvalue() and "…" not in out.getvalue()
