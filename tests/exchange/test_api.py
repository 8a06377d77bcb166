"""The REST API over real HTTP (uvicorn on a free port), on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import itertools
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from vigil.exchange.models import AuditRow, ContributionRow, OpinionRow, SightingRow, SignalRow
from vigil.exchange.records import TLP, OrgKind
from vigil.exchange.store import ExchangeStore

from .conftest import MAX_BODY, LiveServer
from .tlp_table import EXPECTED


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


class World:
    """Organisations onboarded through the API by the operator, with keys of every role."""

    def __init__(self, live: LiveServer) -> None:
        self.live = live
        self.op = live.client(live.operator_key)
        self.orgs: dict[str, dict[str, Any]] = {}
        self.keys: dict[tuple[str, str], str] = {}

    def org(self, label: str, kind: str, roles: tuple[str, ...] = ("analyst",)) -> dict[str, Any]:
        org = _ok(self.op.post("/api/v1/orgs", json={"name": _name(label), "kind": kind}), 201)
        self.orgs[label] = org
        for role in roles:
            created = _ok(self.op.post("/api/v1/keys", json={"org_id": org["id"], "role": role}), 201)
            self.keys[(label, role)] = created["key"]
        return org

    def client(self, label: str, role: str = "analyst") -> httpx.Client:
        return self.live.client(self.keys[(label, role)])

    def close(self) -> None:
        self.op.close()


@pytest.fixture
def world(live: LiveServer) -> Iterator[World]:
    w = World(live)
    yield w
    w.close()


def _counts(live: LiveServer) -> tuple[int, ...]:
    with live.db.session() as s:
        return tuple(
            s.scalar(select(func.count()).select_from(model)) or 0
            for model in (SignalRow, ContributionRow, OpinionRow, SightingRow, AuditRow)
        )


def test_health_and_openapi(live: LiveServer) -> None:
    with live.client() as c:
        assert _ok(c.get("/api/v1/health")) == {"status": "ok"}
        spec = _ok(c.get("/openapi.json"))
    assert "/api/v1/signals" in spec["paths"] and "/api/v1/audit" in spec["paths"]
    submit = spec["paths"]["/api/v1/signals"]["post"]["responses"]
    assert {"201", "400", "401", "403", "413"} <= set(submit) and "422" not in submit
    assert submit["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")


def test_authentication(live: LiveServer, world: World) -> None:
    world.org("p", "platform", roles=("analyst",))
    key = world.keys[("p", "analyst")]
    with live.client() as anon:
        missing = anon.get("/api/v1/me")
        assert missing.status_code == 401 and "Bearer" in missing.headers["www-authenticate"]
        assert missing.json()["error"] == "AuthenticationError"
        assert anon.get("/api/v1/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401
        basic = base64.b64encode(f"anyone:{key}".encode()).decode()
        me = _ok(anon.get("/api/v1/me", headers={"Authorization": f"Basic {basic}"}))
        assert me["org_id"] == world.orgs["p"]["id"] and me["role"] == "analyst"
    # revoked key: 401 at once
    created = _ok(
        world.op.post("/api/v1/keys", json={"org_id": world.orgs["p"]["id"], "role": "read-only"}), 201
    )
    with live.client(created["key"]) as c:
        _ok(c.get("/api/v1/signals"))
        _ok(world.op.post(f"/api/v1/keys/{created['id']}/revoke"))
        refused = c.get("/api/v1/signals")
        assert refused.status_code == 401 and "revoked" in refused.json()["message"]
    assert world.op.post(f"/api/v1/keys/{created['id']}/revoke").status_code == 409
    # expired key: made with a clock two hours back, valid for one hour
    with live.db.session() as s:
        past = datetime.now(UTC) - timedelta(hours=2)
        _, expired = ExchangeStore(s, now=past).create_key(
            None, world.orgs["p"]["id"], "analyst", expires_at=past + timedelta(hours=1)
        )
    with live.client(expired) as c:
        refused = c.get("/api/v1/me")
        assert refused.status_code == 401 and "expired" in refused.json()["message"]


def test_roles(live: LiveServer, world: World) -> None:
    world.org("p1", "platform", roles=("read-only", "analyst", "admin"))
    world.org("p2", "platform")
    p2 = world.orgs["p2"]["id"]
    body = {"kind": "domain", "value": "roles-test.com", "marking": {"tlp": "GREEN"}}
    with world.client("p1", "read-only") as ro, world.client("p1") as an, world.client("p1", "admin") as ad:
        assert ro.post("/api/v1/signals", json=body).status_code == 403
        _ok(ro.get("/api/v1/signals"))
        _ok(an.post("/api/v1/signals", json=body), 201)
        assert an.post("/api/v1/keys", json={"role": "analyst"}).status_code == 403
        assert an.get("/api/v1/audit").status_code == 403
        assert ad.post("/api/v1/keys", json={"org_id": p2, "role": "analyst"}).status_code == 403
        assert ad.post("/api/v1/orgs", json={"name": _name("x"), "kind": "platform"}).status_code == 403
        own = _ok(ad.post("/api/v1/keys", json={"role": "read-only", "name": "ci"}), 201)
        assert own["org_id"] == world.orgs["p1"]["id"] and own["key"].startswith("vigil_")
        listed = _ok(ad.get("/api/v1/keys"))
        assert own["id"] in {k["id"] for k in listed} and all("key" not in k for k in listed)
        denied = ad.get("/api/v1/keys", params={"org": p2})
        assert denied.status_code == 403 and denied.json()["error"] == "PermissionDenied"


def test_dedup_two_orgs_one_signal(world: World) -> None:
    world.org("a", "platform")
    world.org("b", "research")
    with world.client("a") as a, world.client("b") as b:
        first = _ok(
            a.post(
                "/api/v1/signals",
                json={
                    "kind": "hashtag",
                    "value": "#StopTheSteal2",
                    "marking": {"tlp": "GREEN"},
                    "tags": ["x"],
                },
            ),
            201,
        )
        second = _ok(
            b.post(
                "/api/v1/signals",
                json={
                    "kind": "hashtag",
                    "value": "stopthesteal2",
                    "marking": {"tlp": "CLEAR"},
                    "confidence": 80,
                },
            ),
            201,
        )
        assert first["id"] == second["id"]
        assert sorted(c["org_id"] for c in second["contributions"]) == sorted(
            [world.orgs["a"]["id"], world.orgs["b"]["id"]]
        )
        found = _ok(a.get("/api/v1/signals/lookup", params={"kind": "hashtag", "value": "#STOPTHESTEAL2"}))
        assert found["id"] == first["id"] and len(found["contributions"]) == 2
        assert len(_ok(a.get(f"/api/v1/signals/{first['id']}/contributions"))) == 2


def test_bad_input_is_4xx_and_changes_nothing(live: LiveServer, world: World) -> None:
    world.org("p", "platform", roles=("analyst", "read-only"))
    with world.client("p") as c:
        sig = _ok(
            c.post(
                "/api/v1/signals",
                json={"kind": "domain", "value": "bad-input.com", "marking": {"tlp": "GREEN"}},
            ),
            201,
        )
    before = _counts(live)
    good = {"kind": "domain", "value": "fine-value.com", "marking": {"tlp": "GREEN"}}
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        (
            "malformed JSON",
            {"content": b'{"kind": "domain", ', "headers": {"content-type": "application/json"}},
            400,
            "malformed JSON",
        ),
        (
            "JSON labelled as a form (curl -d)",
            {
                "content": b'{"kind": "domain"}',
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
            400,
            "Content-Type: application/json",
        ),
        ("unknown TLP", {"json": {**good, "marking": {"tlp": "PURPLE"}}}, 400, "marking.tlp"),
        ("unknown kind", {"json": {**good, "kind": "phone"}}, 400, "kind"),
        ("bad value", {"json": {**good, "kind": "image_pdq", "value": "xyz"}}, 400, "image_pdq"),
        (
            "unknown share",
            {"json": {**good, "marking": {"tlp": "RED", "shared_with": ["identity--nope"]}}},
            400,
            "identity--nope",
        ),
        ("extra field", {"json": {**good, "confidense": 3}}, 400, "confidense"),
        ("confidence", {"json": {**good, "confidence": 101}}, 400, "confidence"),
        ("oversized", {"json": {**good, "description": "x" * (MAX_BODY + 10)}}, 413, "limit"),
    ]
    with world.client("p") as c:
        for label, kwargs, status, needle in cases:
            response = c.post("/api/v1/signals", **kwargs)
            assert response.status_code == status, (label, response.text)
            assert needle in response.json()["message"], (label, response.text)
        chunked = c.post(
            "/api/v1/signals",
            content=iter([b"{" + b" " * MAX_BODY, b"}"]),
            headers={"content-type": "application/json"},
        )
        assert chunked.status_code == 413
        assert c.put(f"/api/v1/signals/{sig['id']}/opinion", json={"value": "meh"}).status_code == 400
        bad_sighting = {"count": 0, "first_seen": "2024-01-01T00:00:00Z", "last_seen": "2024-01-02T00:00:00Z"}
        assert c.post(f"/api/v1/signals/{sig['id']}/sightings", json=bad_sighting).status_code == 400
        reversed_range = {
            "count": 1,
            "first_seen": "2024-01-03T00:00:00Z",
            "last_seen": "2024-01-02T00:00:00Z",
        }
        assert c.post(f"/api/v1/signals/{sig['id']}/sightings", json=reversed_range).status_code == 400
        assert c.get("/api/v1/signals", params={"tlp": "PURPLE"}).status_code == 400
        assert c.get("/api/v1/signals", params={"cursor": "!!"}).status_code == 400
        assert c.get("/api/v1/signals/indicator--nope").status_code == 404
    with world.client("p", "read-only") as ro:
        assert ro.post("/api/v1/signals", json=good).status_code == 403
    with live.client("vigil_000000000000_wrong") as bad:
        assert bad.post("/api/v1/signals", json=good).status_code == 401
    assert _counts(live) == before


def test_opinions_and_sightings(world: World) -> None:
    world.org("p", "platform")
    world.org("g", "government")
    with world.client("p") as p, world.client("g") as g:
        sig = _ok(
            p.post(
                "/api/v1/signals", json={"kind": "technique", "value": "T0049", "marking": {"tlp": "GREEN"}}
            ),
            201,
        )
        url = f"/api/v1/signals/{sig['id']}"
        _ok(g.put(f"{url}/opinion", json={"value": "confirmed", "comment": "matches our case"}))
        _ok(g.put(f"{url}/opinion", json={"value": "disputed"}))
        _ok(p.put(f"{url}/opinion", json={"value": "false_positive"}))
        current = _ok(p.get(f"{url}/opinions"))
        assert {(o["org_id"], o["value"]) for o in current} == {
            (world.orgs["g"]["id"], "disputed"),
            (world.orgs["p"]["id"], "false_positive"),
        }
        history = _ok(p.get(f"{url}/opinions", params={"history": "true"}))
        assert [o["value"] for o in history] == ["confirmed", "disputed", "false_positive"]
        sighting = {
            "count": 41,
            "first_seen": "2024-05-01T00:00:00Z",
            "last_seen": "2024-05-03T12:00:00Z",
            "platform": "examplebook",
        }
        _ok(g.post(f"{url}/sightings", json=sighting), 201)
        got = _ok(p.get(url))["sightings"]
        assert [(s["org_id"], s["count"], s["platform"]) for s in got] == [
            (world.orgs["g"]["id"], 41, "examplebook")
        ]
        assert got[0]["first_seen"].startswith("2024-05-01T00:00:00")


def test_revoke_versions_and_campaigns(world: World) -> None:
    world.org("p", "platform")
    world.org("g", "government")
    with world.client("p") as p, world.client("g") as g:
        camp = _ok(
            p.post(
                "/api/v1/campaigns",
                json={"name": "Op Doppel", "marking": {"tlp": "AMBER"}, "techniques": ["t0049"]},
            ),
            201,
        )
        assert camp["techniques"] == ["T0049"]
        sig = _ok(
            p.post(
                "/api/v1/signals",
                json={
                    "kind": "domain",
                    "value": "doppel-news.com",
                    "marking": {"tlp": "GREEN"},
                    "campaign_id": camp["id"],
                },
            ),
            201,
        )
        # the government sees the GREEN signal but not the AMBER campaign it belongs to
        seen = _ok(g.get(f"/api/v1/signals/{sig['id']}"))
        assert seen["contributions"][0]["campaign_id"] is None
        assert g.get(f"/api/v1/campaigns/{camp['id']}").status_code == 404
        assert _ok(g.get("/api/v1/signals", params={"campaign": camp["id"]}))["items"] == []
        assert [s["id"] for s in _ok(p.get("/api/v1/signals", params={"campaign": camp["id"]}))["items"]] == [
            sig["id"]
        ]
        revoked = _ok(p.post(f"/api/v1/signals/{sig['id']}/revoke"))
        assert revoked["revoked"] is True
        versions = _ok(g.get(f"/api/v1/signals/{sig['id']}/versions"))["versions"]
        assert len(versions) == 2 and versions[0] < versions[1]
        assert g.post(f"/api/v1/signals/{sig['id']}/revoke").status_code == 404


def test_audit_log_over_http(live: LiveServer, world: World) -> None:
    world.org("p", "platform", roles=("analyst", "admin"))
    world.org("q", "platform", roles=("analyst", "admin"))
    p_id, q_id = world.orgs["p"]["id"], world.orgs["q"]["id"]
    with world.client("p") as p, world.client("q") as q:
        amber = _ok(
            p.post(
                "/api/v1/signals",
                json={"kind": "domain", "value": "audited-amber.com", "marking": {"tlp": "AMBER"}},
            ),
            201,
        )
        _ok(q.get(f"/api/v1/signals/{amber['id']}"))
    read = ("signal.read", "AMBER", q_id, p_id)

    def trail(entries: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
        return [(e["action"], e["tlp"], e["actor_org_id"], e["subject_org_id"]) for e in entries]

    with world.client("q", "admin") as qa:
        # q's admin sees what q's keys did
        assert trail(_ok(qa.get("/api/v1/audit", params={"target": amber["id"]}))) == [read]
        # ... but not entries that involve only another organisation
        assert qa.get("/api/v1/audit", params={"involving": p_id}).status_code == 403
    with world.client("p", "admin") as pa:
        # p's admin sees its own submission and who read its AMBER signal
        entries = trail(_ok(pa.get("/api/v1/audit", params={"target": amber["id"]})))
        assert entries[0] == read and entries[1][0] == "signal.submit" and len(entries) == 2
    # The operator (a research org) may not see p's platform-only AMBER signal: asking for its id
    # confirms nothing, and the unfiltered log shows both entries redacted (no id, no detail).
    assert _ok(world.op.get("/api/v1/audit", params={"target": amber["id"]})) == []
    everything = _ok(world.op.get("/api/v1/audit", params={"involving": p_id}))
    about = [e for e in everything if e["action"] in ("signal.submit", "signal.read")]
    assert len(about) == 2 and all(e["redacted"] and e["target_id"] is None for e in about)
    assert amber["id"] not in str(everything)


RELATION_ORG = {
    "source": "p1",
    "same_kind": "p2",
    "other_kind": "g1",
    "listed_same_kind": "p3",
    "listed_other_kind": "g2",
}


def test_tlp_matrix_every_role_kind_and_marking(world: World) -> None:
    """Every marking x viewer relation x role x org kind, by get and by listing, against the table."""
    for label, kind in [
        ("p1", "platform"),
        ("p2", "platform"),
        ("p3", "platform"),
        ("g1", "government"),
        ("g2", "government"),
        ("r1", "research"),
        ("r2", "research"),
    ]:
        world.org(label, kind, roles=("read-only", "analyst", "admin"))
    marker = uuid.uuid4().hex[:8]
    signals: dict[tuple[str, TLP], str] = {}
    for source, listed in [("p1", ("p3", "g2")), ("g1", ("g2", "p3")), ("r1", ("r2", "p3"))]:
        with world.client(source) as c:
            for tlp in TLP:
                body = {
                    "kind": "hashtag",
                    "value": f"m{marker}{source}{tlp.name.lower()}",
                    "marking": {"tlp": tlp.value, "shared_with": [world.orgs[o]["id"] for o in listed]},
                }
                signals[(source, tlp)] = _ok(c.post("/api/v1/signals", json=body), 201)["id"]
    kinds = {label: org["kind"] for label, org in world.orgs.items()}
    for viewer, role in itertools.product(world.orgs, ("read-only", "analyst", "admin")):
        with world.client(viewer, role) as c:
            listed_ids = {
                s["id"] for s in _ok(c.get("/api/v1/signals", params={"q": marker, "limit": 1000}))["items"]
            }
            for (source, tlp), signal_id in signals.items():
                shared = {"p1": ("p3", "g2"), "g1": ("g2", "p3"), "r1": ("r2", "p3")}[source]
                if viewer == source:
                    relation = "source"
                elif viewer in shared:
                    relation = "listed_same_kind" if kinds[viewer] == kinds[source] else "listed_other_kind"
                else:
                    relation = "same_kind" if kinds[viewer] == kinds[source] else "other_kind"
                expected = EXPECTED[tlp][relation]
                got = c.get(f"/api/v1/signals/{signal_id}")
                assert got.status_code == (200 if expected else 404), (viewer, role, source, tlp)
                assert (signal_id in listed_ids) is expected, (viewer, role, source, tlp)
    assert kinds["g1"] == OrgKind.GOVERNMENT.value


def test_concurrent_submissions_lose_nothing(live: LiveServer, world: World) -> None:
    """Several clients submitting the same values at once: every request succeeds, every version
    is kept, and each organisation's final version counts its submissions."""
    for label in ("c1", "c2", "c3"):
        world.org(label, "platform")
    marker = uuid.uuid4().hex[:8]
    rounds = 12

    def worker(index: int) -> list[int]:
        label = ("c1", "c2", "c3")[index % 3]
        codes = []
        with world.client(label) as c:
            for j in range(rounds):
                body = {"kind": "hashtag", "value": f"race{marker}{j % 3}", "marking": {"tlp": "AMBER"}}
                codes.append(c.post("/api/v1/signals", json=body).status_code)
                codes.append(
                    c.put("/api/v1/signals/lookup-missing/opinion", json={"value": "confirmed"}).status_code
                )
        return codes

    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = [code for result in pool.map(worker, range(6)) for code in result]
    assert codes.count(201) == 6 * rounds and codes.count(404) == 6 * rounds
    with world.client("c1") as c:
        items = _ok(c.get("/api/v1/signals", params={"q": f"race{marker}"}))["items"]
        assert len(items) == 3
        for item in items:
            # two workers per org, each submitting every value rounds/3 times
            assert sorted(x["version"] for x in item["contributions"]) == [2 * rounds // 3] * 3
            versions = _ok(c.get(f"/api/v1/signals/{item['id']}/versions"))["versions"]
            assert len(versions) == 3 * 2 * rounds // 3


def test_campaign_update_by_its_owner_only(world: World) -> None:
    world.org("p", "platform")
    world.org("q", "platform")
    world.org("g", "government")
    with world.client("p") as p, world.client("q") as q, world.client("g") as g:
        camp = _ok(p.post("/api/v1/campaigns", json={"name": "Op A", "marking": {"tlp": "AMBER"}}), 201)
        url = f"/api/v1/campaigns/{camp['id']}"
        assert g.get(url).status_code == 404
        assert q.patch(url, json={"name": "hijacked"}).status_code == 403
        assert p.patch(url, json={"marking": {"tlp": "MAUVE"}}).status_code == 400
        changed = _ok(
            p.patch(
                url,
                json={
                    "description": "fake news sites",
                    "techniques": ["t0049.001"],
                    "marking": {"tlp": "AMBER", "shared_with": [world.orgs["g"]["id"]]},
                },
            )
        )
        assert changed["name"] == "Op A" and changed["techniques"] == ["T0049.001"]
        assert changed["modified_at"] > camp["modified_at"]
        assert _ok(g.get(url))["description"] == "fake news sites"  # now shared with g
