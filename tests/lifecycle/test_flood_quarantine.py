"""Coalition-wide flood quarantine (#18, vigil.exchange.flood) on a real exchange: members' notices
over REST, the K-member rule with two and three members, reviewer release and who may make it,
TLP (a member that cannot see the signal gets 404, no event and no note), signed webhooks to a real
local receiver, and the TAXII note read with taxii2-client."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from taxii2client.v21 import Collection, as_pages

from vigil.core.errors import ConfigError, Conflict, InputError, NotFound, PermissionDenied
from vigil.core.ids import stable_uuid
from vigil.core.settings import Settings, load_settings
from vigil.db import Database
from vigil.exchange import push
from vigil.exchange.access import Principal
from vigil.exchange.audit import AuditFilter
from vigil.exchange.flood import FloodService, note_id
from vigil.exchange.records import TLP, Marking, Role, SignalKind
from vigil.exchange.stix_export import VIGIL_IDENTITY_ID, contribution_object_id
from vigil.exchange.stix_markings import marking_id
from vigil.exchange.store import ExchangeStore

from .conftest import LOCAL_RECEIVERS, Receiver, push_settings, start_server

MEME = "f" * 64  # a PDQ hash: the popular meme that floods every matcher


@dataclass
class World:
    base_url: str
    db: Database
    settings: Settings
    orgs: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # "p2" analyst, "p2-admin" admin, ...
    principals: dict[str, Principal] = field(default_factory=dict)

    def api(self, who: str) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.base_url}/api/v1",
            headers={"Authorization": f"Bearer {self.keys[who]}"},
            timeout=30,
        )

    def notice(
        self, who: str, signal_id: str, action: str = "quarantined", posts: int = 400
    ) -> httpx.Response:
        with self.api(who) as api:
            return api.post(
                f"/signals/{signal_id}/quarantine-notices",
                json={"action": action, "posts": posts, "reason": f"{posts} posts in an hour"},
            )

    def state(self, who: str, signal_id: str) -> httpx.Response:
        with self.api(who) as api:
            return api.get(f"/signals/{signal_id}/quarantine")

    def release(self, who: str, signal_id: str, reason: str = "reviewed: a news photo") -> httpx.Response:
        with self.api(who) as api:
            return api.post(f"/signals/{signal_id}/quarantine/release", json={"reason": reason})

    def collection(self, who: str, alias: str) -> Collection:
        # taxii2-client checks that the URL holds the collection's id (not its alias)
        url = f"{self.base_url}/taxii2/api1/collections/{stable_uuid('taxii-collection', alias)}/"
        return Collection(url, user="taxii", password=self.keys[who])

    def notes(self, who: str, collection: str = "coalition") -> list[dict[str, Any]]:
        reader = self.collection(who, collection)
        found: list[dict[str, Any]] = []
        for envelope in as_pages(reader.get_objects, per_request=100, type="note"):
            found += envelope.get("objects", [])
        return found


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    url = f"sqlite:///{tmp_path / 'exchange.db'}"
    db = Database(url, auto_upgrade=True)
    w = World(base_url="", db=db, settings=push_settings(tmp_path, push_backoff_s=0.01, push_timeout_s=2))
    with db.session() as s:
        store = ExchangeStore(s)
        operator = store.create_org(None, "Operator", "research", operator=True)
        w.orgs["op"] = operator.id
        w.keys["op-admin"] = store.create_key(None, operator.id, "admin")[1]
        for name, kind in (
            ("source", "platform"),
            ("p2", "platform"),
            ("p3", "platform"),
            ("gov", "government"),
        ):
            org = store.create_org(None, f"Org {name}", kind)
            w.orgs[name] = org.id
            for role, label in (("analyst", name), ("admin", f"{name}-admin")):
                row, key = store.create_key(None, org.id, role)
                w.keys[label] = key
                w.principals[label] = Principal(row.id, org.id, org.kind, Role(role))
    server, thread, w.base_url = start_server(url, tmp_path, **LOCAL_RECEIVERS)
    try:
        yield w
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.dispose()


def _subscribe(w: World, who: str, receiver: Receiver) -> None:
    with w.db.session() as s:
        _sub, receiver.secret = push.create_subscription(
            ExchangeStore(s),
            w.principals[who],
            f"{who} flood hook",
            receiver.url,
            settings=w.settings,
            events=("quarantine",),
        )


def _deliver(w: World) -> None:
    report = push.run_once(w.db, w.settings)
    assert report[1].dead == 0
    time.sleep(0.05)


def _events(receiver: Receiver) -> list[dict[str, Any]]:
    assert all(r.verified for r in receiver.received)
    return [json.loads(r.body) for r in receiver.received]


def test_two_members_quarantine_a_green_meme_coalition_wide(world: World, tmp_path: Path) -> None:
    w = world
    to_source, to_gov = Receiver(), Receiver()
    try:
        _subscribe(w, "source", to_source)
        _subscribe(w, "gov", to_gov)
        with w.db.session() as s:
            meme = ExchangeStore(s).submit_signal(
                w.principals["source"], "image_pdq", MEME, marking=Marking(TLP.GREEN)
            )

        # One member reporting: stored, the source told, no coalition quarantine yet.
        answer = w.notice("p2", meme.id)
        assert answer.status_code == 202, answer.text
        body = answer.json()
        assert body["notified_orgs"] == [w.orgs["source"]] and body["transition"] is None
        assert body["coalition"]["state"] == "none" and body["coalition"]["reporters"] == 1
        assert w.notes("gov") == []

        # A second member: K = 2 reached, the signal is quarantined coalition-wide.
        body = w.notice("p3", meme.id).json()
        assert body["transition"] == "quarantined"
        assert body["coalition"]["state"] == "active" and body["coalition"]["reporters"] == 2

        # Any member that sees it reads the state; only contributors learn who reported.
        gov_view = w.state("gov", meme.id).json()
        assert gov_view["state"] == "active" and gov_view["reporters"] == 2 and gov_view["threshold"] == 2
        assert gov_view["reporter_orgs"] is None and gov_view["may_release"] is False
        source_view = w.state("source-admin", meme.id).json()
        assert source_view["reporter_orgs"] == sorted([w.orgs["p2"], w.orgs["p3"]])
        assert source_view["may_release"] is True
        assert w.state("p2", meme.id).json()["mine"]["action"] == "quarantined"
        with w.api("gov") as api:
            listed = api.get("/quarantines").json()
        assert [(i["id"], i["coalition"]["state"]) for i in listed["items"]] == [(meme.id, "active")]

        # Webhooks, signed: the source gets both notices and the transition, gov only the transition.
        _deliver(w)
        got = _events(to_source)
        assert [e["type"] for e in got].count("signal.quarantine_notice") == 2
        notice = next(e for e in got if e["type"] == "signal.quarantine_notice")
        assert notice["signal"]["id"] == meme.id and notice["notice"]["org_id"] in (
            w.orgs["p2"],
            w.orgs["p3"],
        )
        assert notice["notice"]["posts"] == 400
        [gov_event] = _events(to_gov)
        assert gov_event["type"] == "signal.coalition_quarantined"
        assert gov_event["coalition"] == {**gov_event["coalition"], "state": "active", "reporters": 2}
        indicator = contribution_object_id(SignalKind.IMAGE_PDQ, MEME, w.orgs["source"])
        assert gov_event["object_refs"] == [indicator]
        assert to_gov.received[0].headers["x-vigil-event"] == "signal.coalition_quarantined"

        # TAXII: one note for the GREEN contribution, by Vigil's identity, on its indicator.
        [note] = w.notes("gov")
        assert note["id"] == note_id(meme.id, w.orgs["source"])
        assert note["created_by_ref"] == VIGIL_IDENTITY_ID and note["object_refs"] == [indicator]
        assert note["x_vigil_quarantine"] == "active" and note["x_vigil_signal_id"] == meme.id
        assert note["x_vigil_reporters"] == 2
        import stix2
        from stix2validator import ValidationOptions, validate_string

        assert stix2.parse(note, allow_custom=True).type == "note"
        checked = validate_string(json.dumps(note), ValidationOptions(version="2.1"))
        assert checked.is_valid and not checked.warnings, [
            str(e) for e in (*checked.errors, *checked.warnings)
        ]

        # Who may release: not an analyst of the source, not an admin of a member that did not
        # contribute it (403); an admin of the source may.
        assert w.release("source", meme.id).status_code == 403
        assert w.release("p2-admin", meme.id).status_code == 403
        assert w.release("gov-admin", meme.id).status_code == 403
        released = w.release("source-admin", meme.id)
        assert released.status_code == 200, released.text
        assert (
            released.json()["state"] == "released" and released.json()["released_by_org"] == w.orgs["source"]
        )
        assert w.release("source-admin", meme.id).status_code == 409  # nothing left to release
        [note_v2] = w.notes("gov")
        assert note_v2["id"] == note["id"] and note_v2["modified"] > note["modified"]
        assert note_v2["x_vigil_quarantine"] == "released" and note_v2["created"] == note["created"]
        reader = w.collection("gov", "coalition")
        assert len(reader.object_versions(note["id"])["versions"]) == 2

        # After a review, only later reports count: one fresh report is not enough, two are.
        assert w.notice("p2", meme.id).json()["coalition"]["reporters"] == 1
        assert w.notice("p3", meme.id).json()["transition"] == "quarantined"
        # ... and reports falling below K lift it again, without a reviewer.
        lifted = w.notice("p3", meme.id, "released", posts=0).json()
        assert lifted["transition"] == "released" and lifted["coalition"]["state"] == "released"
        _deliver(w)
        transitions = [e["type"] for e in _events(to_gov)]
        assert transitions == [
            "signal.coalition_quarantined",
            "signal.coalition_released",
            "signal.coalition_quarantined",
            "signal.coalition_released",
        ]

        # Every transition is audited for the source.
        with w.db.session() as s:
            store = ExchangeStore(s)
            entries = store.query_audit(
                w.principals["source-admin"], AuditFilter(action="signal.coalition_quarantined", limit=10)
            )
            released_entries = store.query_audit(
                w.principals["source-admin"], AuditFilter(action="signal.coalition_released", limit=10)
            )
        assert len(entries) == 2 and len(released_entries) == 2
        assert {e.detail["cause"] for e in released_entries} == {"reviewer", "reports"}
        # The history: every notice kept, the source reads everyone's.
        with w.db.session() as s:
            history = FloodService(s, w.principals["source"]).history(meme.id)
            own_only = FloodService(s, w.principals["p2"]).history(meme.id)
        assert [n.action for n in history] == ["quarantined"] * 4 + ["released"]
        assert {n.org_id for n in own_only} == {w.orgs["p2"]}
    finally:
        to_source.close()
        to_gov.close()


def test_tlp_a_member_that_cannot_see_the_signal_learns_nothing(world: World) -> None:
    w = world
    to_gov = Receiver()
    try:
        _subscribe(w, "gov", to_gov)
        with w.db.session() as s:
            # AMBER from a platform, naming nobody: platforms see it, the government partner does not.
            amber = ExchangeStore(s).submit_signal(
                w.principals["source"], "image_pdq", "a" * 64, marking=Marking(TLP.AMBER)
            )
        assert w.notice("gov", amber.id).status_code == 404
        assert w.notice("p2", amber.id).status_code == 202
        assert w.notice("p3", amber.id).json()["transition"] == "quarantined"
        assert w.state("p2", amber.id).json()["state"] == "active"
        # The government partner: 404 everywhere, not listed, no note, no webhook.
        assert w.state("gov", amber.id).status_code == 404
        assert w.release("gov-admin", amber.id).status_code == 404
        with w.api("gov") as api:
            assert api.get("/quarantines").json()["items"] == []
        assert w.notes("gov") == [] and w.notes("gov", "direct") == []
        _deliver(w)
        assert to_gov.received == []
        # A platform reads the note in the platforms' AMBER collection, marked AMBER.
        [note] = w.notes("p2", "platforms")
        assert note["x_vigil_signal_id"] == amber.id and note["x_vigil_quarantine"] == "active"
        assert note["object_marking_refs"] == [marking_id(TLP.AMBER)]
        # The operator's admin may release, but only what it can see (a research org: not this).
        assert w.release("op-admin", amber.id).status_code == 404
        # Narrowing the contribution withdraws the note from those who no longer see it.
        with w.db.session() as s:
            ExchangeStore(s).submit_signal(
                w.principals["source"], "image_pdq", "a" * 64, marking=Marking(TLP.RED, (w.orgs["p3"],))
            )
        assert w.notes("p2", "platforms") == [] and w.notes("p2", "direct") == []
        # p3 still sees the contribution (now RED, naming it) and the note (AMBER, as published)
        assert [n["x_vigil_signal_id"] for n in w.notes("p3", "platforms")] == [amber.id]
    finally:
        to_gov.close()


def test_bad_input_is_refused_and_stores_nothing(world: World) -> None:
    w = world
    with w.db.session() as s:
        meme = ExchangeStore(s).submit_signal(
            w.principals["source"], "image_pdq", MEME, marking=Marking(TLP.GREEN)
        )
    with w.api("p2") as api:
        bad = api.post(f"/signals/{meme.id}/quarantine-notices", json={"action": "deleted"})
        assert bad.status_code == 400 and "action" in bad.text
        assert api.get("/quarantines?limit=0").status_code == 400
    assert w.release("source-admin", meme.id).status_code == 409
    untouched = w.state("p2", meme.id).json()
    assert untouched["state"] == "none" and untouched["reporters"] == 0 and untouched["mine"] is None
    with pytest.raises(ConfigError, match="flood_coalition_min_reporters"):
        load_settings(flood_coalition_min_reporters=0)
    with w.db.session() as s, pytest.raises(InputError, match="threshold"):
        FloodService(s, w.principals["p2"], min_reporters=0)


def test_three_members_and_the_threshold_on_both_backends(db: Database) -> None:
    """K = 3 through the service on SQLite and PostgreSQL: two reports are not enough, the third
    quarantines; each transition writes one note version per contribution."""
    with db.session() as s:
        store = ExchangeStore(s)
        principals: dict[str, Principal] = {}
        for name in ("src", "a", "b", "c", "outsider"):
            org = store.create_org(None, f"Org {name}", "platform" if name != "outsider" else "research")
            row, _key = store.create_key(None, org.id, "admin")
            principals[name] = Principal(row.id, org.id, org.kind, Role.ADMIN)
        signal = store.submit_signal(
            principals["src"], "domain", "viral-news.info", marking=Marking(TLP.AMBER)
        )
        store.submit_signal(principals["a"], "domain", "viral-news.info", marking=Marking(TLP.GREEN))
    results = []
    for name in ("a", "b", "c"):
        with db.session() as s:
            results.append(
                FloodService(s, principals[name], min_reporters=3).notice(signal.id, "quarantined", posts=50)
            )
    assert [r.transition for r in results] == [None, None, "quarantined"]
    assert [r.state.reporters for r in results] == [1, 2, 3]
    with db.session() as s:
        # a research org sees the signal through a's GREEN contribution (not src's AMBER one): it
        # reads the state, but may not release it (it contributed nothing)
        outsider = FloodService(s, principals["outsider"], min_reporters=3)
        assert outsider.state(signal.id).state == "active"
        with pytest.raises(PermissionDenied):
            outsider.release(signal.id)
        with pytest.raises(NotFound):
            outsider.state("indicator--00000000-0000-4000-8000-000000000000")
    with db.session() as s:
        state = FloodService(s, principals["a"], min_reporters=3).release(signal.id, "reviewed")
        assert state.state == "released" and state.released_by_org == principals["a"].org_id
    with db.session() as s, pytest.raises(Conflict):
        FloodService(s, principals["src"], min_reporters=3).release(signal.id)
    from sqlalchemy import func, select

    from vigil.exchange.taxii_models import TaxiiObjectRow

    with db.session() as s:
        per_note = dict(
            s.execute(
                select(TaxiiObjectRow.stix_id, func.count())
                .where(TaxiiObjectRow.stix_type == "note")
                .group_by(TaxiiObjectRow.stix_id)
            ).all()
        )
    assert per_note == {
        note_id(signal.id, principals["src"].org_id): 2,
        note_id(signal.id, principals["a"].org_id): 2,
    }


@contextmanager
def _signed_in(w: World, who: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=w.base_url, timeout=60, follow_redirects=False) as client:
        assert client.post("/login", data={"api_key": w.keys[who]}).status_code == 303
        yield client


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page's forms carry a CSRF token"
    return found.group(1)


def test_signal_page_panel_and_release_form(world: World) -> None:
    w = world
    with w.db.session() as s:
        meme = ExchangeStore(s).submit_signal(
            w.principals["source"], "image_pdq", MEME, marking=Marking(TLP.GREEN)
        )
    w.notice("p2", meme.id)
    w.notice("p3", meme.id)
    with (
        _signed_in(w, "gov-admin") as gov,
        _signed_in(w, "source-admin") as source,
        _signed_in(w, "p2") as p2,
    ):
        page = gov.get(f"/signals/{meme.id}").text
        panel = page.split('data-testid="flood-quarantine"')[1].split("</section>")[0]
        assert "quarantined coalition-wide" in panel
        assert re.search(r"<strong>2</strong> members report this signal flooding", panel)
        assert "flood-release-form" not in panel  # an admin, but not of a contributing org
        assert w.orgs["p2"] not in page and "Org p2" not in panel  # counts only
        mine = p2.get(f"/signals/{meme.id}").text
        assert "Your organisation&#39;s matcher quarantined it" in mine or "matcher quarantined it" in mine
        refused = p2.post(f"/signals/{meme.id}/quarantine/release", data={"csrf": _csrf(mine)})
        assert refused.status_code == 403
        page = source.get(f"/signals/{meme.id}").text
        assert 'data-testid="flood-release-form"' in page
        # without the CSRF token the form is refused and nothing changes
        assert source.post(f"/signals/{meme.id}/quarantine/release", data={"reason": "x"}).status_code == 403
        assert w.state("gov", meme.id).json()["state"] == "active"
        done = source.post(
            f"/signals/{meme.id}/quarantine/release", data={"reason": "a news photo", "csrf": _csrf(page)}
        )
        assert done.status_code == 303, done.text[:300]
        page = gov.get(f"/signals/{meme.id}").text
        panel = page.split('data-testid="flood-quarantine"')[1].split("</section>")[0]
        assert "released" in panel and "a news photo" in panel
    assert w.state("gov", meme.id).json()["state"] == "released"


def test_the_list_of_quarantined_signals_pages_within_tlp(db: Database) -> None:
    """K = 1: every reported signal is quarantined; the list pages by id and skips what the reader
    may not see (a RED signal in the middle of the pages)."""
    with db.session() as s:
        store = ExchangeStore(s)
        principals: dict[str, Principal] = {}
        for name, kind in (("src", "platform"), ("reader", "government")):
            org = store.create_org(None, f"Org {name}", kind)
            row, _key = store.create_key(None, org.id, "analyst")
            principals[name] = Principal(row.id, org.id, org.kind, Role.ANALYST)
        ids = []
        for n in range(7):
            tlp = TLP.RED if n % 3 == 1 else TLP.GREEN
            ids.append(
                store.submit_signal(principals["src"], "hashtag", f"viral{n}", marking=Marking(tlp)).id
            )
    for signal_id in ids:
        with db.session() as s:
            assert (
                FloodService(s, principals["src"], min_reporters=1)
                .notice(signal_id, "quarantined")
                .transition
            )
    visible = sorted(i for n, i in enumerate(ids) if n % 3 != 1)
    for limit in (1, 2, 50):
        seen: list[str] = []
        cursor: str | None = None
        while True:
            with db.session() as s:
                page = FloodService(s, principals["reader"], min_reporters=1).list_active(
                    limit=limit, cursor=cursor
                )
            assert len(page.items) <= limit
            seen += [signal.id for signal, state in page.items if state.active]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == visible, limit
    with db.session() as s, pytest.raises(InputError, match="limit"):
        FloodService(s, principals["reader"]).list_active(limit=0)
