"""The TAXII routes' key cache (issue #23): a key is looked up in the database once per TTL, a
revoked key stops working within the TTL, and failed authentications are never cached."""

from __future__ import annotations

import time
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
from vigil.web.routes.taxii import KeyCache

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


def test_a_key_revoked_by_another_process_stops_within_the_ttl_and_failures_are_not_cached(
    tmp_path: Path,
) -> None:
    db, base_url, server, thread, key_id, key = _serve(tmp_path, ttl=0.5)
    auth = {**TAXII, "Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            assert client.get("/taxii2/api1/collections/", headers=auth).status_code == 200
            # Another process (the CLI, a second worker) revokes: nothing tells this one, so the
            # cached principal answers until its entry expires (the documented price of the cache).
            with db.engine.begin() as connection:
                connection.execute(
                    text("UPDATE api_keys SET revoked_at = :now WHERE id = :id"),
                    {"now": datetime.now(UTC).replace(tzinfo=None), "id": key_id},
                )
            assert client.get("/taxii2/api1/collections/", headers=auth).status_code == 200
            time.sleep(0.6)
            answer = client.get("/taxii2/api1/collections/", headers=auth)
            assert answer.status_code == 401, answer.text
            assert "revoked" in answer.json()["description"]
            # a failure is not remembered: the next request goes to the database again
            assert client.get("/taxii2/api1/collections/", headers=auth).status_code == 401
            wrong = {**TAXII, "Authorization": f"Bearer {key[:-4]}XXXX"}
            assert client.get("/taxii2/api1/collections/", headers=wrong).status_code == 401
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
        cache.put(digest, principal, credentials_epoch())
    assert len(cache._items) <= 3
    assert cache.get("d") == principal
    expired = KeyCache(ttl=-1)
    expired.put("a", principal, credentials_epoch())
    assert expired.get("a") is None
