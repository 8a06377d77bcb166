"""Failure 7 of issue #15: integers beyond what the database holds (sighting count, case action
count, checklist item id, dead-letter id) reached PostgreSQL (fails at 2^31) and SQLite (above
2^63-1) and answered HTTP 500. Every one is now a 400 naming the field, on both backends, over HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from vigil.core.errors import InputError
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore

from .conftest import LiveServer

HUGE = (2**31, 2**63, 2**64)


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_integers_beyond_the_database_are_400_not_500(live: LiveServer) -> None:
    with live.client(live.operator_key) as op:
        org = _ok(
            op.post("/api/v1/orgs", json={"name": f"o-{uuid.uuid4().hex[:8]}", "kind": "platform"}), 201
        )
        key = _ok(op.post("/api/v1/keys", json={"org_id": org["id"], "role": "admin"}), 201)["key"]
    with live.client(key) as c:
        signal = _ok(
            c.post(
                "/api/v1/signals",
                json={"kind": "domain", "value": f"b{uuid.uuid4().hex[:8]}.com", "marking": {"tlp": "GREEN"}},
            ),
            201,
        )
        case = _ok(c.post("/api/v1/cases", json={"title": "bounded"}), 201)
        calls: list[tuple[str, str, dict[str, Any] | None]] = []
        for n in HUGE:
            calls += [
                (
                    "POST",
                    f"/api/v1/signals/{signal['id']}/sightings",
                    {"count": n, "first_seen": "2026-01-01T00:00:00Z", "last_seen": "2026-01-02T00:00:00Z"},
                ),
                (
                    "POST",
                    f"/api/v1/cases/{case['id']}/actions",
                    {"action": "removed", "target": "accounts", "count": n},
                ),
                ("POST", f"/api/v1/cases/{case['id']}/checklist/{n}", {"done": True}),
                ("POST", f"/api/v1/subscriptions/dead-letters/{n}/retry", None),
                ("PATCH", f"/api/v1/action-items/{n}", {"status": "done"}),
                ("GET", f"/api/v1/audit?before={n}", None),
            ]
        for method, path, body in calls:
            answer = c.request(method, path, json=body)
            assert answer.status_code == 400, (method, path, answer.status_code, answer.text)
            assert answer.json()["error"] == "InputError", answer.text
        # the largest value that fits is accepted where it is a count
        top = _ok(
            c.post(
                f"/api/v1/signals/{signal['id']}/sightings",
                json={
                    "count": 2**31 - 1,
                    "first_seen": "2026-01-01T00:00:00Z",
                    "last_seen": "2026-01-02T00:00:00Z",
                },
            ),
            201,
        )
        assert top["count"] == 2**31 - 1


@pytest.mark.parametrize("n", [2**31, -(2**31) - 1])
def test_store_refuses_counts_beyond_the_database(n: int, live: LiveServer) -> None:
    """The services check too, for callers that are not the REST schemas (TAXII add, STIX import)."""
    with live.db.session() as s:
        store = ExchangeStore(s)
        principal = store.authenticate(live.operator_key)
        value = f"c{uuid.uuid4().hex[:8]}.com"
        signal = store.submit_signal(principal, "domain", value, marking=Marking(TLP.GREEN))
        now = datetime.now(UTC)
        with pytest.raises(InputError, match="count"):
            store.add_sighting(principal, signal.id, count=n, first_seen=now, last_seen=now)


def test_nul_characters_are_400_not_500(live: LiveServer) -> None:
    """Found by test_schemathesis.py on PostgreSQL (text cannot hold U+0000): a NUL in a body, a
    query or a path is refused with 400 on both backends, and nothing is stored."""
    with live.client(live.operator_key) as c:
        before = len(_ok(c.get("/api/v1/campaigns")))
        for method, path, body in [
            ("POST", "/api/v1/campaigns", {"name": "a\x00b", "marking": {"tlp": "GREEN"}}),
            (
                "POST",
                "/api/v1/campaigns",
                {"name": "ok", "marking": {"tlp": "GREEN"}, "techniques": ["T\x00"]},
            ),
            ("GET", "/api/v1/audit?action=%00", None),
            ("GET", "/api/v1/signals/a%00b", None),
        ]:
            answer = c.request(method, path, json=body)
            assert answer.status_code == 400, (method, path, answer.text)
            assert "NUL" in answer.json()["message"]
        assert len(_ok(c.get("/api/v1/campaigns"))) == before
