"""``vigil policy`` end to end on a SQLite data directory: record, list, history, diff, matrix
(with readiness by election day), and bad input that exits non-zero naming what was wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.cli_helpers import cli_exit, cli_ok

runner = CliRunner()


def test_policy_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "250")
    cli_ok("org", "create", "Examplebook", "--kind", "platform")
    cli_ok("org", "create", "Ministry", "--kind", "government")
    cli_ok("election", "add", "General 2027", "election_day", "2027-06-01T08:00Z", "--as-org", "Ministry")
    out = cli_ok("policy", "record", "political_ads", "announced", "--from", "2027-05-01T00:00Z",
               "--summary", "حظر الإعلانات السياسية", "--language", "ar", "--url", "https://ex.example/ads",
               "--note", "RED-NOTE", "--note-tlp", "RED", "--as-org", "Examplebook")  # fmt: skip
    assert "political_ads version 1: announced (TLP:GREEN)" in out
    cli_ok("policy", "record", "synthetic_media", "in force", "--as-org", "Examplebook")
    cli_ok("policy", "record", "political_ads", "withdrawn", "--as-org", "Examplebook")
    current = json.loads(cli_ok("policy", "list", "--as-org", "Ministry", "--json"))
    assert sorted((v["area"], v["version"], v["status"]) for v in current) == [
        ("political_ads", 2, "withdrawn"), ("synthetic_media", 1, "in_force")
    ]  # fmt: skip
    history = json.loads(
        cli_ok("policy", "history", "--area", "political_ads", "--as-org", "Ministry", "--json")
    )
    assert [(v["version"], v["note"]) for v in history] == [
        (1, None),
        (2, None),
    ]  # RED note not for the ministry
    own = json.loads(
        cli_ok("policy", "history", "--area", "political_ads", "--as-org", "Examplebook", "--json")
    )
    assert own[0]["note"] == "RED-NOTE" and own[0]["summary"] == "حظر الإعلانات السياسية"
    changes = json.loads(
        cli_ok("policy", "diff", "--since", "2020-01-01T00:00Z", "--as-org", "Ministry", "--json")
    )
    assert sorted(c["area"] for c in changes) == ["political_ads", "synthetic_media"]
    table = cli_ok("policy", "matrix", "--as-org", "Ministry")
    assert "Examplebook" in table and "GAP withdrawn" in table
    ready = json.loads(
        cli_ok("policy", "matrix", "--election", "General 2027", "--as-org", "Ministry", "--json")
    )
    assert ready["in_force"][current[0]["org_id"]]["synthetic_media"] is True
    assert ready["in_force"][current[0]["org_id"]]["political_ads"] is False
    assert "Publicités politiques" in cli_ok("policy", "areas")
    assert "STIX objects" in cli_ok(
        "policy", "export", "--out", str(tmp_path / "p.json"), "--as-org", "Ministry"
    )
    exported = json.loads((tmp_path / "p.json").read_text("utf-8"))
    assert "RED-NOTE" not in json.dumps(exported) and exported["type"] == "bundle"

    for args, words in (
        (("policy", "record", "nope", "in_force"), "unknown policy area"),
        (("policy", "record", "political_ads", "maybe"), "unknown policy status"),
        (("policy", "record", "political_ads", "in_force", "--from", "soon"), "--from"),
        (("policy", "record", "political_ads", "in_force", "--note-tlp", "PURPLE"), "PURPLE"),
    ):
        code, err = cli_exit(monkeypatch, capsys, *args, "--as-org", "Examplebook")
        assert code != 0 and words in err, err
    after = json.loads(cli_ok("policy", "history", "--as-org", "Examplebook", "--json"))
    assert len(after) == 3  # nothing stored by the failed commands
