"""Federation between two real Vigil instances on 127.0.0.1 (two uvicorn servers, two databases):
first pull, updates, revocations (one member's and every member's), checkpoints, TLP withheld;
and a peer that is not Vigil (medallion) sending an unknown STIX type and a warning-listed value."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from vigil.core.settings import Settings, load_settings
from vigil.db import Database
from vigil.exchange import audit, federation, warninglists
from vigil.exchange.access import Principal
from vigil.exchange.records import TLP, Marking, Role
from vigil.exchange.store import ExchangeStore
from vigil.match.fetch import fetch_signals

from .conftest import BACKENDS, _make_url, medallion, seed, start_server

TAXII = "application/taxii+json;version=2.1"


@dataclass
class Instance:
    db: Database
    url: str


def _instance(backend: str, request: pytest.FixtureRequest, tmp: Path) -> Iterator[Instance]:
    url = _make_url(backend, request, tmp)
    db = Database(url, auto_upgrade=True)
    server, thread, base = start_server(url, tmp)
    try:
        yield Instance(db, base)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.dispose()


@pytest.fixture
def peer_a(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Instance]:
    (tmp_path / "a").mkdir()
    yield from _instance("sqlite", request, tmp_path / "a")


@pytest.fixture(params=BACKENDS)
def local_b(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Instance]:
    (tmp_path / "b").mkdir()
    yield from _instance(request.param, request, tmp_path / "b")


def _b_view(b: Instance, value: str) -> dict[str, object]:
    with b.db.session() as s:
        store = ExchangeStore(s)
        names = {o.name: o for o in store.list_orgs(None)}
        reader = names.get("B reader") or store.create_org(None, "B reader", "research")
        viewer = Principal("k", reader.id, reader.kind, Role.READ_ONLY)
        signal = store.find_signal(viewer, "domain" if "." in value else "hashtag", value)
        (c,) = signal.contributions
        return {"revoked": signal.revoked, "confidence": c.confidence, "org": c.org_id, "version": c.version}


def test_two_instances_pull_update_revoke_checkpoint(
    peer_a: Instance, local_b: Instance, tmp_path: Path
) -> None:
    with peer_a.db.session() as s:
        store = ExchangeStore(s)
        a = seed(store)  # p1, p2 (platforms), gov (government partner: the key B pulls with)
        _, gov_reader = store.create_key(None, a.orgs["gov"], "read-only", name="federation")
        p1, p2 = a.principals["p1"], a.principals["p2"]
        store.submit_signal(p1, "domain", "one.info", marking=Marking(TLP.GREEN))
        store.submit_signal(p2, "domain", "one.info", marking=Marking(TLP.GREEN), confidence=70)
        store.submit_signal(p1, "domain", "two.info", marking=Marking(TLP.GREEN), confidence=40)
        store.submit_signal(p1, "hashtag", "stolenvote", marking=Marking(TLP.CLEAR))
        store.submit_signal(p1, "domain", "red.info", marking=Marking(TLP.RED, (a.orgs["gov"],)))
        store.submit_signal(p1, "domain", "amber.info", marking=Marking(TLP.AMBER))  # gov cannot see it
    mine = load_settings(data_dir=tmp_path)  # B's key seals the API key it pulls A with
    with local_b.db.session() as s:
        store = ExchangeStore(s)
        intl = store.create_org(None, "International coalition", "research")
        federation.add_peer(
            store, None, "intl", peer_a.url, gov_reader, as_org="International coalition", settings=mine
        )

    first = federation.pull(local_b.db, "intl", settings=mine)
    assert first.by_type["indicator"] == 5  # one.info twice, two.info, stolenvote, red.info
    assert (first.new, first.updated, first.revoked, first.withheld) == (3, 0, 0, 1)
    assert first.rejected == [] and first.blocked == []
    assert _b_view(local_b, "two.info")["org"] == intl.id
    with local_b.db.session() as s:
        store = ExchangeStore(s)
        viewer = Principal("k", intl.id, intl.kind, Role.READ_ONLY)
        assert store.count_signals(viewer) == 3  # red.info withheld (above max_tlp GREEN)
        member = store.create_org(None, "B platform", "platform")
        _, key = store.create_key(None, member.id, "read-only", name="k")
    # A platform on B matches its posts against B's signals, pulled from A.
    index = tmp_path / "index"
    assert fetch_signals(index, local_b.url, key).signals_indexed == 3

    with peer_a.db.session() as s:
        store = ExchangeStore(s)
        store.submit_signal(p1, "domain", "two.info", marking=Marking(TLP.GREEN), confidence=90)
        store.revoke_signal(p1, store.find_signal(p1, "hashtag", "stolenvote").id)
        store.revoke_signal(p1, store.find_signal(p1, "domain", "one.info").id)  # p2's stays

    second = federation.pull(local_b.db, "intl", settings=mine)
    assert second.by_type["indicator"] == 3  # only what changed crossed the wire
    # one.info: p2's indicator was already the one shown, so no new version on B
    assert second.revoked == 1 and second.updated == 1 and second.new == 0
    assert _b_view(local_b, "two.info")["confidence"] == 90
    assert _b_view(local_b, "stolenvote")["revoked"] is True
    one = _b_view(local_b, "one.info")
    assert one["revoked"] is False and one["confidence"] == 70

    # B's own TAXII server now serves the revocation to B's members, and their match index drops it.
    refetch = fetch_signals(index, local_b.url, key)
    assert refetch.index_removed_revoked == 1 and refetch.signals_indexed == 2
    with httpx.Client(auth=("taxii", key), headers={"Accept": TAXII}, timeout=30) as http:
        body = http.get(f"{local_b.url}/taxii2/api1/collections/coalition/objects/").json()
    revoked = [o for o in body["objects"] if o.get("x_vigil_value") == "stolenvote"]
    assert revoked and revoked[0]["revoked"] is True

    third = federation.pull(local_b.db, "intl", settings=mine)
    assert third.by_type["indicator"] == 0 and (third.new, third.updated, third.revoked) == (0, 0, 0)

    # A tightens two.info to AMBER: the government key B pulls with no longer sees it, so an
    # incremental pull cannot notice; a full pull withdraws it.
    with peer_a.db.session() as s:
        ExchangeStore(s).submit_signal(p1, "domain", "two.info", marking=Marking(TLP.AMBER))
    assert federation.pull(local_b.db, "intl", settings=mine).revoked == 0
    full = federation.pull(local_b.db, "intl", full=True, settings=mine)
    assert full.revoked == 1 and _b_view(local_b, "two.info")["revoked"] is True
    with local_b.db.session() as s:
        pulls = audit.query(s, audit.AuditFilter(action="federation.pull"))
        assert [e.detail["revoked"] for e in pulls] == [1, 0, 0, 1, 0]  # newest first
        peers = federation.list_peers(s, None)
        assert peers[0].last_pull_at is not None and "api_key" not in json.dumps(peers[0].to_dict())


def test_unreachable_peer_is_reported_and_changes_nothing(local_b: Instance, tmp_path: Path) -> None:
    mine = load_settings(data_dir=tmp_path)
    with local_b.db.session() as s:
        store = ExchangeStore(s)
        store.create_org(None, "Intl", "research")
        federation.add_peer(store, None, "down", "http://127.0.0.1:9", "key", as_org="Intl", settings=mine)
    from vigil.core.errors import ExternalServiceError

    with pytest.raises(ExternalServiceError, match="unreachable"):
        federation.pull(local_b.db, "down", settings=mine)
    with local_b.db.session() as s:
        (peer,) = federation.list_peers(s, None)
        assert peer.last_error and "unreachable" in peer.last_error
        assert s.query(federation.FederationCheckpointRow).count() == 0


GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"


def _indicator(n: int, pattern: str) -> dict[str, object]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--00000000-0000-4000-8000-00000000000{n}",
        "created": "2026-03-01T12:00:00.000Z",
        "modified": "2026-03-01T12:00:00.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-03-01T12:00:00Z",
        "object_marking_refs": [GREEN],
    }


MEDALLION_OBJECTS = [
    _indicator(1, "[domain-name:value = 'fake-poll.info']"),
    _indicator(2, "[domain-name:value = 'bit.ly']"),  # a URL shortener: warning list
    {
        "type": "x-acme-widget",
        "spec_version": "2.1",
        "id": "x-acme-widget--00000000-0000-4000-8000-000000000009",
        "created": "2026-03-01T12:00:00.000Z",
        "modified": "2026-03-01T12:00:00.000Z",
        "name": "something Vigil has never heard of",
    },
]


def test_peer_that_is_not_vigil_unknown_type_and_warning_list(tmp_path: Path, db: Database) -> None:
    mine: Settings = load_settings(data_dir=tmp_path)
    with medallion(tmp_path, MEDALLION_OBJECTS) as base:
        with db.session() as s:
            store = ExchangeStore(s)
            org = store.create_org(None, "Partners via medallion", "research")
            federation.add_peer(
                store, None, "medallion", base, "medallion-password", as_org=org.id, settings=mine
            )
        report = federation.pull(db, "medallion", settings=mine)
        assert report.new == 1
        assert len(report.rejected) == 1 and "x-acme-widget" in report.rejected[0]
        assert len(report.blocked) == 1 and "url-shorteners" in report.blocked[0]
        with db.session() as s:
            rejects = audit.query(s, audit.AuditFilter(action="federation.reject"))
            assert rejects[0].detail["type"] == "x-acme-widget"
            # An analyst overrides the warning list with a reason; a full pull then applies it.
            store = ExchangeStore(s)
            viewer = Principal("k", org.id, org.kind, Role.ANALYST)
            warninglists.add_override(s, viewer, "domain", "bit.ly", "campaign-specific", at=store.now())
        again = federation.pull(db, "medallion", full=True, settings=mine)
        assert again.blocked == [] and again.new == 1
