"""The adversarial matrix of issue #15, generated from the app's route table.

For owners of two kinds (a platform and a government) x every TLP x two audiences (nobody named, a
research org named in ``shared_with``), unique tokens are planted in every free-text field of a
signal (value, description, tag), campaign (name, description, attribution), case (title,
summary, attribution, comment, action note), opinion (comment), sighting (platform) and meeting
update (asks). Then every GET route the app serves (REST, TAXII, dashboard pages, documents, exports)
is read as every other principal (every org kind, every role, the coalition operator), with every
planted id in its path parameters, and no token the reader may not see may appear (the oracle is
the one TLP rule, ``vigil.exchange.access.can_see``; visibility of the rule itself is tested in
tests/exchange). Owner-only writes on others' objects must be refused and change nothing.

A GET route that is neither exercised nor listed in ``EXEMPT`` (with a reason) fails the test, and
so does a write route with an object id in its path that is not classified below: a new route is
covered, or consciously exempted, without anyone remembering to add it.
"""

from __future__ import annotations

import http.client
import io
import itertools
import re
import select
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from vigil.cases.service import CaseService
from vigil.db import Database
from vigil.exchange.access import Principal, can_see
from vigil.exchange.records import TLP, Marking, OrgKind
from vigil.exchange.store import ExchangeStore

from ..exchange.conftest import BACKENDS, _make_url, start_server

KINDS = {"P1": "platform", "P2": "platform", "G1": "government", "R1": "research"}
OWNERS = ("P1", "G1")
AUDIENCES = {"none": (), "listed": ("R1",)}
ROLES = ("admin", "analyst", "read-only")

# GET routes not read here, each with the reason.
EXEMPT: dict[str, str] = {
    "/docs": "Swagger UI shell: static HTML, no data",
    "/docs/oauth2-redirect": "Swagger UI helper: static HTML, no data",
    "/redoc": "ReDoc shell: static HTML, no data",
    "/openapi.json": "the API description: no data",
    "/login": "the sign-in form: no data",
    "/api/v1/health": "liveness: no data",
    "/detections": "reads detection runs from data_dir files, not the exchange (none in this test)",
    "/detections/{run}/{campaign_id}": "reads detection runs from data_dir files, not the exchange",
    "/detections/{run}/{campaign_id}/cases": "CaseService.list_cases (as /cases), filtered by a detection id",
}

