"""Feedback sent back to the source (#18 part 1) over a real server: the REST counts
(``/api/v1/signals/{id}/feedback``, ``/api/v1/feedback``) and the source's TAXII collections, each
holding what members said about its contributions and nothing a TLP marking keeps from it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from vigil.exchange.access import Principal
from vigil.exchange.records import OrgKind, Role
from vigil.exchange.taxii import find_collection

from .conftest import LiveServer

TAXII = {"Accept": "application/taxii+json;version=2.1"}
T = "2026-11-20T10:00:00Z"


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@dataclass
class Members:
    ids: dict[str, str]
    keys: dict[str, str]
    kinds: dict[str, str]


@pytest.fixture(scope="module")
def members(live: LiveServer) -> Iterator[Members]:
    tag = uuid.uuid4().hex[:6]
    ids: dict[str, str] = {}
    keys: dict[str, str] = {}
    kinds = {"src": "platform", "p2": "platform", "gov": "government", "lab": "research"}
    with live.client(live.operator_key) as op:
        for name, kind in kinds.items():
            org = _ok(op.post("/api/v1/orgs", json={"name": f"fb-{tag}-{name}", "kind": kind}), 201)
            ids[name] = org["id"]
            keys[name] = _ok(op.post("/api/v1/keys", json={"org_id": org["id"], "role": "analyst"}), 201)[
                "key"
            ]
    yield Members(ids, keys, kinds)


pytestmark = pytest.mark.parametrize("live", ["sqlite"], indirect=True)


def test_source_receives_counts_and_stix_feedback_within_tlp(live: LiveServer, members: Members) -> None:
    k, ids = members.keys, members.ids
    tag = uuid.uuid4().hex[:8]
    with live.client(k["src"]) as src:
        green = _ok(
            src.post(
                "/api/v1/signals", json={"kind": "hashtag", "value": f"g{tag}", "marking": {"tlp": "GREEN"}}
            ),
            201,
        )
        amber = _ok(
            src.post(
                "/api/v1/signals", json={"kind": "hashtag", "value": f"a{tag}", "marking": {"tlp": "AMBER"}}
            ),
            201,
        )
    sighting = {"count": 30, "first_seen": T, "last_seen": T, "platform": "p2"}
    with live.client(k["p2"]) as p2:
        _ok(p2.post(f"/api/v1/signals/{green['id']}/sightings", json=sighting), 201)
        _ok(p2.put(f"/api/v1/signals/{amber['id']}/opinion", json={"value": "false_positive"}))
        _ok(p2.post(f"/api/v1/signals/{amber['id']}/sightings", json={**sighting, "count": 4}), 201)
    with live.client(k["gov"]) as gov:
        _ok(gov.put(f"/api/v1/signals/{green['id']}/opinion", json={"value": "confirmed"}))
    with live.client(k["lab"]) as lab:
        # RED, shared with nobody: the source must learn nothing of it
        red = {"value": "disputed", "comment": f"secret{tag}", "marking": {"tlp": "RED"}}
        _ok(lab.put(f"/api/v1/signals/{green['id']}/opinion", json=red))

    with live.client(k["src"]) as src:
        counts = _ok(src.get(f"/api/v1/signals/{green['id']}/feedback"))
        received = _ok(src.get("/api/v1/feedback", params={"org": "me", "sort": "matches"}))
        first = _ok(src.get("/api/v1/feedback", params={"limit": 1}))
        bad_sort = src.get("/api/v1/feedback", params={"sort": "loudest"})
        other = src.get("/api/v1/feedback", params={"org": ids["p2"]})
        bad_since = src.get(f"/api/v1/signals/{green['id']}/feedback", params={"since": "yesterday"})
    assert counts["total"] == {
        "sightings": 1,
        "matches": 30,
        "confirmations": 1,
        "false_positives": 0,
        "disputes": 0,
    }
    assert {m["org_id"] for m in counts["members"]} == {ids["p2"], ids["gov"]}
    assert counts["current"] == {"confirmed": 1, "false_positive": 0, "disputed": 0}
    assert [c["org_id"] for c in counts["contributions"]] == [ids["src"]]
    assert len(counts["days"]) == 1
    assert received["org_id"] == ids["src"] and received["total"] == 2
    assert [i["signal_id"] for i in received["items"]] == [green["id"], amber["id"]]
    assert received["items"][1]["counts"]["false_positives"] == 1
    assert received["totals"]["matches"] == 34
    assert first["next_offset"] == 1 and len(first["items"]) == 1
    assert bad_sort.status_code == 400 and "sort" in bad_sort.json()["message"]
    assert other.status_code == 403
    assert bad_since.status_code == 400

    # the decay-score filter: amber's base is 50 - 25 (p2's false positive) = 25, green's 50 + 5
    with live.client(k["src"]) as src:
        q: dict[str, str | int] = {"q": tag, "min_score": 30}
        kept = _ok(src.get("/api/v1/signals", params=q))
        assert [x["id"] for x in kept["items"]] == [green["id"]]
        assert {x["id"] for x in _ok(src.get("/api/v1/signals", params={**q, "min_score": 20}))["items"]} == {
            green["id"],
            amber["id"],
        }
        assert src.get("/api/v1/signals", params={"min_score": 101}).status_code == 400

    # the government sees no AMBER platform signal at all; its counts of the green one omit the RED
    with live.client(k["gov"]) as gov:
        assert gov.get(f"/api/v1/signals/{amber['id']}/feedback").status_code == 404
        seen = _ok(gov.get(f"/api/v1/signals/{green['id']}/feedback"))
    assert seen["total"]["disputes"] == 0 and seen["current"]["disputed"] == 0

    # TAXII: the source's collections carry the opinions and sightings given on its contributions
    got: list[dict[str, Any]] = []
    principal = Principal("x", ids["src"], OrgKind.PLATFORM, Role.ANALYST)
    for alias in ("coalition", "platforms"):
        spec = find_collection(principal, alias)
        assert spec is not None
        with live.client(k["src"]) as src:
            page = _ok(src.get(f"/taxii2/api1/collections/{spec.id}/objects/", headers=TAXII))
        got += page.get("objects", [])
    feedback = [o for o in got if o["type"] in ("opinion", "sighting")]
    mine = {o["id"] for o in got if o["type"] == "indicator" and o.get("created_by_ref") == ids["src"]}
    about = {
        (o["type"], o["created_by_ref"], o.get("opinion"), o.get("count"))
        for o in feedback
        if set(o.get("object_refs", [o.get("sighting_of_ref")])) & mine
    }
    assert ("sighting", ids["p2"], None, 30) in about
    assert ("opinion", ids["gov"], "strongly-agree", None) in about
    assert ("opinion", ids["p2"], "strongly-disagree", None) in about
    assert ("sighting", ids["p2"], None, 4) in about
    assert not any(o["created_by_ref"] == ids["lab"] for o in feedback)  # the RED opinion stays out
    assert f"secret{tag}" not in str(got)
