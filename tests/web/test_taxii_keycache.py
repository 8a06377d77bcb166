"""The TAXII routes' key cache (issue #23): a key is looked up in the database once per TTL, a
key revoked or an organisation suspended by any process is refused at once (each read re-checks a
cached key when the credentials' stamp in its snapshot moved), and failed authentications are never
cached."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from tests.exchange.conftest import start_server
from vigil.db import Database
from vigil.exchange.access import Principal
from vigil.exchange.keys import credentials_epoch
from vigil.exchange.records import OrgKind, Role
from vigil.exchange.store import ExchangeStore
from vigil.web.routes.taxii import KeyCache, key_digest

TAXII = {"Accept": "application/taxii+json;version=2.1"}


def _serve(tmp_path: Path, ttl: float) -> tuple[Database, str, Any, Any, str, str]:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    db = Database(url, auto_upgrade=True)
    with db.session() as session:
        store = ExchangeStore(session)
        org = store.create_org(None, "Platform A", "platform")
        api_key, key = store.create_key(None, org.id, "analyst", name="taxii")
    server, thread, base_url = start_server(url, tmp_path)
    app = server.config.app
    assert isinstance(app, FastAPI)
    app.state.taxii_keys = KeyCache(ttl=ttl)
    return db, base_url, server, thread, api_key.id, key


def _another_process(db: Database, sql: str, **params: Any) -> None:
    """A change as another process (the CLI, a second worker) makes it: nothing tells this one."""
    with db.engine.begin() as connection:
        connection.execute(text(sql), {"now": datetime.now(UTC).replace(tzinfo=None), **params})


READS = (
    "/taxii2/api1/collections/coalition/objects/",
    "/taxii2/api1/collections/coalition/objects/indicator--00000000-0000-4000-8000-000000000000/",
    "/taxii2/api1/collections/coalition/objects/indicator--00000000-0000-4000-8000-000000000000/versions/",
    "/taxii2/api1/collections/coalition/manifest/",
)


def test_a_key_revoked_or_an_org_suspended_by_another_process_is_refused_at_once(tmp_path: Path) -> None:
    """With a TTL of an hour: the cached key is refused on the next request, through the fast lane
    and through the routes, because each read re-checks it when the credentials' stamp moved."""
    db, base_url, server, thread, _, key = _serve(tmp_path, ttl=3600)
    app = server.config.app
    try:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            for lane in (True, False):
                app.state.taxii_fast_lane = lane
                with db.session() as session:
                    store = ExchangeStore(session)
                    org = store.create_org(None, f"Platform {lane}", "platform")
                    live, live_key = store.create_key(None, org.id, "analyst", name="taxii")
                    other, _ = store.create_key(None, org.id, "analyst", name="other")
                auth = {**TAXII, "Authorization": f"Bearer {live_key}"}
                for _ in range(2):  # the first fills the cache, the second is served from it
                    assert client.get(READS[0], headers=auth).status_code == 200
                    assert client.get(READS[3], headers=auth).status_code == 200
                # another key revoked elsewhere: this one is checked again and keeps working
                _another_process(db, "UPDATE api_keys SET revoked_at = :now WHERE id = :id", id=other.id)
                assert client.get(READS[0], headers=auth).status_code == 200
                digest = key_digest(live_key)
                cached = app.state.taxii_keys.get(digest)
                assert cached is not None and cached[1][0] == (1 if lane else 3), cached  # restamped
                _another_process(db, "UPDATE api_keys SET revoked_at = :now WHERE id = :id", id=live.id)
                for path in (*READS, "/taxii2/api1/collections/", "/taxii2/"):
                    answer = client.get(path, headers=auth)
                    assert answer.status_code == 401, (lane, path, answer.text)
                    assert "revoked" in answer.json()["description"]
                    assert answer.headers["content-type"] == "application/taxii+json;version=2.1"
                # a failure is not remembered: the next request goes to the database again
                assert app.state.taxii_keys.get(digest) is None
                # the organisation of a cached key suspended elsewhere
                with db.session() as session:
                    store = ExchangeStore(session)
                    third = store.create_org(None, f"Platform C {lane}", "platform")
                    _, third_key = store.create_key(None, third.id, "analyst", name="taxii")
                third_auth = {**TAXII, "Authorization": f"Bearer {third_key}"}
                assert client.get(READS[0], headers=third_auth).status_code == 200
                assert client.get(READS[0], headers=third_auth).status_code == 200
                _another_process(
                    db,
                    "INSERT INTO org_status (org_id, status, changed_at) VALUES (:id, 'suspended', :now)",
                    id=third.id,
                )
                for path in READS:
                    answer = client.get(path, headers=third_auth)
                    assert answer.status_code == 401, (lane, path, answer.text)
                    assert "suspended" in answer.json()["description"]
            wrong = {**TAXII, "Authorization": f"Bearer {key[:-4]}XXXX"}
            assert client.get(READS[0], headers=wrong).status_code == 401
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.dispose()


def test_a_key_revoked_or_an_org_suspended_in_this_process_stops_at_once(tmp_path: Path) -> None:
    db, base_url, server, thread, key_id, key = _serve(tmp_path, ttl=3600)
    auth = {**TAXII, "Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            assert client.get("/taxii2/api1/collections/", headers=auth).status_code == 200
            with db.session() as session:
                ExchangeStore(session).revoke_key(None, key_id)
            answer = client.get("/taxii2/api1/collections/", headers=auth)
            assert answer.status_code == 401, answer.text
            # A second organisation's key, cached, then its organisation suspended.
            with db.session() as session:
                store = ExchangeStore(session)
                other = store.create_org(None, "Platform B", "platform")
                _, other_key = store.create_key(None, other.id, "analyst", name="taxii")
            other_auth = {**TAXII, "Authorization": f"Bearer {other_key}"}
            assert client.get("/taxii2/api1/collections/", headers=other_auth).status_code == 200
            with db.session() as session:
                ExchangeStore(session).suspend_org(None, other.id, reason="flood under review")
            assert client.get("/taxii2/api1/collections/", headers=other_auth).status_code in (401, 403)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.dispose()


def test_cache_is_bounded_and_expires() -> None:
    cache = KeyCache(ttl=60, capacity=3)
    principal = Principal(key_id="k", org_id="o", org_kind=OrgKind.PLATFORM, role=Role.ANALYST)
    for digest in "abcd":
        cache.put(digest, principal, credentials_epoch(), (0, 0, None))
    assert len(cache._items) <= 3
    assert cache.get("d") == (principal, (0, 0, None))
    cache.restamp("d", principal, (1, 0, None))
    assert cache.get("d") == (principal, (1, 0, None))
    cache.drop("d")
    assert cache.get("d") is None
    expired = KeyCache(ttl=-1)
    expired.put("a", principal, credentials_epoch(), (0, 0, None))
    assert expired.get("a") is None
