"""``vigil case``, ``vigil brief`` and ``vigil playbook`` on a real SQLite database and a real
detection output; errors go through ``main()`` (exit code and message)."""

from __future__ import annotations

import json
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


def _fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], code: int, message: str, *argv: str
) -> None:
    monkeypatch.setattr(sys, "argv", ["vigil", *argv])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == code, argv
    assert message in " ".join(capsys.readouterr().err.split()), argv


def test_case_cli_end_to_end(
    tmp_path: Path, detected_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    _run("org", "create", "Examplebook", "--kind", "platform")
    _run("org", "create", "Electoral Commission", "--kind", "government")
    opened = json.loads(
        _run("case", "from-detection", str(detected_dir), "--campaign", "1", "--tlp", "AMBER",
             "--as-org", "Examplebook", "--technique", "T0049", "--json")
    )  # fmt: skip
    cid = opened["id"]
    assert opened["marking"]["tlp"] == "AMBER" and opened["techniques"] == ["T0049"]
    # AMBER from a platform: the government partner does not see the case
    assert json.loads(_run("case", "list", "--as-org", "Electoral Commission", "--json")) == []
    _fails(
        monkeypatch, capsys, 3, f"no case '{cid}'", "case", "show", cid, "--as-org", "Electoral Commission"
    )
    _fails(
        monkeypatch, capsys, 5, "cannot move from 'triage' to 'disclosed'",
        "case", "transition", cid, "disclosed", "--as-org", "Examplebook",
    )  # fmt: skip
    _run("case", "transition", cid, "investigating", "--as-org", "Examplebook")
    _run("case", "transition", cid, "coordinated-action", "--as-org", "Examplebook")
    _run("case", "action", cid, "--as-org", "Examplebook", "--action", "removed", "--count", "19",
         "--platform", "facebook", "--tlp", "CLEAR", "--statement-url", "https://x.com/takedown")  # fmt: skip
    assert "s remaining" in _run("case", "embargo", cid, "--in", "48h", "--as-org", "Examplebook")
    _fails(
        monkeypatch, capsys, 5, "under embargo",
        "case", "disclose", cid, "--as-org", "Examplebook", "--out", str(tmp_path / "r.html"),
    )  # fmt: skip
    assert not (tmp_path / "r.html").exists()
    _run("case", "disclose", cid, "--as-org", "Examplebook", "--draft", "--out", str(tmp_path / "r.html"))
    report = (tmp_path / "r.html").read_text()
    assert "DRAFT" in report and "19 accounts removed" in report and "T0049" not in report  # AMBER case
    shown = json.loads(_run("case", "show", cid, "--as-org", "Examplebook", "--json"))
    assert [e["kind"] for e in shown["timeline"]][-2:] == ["action", "embargo"]
    assert shown["embargo"]["seconds_remaining"] > 47 * 3600

    out = tmp_path / "brief.md"
    _run("brief", "--since", "7d", "--as-org", "Electoral Commission", "--format", "md", "--out", str(out))
    text = out.read_text()
    assert "New cases (0)" in text and "patriotballot" not in text  # nothing AMBER leaks
    _run("brief", "--as-org", "Examplebook", "--format", "pdf", "--out", str(tmp_path / "b.pdf"))
    assert (tmp_path / "b.pdf").read_bytes().startswith(b"%PDF")


def test_playbook_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    assert "hack-and-leak" in _run("playbook", "list")
    assert "Obtain the original file" in _run("playbook", "show", "candidate-deepfake")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: x-y\nname: n\nscenario: s\ntriggers: [t]\nchecklist:\n  - text: a\n    owner: {kind: bank}\n"
    )
    _fails(monkeypatch, capsys, 2, "1 invalid playbook file(s)", "playbook", "validate", str(bad))
    result = runner.invoke(app, ["playbook", "validate", str(bad)])
    assert "bad.yaml, row 7, column 'checklist.0.owner.kind'" in " ".join(result.output.split())
    _run("org", "create", "Gov", "--kind", "government")
    opened = json.loads(_run("playbook", "exercise", "false-voting-information", "--as-org", "Gov", "--json"))
    shown = json.loads(_run("case", "show", opened["id"], "--as-org", "Gov", "--json"))
    first = shown["checklist"][0]
    _run("case", "check", opened["id"], str(first["id"]), "--as-org", "Gov")
    shown = json.loads(_run("case", "show", opened["id"], "--as-org", "Gov", "--json"))
    assert shown["checklist"][0]["done_at"] and shown["timeline"][-1]["kind"] == "checked"
    _fails(monkeypatch, capsys, 3, "no playbook 'nope'", "playbook", "show", "nope")
