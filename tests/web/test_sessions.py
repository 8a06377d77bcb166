"""Dashboard sessions against a real server over HTTP, on SQLite and PostgreSQL (issue #15,
failure 5: "a stolen cookie is a stolen key").

The cookie holds a random session id (never the key; stored only hashed); logout, the idle and
absolute timeouts and revoking the key end the session; the cookie is HttpOnly, SameSite=Strict,
and Secure over https; every unsafe dashboard request without the session's CSRF token is refused
(the routes are taken from the app's route table, so a new form cannot be forgotten)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select, update

from vigil.core.settings import load_settings
from vigil.core.time import utcnow
from vigil.exchange.store import ExchangeStore
from vigil.web.app import create_app
from vigil.web.pages.common import TEMPLATES_DIR
from vigil.web.session import COOKIE_NAME, SAFE_METHODS
from vigil.web.sessions_models import WebSessionRow

from ..exchange.conftest import LiveServer, live, start_server  # noqa: F401  (fixtures)

CSRF_INPUT = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def analyst_key(live: LiveServer) -> str:  # noqa: F811  (the exchange's fixture)
    with live.db.session() as session:
        store = ExchangeStore(session)
        org = store.create_org(None, "Sessions platform", "platform")
        _, key = store.create_key(None, org.id, "analyst", name="sessions")
    return key


def _signed_in(live: LiveServer, key: str) -> httpx.Client:  # noqa: F811
    client = httpx.Client(base_url=live.base_url, timeout=30, follow_redirects=False)
    answer = client.post("/login", data={"api_key": key, "next": "/cases"})
    assert answer.status_code == 303, answer.text[:300]
    assert answer.headers["location"] == "/cases"
    return client


def _csrf(client: httpx.Client) -> str:
    page = client.get("/cases")
    assert page.status_code == 200
    found = CSRF_INPUT.search(page.text)
    assert found, "every signed-in page carries the sign-out form with its CSRF token"
    return found.group(1)


def _sent_to_sign_in(answer: httpx.Response) -> bool:
    return answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_the_cookie_is_a_random_session_id_stored_hashed(live: LiveServer, analyst_key: str) -> None:  # noqa: F811
    client = _signed_in(live, analyst_key)
    cookie = client.cookies[COOKIE_NAME]
    assert analyst_key not in cookie and analyst_key.split("_")[1] not in cookie
    assert len(cookie) >= 40
    set_cookie = client.post("/login", data={"api_key": analyst_key}).headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=strict" in set_cookie
    assert "secure" not in set_cookie  # plain http on localhost: a Secure cookie would never return
    with live.db.session() as session:
        rows = list(session.scalars(select(WebSessionRow)))
        stored = {r.id_hash for r in rows}
        assert hashlib.sha256(client.cookies[COOKIE_NAME].encode()).hexdigest() in stored
        for row in rows:  # neither the id nor the key is kept in clear
            values = (row.id_hash, row.key_id, row.csrf)
            assert client.cookies[COOKIE_NAME] not in values and analyst_key not in values
    # the cookie value is no API key
    assert (
        httpx.get(
            f"{live.base_url}/api/v1/me", headers={"Authorization": f"Bearer {cookie}"}, timeout=30
        ).status_code
        == 401
    )
    client.close()


def test_logout_revokes_the_session_and_a_saved_cookie_stops_working(
    live: LiveServer,  # noqa: F811
    analyst_key: str,
) -> None:
    client = _signed_in(live, analyst_key)
    saved = client.cookies[COOKIE_NAME]
    token = _csrf(client)
    assert client.post("/logout", data={"csrf": token}).headers["location"] == "/login"
    with httpx.Client(base_url=live.base_url, timeout=30, follow_redirects=False) as thief:
        thief.cookies.set(COOKIE_NAME, saved)
        assert _sent_to_sign_in(thief.get("/cases"))
        assert _sent_to_sign_in(thief.post("/logout", data={"csrf": token}))
    # a sign-in afterwards is a new session with a new id and a new CSRF token
    again = _signed_in(live, analyst_key)
    assert again.cookies[COOKIE_NAME] != saved and _csrf(again) != token
    again.close()
    client.close()


@pytest.mark.parametrize("column", ["last_seen_at", "created_at"])
def test_idle_and_absolute_timeouts_end_the_session(
    live: LiveServer,  # noqa: F811
    analyst_key: str,
    column: str,
) -> None:
    client = _signed_in(live, analyst_key)
    digest = hashlib.sha256(client.cookies[COOKIE_NAME].encode()).hexdigest()
    assert client.get("/cases").status_code == 200
    # defaults: 30 min idle, 12 h in all; move the session's clock back past the one tested
    back = timedelta(minutes=31) if column == "last_seen_at" else timedelta(hours=12, minutes=1)
    with live.db.session() as session:
        values = {column: utcnow() - back}
        if column == "created_at":
            values["last_seen_at"] = utcnow()  # active all along: only the absolute limit applies
        session.execute(update(WebSessionRow).where(WebSessionRow.id_hash == digest).values(**values))
    answer = client.get("/cases")
    assert _sent_to_sign_in(answer)
    assert "reason=expired" in answer.headers["location"]
    client.close()


def test_revoking_the_key_ends_its_sessions(live: LiveServer) -> None:  # noqa: F811
    with live.db.session() as session:
        store = ExchangeStore(session)
        org = store.create_org(None, "Revoked platform", "platform")
        record, key = store.create_key(None, org.id, "analyst", name="to revoke")
    client = _signed_in(live, key)
    assert client.get("/cases").status_code == 200
    with live.client(live.operator_key) as admin:
        assert admin.post(f"/api/v1/keys/{record.id}/revoke").status_code == 200
    answer = client.get("/cases")
    assert _sent_to_sign_in(answer)
    client.close()


def test_suspending_the_organisation_ends_its_sessions(live: LiveServer) -> None:  # noqa: F811
    if not hasattr(ExchangeStore, "suspend_org"):
        pytest.skip("organisation suspension (issue #15, the access-policy part) is not in this tree")
    with live.db.session() as session:
        store = ExchangeStore(session)
        org = store.create_org(None, "Suspended platform", "platform")
        _, key = store.create_key(None, org.id, "analyst", name="to suspend")
    client = _signed_in(live, key)
    assert client.get("/cases").status_code == 200
    with live.db.session() as session:
        ExchangeStore(session).suspend_org(None, org.id, reason="sessions test")
    answer = client.get("/cases")
    assert _sent_to_sign_in(answer)
    client.close()


def _all_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    """(path, methods) of every endpoint, through included routers (FastAPI keeps them nested)."""
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from _all_routes(nested.routes, prefix + route.include_context.prefix)
        elif isinstance(route, APIRoute):
            yield prefix + route.path, set(route.methods)


def _page_posts(app_routes: list[Any]) -> list[tuple[str, str]]:
    """(method, path) of every dashboard route with an unsafe method, from the route table."""
    found = []
    for route_path, methods in _all_routes(app_routes):
        if route_path.startswith(("/api/", "/taxii2")) or route_path == "/login":
            continue  # the API takes no cookie; sign-in has no session yet (origin test below)
        for method in sorted(methods - SAFE_METHODS):
            path = re.sub(r"\{(\w+)\}", lambda m: "1" if m.group(1).endswith("item_id") else "x", route_path)
            found.append((method, path))
    return sorted(found, key=lambda mp: mp[1] == "/logout")  # signing out last


def test_every_unsafe_dashboard_request_needs_the_csrf_token(
    live: LiveServer,  # noqa: F811
    analyst_key: str,
    tmp_path: Path,
) -> None:
    routes = _page_posts(create_app(load_settings(database_url="sqlite://", data_dir=tmp_path)).routes)
    assert len(routes) >= 15 and ("POST", "/logout") in routes
    client = _signed_in(live, analyst_key)
    token = _csrf(client)
    for method, path in routes:
        for headers, data in (({}, {}), ({}, {"csrf": "wrong"}), ({"X-CSRF-Token": "wrong"}, {})):
            answer = client.request(method, path, data=data, headers=headers)
            assert answer.status_code == 403, (method, path, answer.status_code)
            assert "csrf" in answer.text.lower()
        # the right token passes the check (the page may then refuse for its own reasons)
        answer = client.request(method, path, data={"csrf": token})
        assert answer.status_code != 403 or "csrf" not in answer.text.lower(), (method, path)
        if path == "/logout":  # the last route
            assert _sent_to_sign_in(client.get("/cases"))
        else:
            assert _csrf(client) == token, (method, path)  # the session survived
    client.close()


def test_every_post_form_in_the_templates_carries_the_token() -> None:
    """So that a real person's form posts pass the check above (sign-in has no session yet)."""
    forms = []
    for template in sorted(TEMPLATES_DIR.glob("*.html")):
        for form in re.findall(r"<form\b[^>]*>.*?</form>", template.read_text(encoding="utf-8"), re.S):
            if re.search(r'method="post"', form, re.I):
                forms.append((template.name, form))
    assert len(forms) >= 15
    for name, form in forms:
        if 'action="/login"' in form:
            assert "csrf" not in form
            continue
        token = '<input type="hidden" name="csrf" value="{{ viewer.session.csrf }}">'
        assert token in form, (name, form[:200])


