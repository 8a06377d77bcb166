"""Fixtures for the exchange tests: real databases (SQLite file, throw-away PostgreSQL cluster),
a store factory, and a real uvicorn server over HTTP.

PostgreSQL: each pytest process (each xdist worker) runs one cluster (tests/support/postgres.py,
a plugin), and each test (or module) gets its own database in it. If the PostgreSQL binaries are
missing the PostgreSQL parameters are skipped with a loud reason (``./dev test`` installs them).
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from vigil.core.settings import load_settings
from vigil.db import Database, upgrade
from vigil.exchange.store import ExchangeStore

# The cluster fixture is a plugin (tests/conftest.py): a module that imported it would get a cluster
# of its own. Only the class is imported here.
from ..support.postgres import PostgresCluster
from ..support.postgres import free_port as free_port  # re-exported: the tests import it from here

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def wait_for_health(proc: subprocess.Popen[bytes], base: str, *, timeout: float, what: str) -> None:
    """Wait until the ``vigil serve`` at ``base`` answers its health check; fail if ``proc`` exits
    first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, f"{what} did not start"
        time.sleep(0.2)


def _make_url(
    backend: str, request: pytest.FixtureRequest, directory: Path, *, migrated: bool = False
) -> str:
    """A new database on ``backend``; on PostgreSQL, already migrated if ``migrated`` (a copy of a
    migrated template: faster than migrating each one; the migration tests ask for an empty one)."""
    if backend == "sqlite":
        return f"sqlite:///{directory / f'exchange-{uuid.uuid4().hex[:8]}.db'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    return cluster.new_database(migrated=migrated)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database URL for one test, on each backend."""
    url = _make_url(request.param, request, tmp_path, migrated=True)
    db = Database(url)
    upgrade(db.engine)
    db.dispose()
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


# ---------------------------------------------------------------------------------------------
# a real server over HTTP

MAX_BODY = 64 * 1024  # the live servers' max_request_bytes, small so 413 tests stay cheap


@dataclass
class LiveServer:
    base_url: str
    db: Database
    operator_key: str  # admin key of the coalition operator organisation
    operator_org_id: str

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)


@contextmanager
def signed_in(live: LiveServer, key: str) -> Iterator[httpx.Client]:
    """A browser-like client of ``live`` signed in through the form with ``key``, closed at the end."""
    with httpx.Client(base_url=live.base_url, timeout=60, follow_redirects=False) as client:
        answer = client.post("/login", data={"api_key": key})
        assert answer.status_code == 303, f"sign-in answered {answer.status_code}: {answer.text[:300]}"
        yield client


def start_server(url: str, tmp: Path, **settings: object) -> tuple[uvicorn.Server, threading.Thread, str]:
    from vigil.web.app import create_app

    app = create_app(load_settings(database_url=url, data_dir=tmp, **settings))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module", params=BACKENDS)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One running server per backend per test module, with a bootstrap operator admin key."""
    tmp = tmp_path_factory.mktemp("live")
    url = _make_url(request.param, request, tmp, migrated=True)
    db = Database(url, auto_upgrade=True)
    with db.session() as session:
        store = ExchangeStore(session)
        operator = store.create_org(None, "Coalition operator", "research", operator=True)
        _, key = store.create_key(None, operator.id, "admin", name="bootstrap")
    server, thread, base_url = start_server(url, tmp, max_request_bytes=MAX_BODY)
    try:
        yield LiveServer(base_url=base_url, db=db, operator_key=key, operator_org_id=operator.id)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.dispose()
