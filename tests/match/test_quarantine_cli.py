"""`vigil quarantine list | show | release` against a real exchange: two members report the same
flood, the signal is coalition-quarantined, a member who may not release gets a clear non-zero
exit, the contributor's admin releases it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import cli_fails, cli_ok
from tests.match.conftest import Coalition
from vigil.match.quarantine import notify_sources


def _json(*args: str) -> Any:
    return json.loads(cli_ok(*args, "--json"))


def test_quarantine_commands_list_show_and_release_as_the_exchange_allows(
    sqlite_exchange: Coalition,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ex = sqlite_exchange
    monkeypatch.setenv("COLUMNS", "200")
    meme = ex.submit("source", "domain", "viral-meme-host.org", confidence=80)
    quiet = ex.submit("source", "domain", "quiet-site.org", confidence=80)
    source_admin = str(ex.store(lambda s: s.create_key(None, ex.orgs["source"], "admin")[1]))
    gov_admin = str(ex.store(lambda s: s.create_key(None, ex.orgs["gov"], "admin")[1]))
    server = ["--server", ex.base_url]

    assert _json("quarantine", "list", *server, "--key", ex.keys["us"]) == []
    for who in ("us", "gov"):
        notify_sources(ex.base_url, ex.keys[who], meme.id, "quarantined", posts=500, reason="flood")
    listed = _json("quarantine", "list", *server, "--key", ex.keys["us"])
    assert isinstance(listed, list)
    assert [(r["signal_id"], r["value"], r["state"], r["may_release"]) for r in listed] == [
        (meme.id, "viral-meme-host.org", "active", False)
    ]
    [state] = _json("quarantine", "show", meme.id, *server, "--key", source_admin)
    assert (state["state"], state["reporters"], state["may_release"]) == ("active", 2, True)
    [state] = _json("quarantine", "show", quiet.id, *server, "--key", ex.keys["us"])
    assert state["state"] == "none"

    # An admin of an organisation that did not contribute may not release: exit 4, nothing changes.
    err = cli_fails(monkeypatch, capsys, 4, "quarantine", "release", meme.id, *server, "--key", gov_admin)
    assert "only an admin of an organisation that contributed this signal" in err
    err = cli_fails(
        monkeypatch, capsys, 3, "quarantine", "show", "indicator--nope", *server, "--key", gov_admin
    )
    assert "indicator--nope" in err, err
    err = cli_fails(monkeypatch, capsys, 4, "quarantine", "list", *server, "--key", "not-a-key")
    assert ex.base_url in err
    [state] = _json("quarantine", "show", meme.id, *server, "--key", ex.keys["us"])
    assert state["state"] == "active"

    [released] = _json(
        "quarantine", "release", meme.id, *server, "--key", source_admin, "--reason", "a real meme, fine"
    )
    assert (released["state"], released["release_reason"]) == ("released", "a real meme, fine")
    assert _json("quarantine", "list", *server, "--key", ex.keys["us"]) == []
    # Releasing again: it is not coalition-quarantined any more (Conflict, exit 5).
    err = cli_fails(monkeypatch, capsys, 5, "quarantine", "release", meme.id, *server, "--key", source_admin)
    assert "is not coalition-quarantined" in err