# Writes only the owner of the object may make (method, path) -> a body that would succeed for it.
OWNER_ONLY: dict[tuple[str, str], dict[str, Any] | None] = {
    ("PATCH", "/api/v1/cases/{case_id}"): {"title": "hijacked"},
    ("POST", "/api/v1/cases/{case_id}/transition"): {"status": "investigating"},
    ("PUT", "/api/v1/cases/{case_id}/embargo"): {"until": None},
    ("PATCH", "/api/v1/campaigns/{campaign_id}"): {"name": "hijacked"},
    ("POST", "/api/v1/signals/{signal_id}/revoke"): None,
}
# Owner-only writes on many objects at once: (method, path) -> (the id parameter, the body naming
# one id). Each attacker sends every planted id alone, and mixed after one of its own.
BULK_OWNER_ONLY: dict[tuple[str, str], tuple[str, Callable[[list[str]], dict[str, Any]]]] = {
    ("POST", "/api/v1/signals/revoke"): ("signal_id", lambda ids: {"ids": ids}),
}
# Writes any member that sees the object may make (they add its own material, under its own marking).
PARTICIPATION = {
    ("POST", "/api/v1/cases/{case_id}/comments"),
    ("POST", "/api/v1/cases/{case_id}/actions"),
    ("POST", "/api/v1/cases/{case_id}/signals"),
    ("POST", "/api/v1/cases/{case_id}/checklist/{item_id}"),
    ("PUT", "/api/v1/signals/{signal_id}/opinion"),
    ("POST", "/api/v1/signals/{signal_id}/sightings"),
    ("POST", "/api/v1/signals/{signal_id}/quarantine-notices"),  # the caller's own notice, told to sources
    ("PUT", "/api/v1/meetings/{meeting_id}/update"),
    ("POST", "/api/v1/meetings/{meeting_id}/actions"),
    ("POST", "/cases/{case_id}/comment"),
    ("POST", "/cases/{case_id}/action"),
    ("POST", "/cases/{case_id}/checklist/{item_id}"),
    ("POST", "/cases/{case_id}/report"),
    ("POST", "/signals/{signal_id}/opinion"),
    ("POST", "/meetings/{meeting_id}/update"),
    ("POST", "/meetings/{meeting_id}/actions"),
    ("POST", "/meetings/{meeting_id}/actions/{action_id}"),
    ("POST", "/cases/{case_id}/share"),  # re-marks the caller's own contributions only
    ("POST", "/cases/{case_id}/signals"),
    ("POST", "/signals/{signal_id}/sighting"),
}
# Writes checked elsewhere (the service refuses non-conveners / non-owners; tests named).
CHECKED_ELSEWHERE = {
    ("POST", "/api/v1/meetings/{meeting_id}/invitations"): "convener only: tests/meetings/test_api.py",
    ("PUT", "/api/v1/meetings/{meeting_id}/minutes"): "convener only: tests/meetings/test_api.py",
    ("POST", "/meetings/{meeting_id}/invite"): "convener only, page form over the same service",
    ("POST", "/meetings/{meeting_id}/minutes"): "convener only, page form over the same service",
    ("POST", "/cases/{case_id}/status"): "page form over CaseService.transition (owner only, above)",
    ("POST", "/cases/{case_id}/embargo"): "page form over CaseService.set_embargo (owner only, above)",
    ("POST", "/api/v1/orgs/{org}/suspend"): "operator only: tests/security/test_org_lifecycle.py",
    ("POST", "/api/v1/orgs/{org}/reactivate"): "operator only: tests/security/test_org_lifecycle.py",
    ("POST", "/api/v1/orgs/{org}/offboard"): "operator only: tests/security/test_org_lifecycle.py",
    ("POST", "/api/v1/keys/{key_id}/revoke"): "own org's keys only: tests/exchange/test_api.py",
    ("POST", "/api/v1/playbooks/{playbook_id}/exercise"): "opens a case of one's own",
    ("POST", "/playbooks/{playbook_id}/exercise"): "opens a case of one's own",
    (
        "POST",
        "/api/v1/subscriptions/dead-letters/{delivery_id}/retry",
    ): "own subscriptions only: tests/lifecycle",
    ("PATCH", "/api/v1/subscriptions/{subscription_id}"): "own subscriptions only: tests/lifecycle",
    ("DELETE", "/api/v1/subscriptions/{subscription_id}"): "own subscriptions only: tests/lifecycle",
    ("PATCH", "/api/v1/action-items/{action_id}"): "owner or convener: tests/meetings",
    ("DELETE", "/api/v1/federation/peers/{name}"): "operator configuration: tests/interop",
    ("POST", "/api/v1/federation/peers/{name}/pull"): "operator configuration, calls out: tests/interop",
    ("POST", "/api/v1/warninglists/{name}/values"): "operator only: tests/exchange",
    (
        "POST",
        "/taxii2/api1/collections/{collection_id}/objects/",
    ): "adds as the caller's own org: tests/taxii",
    ("POST", "/signals/{signal_id}/mark"): "the caller's own contribution only: tests/web/test_workbench.py",
    ("POST", "/signals/{signal_id}/withdraw"): "ExchangeStore.revoke_signal of the caller's own contribution",
    ("POST", "/detections/{run}/{campaign_id}/case"): "opens a case of one's own from one's own detection",
    ("POST", "/admin/keys/{key_id}/revoke"): "page form over ExchangeStore.revoke_key (as the API route)",
    ("POST", "/admin/subscriptions/{subscription_id}/cancel"): "page form over push.cancel_subscription",
    ("POST", "/admin/orgs/{org_id}/{verb}"): "operator only: page form over suspend/reactivate",
    (
        "POST",
        "/api/v1/signals/{signal_id}/quarantine/release",
    ): "admin of a contributing org or operator: tests/lifecycle/test_flood_quarantine.py",
    (
        "POST",
        "/signals/{signal_id}/quarantine/release",
    ): "page form over FloodService.release: tests/lifecycle/test_flood_quarantine.py",
}
TAXII = {"Accept": "application/taxii+json;version=2.1"}


def route_table(app: FastAPI) -> list[tuple[str, frozenset[str]]]:
    """Every (path, methods) the app serves, flattening included routers."""
    found: list[tuple[str, frozenset[str]]] = []
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            found += [(c.path, frozenset(c.methods or ())) for c in contexts()]
        elif getattr(route, "methods", None):
            found.append((route.path, frozenset(route.methods)))  # type: ignore[attr-defined]
    return found


@dataclass
class Planted:
    token: str
    owner: str
    tlp: TLP
    shared_with: tuple[str, ...]


