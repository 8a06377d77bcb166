"""The TAXII fast lane (``vigil.web.taxii_fast``) answers exactly what the FastAPI routes answer.

A second uvicorn server runs on the live server's database; every request is sent twice, with the
lane on and off (``app.state.taxii_fast_lane``), and the two answers must be the same bytes: status,
headers (but the date) and body. Errors go on to the routes, so they are TAXII error messages.
Authorization is decided per request: a key revoked and a marking tightened take effect at once on
the lane's paths. The lane's reads run on the read lane (kept read-only driver connections, one
statement a read): that they do, that its connections refuse writes, that a broken one is dropped
while the read is still answered, and that disposing the engine closes them. Both backends (the
``live`` fixture).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select, text

from tests.exchange.conftest import LiveServer, start_server
from tests.taxii.conftest import World
from vigil.db import Database
from vigil.exchange.models import OrgRow
from vigil.exchange.records import TLP, Marking, SignalKind
from vigil.exchange.stix_export import contribution_object_id
from vigil.exchange.taxii import TAXII_MEDIA_TYPE, find_collection
from vigil.exchange.taxii_index import read_lane
from vigil.exchange.taxii_store import TaxiiService
from vigil.web import taxii_fast
from vigil.web.routes.taxii import KeyCache

ROOT = "/taxii2/api1/collections/"


@pytest.fixture(scope="module")
def second(live: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """(base URL, application) of another server on the same database."""
    tmp: Path = tmp_path_factory.mktemp("fast-lane")
    server, thread, base_url = start_server(live.db.url, tmp)
    try:
        yield base_url, server.config.app
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The requests the lane answered itself (``None`` from ``_answer`` means: the route answers)."""
    answered: list[str] = []
    plain = taxii_fast._answer

    def counting(*args: Any) -> Any:
        response = plain(*args)
        if response is not None:
            answered.append(str(args[4:7]))
        return response

    monkeypatch.setattr(taxii_fast, "_answer", counting)
    return answered


def fetch(base: str, app: Any, lane: bool, path: str, key: str | None, **kw: Any) -> httpx.Response:
    app.state.taxii_fast_lane = lane
    headers = {"Accept": TAXII_MEDIA_TYPE, **kw.pop("headers", {})}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    try:
        return httpx.get(base + path, headers=headers, timeout=30, **kw)
    finally:
        app.state.taxii_fast_lane = True