def test_a_forged_post_changes_nothing(live: LiveServer, analyst_key: str) -> None:  # noqa: F811
    client = _signed_in(live, analyst_key)
    answer = client.post("/meetings/election-dates", data={"election": "forged", "kind": "election_day"})
    assert answer.status_code == 403
    assert "forged" not in client.get("/meetings").text
    client.close()


def test_sign_in_refuses_cross_site_posts_but_not_scripts(live: LiveServer, analyst_key: str) -> None:  # noqa: F811
    with httpx.Client(base_url=live.base_url, timeout=30, follow_redirects=False) as c:
        for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
            answer = c.post("/login", data={"api_key": analyst_key}, headers=headers)
            assert answer.status_code == 403, headers
            assert COOKIE_NAME not in c.cookies
        same = {"Sec-Fetch-Site": "same-origin", "Origin": live.base_url}
        assert c.post("/login", data={"api_key": analyst_key}, headers=same).status_code == 303
        c.cookies.clear()
        assert c.post("/login", data={"api_key": analyst_key}).status_code == 303  # a script


def test_the_cookie_is_secure_behind_https(live: LiveServer, analyst_key: str, tmp_path: Path) -> None:  # noqa: F811
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1 (a TLS proxy on the same host): scheme https
    with httpx.Client(base_url=live.base_url, timeout=30, follow_redirects=False) as c:
        answer = c.post("/login", data={"api_key": analyst_key}, headers={"X-Forwarded-Proto": "https"})
        assert answer.status_code == 303
        flags = answer.headers["set-cookie"].lower()
        assert "secure" in flags and "httponly" in flags and "samesite=strict" in flags
    # or configured: a server whose public_url is https marks it Secure even over http
    server, thread, base_url = start_server(live.db.url, tmp_path, public_url="https://vigil.example.org")
    try:
        answer = httpx.post(f"{base_url}/login", data={"api_key": analyst_key}, timeout=30)
        assert answer.status_code == 303 and "secure" in answer.headers["set-cookie"].lower()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
