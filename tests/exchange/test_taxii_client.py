"""The shared TAXII 2.1 client against a scripted server over real HTTP (a thread on a free port):
paging by ``next`` and by date, checkpoints, relative API roots, and errors that name the server."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from vigil.core.errors import (
    AuthenticationError,
    ExternalServiceError,
    InputError,
    NotFound,
    PermissionDenied,
)
from vigil.exchange.taxii_client import TaxiiClient, server_root

from .conftest import free_port

# (path, query) -> (status, body, headers); body None sends ``raw`` text instead
Answer = tuple[int, Any, dict[str, str]]


@dataclass
class Scripted:
    """A TAXII-shaped server whose answers the test decides; it records every request."""

    route: Callable[[str, dict[str, str]], Answer]
    requests: list[tuple[str, dict[str, str], str | None]] = field(default_factory=list)
    delay_s: float = 0.0


@pytest.fixture
def scripted() -> Iterator[tuple[Scripted, str]]:
    state = Scripted(route=lambda path, query: (404, {"title": "nothing here"}, {}))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            state.requests.append((parts.path, query, self.headers.get("Authorization")))
            if state.delay_s:
                time.sleep(state.delay_s)
            status, body, headers = state.route(parts.path, query)
            payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/taxii+json;version=2.1")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            # the client may have given up first (the timeout test)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(payload)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _objects(*ids: int) -> list[dict[str, Any]]:
    return [{"type": "indicator", "id": f"indicator--{i}"} for i in ids]


def test_pages_follow_next_and_carry_the_date_added_last(scripted: tuple[Scripted, str]) -> None:
    state, base = scripted
    pages = {
        None: ({"more": True, "next": "p2", "objects": _objects(1, 2)}, "2026-03-01T00:00:00.000001Z"),
        "p2": ({"more": True, "next": "p3", "objects": _objects(3, 4)}, "2026-03-02T00:00:00.000002Z"),
        "p3": ({"more": False, "objects": _objects(5)}, "2026-03-03T00:00:00.000003Z"),
    }

    def route(path: str, query: dict[str, str]) -> Answer:
        if path == "/taxii2/":
            return 200, {"title": "t", "default": f"{base}/api1/", "api_roots": [f"{base}/api1/"]}, {}
        if path == "/api1/collections/":
            return 200, {"collections": [{"id": "c1", "can_read": True}, "junk"]}, {}
        body, last = pages[query.get("next")]
        return 200, body, {"X-TAXII-Date-Added-Last": last}

    state.route = route
    with TaxiiClient(f"{base}/taxii2/", "secret-key") as client:
        assert client.server == base
        root = client.api_root()
        assert root == f"{base}/api1/"
        assert client.collections(root) == [{"id": "c1", "can_read": True}]
        got = list(client.object_pages(root, "c1", added_after="2026-01-01T00:00:00Z", limit=2))
    assert [[o["id"] for o in p.objects] for p in got] == [
        ["indicator--1", "indicator--2"],
        ["indicator--3", "indicator--4"],
        ["indicator--5"],
    ]
    assert [p.date_added_last for p in got] == [last for _, last in pages.values()]
    listing = [q for path, q, _ in state.requests if path.endswith("/objects/")]
    assert listing[0] == {"limit": "2", "added_after": "2026-01-01T00:00:00Z"}
    assert listing[2] == {"limit": "2", "added_after": "2026-01-01T00:00:00Z", "next": "p3"}
    assert all(auth and auth.startswith("Basic ") for _, _, auth in state.requests)


def test_a_server_paging_by_date_only_is_followed_by_added_after(scripted: tuple[Scripted, str]) -> None:
    state, base = scripted
    by_after = {
        None: ({"more": True, "objects": _objects(1)}, "2026-03-01T00:00:00Z"),
        "2026-03-01T00:00:00Z": ({"more": False, "objects": _objects(2)}, "2026-03-02T00:00:00Z"),
    }

    def route(path: str, query: dict[str, str]) -> Answer:
        body, last = by_after[query.get("added_after")]
        return 200, body, {"X-TAXII-Date-Added-Last": last}

    state.route = route
    with TaxiiClient(base, "k") as client:
        got = list(client.object_pages(f"{base}/api1/", "c1"))
    assert [o["id"] for p in got for o in p.objects] == ["indicator--1", "indicator--2"]


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        ({"more": True, "objects": []}, {}, "gives no way on"),
        ({"more": True, "next": "same", "objects": []}, {}, "same paging position twice"),
        ({"objects": {"not": "a list"}}, {}, "'objects' that is not a list"),
        (["a", "list"], {}, "JSON list, not an object"),
        ("<html>oops</html>", {}, "not JSON"),
    ],
)
def test_a_broken_server_is_an_error_naming_it(
    scripted: tuple[Scripted, str], body: Any, headers: dict[str, str], message: str
) -> None:
    state, base = scripted
    state.route = lambda path, query: (200, body, headers)
    with TaxiiClient(base, "k") as client, pytest.raises(ExternalServiceError, match=message) as caught:
        list(client.object_pages(f"{base}/api1/", "c1"))
    assert base in caught.value.message
    assert len(state.requests) <= 2  # no endless loop


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, AuthenticationError), (403, PermissionDenied), (404, NotFound), (500, ExternalServiceError)],
)
def test_http_errors_name_server_status_and_description(
    scripted: tuple[Scripted, str], status: int, error: type[Exception]
) -> None:
    state, base = scripted
    state.route = lambda path, query: (status, {"title": "t", "description": "the key is not valid"}, {})
    with TaxiiClient(base, "k") as client, pytest.raises(error) as caught:
        client.collections(f"{base}/api1/")
    text = str(caught.value)
    assert base in text and str(status) in text and "the key is not valid" in text


def test_relative_api_root_and_missing_root(scripted: tuple[Scripted, str]) -> None:
    state, base = scripted
    state.route = lambda path, query: (200, {"title": "t", "api_roots": ["/roots/one"]}, {})
    with TaxiiClient(base, "k") as client:
        assert client.api_root() == f"{base}/roots/one/"
        state.route = lambda path, query: (200, {"title": "t"}, {})
        with pytest.raises(ExternalServiceError, match="names no API root"):
            client.api_root()


def test_unreachable_and_slow_servers(scripted: tuple[Scripted, str]) -> None:
    with TaxiiClient(f"http://127.0.0.1:{free_port()}", "k") as client:
        with pytest.raises(ExternalServiceError, match="unreachable") as caught:
            client.api_root()
        assert client.server in caught.value.message
    state, base = scripted
    state.delay_s = 1.0
    with (
        TaxiiClient(base, "k", timeout=0.2) as client,
        pytest.raises(ExternalServiceError, match=r"did not answer within 0\.2 s"),
    ):
        client.api_root()


def test_server_root() -> None:
    assert server_root("https://x.org/taxii2/") == "https://x.org"
    assert server_root(" http://h:1/ ") == "http://h:1"
    with pytest.raises(InputError, match="url must be an http"):
        server_root("ftp://x", field="url")
