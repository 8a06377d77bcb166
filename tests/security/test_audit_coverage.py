"""Audit entries issue #15 left out or over-redacted: dashboard sign-ins (success, failure, logout,
expiry) and policy-register records (a resolver for the ``policy`` target type), on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import update

from vigil.cases.policies import PolicyService
from vigil.exchange.access import Principal
from vigil.exchange.audit import AuditFilter
from vigil.exchange.records import TLP, Marking, OrgKind, Role
from vigil.exchange.store import ExchangeStore
from vigil.web.sessions_models import WebSessionRow

from ..cases.conftest import Coalition
from ..exchange.conftest import LiveServer

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _sign_in(live: LiveServer, key: str) -> httpx.Client:
    client = httpx.Client(base_url=live.base_url, timeout=30)
    answer = client.post("/login", data={"api_key": key, "next": "/"})
    assert answer.status_code == 303, answer.text[:300]
    return client


def _entries(live: LiveServer, principal: Principal, action: str) -> list[dict[str, object]]:
    with live.db.session() as s:
        found = ExchangeStore(s).query_audit(principal, AuditFilter(action=action, limit=100))
    return [e.__dict__ for e in found]


def test_sign_ins_sign_outs_failures_and_expiries_are_audited(live: LiveServer) -> None:
    with live.db.session() as s:
        store = ExchangeStore(s)
        org = store.create_org(None, f"platform {uuid.uuid4().hex[:6]}", "platform")
        _, key = store.create_key(None, org.id, "admin")
        admin = store.authenticate(key)
    other_org = f"{key[:-4]}zzzz"  # the right key id, a wrong secret
    # failures: a wrong secret for an existing key, and a key that does not exist
    with httpx.Client(base_url=live.base_url, timeout=30) as anon:
        assert anon.post("/login", data={"api_key": other_org}).status_code == 401
        assert anon.post("/login", data={"api_key": "vigil_000000000000_nope"}).status_code == 401
    failed = _entries(live, admin, "session.login_failed")
    assert len(failed) == 1  # the org's admin sees attempts on its own key only
    assert failed[0]["actor_key_id"] == admin.key_id and failed[0]["subject_org_id"] == org.id
    assert failed[0]["detail"] == {"reason": "unknown API key"}
    everyone = _entries(
        live,
        Principal("op", live.operator_org_id, OrgKind.RESEARCH, Role.ADMIN, True),
        "session.login_failed",
    )
    assert any(e["actor_key_id"] == "anonymous" and e["target_id"] is None for e in everyone)
    # sign in, then sign out with the page's CSRF token
    client = _sign_in(live, key)
    page = client.get("/")
    assert page.status_code == 200
    token = _CSRF.search(page.text)
    assert token is not None
    assert client.post("/logout", data={"csrf": token.group(1)}).status_code == 303
    client.close()
    assert len(_entries(live, admin, "session.login")) == 1
    logout = _entries(live, admin, "session.logout")
    assert len(logout) == 1 and logout[0]["detail"]["reason"] == "signed out"  # type: ignore[index]
    # an idle session found when its cookie comes back
    idle = _sign_in(live, key)
    with live.db.session() as s:
        s.execute(
            update(WebSessionRow)
            .where(WebSessionRow.revoked_at.is_(None))
            .values(last_seen_at=datetime.now(UTC) - timedelta(days=2))
        )
    assert idle.get("/", follow_redirects=False).status_code == 303
    idle.close()
    expired = _entries(live, admin, "session.expire")
    assert [e["detail"]["reason"] for e in expired] == ["idle"]  # type: ignore[index]
    # a session too old, found when another sign-in purges expired rows
    old = _sign_in(live, key)
    old.close()
    with live.db.session() as s:
        s.execute(
            update(WebSessionRow)
            .where(WebSessionRow.revoked_at.is_(None))
            .values(created_at=datetime.now(UTC) - timedelta(days=30))
        )
    _sign_in(live, key).close()
    expired = _entries(live, admin, "session.expire")
    assert [e["detail"]["reason"] for e in expired] == ["max_age", "idle"]  # type: ignore[index]
    assert len(_entries(live, admin, "session.login")) == 4
    # no entry holds the secret
    text = json.dumps(
        [_entries(live, admin, a) for a in ("session.login", "session.login_failed")], default=str
    )
    assert key.rsplit("_", 1)[1] not in text


def test_a_session_whose_key_stops_is_ended_and_audited(live: LiveServer) -> None:
    with live.db.session() as s:
        store = ExchangeStore(s)
        org = store.create_org(None, f"platform {uuid.uuid4().hex[:6]}", "platform")
        _, key = store.create_key(None, org.id, "admin")
        _, analyst_key = store.create_key(None, org.id, "analyst")
        admin = store.authenticate(key)
        analyst = store.authenticate(analyst_key)
    client = _sign_in(live, analyst_key)
    assert client.get("/").status_code == 200
    with live.db.session() as s:
        ExchangeStore(s).revoke_key(admin, analyst.key_id)
    assert client.get("/", follow_redirects=False).status_code == 303
    client.close()
    expired = [e for e in _entries(live, admin, "session.expire") if e["actor_key_id"] == analyst.key_id]
    assert len(expired) == 1
    assert str(expired[0]["detail"]["reason"]).startswith("key stopped")  # type: ignore[index]
    with live.db.session() as s:  # the session row is gone: the same cookie cannot come back
        assert s.query(WebSessionRow).filter(WebSessionRow.key_id == analyst.key_id).count() == 0


def test_policy_entries_are_shown_to_who_sees_the_policy_and_redacted_otherwise(coalition: Coalition) -> None:
    """Entries of target type ``policy`` were redacted for every reader but the recording
    member (no resolver: deny by default). Now they follow the policy's marking."""
    with coalition.db.session() as s:
        op = ExchangeStore(s).create_org(None, f"operator {uuid.uuid4().hex[:6]}", "research", operator=True)
    operator = Principal("key-op", op.id, OrgKind.RESEARCH, Role.ADMIN, operator=True)
    plat = coalition.principal("plat_a", Role.ADMIN)
    secret_note = f"NOTE{uuid.uuid4().hex[:8]}"
    with coalition.db.session() as s:
        service = PolicyService(s, plat)
        areas = service.areas.keys()
        green = service.record(areas[0], "announced", marking=Marking(TLP.GREEN), note=secret_note)
        amber = service.record(areas[1], "in_force", marking=Marking(TLP.AMBER))  # platforms only
        del green, amber
    with coalition.db.session() as s:
        entries = ExchangeStore(s).query_audit(operator, AuditFilter(action="policy.record", limit=10))
    assert len(entries) == 2
    by_area = {e.detail.get("area"): e for e in entries if not e.redacted}
    assert list(by_area) == [areas[0]]
    assert by_area[areas[0]].detail["status"] == "announced" and by_area[areas[0]].target_id is not None
    hidden = [e for e in entries if e.redacted]
    assert len(hidden) == 1 and hidden[0].detail == {} and hidden[0].target_id is None
    assert secret_note not in json.dumps([e.__dict__ for e in entries], default=str)
    # a platform sees both (AMBER reaches platforms) through the same resolver
    with coalition.db.session() as s:
        other = ExchangeStore(s).query_audit(
            coalition.principal("plat_b", Role.ADMIN), AuditFilter(action="policy.record", limit=10)
        )
    # plat_b's admin reads entries involving plat_b only: none of these
    assert other == []
