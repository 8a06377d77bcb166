"""Lifecycle fixtures: the exchange tests' real databases (reused), a live server whose settings let
webhooks reach local receivers, a coalition seeded through the store, and a real webhook receiver
(an HTTP server thread on a free port) that checks every request's signature the way a member's
receiver would.

The receivers listen on http://127.0.0.1, which the default destination policy refuses (https
only, public addresses only): tests opt in with ``push_settings`` (``push_allow_http`` and
``push_allow_private``), as an operator running receivers on their own network would."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.exchange.conftest import (  # noqa: F401  (fixtures are found by name)
    BACKENDS,
    MAX_BODY,
    LiveServer,
    _make_url,
    db,
    db_url,
    free_port,
    start_server,
)
from tests.support.medallion import run_medallion
from vigil.core.errors import AuthenticationError
from vigil.core.settings import Settings, load_settings
from vigil.db import Database
from vigil.exchange import push
from vigil.exchange.access import Principal
from vigil.exchange.records import Role
from vigil.exchange.secrets_box import generate_key
from vigil.exchange.store import ExchangeStore

# One key per test process, shared by a module's live server and the tests' own settings (the
# server seals a subscription's secret that the test's push worker then opens).
LIVE_KEY = generate_key()
LOCAL_RECEIVERS: dict[str, object] = {"push_allow_http": True, "push_allow_private": True}


def push_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings for tests whose webhooks go to local receivers; the key file is under tmp_path."""
    return load_settings(**{"data_dir": tmp_path, **LOCAL_RECEIVERS, **overrides})


@pytest.fixture(scope="module", params=BACKENDS)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The exchange tests' live server (one per backend per module), with local webhook receivers
    allowed and ``LIVE_KEY`` as its secret key."""
    tmp = tmp_path_factory.mktemp("live")
    url = _make_url(request.param, request, tmp)
    database = Database(url, auto_upgrade=True)
    with database.session() as session:
        store = ExchangeStore(session)
        operator = store.create_org(None, "Coalition operator", "research", operator=True)
        _, key = store.create_key(None, operator.id, "admin", name="bootstrap")
    server, thread, base_url = start_server(
        url, tmp, max_request_bytes=MAX_BODY, secret_key=LIVE_KEY, **LOCAL_RECEIVERS
    )
    try:
        yield LiveServer(base_url=base_url, db=database, operator_key=key, operator_org_id=operator.id)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        database.dispose()


@dataclass
class Coalition:
    principals: dict[str, Principal] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    orgs: dict[str, str] = field(default_factory=dict)


def seed(store: ExchangeStore) -> Coalition:
    """Two platforms and a government partner, each with an analyst key (and admin for p1)."""
    c = Coalition()
    for name, kind in (("p1", "platform"), ("p2", "platform"), ("gov", "government")):
        org = store.create_org(None, f"Org {name}", kind)
        key_row, key = store.create_key(None, org.id, "analyst", name=f"{name}-analyst")
        c.orgs[name] = org.id
        c.keys[name] = key
        c.principals[name] = Principal(key_row.id, org.id, org.kind, Role.ANALYST)
    return c


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool


class Receiver:
    """A webhook receiver: verifies signatures with ``secret``; ``fail_next`` requests answer 500,
    ``slow_next`` requests sleep past the sender's timeout before answering."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.secret = ""
        self.received: list[Received] = []
        self.fail_next = 0
        self.slow_next = 0
        self.slow_s = 1.5
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    push.verify_signature(
                        receiver.secret,
                        body,
                        headers.get("x-vigil-timestamp", ""),
                        headers.get("x-vigil-signature", ""),
                    )
                    verified = True
                except AuthenticationError:
                    verified = False
                with receiver.lock:
                    slow = receiver.slow_next > 0
                    receiver.slow_next -= 1 if slow else 0
                    fail = not slow and receiver.fail_next > 0
                    receiver.fail_next -= 1 if fail else 0
                    if not slow and not fail:
                        receiver.received.append(Received(headers, body, verified))
                if slow:
                    time.sleep(receiver.slow_s)
                status = 500 if fail or slow else (204 if verified else 401)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:  # an https receiver (the certificate is the caller's)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@contextmanager
def medallion(tmp_path: Path, objects: list[dict[str, Any]]) -> Iterator[str]:
    """medallion (the OASIS reference TAXII server) serving ``objects`` in one readable collection;
    yields its base URL (see ``tests.support.medallion``)."""
    pytest.importorskip("medallion", reason="medallion is not installed (pip install -e '.[bench]')")
    with run_medallion(tmp_path, objects) as server:
        yield server.base
