"""An app scores decay with its own settings: ``create_app(settings)`` given decay overrides uses
them in the signal list's score filter (REST and dashboard) and the signal page's panel, not the
process's settings (``get_settings()``), which differ here as they do when a test, the demo or an
embedding program passes overrides."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import httpx

from vigil.core.settings import get_settings
from vigil.core.time import utcnow
from vigil.db import Database
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore
from vigil.signals.decay import DecayModel

from ..exchange.conftest import start_server

SHORT = {"decay_lifetime_days": 20.0, "decay_speed": 1.0}  # 30 days old: 0 here, 33.8 by default


def test_an_app_uses_its_own_decay_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'exchange.db'}"
    db = Database(url, auto_upgrade=True)
    with db.session() as session:
        store = ExchangeStore(session)
        org = store.create_org(None, "Decay platform", "platform")
        _, key = store.create_key(None, org.id, "analyst")
        principal = store.authenticate(key)
    with db.session() as session:
        signal = ExchangeStore(session, now=utcnow() - timedelta(days=30)).submit_signal(
            principal, "domain", "decay-settings-news.net", marking=Marking(TLP.GREEN), confidence=80
        )
    db.dispose()
    process = DecayModel.configured()
    assert process.lifetime_days != SHORT["decay_lifetime_days"]  # the overrides differ from it
    assert DecayModel.from_settings(get_settings()) == process

    def answers(overrides: dict[str, float]) -> tuple[list[str], float]:
        server, thread, base = start_server(url, tmp_path, **overrides)  # create_app(overrides)
        try:
            with httpx.Client(base_url=base, timeout=60, follow_redirects=False) as client:
                listed = client.get(
                    "/api/v1/signals",
                    params={"min_score": 10, "q": "decay-settings"},
                    headers={"Authorization": f"Bearer {key}"},
                )
                assert listed.status_code == 200, listed.text
                assert client.post("/login", data={"api_key": key}).status_code == 303
                page = client.get(f"/signals/{signal.id}")
                assert page.status_code == 200, page.text[:300]
                score = re.search(r"Decay score <strong>([\d.]+)</strong>", page.text)
                assert score is not None
                dashboard = client.get("/signals", params={"q": "decay-settings", "min_score": "10"}).text
                assert ("decay-settings-news.net" in dashboard) is bool(listed.json()["items"])
                return [s["id"] for s in listed.json()["items"]], float(score.group(1))
        finally:
            server.should_exit = True
            thread.join(timeout=10)

    expected = process.score_at(30, 80)
    ids, score = answers({})
    assert ids == [signal.id] and abs(score - expected) < 0.2  # 33.8 with the defaults
    ids, score = answers(SHORT)
    assert ids == [] and score == 0.0  # past its 20-day lifetime under the app's settings
