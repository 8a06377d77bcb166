"""``vigil case``, ``vigil brief`` and ``vigil playbook`` on a real SQLite database and a real
detection output; errors go through ``main()`` (exit code and message)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.cli_helpers import cli_fails, cli_ok
from vigil.cli.app import app

runner = CliRunner()


def _fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], code: int, message: str, *argv: str
) -> None:
    assert message in " ".join(cli_fails(monkeypatch, capsys, code, *argv).split()), argv


def test_case_cli_end_to_end(
    tmp_path: Path, detected_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    cli_ok("org", "create", "Examplebook", "--kind", "platform")
    cli_ok("org", "create", "Electoral Commission", "--kind", "government")
    opened = json.loads(
        cli_ok("case", "from-detection", str(detected_dir), "--campaign", "1", "--tlp", "AMBER",
             "--as-org", "Examplebook", "--technique", "T0049", "--json")
    )  # fmt: skip
    cid = opened["id"]
    assert opened["marking"]["tlp"] == "AMBER" and opened["techniques"] == ["T0049"]
    # AMBER from a platform: the government partner does not see the case
    assert json.loads(cli_ok("case", "list", "--as-org", "Electoral Commission", "--json")) == []
    _fails(
        monkeypatch, capsys, 3, f"no case '{cid}'", "case", "show", cid, "--as-org", "Electoral Commission"
    )
    _fails(
        monkeypatch, capsys, 5, "cannot move from 'triage' to 'disclosed'",
        "case", "transition", cid, "disclosed", "--as-org", "Examplebook",
    )  # fmt: skip
    cli_ok("case", "transition", cid, "investigating", "--as-org", "Examplebook")
    cli_ok("case", "transition", cid, "coordinated-action", "--as-org", "Examplebook")
    cli_ok("case", "action", cid, "--as-org", "Examplebook", "--action", "removed", "--count", "19",
         "--platform", "facebook", "--tlp", "CLEAR", "--statement-url", "https://x.com/takedown")  # fmt: skip
    assert "s remaining" in cli_ok("case", "embargo", cid, "--in", "48h", "--as-org", "Examplebook")
    _fails(
        monkeypatch, capsys, 5, "under embargo",
        "case", "disclose", cid, "--as-org", "Examplebook", "--out", str(tmp_path / "r.html"),
    )  # fmt: skip
    assert not (tmp_path / "r.html").exists()
    cli_ok("case", "disclose", cid, "--as-org", "Examplebook", "--draft", "--out", str(tmp_path / "r.html"))
    report = (tmp_path / "r.html").read_text()
    assert "DRAFT" in report and "19 accounts removed" in report and "T0049" not in report  # AMBER case
    shown = json.loads(cli_ok("case", "show", cid, "--as-org", "Examplebook", "--json"))
    assert [e["kind"] for e in shown["timeline"]][-2:] == ["action", "embargo"]
    assert shown["embargo"]["seconds_remaining"] > 47 * 3600

    out = tmp_path / "brief.md"
    cli_ok("brief", "--since", "7d", "--as-org", "Electoral Commission", "--format", "md", "--out", str(out))
    text = out.read_text()
    assert "New cases (0)" in text and "patriotballot" not in text  # nothing AMBER leaks
    cli_ok("brief", "--as-org", "Examplebook", "--format", "pdf", "--out", str(tmp_path / "b.pdf"))
    assert (tmp_path / "b.pdf").read_bytes().startswith(b"%PDF")


def test_playbook_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    assert "hack-and-leak" in cli_ok("playbook", "list")
    assert "Obtain the original file" in cli_ok("playbook", "show", "candidate-deepfake")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: x-y\nname: n\nscenario: s\ntriggers: [t]\nchecklist:\n  - text: a\n    owner: {kind: bank}\n"
    )
    _fails(monkeypatch, capsys, 2, "1 invalid playbook file(s)", "playbook", "validate", str(bad))
    result = runner.invoke(app, ["playbook", "validate", str(bad)])
    assert "bad.yaml, row 7, column 'checklist.0.owner.kind'" in " ".join(result.output.split())
    cli_ok("org", "create", "Gov", "--kind", "government")
    opened = json.loads(
        cli_ok("playbook", "exercise", "false-voting-information", "--as-org", "Gov", "--json")
    )
    shown = json.loads(cli_ok("case", "show", opened["id"], "--as-org", "Gov", "--json"))
    first = shown["checklist"][0]
    cli_ok("case", "check", opened["id"], str(first["id"]), "--as-org", "Gov")
    shown = json.loads(cli_ok("case", "show", opened["id"], "--as-org", "Gov", "--json"))
    assert shown["checklist"][0]["done_at"] and shown["timeline"][-1]["kind"] == "checked"
    _fails(monkeypatch, capsys, 3, "no playbook 'nope'", "playbook", "show", "nope")
