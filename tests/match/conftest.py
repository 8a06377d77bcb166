"""Fixtures for matching: a real Vigil exchange (uvicorn on 127.0.0.1, the exchange tests' database
fixtures and server helper, reused) seeded with a small coalition, and posts files built by hand."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.exchange.conftest import (  # noqa: F401  (fixtures are found by name)
    db_url,
    start_server,
)
from vigil.db import Database, upgrade
from vigil.exchange.access import Principal
from vigil.exchange.records import TLP, Marking, Signal
from vigil.exchange.store import ExchangeStore
from vigil.ingest.urls import canonicalize
from vigil.schema.io import ParquetSink
from vigil.schema.tables import POSTS


@dataclass
class Coalition:
    """A running exchange with three members: ``source`` (a platform that shares signals), ``us``
    (the platform that matches) and ``gov`` (a government partner)."""

    base_url: str
    db: Database
    keys: dict[str, str] = field(default_factory=dict)
    orgs: dict[str, str] = field(default_factory=dict)
    principals: dict[str, Principal] = field(default_factory=dict)

    def store(self, fn: Any) -> Any:
        with self.db.session() as session:
            return fn(ExchangeStore(session))

    def submit(self, who: str, kind: str, value: str, tlp: TLP = TLP.GREEN, **options: Any) -> Signal:
        principal = self.principals[who]
        return self.store(  # type: ignore[no-any-return]
            lambda s: s.submit_signal(principal, kind, value, marking=Marking(tlp), **options)
        )

    def revoke(self, who: str, signal_id: str) -> None:
        principal = self.principals[who]
        self.store(lambda s: s.revoke_signal(principal, signal_id))

    def campaign(self, who: str, name: str, tlp: TLP = TLP.GREEN) -> str:
        principal = self.principals[who]
        return str(self.store(lambda s: s.create_campaign(principal, name, marking=Marking(tlp)).id))

    def api(self, who: str) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.base_url}/api/v1",
            headers={"Authorization": f"Bearer {self.keys[who]}"},
            timeout=30,
        )


def _coalition(url: str, tmp: Path) -> Iterator[Coalition]:
    database = Database(url)
    upgrade(database.engine)
    server, thread, base_url = start_server(url, tmp)
    coalition = Coalition(base_url=base_url, db=database)

    def seed(store: ExchangeStore) -> None:
        for name, kind in (("source", "platform"), ("us", "platform"), ("gov", "government")):
            org = store.create_org(None, f"{name}-{uuid.uuid4().hex[:6]}", kind)
            coalition.orgs[name] = org.id
            coalition.keys[name] = store.create_key(None, org.id, "analyst")[1]

    coalition.store(seed)
    for name, key in coalition.keys.items():
        coalition.principals[name] = coalition.store(lambda s, k=key: s.authenticate(k))
    try:
        yield coalition
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        database.dispose()


@pytest.fixture
def exchange(db_url: str, tmp_path: Path) -> Iterator[Coalition]:  # noqa: F811
    """A fresh exchange per test, on SQLite and on PostgreSQL."""
    yield from _coalition(db_url, tmp_path)


@pytest.fixture
def sqlite_exchange(tmp_path: Path) -> Iterator[Coalition]:
    """A fresh exchange per test on SQLite only (for tests about matching, not storage)."""
    yield from _coalition(f"sqlite:///{tmp_path / 'exchange.db'}", tmp_path)


T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def post(
    post_id: str,
    *,
    platform: str = "twitter",
    account_id: str = "a1",
    handle: str | None = None,
    text: str | None = None,
    urls: list[str] = (),  # type: ignore[assignment]
    hashtags: list[str] = (),  # type: ignore[assignment]
    pdq: list[str] = (),  # type: ignore[assignment]
    minute: int = 0,
) -> dict[str, Any]:
    """One POSTS row, with URLs canonicalized as ingest does."""
    return {
        "platform": platform,
        "post_id": post_id,
        "account_id": account_id,
        "account_handle": handle,
        "created_at": T0.replace(minute=minute),
        "text": text,
        "urls": [canonicalize(u).as_dict() for u in urls],
        "hashtags": list(hashtags),
        "image_pdq": list(pdq),
    }


def write_posts(path: Path, rows: list[dict[str, Any]]) -> Path:
    import pyarrow as pa

    with ParquetSink(path, POSTS) as sink:
        schema = pa.schema([POSTS.schema.field(name) for name in rows[0]])
        sink.write(pa.Table.from_pylist(rows, schema=schema))
    return path