@dataclass
class World:
    app: FastAPI
    base_url: str
    server: uvicorn.Server
    db: Database
    orgs: dict[str, str]  # label -> id
    kinds: dict[str, OrgKind]  # id -> kind
    keys: dict[tuple[str, str], str]  # (label, role) -> key
    planted: list[Planted] = field(default_factory=list)
    ids: dict[str, list[str]] = field(default_factory=dict)  # path parameter -> values
    owner_of: dict[str, str] = field(default_factory=dict)  # object id -> owning label

    def visible(self, viewer: str, item: Planted) -> bool:
        return can_see(
            self.orgs[viewer],
            self.kinds[self.orgs[viewer]],
            source_org_id=self.orgs[item.owner],
            source_kind=self.kinds[self.orgs[item.owner]],
            tlp=item.tlp,
            shared_with=[self.orgs[x] for x in item.shared_with],
        )


def _principal(store: ExchangeStore, key: str) -> Principal:
    return store.authenticate(key)


def build_world(url: str, tmp: Path) -> World:
    db = Database(url, auto_upgrade=True)
    orgs: dict[str, str] = {}
    keys: dict[tuple[str, str], str] = {}
    with db.session() as s:
        store = ExchangeStore(s)
        operator = store.create_org(None, "Operator", "research", operator=True)
        orgs["OP"] = operator.id
        keys[("OP", "admin")] = store.create_key(None, operator.id, "admin")[1]
        for label, kind in KINDS.items():
            orgs[label] = store.create_org(None, f"org {label}", kind).id
            for role in ROLES:
                keys[(label, role)] = store.create_key(None, orgs[label], role)[1]
        kinds = {o.id: o.kind for o in store.list_orgs(None)}
    server, _thread, base_url = start_server(url, tmp)
    app: FastAPI = server.config.app
    world = World(app=app, base_url=base_url, server=server, db=db, orgs=orgs, kinds=kinds, keys=keys)
    now = datetime.now(UTC)
    ids: dict[str, list[str]] = {"case_id": [], "campaign_id": [], "signal_id": [], "meeting_id": []}
    with httpx.Client(base_url=base_url, timeout=60) as client, db.session() as s:
        store = ExchangeStore(s)
        for owner, tlp, listed in itertools.product(OWNERS, TLP, AUDIENCES.values()):
            if listed and tlp in (TLP.CLEAR, TLP.GREEN):
                continue  # shared_with means nothing for CLEAR and GREEN (every member sees them)
            tok = f"tk{uuid.uuid4().hex[:14]}"
            shared = listed
            world.planted.append(Planted(tok, owner, tlp, shared))
            marking = Marking(tlp, tuple(orgs[x] for x in shared))
            who = _principal(store, keys[(owner, "analyst")])
            campaign = store.create_campaign(
                who, f"{tok} name", marking=marking, description=f"{tok} desc", attribution=f"{tok} attr"
            )
            signal = store.submit_signal(
                who,
                "domain",
                f"{tok}.com",
                marking=marking,
                description=f"{tok} sdesc",
                tags=[f"{tok}-tag"],
                campaign_id=campaign.id,
            )
            store.set_opinion(who, signal.id, "confirmed", f"{tok} opinion")
            store.add_sighting(
                who, signal.id, count=3, first_seen=now, last_seen=now, platform=f"{tok}-pl"[:90]
            )
            cases = CaseService(s, who)
            case = cases.create_case(
                f"{tok} title", marking=marking, summary=f"{tok} summary", attribution=f"{tok} cattr"
            )
            cases.add_comment(case.id, f"{tok} comment")
            cases.record_action(case.id, "removed", "accounts", 4, note=f"{tok} note", marking=marking)
            cases.link_signals(case.id, [signal.id])
            ids["case_id"].append(case.id)
            ids["campaign_id"].append(campaign.id)
            ids["signal_id"].append(signal.id)
            for oid in (case.id, campaign.id, signal.id):
                world.owner_of[oid] = owner
        s.commit()
        # one meeting per owner, everyone invited; the owner files an update per marking in turn
        # under separate meetings (one update per organisation per meeting)
        for item in world.planted:
            if item.tlp not in (TLP.GREEN, TLP.AMBER, TLP.RED):
                continue
            h = {"Authorization": f"Bearer {keys[(item.owner, 'analyst')]}"}
            invited = {orgs[x]: "member" for x in KINDS if x != item.owner}
            made = client.post(
                "/api/v1/meetings",
                headers=h,
                json={
                    "title": "weekly sync",
                    "starts_at": (now + timedelta(days=1)).isoformat(),
                    "invited": invited,
                },
            )
            assert made.status_code == 201, made.text
            body = made.json()
            meeting_id = (body[0] if isinstance(body, list) else body)["id"]
            filed = client.put(
                f"/api/v1/meetings/{meeting_id}/update",
                headers=h,
                json={
                    "asks": f"{item.token} asks",
                    "marking": {"tlp": item.tlp.value, "shared_with": [orgs[x] for x in item.shared_with]},
                },
            )
            assert filed.status_code == 200, filed.text
            ids["meeting_id"].append(meeting_id)
            world.owner_of[meeting_id] = item.owner
        op = {"Authorization": f"Bearer {keys[('OP', 'admin')]}", **TAXII}
        collections = client.get("/taxii2/api1/collections/", headers=op).json()["collections"]
        ids["collection_id"] = [c["id"] for c in collections]
        lists = client.get("/api/v1/warninglists", headers=op).json()
        ids["name"] = [lists[0]["name"]] if lists else ["none"]
    ids["org"] = [orgs[x] for x in KINDS]
    ids["playbook_id"] = ["false-voting-information"]
    ids["object_id"] = ["indicator--00000000-0000-4000-8000-000000000000"]
    ids["status_id"] = [str(uuid.uuid4())]
    ids["fmt"] = ["html"]
    ids["key_id"] = ["nokey"]
    world.ids = ids
    return world


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("matrix")
    w = build_world(_make_url(request.param, request, tmp), tmp)
    yield w
    w.server.should_exit = True
    w.db.dispose()


