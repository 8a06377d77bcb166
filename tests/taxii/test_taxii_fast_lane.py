"""The TAXII fast lane (``vigil.web.taxii_fast``) answers exactly what the FastAPI routes answer.

A second uvicorn server runs on the live server's database; every request is sent twice, with the
lane on and off (``app.state.taxii_fast_lane``), and the two answers must be the same bytes: status,
headers (but the date) and body. Errors go on to the routes, so they are TAXII error messages.
Authorization is decided per request: a key revoked and a marking tightened take effect at once on
the lane's paths. Both backends (the ``live`` fixture).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.exchange.conftest import LiveServer, start_server
from tests.taxii.conftest import World
from vigil.exchange.records import TLP, Marking, SignalKind
from vigil.exchange.stix_export import contribution_object_id
from vigil.exchange.taxii import TAXII_MEDIA_TYPE, find_collection
from vigil.web import taxii_fast

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
