"""A member's quarantine notice reaches the signal's source through the exchange's audit log."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from tests.match.conftest import Coalition
from vigil.core.errors import InputError, NotFound
from vigil.exchange.audit import AuditFilter
from vigil.exchange.records import TLP, Role
from vigil.match.quarantine import notify_sources


def _notices(ex: Coalition, who: str, action: str) -> list[dict[str, Any]]:
    # The source's admin reads the entries involving its organisation.
    principal = dataclasses.replace(ex.principals[who], role=Role.ADMIN)
    entries = ex.store(lambda s: s.query_audit(principal, AuditFilter(action=action, limit=50)))
    return [e.__dict__ for e in entries]


def test_quarantine_and_release_notices_are_audited_for_the_source(sqlite_exchange: Coalition) -> None:
    ex = sqlite_exchange
    meme = ex.submit("source", "image_pdq", "f" * 64, confidence=80)
    sources = notify_sources(
        ex.base_url, ex.keys["us"], meme.id, "quarantined", posts=400, reason="400 of 1000 posts read"
    )
    assert sources == [ex.orgs["source"]]
    [entry] = _notices(ex, "source", "signal.quarantined")
    assert entry["target_id"] == meme.id and entry["actor_org_id"] == ex.orgs["us"]
    assert entry["subject_org_id"] == ex.orgs["source"] and entry["detail"]["posts"] == 400
    notify_sources(ex.base_url, ex.keys["us"], meme.id, "released", reason="reviewed")
    assert len(_notices(ex, "source", "signal.released")) == 1
    # A signal the caller may not see: 404, and nothing is recorded.
    secret = ex.submit("source", "domain", "secret-outlet.info", TLP.RED)
    with pytest.raises(NotFound):
        notify_sources(ex.base_url, ex.keys["us"], secret.id, "quarantined", posts=1)
    assert len(_notices(ex, "source", "signal.quarantined")) == 1
    # Bad input is a 4xx naming the field.
    with ex.api("us") as api:
        answer = api.post(f"/signals/{meme.id}/quarantine-notices", json={"action": "deleted"})
    assert answer.status_code == 400 and "action" in answer.text
    with pytest.raises(InputError):
        notify_sources("not a url", ex.keys["us"], meme.id, "quarantined")


def test_cli_release_tells_the_sources(sqlite_exchange: Coalition, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vigil.cli.app import app
    from vigil.match.quarantine import QuarantineStore

    ex = sqlite_exchange
    meme = ex.submit("source", "image_pdq", "e" * 64, confidence=80)
    with QuarantineStore.of_index(tmp_path / "index") as store:
        store.quarantine(
            meme.id,
            signal_type="image_pdq",
            signal_value="e" * 64,
            org_ids=[],
            reason="test",
            run_id="r",
            posts=9,
        )
    result = CliRunner().invoke(
        app,
        [
            "match",
            "quarantine",
            "--index",
            str(tmp_path / "index"),
            "--release",
            meme.id,
            "--by",
            "ana",
            "--server",
            ex.base_url,
            "--key",
            ex.keys["us"],
        ],
    )
    assert result.exit_code == 0, result.output
    assert ex.orgs["source"] in result.output.replace("\n", "")
    assert len(_notices(ex, "source", "signal.released")) == 1