def same(base: str, app: Any, path: str, key: str | None, **kw: Any) -> httpx.Response:
    """The answer, after checking that both paths give the same bytes."""
    routes = fetch(base, app, False, path, key, **dict(kw))
    lane = fetch(base, app, True, path, key, **dict(kw))

    def shape(r: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
        return r.status_code, [(k, v) for k, v in r.headers.multi_items() if k != "date"], r.content

    assert shape(lane) == shape(routes), path
    return lane


def collection_id(world: World, who: str, alias: str) -> str:
    spec = find_collection(world.principals[who], alias)
    assert spec is not None
    return spec.id


def test_pages_objects_and_manifests_are_the_routes_bytes(
    world: World, second: tuple[str, Any], served: list[str]
) -> None:
    base, app = second
    for who, where in [("p1", "coalition"), ("p2", "platforms"), ("gov", "direct")]:
        key = world.keys[who]
        if who == "p1":
            where = collection_id(world, who, where)  # by id as well as by alias
        first = same(base, app, f"{ROOT}{where}/objects/", key, params={"limit": "3"})
        assert first.status_code == 200 and first.headers["content-type"] == TAXII_MEDIA_TYPE
        body = first.json()
        ids = [o["id"] for o in body.get("objects", [])]
        while body.get("next"):  # every page of the collection, through the lane's `next`
            params = {"limit": "3", "next": body["next"]}
            body = same(base, app, f"{ROOT}{where}/objects/", key, params=params).json()
            ids += [o["id"] for o in body.get("objects", [])]
        assert ids, (who, where)
        for object_id in ids[:3]:
            assert same(base, app, f"{ROOT}{where}/objects/{object_id}/", key).status_code == 200
            same(base, app, f"{ROOT}{where}/objects/{object_id}/", key, params={"match[version]": "all"})
        same(base, app, f"{ROOT}{where}/manifest/", key, params={"limit": "3"})
        same(base, app, f"{ROOT}{where}/objects/", key, params={"match[type]": "indicator,opinion"})
        same(base, app, f"{ROOT}{where}/objects/", key, params={"added_after": "2026-01-01T00:00:00Z"})
    assert len(served) > 20  # the lane answered these itself


def test_errors_go_to_the_routes_and_are_taxii_error_messages(
    world: World, second: tuple[str, Any], served: list[str]
) -> None:
    base, app = second
    key = world.keys["p1"]
    same(base, app, f"{ROOT}coalition/objects/", key)  # the key is in the cache now
    served.clear()
    red = contribution_object_id(SignalKind.URL, "https://mixed-news.org/a", world.orgs["p2"])
    cases: list[tuple[str, str | None, dict[str, Any], int]] = [
        (f"{ROOT}nowhere/objects/", key, {}, 404),
        (f"{ROOT}government-partners/objects/", key, {}, 404),  # not listed for a platform
        (f"{ROOT}coalition/objects/", key, {"params": {"next": "bm90IGEgdG9rZW4"}}, 400),
        (f"{ROOT}coalition/objects/", key, {"params": {"limit": "0"}}, 400),
        (f"{ROOT}coalition/objects/", key, {"params": {"colour": "red"}}, 400),
        (f"{ROOT}coalition/objects/", key, {"params": {"match[id]": "x\x00"}}, 400),
        (f"{ROOT}coalition/objects/indicator--00000000-0000-4000-8000-000000000000/", key, {}, 404),
        (f"{ROOT}coalition/objects/{red}/", world.keys["gov"], {}, 404),  # RED of p2: not for gov
        (f"{ROOT}coalition/manifest/", key, {"headers": {"Accept": "text/html"}}, 406),
        (f"{ROOT}coalition/objects/", None, {}, 401),
        (f"{ROOT}coalition/objects/", "vigil_not_a_key", {}, 401),
    ]
    for path, who, kw, status in cases:
        answer = same(base, app, path, who, **kw)
        assert answer.status_code == status, (path, kw, answer.text)
        assert answer.headers["content-type"] == TAXII_MEDIA_TYPE
        assert answer.json()["http_status"] == str(status)
    assert served == []  # none of them was answered by the lane


def test_a_revoked_key_and_a_tightened_marking_apply_at_once(world: World, second: tuple[str, Any]) -> None:
    base, app = second
    p1 = world.principals["p1"]
    world.store(lambda s: s.submit_signal(p1, "domain", "tighten-me.info", marking=Marking(TLP.GREEN)))
    object_id = contribution_object_id(SignalKind.DOMAIN, "tighten-me.info", world.orgs["p1"])
    api_key, raw = world.store(lambda s: s.create_key(None, world.orgs["p2"], "analyst", name="short-lived"))
    path = f"{ROOT}coalition/objects/{object_id}/"
    assert fetch(base, app, True, path, raw).status_code == 200  # now in the key cache
    listing = fetch(base, app, True, f"{ROOT}coalition/manifest/", raw, params={"limit": "1000"}).json()
    assert object_id in {m["id"] for m in listing["objects"]}

    world.store(lambda s: s.submit_signal(p1, "domain", "tighten-me.info", marking=Marking(TLP.RED)))
    assert fetch(base, app, True, path, raw).status_code == 404
    listing = fetch(base, app, True, f"{ROOT}coalition/manifest/", raw, params={"limit": "1000"}).json()
    assert object_id not in {m["id"] for m in listing["objects"]}
    pages = fetch(base, app, True, f"{ROOT}coalition/objects/", raw, params={"limit": "1000"}).json()
    assert object_id not in {o["id"] for o in pages["objects"]}

    world.store(lambda s: s.revoke_key(None, api_key.id))
    refused = fetch(base, app, True, f"{ROOT}coalition/objects/", raw)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == TAXII_MEDIA_TYPE


# ---------------------------------------------------------------------------------------------
# the read lane (``taxii_index.ReadLane``): one statement on a kept read-only driver connection


@pytest.fixture
def lane_reads(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each read the fast lane tried on the read lane: whether the lane answered it (False:
    the ORM read session did)."""
    tried: list[bool] = []
    plain = TaxiiService._read_lane

    def counting(self: TaxiiService, *args: Any) -> Any:
        found = plain(self, *args)
        tried.append(found is not None)
        return found

    monkeypatch.setattr(TaxiiService, "_read_lane", counting)
    return tried


def test_the_lane_reads_pages_and_objects_on_the_read_lane(
    world: World, second: tuple[str, Any], lane_reads: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, app = second
    monkeypatch.setattr(
        app.state, "taxii_keys", KeyCache(ttl=3600), raising=False
    )  # no expiry on a slow machine
    key = world.keys["p1"]
    first = same(base, app, f"{ROOT}coalition/objects/", key, params={"limit": "2"})  # fills the caches
    object_id = first.json()["objects"][0]["id"]
    lane_reads.clear()
    for _ in range(3):
        body = same(base, app, f"{ROOT}coalition/objects/", key, params={"limit": "2"}).json()
        same(base, app, f"{ROOT}coalition/objects/", key, params={"limit": "2", "next": body["next"]})
        same(base, app, f"{ROOT}coalition/objects/{object_id}/", key)
        same(base, app, f"{ROOT}coalition/manifest/", key, params={"limit": "2"})
        same(base, app, f"{ROOT}coalition/objects/", key, params={"match[type]": "indicator"})
    assert len(lane_reads) == 15 and all(lane_reads), lane_reads


def test_lane_connections_refuse_writes(world: World) -> None:
    db = world.live.db
    lane = read_lane(db)
    before = world.store(lambda s: s.list_orgs(None))
    with pytest.raises(lane.errors):
        lane.rows("page", delete(OrgRow).returning(OrgRow.id), {})
    with pytest.raises(lane.errors):
        lane.rows("by_id", delete(OrgRow).returning(OrgRow.id), {})
    assert world.store(lambda s: s.list_orgs(None)) == before
    assert lane.rows("page", select(func.count(OrgRow.id)), {}) == [(len(before),)]


def test_a_broken_lane_connection_is_dropped_and_the_read_answered(
    world: World, second: tuple[str, Any], lane_reads: list[bool]
) -> None:
    base, app = second
    if app.state.db.engine.dialect.name != "postgresql":
        pytest.skip("a SQLite connection cannot be broken from outside")
    key = world.keys["p1"]
    path = f"{ROOT}coalition/objects/"
    assert same(base, app, path, key, params={"limit": "2"}).status_code == 200
    lane = read_lane(app.state.db)
    pids = [c.info.backend_pid for c in lane._free["page"]]
    assert pids
    with world.live.db.session() as session:
        for pid in pids:
            session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    lane_reads.clear()
    answers = [fetch(base, app, True, path, key, params={"limit": "2"}) for _ in range(len(pids) + 2)]
    assert [a.status_code for a in answers] == [200] * len(answers)
    assert answers[-1].content == same(base, app, path, key, params={"limit": "2"}).content
    assert lane_reads[-1] is True  # new connections replaced the broken ones
    assert not set(pids) & {c.info.backend_pid for c in lane._free["page"]}


def test_disposing_the_engine_closes_the_idle_lane_connections(db_url: str) -> None:
    db = Database(db_url, auto_upgrade=True)
    lane = read_lane(db)
    assert lane.rows("page", select(func.count(OrgRow.id)), {}) == [(0,)]
    kept = list(lane._free["page"])
    assert kept
    db.dispose()
    assert lane._free["page"] == []
    with pytest.raises(lane.errors):  # closed
        kept[0].cursor().execute("SELECT 1")


def test_an_in_memory_sqlite_database_keeps_no_lane_connection() -> None:
    """Its data lives on the pool's connection only: a detached one would be another, empty, database."""
    db = Database("sqlite://")
    try:
        assert read_lane(db).rows("page", select(func.count(OrgRow.id)), {}) is None
    finally:
        db.dispose()


def test_a_statement_built_per_call_runs_its_own_sql() -> None:
    """The rendered-SQL cache is keyed by the statement's id, which CPython reuses once a
    statement is freed: each fresh statement must still run its own SQL, not a freed one's."""
    import sqlite3

    from sqlalchemy import literal
    from sqlalchemy.dialects import sqlite as sqlite_dialect

    from vigil.exchange.taxii_index import driver_rows

    connection = sqlite3.connect(":memory:")
    dialect = sqlite_dialect.dialect()
    try:
        for n in range(300):
            # a new statement each time, freed after the call (its id free for the next one)
            assert driver_rows(connection, dialect, select(literal(n, literal_execute=True)), {}) == [(n,)]
    finally:
        connection.close()
