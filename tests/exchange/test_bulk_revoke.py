"""``revoke_signals`` (bulk) against ``revoke_signal`` (one at a time) on both backends: the same
rows and audit log from the same starting database; all or nothing, naming the first bad id; the
REST route, and a member cannot revoke another organisation's contribution in bulk."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from vigil.core.errors import Conflict, InputError, NotFound
from vigil.db import Database
from vigil.exchange.access import Principal
from vigil.exchange.records import TLP, Marking, OrgKind, Role
from vigil.exchange.store import ExchangeStore

from .conftest import LiveServer, live  # noqa: F401  (the module-scoped server, found by name)
from .test_api import World, _ok
from .test_bulk import T1, Setup, _batch, _state, twins  # noqa: F401  (twins: a fixture)

T2 = T1 + timedelta(hours=1)


def _prepare(db: Database, setup: Setup) -> list[str]:
    """The batch of test_bulk stored (shares, tags, languages, a campaign, dates, a value p2 also
    holds); returns p1's signal ids in the batch, in the order of first appearance."""
    with db.session() as s:
        report = ExchangeStore(s, now=T1).submit_signals(setup.p1, _batch(setup))
    return list(dict.fromkeys(i.signal_id for i in report.items if i.signal_id))


def test_bulk_and_single_revoke_store_the_same_rows_and_audit_log(
    twins: tuple[Database, Database, Setup],  # noqa: F811
) -> None:
    single, bulk, setup = twins
    ids = _prepare(single, setup)
    assert _prepare(bulk, setup) == ids
    assert _state(single) == _state(bulk)
    chosen = list(reversed(ids[1:]))  # not in id order, and one left unrevoked
    with single.session() as s:
        store = ExchangeStore(s, now=T2)
        for sid in chosen:
            store.revoke_signal(setup.p1, sid)
    with bulk.session() as s:
        revoked = ExchangeStore(s, now=T2).revoke_signals(setup.p1, chosen)
    assert [r.signal_id for r in revoked] == chosen
    assert all(r.revoked_at >= T2 for r in revoked)
    expected, got = _state(single), _state(bulk)
    for table in expected:
        assert got[table] == expected[table], table
    assert [a[3] for a in got["audit"]].count("signal.revoke") == len(chosen) + 1  # + the setup's
    with bulk.session() as s:
        store = ExchangeStore(s)
        views = {sid: store.get_signal(setup.p1, sid) for sid in ids}
    mine = {sid: next(c for c in v.contributions if c.org_id == setup.p1.org_id) for sid, v in views.items()}
    assert [mine[sid].revoked for sid in ids] == [False] + [True] * len(chosen)
    assert {r.signal_id: r.version for r in revoked} == {sid: mine[sid].version for sid in chosen}
    # a revocation keeps the contribution's language (the single path used to drop it)
    assert mine[ids[2]].language == "en"


def test_one_bad_id_revokes_nothing_and_is_named(twins: tuple[Database, Database, Setup]) -> None:  # noqa: F811
    _, db, setup = twins
    ids = _prepare(db, setup)
    with db.session() as s:  # a signal only p2 holds
        p2 = Principal("k2", setup.p2_id, OrgKind.PLATFORM, Role.ANALYST)
        theirs = ExchangeStore(s, now=T1).submit_signal(
            p2, "domain", "p2-only.info", marking=Marking(TLP.GREEN)
        )
        gone = ExchangeStore(s).find_signal(setup.p1, "url", "https://gone-news.org/a").id
    with db.session() as s:  # the batch un-revoked it: revoke it again to have a revoked one
        ExchangeStore(s, now=T2).revoke_signal(setup.p1, gone)
    before = _state(db)
    cases: list[tuple[list[str], type[Exception], str]] = [
        ([ids[0], theirs.id, ids[1]], NotFound, f"no contribution to signal '{theirs.id}' (item 1 of 3)"),
        ([ids[0], "indicator--nope"], NotFound, "signal 'indicator--nope' (item 1 of 2)"),
        ([ids[0], ids[1], gone], Conflict, f"'{gone}' is already revoked (item 2 of 3)"),
        ([ids[0], ids[1], ids[0]], InputError, f"'{ids[0]}' is listed twice (item 2 of 3)"),
        ([], InputError, "no signal ids"),
    ]
    for request, error, text in cases:
        with db.session() as s, pytest.raises(error) as caught:
            ExchangeStore(s, now=T2).revoke_signals(setup.p1, request)
        assert text in str(caught.value), caught.value
        assert "nothing revoked" in str(caught.value) or not request
        assert _state(db) == before, request


@pytest.fixture
def api(live: LiveServer) -> Iterator[World]:  # noqa: F811  (live is the fixture parameter)
    w = World(live)
    yield w
    w.close()


def test_bulk_revoke_route_over_http(api: World) -> None:
    world = api
    world.org("rev-a", "platform", roles=("analyst", "read-only"))
    world.org("rev-b", "platform")
    values = [f"revoke-{uuid.uuid4().hex[:8]}.info" for _ in range(4)]
    signals: list[dict[str, Any]] = [
        {"kind": "domain", "value": v, "marking": {"tlp": "GREEN"}} for v in values
    ]
    with world.client("rev-a") as a, world.client("rev-b") as b:
        ids = [
            i["signal_id"] for i in _ok(a.post("/api/v1/signals/bulk", json={"signals": signals}))["items"]
        ]
        b_ids = [
            i["signal_id"]
            for i in _ok(b.post("/api/v1/signals/bulk", json={"signals": signals[:1]}))["items"]
        ]
        assert b_ids == ids[:1]  # the same signal, each organisation its own contribution
        # another member cannot revoke a's contributions in bulk, alone or mixed with its own
        for request in (ids[1:3], [ids[0], ids[1]]):
            refused = b.post("/api/v1/signals/revoke", json={"ids": request})
            assert refused.status_code == 404, refused.text
            assert refused.json()["details"]["signal"] == ids[1]
        with world.client("rev-a", "read-only") as ro:
            assert ro.post("/api/v1/signals/revoke", json={"ids": ids[:2]}).status_code == 403
        for sid in ids:  # nothing changed: every contribution is unrevoked at version 1
            view = _ok(a.get(f"/api/v1/signals/{sid}"))
            assert [(c["revoked"], c["version"]) for c in view["contributions"]] == [(False, 1)] * len(
                view["contributions"]
            )
        done = _ok(a.post("/api/v1/signals/revoke", json={"ids": ids[:3]}))
        assert done["revoked"] == 3
        assert [(i["signal_id"], i["version"]) for i in done["items"]] == [(sid, 2) for sid in ids[:3]]
        again = a.post("/api/v1/signals/revoke", json={"ids": [ids[3], ids[2]]})
        assert again.status_code == 409 and ids[2] in again.json()["message"], again.text
        assert _ok(a.get(f"/api/v1/signals/{ids[3]}"))["revoked"] is False  # all or nothing
        shared = _ok(b.get(f"/api/v1/signals/{ids[0]}"))  # b's own contribution stays
        mine = [c for c in shared["contributions"] if c["org_id"] == world.orgs["rev-b"]["id"]]
        assert [c["revoked"] for c in mine] == [False]
        bodies: list[dict[str, Any]] = [{"ids": []}, {"ids": [""]}, {"ids": "x"}, {"ids": [ids[3]] * 2}]
        for body in bodies:
            assert a.post("/api/v1/signals/revoke", json=body).status_code in (400, 422), body
