"""``vigil meeting`` and ``vigil election`` on a real SQLite database: a meeting from invitation to
minutes, and the pack and minutes each reader receives (HTML and PDF) under TLP."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.cli_helpers import cli_ok
from vigil.cli.app import main
from vigil.core.time import isoformat_z, utcnow

runner = CliRunner()
ORGS = {
    "Examplebook": "platform",
    "Chirper": "platform",
    "Electoral Commission": "government",
    "Uni Lab": "research",
}


def test_meeting_cli_from_invitation_to_minutes_with_tlp_per_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    for name, kind in ORGS.items():
        cli_ok("org", "create", name, "--kind", kind)
    now = utcnow()
    debate_at = isoformat_z(now + timedelta(days=3))
    cli_ok("election", "add", "General 2026", "debate", debate_at, "--title", "Final debate",
         "--as-org", "Electoral Commission")  # fmt: skip
    listed = json.loads(cli_ok("election", "list", "--as-org", "Uni Lab", "--json"))
    assert [(d["kind"], d["days_left"]) for d in listed] == [("debate", 3)]

    starts = isoformat_z(now + timedelta(days=1))
    made = cli_ok("meeting", "new", "Weekly sync", "--at", starts, "--every", "weekly",
                "--count", "2", "--invite", "Chirper", "--invite", "Electoral Commission=member",
                "--invite", "Uni Lab=observer", "--as-org", "Examplebook")  # fmt: skip
    mid = made.split()[0]
    assert mid.startswith("meeting--") and made.count("meeting--") == 2
    # activity to pre-fill from
    cli_ok(
        "case",
        "create",
        "Spoofed outlet",
        "--tlp",
        "GREEN",
        "--technique",
        "T0099",
        "--as-org",
        "Examplebook",
    )
    sees = '{"narratives": ["PLATFORM-ONLY-NARRATIVE"]}'
    out = cli_ok("meeting", "update", mid, "--tlp", "AMBER", "--sees", sees,
               "--asks", "share seeds", "--as-org", "Examplebook")  # fmt: skip
    assert "1 cases opened" in out
    cli_ok("meeting", "update", mid, "--tlp", "GREEN", "--sees", '{"notes": "GOV-GREEN-NOTE"}',
         "--expects", '[{"on": "2026-12-04", "event": "certification", "risk": "fraud claims"}]',
         "--as-org", "Electoral Commission")  # fmt: skip
    cli_ok("meeting", "action", mid, "Send seed list", "--owner", "Chirper",
         "--due", isoformat_z(now - timedelta(hours=1)), "--tlp", "GREEN",
         "--as-org", "Examplebook")  # fmt: skip
    cli_ok(
        "meeting",
        "action",
        mid,
        "PLATFORM-ONLY-DECISION",
        "--decision",
        "--tlp",
        "AMBER",
        "--as-org",
        "Chirper",
    )
    assert "OVERDUE" in cli_ok("meeting", "actions", "--open", "--as-org", "Electoral Commission")
    cli_ok("meeting", "minutes", mid, "--text", "We agreed to publish jointly.", "--tlp", "GREEN",
         "--as-org", "Examplebook")  # fmt: skip

    packs = {}
    for reader in ORGS:
        path = tmp_path / f"pack-{reader}.html"
        cli_ok("meeting", "pack", mid, "--out", str(path), "--as-org", reader)
        packs[reader] = path.read_text()
    for reader, pack in packs.items():
        assert "GOV-GREEN-NOTE" in pack and "fraud claims" in pack and "Final debate" in pack, reader
        assert "Send seed list" in pack and "OVERDUE" in pack, reader
    assert "PLATFORM-ONLY-NARRATIVE" in packs["Examplebook"] and "PLATFORM-ONLY-NARRATIVE" in packs["Chirper"]
    assert "PLATFORM-ONLY-NARRATIVE" not in packs["Electoral Commission"]
    assert "PLATFORM-ONLY-NARRATIVE" not in packs["Uni Lab"]
    assert "TLP:AMBER" in packs["Chirper"] and "TLP:GREEN" in packs["Electoral Commission"].split("<h1>")[0]

    for reader in ORGS:
        path = tmp_path / f"minutes-{reader}.html"
        cli_ok("meeting", "minutes", mid, "--out", str(path), "--as-org", reader)
        minutes = path.read_text()
        assert "We agreed to publish jointly." in minutes and "Send seed list" in minutes
        assert ("PLATFORM-ONLY-DECISION" in minutes) == (ORGS[reader] == "platform"), reader
    cli_ok("meeting", "pack", mid, "--format", "pdf", "--out", str(tmp_path / "p.pdf"), "--as-org", "Uni Lab")
    assert (tmp_path / "p.pdf").read_bytes().startswith(b"%PDF")

    # bad input: a clear message naming the field, nothing written
    monkeypatch.setattr(
        sys, "argv", ["vigil", "meeting", "update", mid, "--sees", "{nope", "--as-org", "Chirper"]
    )
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code != 0 and "sees is not valid JSON" in capsys.readouterr().err
    monkeypatch.setattr(
        sys, "argv", ["vigil", "election", "add", "X", "parade", "2026-12-01", "--as-org", "Uni Lab"]
    )
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code != 0 and "unknown kind 'parade'" in capsys.readouterr().err
