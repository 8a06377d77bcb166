"""Pure parts of the dashboard: the session cookie codec, the persisted secret, the SVG pictures."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from starlette.requests import Request
from starlette.responses import Response

from vigil.core.errors import PermissionDenied
from vigil.core.settings import load_settings
from vigil.web.pages.svg import Link, Node, bars_svg, network_svg
from vigil.web.session import COOKIE_NAME, SessionCodec, session_secret


def _request_with(cookie: str | None) -> Request:
    headers = [(b"cookie", f"{COOKIE_NAME}={cookie}".encode())] if cookie else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


def _cookie_of(response: Response) -> str:
    header = response.headers["set-cookie"]
    assert "httponly" in header.lower() and "samesite=lax" in header.lower()
    match = re.match(rf"{COOKIE_NAME}=([^;]+)", header)
    assert match
    return match.group(1)


def test_session_round_trip_and_tampering() -> None:
    codec = SessionCodec("secret-one", 3600)
    response = Response()
    codec.sign_in(response, "vigil_abc_def")
    cookie = _cookie_of(response)
    session = codec.read(_request_with(cookie))
    assert session is not None and session.api_key == "vigil_abc_def"
    codec.check_csrf(session, session.csrf)
    with pytest.raises(PermissionDenied):
        codec.check_csrf(session, "0" * 32)
    with pytest.raises(PermissionDenied):
        codec.check_csrf(session, None)
    # another secret, a changed byte or no cookie: no session
    assert SessionCodec("secret-two", 3600).read(_request_with(cookie)) is None
    # a changed payload character (the signature's last base64 character may carry unused bits)
    flipped = cookie[:5] + ("A" if cookie[5] != "A" else "B") + cookie[6:]
    assert codec.read(_request_with(flipped)) is None
    assert codec.read(_request_with(None)) is None
    # CSRF tokens differ between keys
    assert codec.csrf_for("vigil_a") != codec.csrf_for("vigil_b")


def test_secure_cookie_behind_https() -> None:
    settings = load_settings(session_secret="s", public_url="https://vigil.example.org")
    response = Response()
    SessionCodec.from_settings(settings).sign_in(response, "k")
    assert "secure" in response.headers["set-cookie"].lower()


def test_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    first = session_secret(settings)
    assert len(first) >= 40
    path = tmp_path / "session_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert session_secret(settings) == first
    assert session_secret(load_settings(data_dir=tmp_path, session_secret="configured")) == "configured"


def test_network_svg_is_deterministic_and_escapes_labels() -> None:
    nodes = [Node(f"twitter:{i}", "twitter", f"twitter:{i}") for i in range(6)]
    nodes.append(Node("telegram:<script>", "telegram", "<script>alert(1)</script>"))
    links = [Link(nodes[i].id, nodes[(i + 1) % 7].id, 1.0 + i) for i in range(7)]
    first = network_svg(nodes, links)
    assert first == network_svg(nodes, links)
    assert first.count("<circle") == 7 + 2  # accounts + the two legend dots
    assert first.count("<line") == 7
    assert "<script>" not in first and "&lt;script&gt;" in first
    assert "no edges to draw" in network_svg([], [])


def test_bars_svg_draws_one_bar_per_value() -> None:
    svg = bars_svg([("2024-10-01", 3), ("2024-10-02", 0), ("2024-10-03", 9)], label="posts")
    assert svg.count("<rect") == 3
    assert "2024-10-03: 9" in svg
    assert "no data" in bars_svg([])
