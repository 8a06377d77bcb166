"""The cases REST routes over a real uvicorn server, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from vigil.cases.from_detection import DetectedCampaign

from ..exchange.conftest import LiveServer


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


class Members:
    """Organisations onboarded through the API, with an analyst and an admin key each."""

    def __init__(self, live: LiveServer) -> None:
        self.live = live
        self.op = live.client(live.operator_key)
        self.ids: dict[str, str] = {}
        self.keys: dict[tuple[str, str], str] = {}
        for label, kind in (("plat_a", "platform"), ("plat_b", "platform"), ("gov", "government")):
            org = _ok(
                self.op.post("/api/v1/orgs", json={"name": f"{label}-{uuid.uuid4().hex[:8]}", "kind": kind}),
                201,
            )
            self.ids[label] = org["id"]
            for role in ("analyst", "admin", "read-only"):
                made = _ok(self.op.post("/api/v1/keys", json={"org_id": org["id"], "role": role}), 201)
                self.keys[(label, role)] = made["key"]

    def client(self, label: str, role: str = "analyst") -> httpx.Client:
        return self.live.client(self.keys[(label, role)])


@pytest.fixture
def members(live: LiveServer) -> Iterator[Members]:
    m = Members(live)
    yield m
    m.op.close()


def test_case_lifecycle_over_http(members: Members) -> None:
    with members.client("plat_a") as a, members.client("plat_b") as b, members.client("gov") as gov:
        case = _ok(
            a.post(
                "/api/v1/cases",
                json={"title": "Fake poll network", "techniques": ["T0049"], "marking": {"tlp": "GREEN"}},
            ),
            201,
        )
        cid = case["id"]
        assert case["status"] == "triage" and case["marking"]["tlp"] == "GREEN"
        conflict = a.post(f"/api/v1/cases/{cid}/transition", json={"status": "disclosed"})
        assert (
            conflict.status_code == 409
            and "cannot move from 'triage' to 'disclosed'" in conflict.json()["message"]
        )
        _ok(a.post(f"/api/v1/cases/{cid}/transition", json={"status": "investigating"}))
        # only the owner moves the case; a partner that sees it takes part (actions, comments)
        assert (
            b.post(f"/api/v1/cases/{cid}/transition", json={"status": "coordinated-action"}).status_code
            == 403
        )
        _ok(a.post(f"/api/v1/cases/{cid}/transition", json={"status": "coordinated-action"}))
        _ok(
            b.post(
                f"/api/v1/cases/{cid}/actions",
                json={
                    "action": "removed",
                    "target": "accounts",
                    "count": 12,
                    "platform": "B",
                    "marking": {"tlp": "RED"},
                },
            ),
            201,
        )
        _ok(
            b.post(
                f"/api/v1/cases/{cid}/comments", json={"text": "platforms only", "marking": {"tlp": "AMBER"}}
            ),
            201,
        )
        assert [x["count"] for x in _ok(b.get(f"/api/v1/cases/{cid}/actions"))] == [12]
        assert _ok(a.get(f"/api/v1/cases/{cid}/actions")) == []  # RED stays with B
        gov_events = _ok(gov.get(f"/api/v1/cases/{cid}/timeline"))
        assert [e["kind"] for e in gov_events] == ["created", "status", "status"]
        a_events = _ok(a.get(f"/api/v1/cases/{cid}/timeline"))
        assert [e["kind"] for e in a_events][-1] == "comment"

        until = datetime.now(UTC) + timedelta(hours=1)
        state = _ok(a.put(f"/api/v1/cases/{cid}/embargo", json={"until": until.isoformat()}))
        assert state["active"] and 3500 < state["seconds_remaining"] <= 3600
        blocked = a.post(f"/api/v1/cases/{cid}/transition", json={"status": "disclosed"})
        assert blocked.status_code == 409 and "under embargo" in blocked.json()["message"]
        assert a.get(f"/api/v1/cases/{cid}/disclosure").status_code == 409
        draft = a.get(f"/api/v1/cases/{cid}/disclosure", params={"draft": True})
        assert (
            draft.status_code == 200
            and "DRAFT" in draft.text
            and draft.headers["content-type"].startswith("text/html")
        )
        denied = a.post(
            f"/api/v1/cases/{cid}/transition", json={"status": "disclosed", "override_reason": "leak"}
        )
        assert denied.status_code == 403
    with members.client("plat_a", "admin") as admin:
        done = _ok(
            admin.post(
                f"/api/v1/cases/{cid}/transition", json={"status": "disclosed", "override_reason": "leak"}
            )
        )
        assert done["status"] == "disclosed"
        pdf = admin.get(
            f"/api/v1/cases/{cid}/disclosure", params={"format": "pdf", "override_reason": "leak"}
        )
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    with members.client("gov", "read-only") as ro:
        assert ro.post("/api/v1/cases", json={"title": "x"}).status_code == 403
        assert _ok(ro.get(f"/api/v1/cases/{cid}"))["status"] == "disclosed"


def test_bad_input_and_invisible_cases(members: Members) -> None:
    with members.client("plat_a") as a, members.client("gov") as gov:
        bad = a.post("/api/v1/cases", json={"title": "x", "techniques": ["X1"]})
        assert bad.status_code == 400 and "DISARM id" in bad.json()["message"]
        assert a.post("/api/v1/cases", json={"title": "x", "colour": 1}).status_code == 400
        red = _ok(a.post("/api/v1/cases", json={"title": "secret", "marking": {"tlp": "RED"}}), 201)
        assert gov.get(f"/api/v1/cases/{red['id']}").status_code == 404
        assert red["id"] not in {c["id"] for c in _ok(gov.get("/api/v1/cases"))}
        bad_action = a.post(
            f"/api/v1/cases/{red['id']}/actions", json={"action": "nuked", "target": "accounts", "count": 1}
        )
        assert bad_action.status_code == 400


def test_playbooks_exercise_briefing_and_from_detection(members: Members) -> None:
    with members.client("gov") as gov, members.client("plat_a") as a:
        books = _ok(gov.get("/api/v1/playbooks"))
        assert "hack-and-leak" in {b["id"] for b in books}
        case = _ok(gov.post("/api/v1/playbooks/hack-and-leak/exercise", json={}), 201)
        items = _ok(gov.get(f"/api/v1/cases/{case['id']}/checklist"))
        checked = _ok(a.post(f"/api/v1/cases/{case['id']}/checklist/{items[0]['id']}", json={"note": "done"}))
        assert checked["done_by_org"] == members.ids["plat_a"] and checked["done_at"]
        detected = DetectedCampaign(
            campaign_id="campaign--x",
            score=0.8,
            platforms=["telegram"],
            languages=["en"],
            accounts=[
                {"account": "telegram:1", "platform": "telegram", "n_posts": 3},
                {"account": "telegram:2", "platform": "telegram", "n_posts": 2},
            ],
            items=[{"kind": "domain", "value": "patriotballot.site"}],
            edges=[("telegram:1", "telegram:2", 2.5)],
        )
        opened = _ok(
            a.post(
                "/api/v1/cases/from-detection",
                json={"detected": detected.to_json(), "marking": {"tlp": "GREEN"}},
            ),
            201,
        )
        signals = _ok(a.get(f"/api/v1/cases/{opened['id']}/signals"))
        assert {s["value"] for s in signals} == {"telegram:1", "telegram:2", "patriotballot.site"}
        net = _ok(gov.get(f"/api/v1/cases/{opened['id']}/network"))
        assert len(net["nodes"]) == 2 and net["edges"] == [
            {"a": "telegram:1", "b": "telegram:2", "weight": 2.5}
        ]
        md = gov.get("/api/v1/briefings", params={"since": "7d", "format": "md", "issue": True})
        assert (
            md.status_code == 200 and "patriotballot.site" in md.text and "Exercise: Hack-and-leak" in md.text
        )
        again = gov.get("/api/v1/briefings", params={"since": "7d", "format": "md"})
        assert "Last briefing" in again.text
        pdf = gov.get("/api/v1/briefings", params={"format": "pdf"})
        assert pdf.content.startswith(b"%PDF")
        assert gov.get("/api/v1/briefings", params={"since": "soon"}).status_code == 400