def _fill(path: str, ids: dict[str, list[str]]) -> list[str] | None:
    names = re.findall(r"{(\w+)}", path)
    if any(n not in ids for n in names):
        return None
    out = []
    for combo in itertools.product(*(ids[n] for n in names)):
        filled = path
        for n, v in zip(names, combo, strict=True):
            filled = filled.replace("{" + n + "}", v, 1)
        out.append(filled)
    return out


def _body_text(body: bytes) -> str:
    """An answer as text; a zip (the MISP feed exports) as the text of every file in it, so a
    token inside a compressed feed is found too."""
    if body[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            return "\n".join(archive.read(n).decode("utf-8", "replace") for n in archive.namelist())
    return body.decode("utf-8", "replace")


def _sign_in(client: httpx.Client, key: str) -> None:
    answer = client.post("/login", data={"api_key": key, "next": "/"}, follow_redirects=False)
    assert answer.status_code in (200, 303), answer.text


class _Reader:
    """One reader's keep-alive HTTP/1.1 connection to the live server, its session cookie on every
    request (as a browser, and as the httpx client this replaced, sends it).

    The matrix makes ~2,900 GETs a backend: httpx's per-request machinery (request model, cookie
    jar, pool) was ~10% of the test's CPU; the standard library's client costs a fraction of that.
    As httpx's pool does, an idle connection the server has closed (keep-alive timeout) is
    replaced before a request, never retried after one: a failed answer is the server's."""

    def __init__(self, base_url: str, cookie: str) -> None:
        parts = urlsplit(base_url)
        assert parts.hostname and parts.port
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.cookie = cookie

    def get(self, url: str, headers: dict[str, str]) -> tuple[int, bytes]:
        sock = self.connection.sock
        if sock is not None and select.select([sock], [], [], 0)[0]:
            self.connection.close()  # readable while idle: the server closed it; a new one
        try:
            # percent-encoded as httpx would (the ids are plain; a warning list's name may not be)
            self.connection.request(
                "GET", quote(url, safe="/?=&%:+,@;~!$'()*"), headers={"Cookie": self.cookie, **headers}
            )
            answer = self.connection.getresponse()
            return answer.status, answer.read()
        except (http.client.HTTPException, OSError):
            self.connection.close()
            raise

    def close(self) -> None:
        self.connection.close()


def test_no_route_shows_a_token_its_reader_may_not_see(world: World) -> None:
    routes = route_table(world.app)
    gets = sorted({p for p, m in routes if "GET" in m})
    unexercised = [p for p in gets if p not in EXEMPT and _fill(p, world.ids) is None]
    assert not unexercised, (
        f"GET routes neither exercised nor exempt (add ids or an EXEMPT reason): {unexercised}"
    )
    # every org kind (admins read the most: audit too) and the operator; other roles on the listings
    readers = [(label, "admin") for label in KINDS] + [
        ("P2", "read-only"),
        ("G1", "analyst"),
        ("OP", "admin"),
    ]
    leaks: list[str] = []
    errors: list[str] = []
    seen_own = pages_read = 0
    for label, role in readers:
        forbidden = [p.token for p in world.planted if not world.visible(label, p)]
        own = [p.token for p in world.planted if p.owner == label]
        with httpx.Client(base_url=world.base_url, timeout=60) as client:
            _sign_in(client, world.keys[(label, role)])
            cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
        reader = _Reader(world.base_url, cookie)
        auth = {"Authorization": f"Bearer {world.keys[(label, role)]}"}
        for path in gets:
            if path in EXEMPT:
                continue
            api = path.startswith(("/api/", "/taxii2"))
            if role != "admin" and "{" in path:
                continue  # roles change what one may do, not what one sees: listings suffice
            for url in _fill(path, world.ids) or []:
                headers = {**auth, **TAXII} if path.startswith("/taxii2") else auth if api else {}
                try:
                    status, body = reader.get(url, headers)
                except (http.client.HTTPException, OSError) as exc:  # the server broke the answer off
                    errors.append(f"{label}/{role} GET {url}: {exc!r}")
                    continue
                if status >= 500:
                    errors.append(f"{label}/{role} GET {url}: {status}")
                    continue
                pages_read += not api and status == 200
                text = _body_text(body).lower()
                leaks += [f"{label}/{role} GET {url}: {t}" for t in forbidden if t in text]
                seen_own += sum(t in text for t in own)
        reader.close()
    assert not leaks, f"{len(leaks)} leaks, first: {leaks[:20]}"  # first: a leak matters most
    assert not errors, errors[:20]
    assert seen_own > 0  # the owners do see their own tokens: the search is not vacuous
    assert pages_read > 100  # signed in: the pages answered, not the sign-in redirect


def test_writes_on_others_objects_are_refused(world: World) -> None:
    routes = route_table(world.app)
    writes = sorted(
        (m, p)
        for p, methods in routes
        for m in methods - {"GET", "HEAD", "OPTIONS"}
        if re.search(
            r"{(case_id|campaign_id|signal_id|meeting_id|org|key_id|name|subscription_id|"
            r"delivery_id|action_id|collection_id|playbook_id|item_id)}",
            p,
        )
    )
    unclassified = [
        w for w in writes if w not in OWNER_ONLY and w not in PARTICIPATION and w not in CHECKED_ELSEWHERE
    ]
    assert not unclassified, f"write routes on an object not classified: {unclassified}"
    refused: list[str] = []
    with httpx.Client(base_url=world.base_url, timeout=60) as client:
        for (method, path), body in OWNER_ONLY.items():
            param = re.findall(r"{(\w+)}", path)[0]
            for oid in world.ids[param]:
                owner = world.owner_of[oid]
                for attacker in (x for x in KINDS if x != owner):
                    for role in ("analyst", "admin") if "embargo" in path else ("analyst",):
                        h = {"Authorization": f"Bearer {world.keys[(attacker, role)]}"}
                        url = path.replace("{" + param + "}", oid)
                        answer = client.request(method, url, headers=h, json=body)
                        if answer.status_code not in (400, 403, 404, 409):
                            refused.append(f"{attacker}/{role} {method} {url}: {answer.status_code}")
        for (method, path), (param, make_body) in BULK_OWNER_ONLY.items():
            for oid in world.ids[param]:
                owner = world.owner_of[oid]
                for attacker in (x for x in KINDS if x != owner):
                    own = [i for i in world.ids[param] if world.owner_of[i] == attacker][:1]
                    h = {"Authorization": f"Bearer {world.keys[(attacker, 'analyst')]}"}
                    for ids in ([oid], [*own, oid]):
                        answer = client.request(method, path, headers=h, json=make_body(ids))
                        if answer.status_code not in (400, 403, 404, 409):
                            refused.append(f"{attacker} {method} {path} {ids}: {answer.status_code}")
        # nothing changed: the owners' objects are as planted
        for cid in world.ids["case_id"]:
            h = {"Authorization": f"Bearer {world.keys[(world.owner_of[cid], 'analyst')]}"}
            case = client.get(f"/api/v1/cases/{cid}", headers=h).json()
            assert case["status"] == "triage" and "hijacked" not in case["title"], case
        for sid in world.ids["signal_id"]:
            h = {"Authorization": f"Bearer {world.keys[(world.owner_of[sid], 'analyst')]}"}
            signal = client.get(f"/api/v1/signals/{sid}", headers=h).json()
            assert [c["revoked"] for c in signal["contributions"]] == [False]
    assert not refused, refused[:20]
