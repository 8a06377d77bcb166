"""Failure 6 of issue #15: no way to offboard a member, and any admin could revoke its own
organisation's last admin key (a fuzzer locked an org out in 20 seconds). Over real HTTP (uvicorn)
and the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from typer.testing import CliRunner

from vigil.cli.app import app

from .conftest import LiveServer

runner = CliRunner()


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _org(live: LiveServer, kind: str) -> tuple[dict[str, Any], str, str]:
    with live.client(live.operator_key) as op:
        org = _ok(op.post("/api/v1/orgs", json={"name": f"org-{uuid.uuid4().hex[:8]}", "kind": kind}), 201)
        admin = _ok(op.post("/api/v1/keys", json={"org_id": org["id"], "role": "admin"}), 201)["key"]
        analyst = _ok(op.post("/api/v1/keys", json={"org_id": org["id"], "role": "analyst"}), 201)["key"]
    return org, admin, analyst


def test_an_org_cannot_revoke_its_last_admin_key(live: LiveServer) -> None:
    _, admin, _ = _org(live, "platform")
    with live.client(admin) as c:
        me = _ok(c.get("/api/v1/me"))
        refused = c.post(f"/api/v1/keys/{me['key_id']}/revoke")
        assert refused.status_code == 409 and "last working admin key" in refused.json()["message"]
        assert _ok(c.get("/api/v1/me"))["key_id"] == me["key_id"]  # still works
        second = _ok(c.post("/api/v1/keys", json={"role": "admin"}), 201)
        _ok(c.post(f"/api/v1/keys/{me['key_id']}/revoke"))  # another admin key remains
    with live.client(second["key"]) as c:
        assert c.post(f"/api/v1/keys/{second['id']}/revoke").status_code == 409


def test_suspend_reactivate_offboard_over_rest_and_cli(live: LiveServer) -> None:
    org, admin, analyst = _org(live, "platform")
    _, other_admin, other = _org(live, "platform")
    with live.client(analyst) as c:
        signal = _ok(
            c.post(
                "/api/v1/signals",
                json={"kind": "domain", "value": f"s{uuid.uuid4().hex[:8]}.com", "marking": {"tlp": "GREEN"}},
            ),
            201,
        )
    path = f"/api/v1/orgs/{org['id']}"
    with live.client(other_admin) as c:  # a member's admin may not
        assert c.post(f"{path}/suspend", json={"reason": "x"}).status_code == 403
    with live.client(live.operator_key) as op:
        assert op.post(f"{path}/suspend", json={}).status_code == 400  # a reason is required
        assert _ok(op.post(f"{path}/suspend", json={"reason": "key leak"}))["status"] == "suspended"
        # the operator's own organisation cannot be suspended (it would lock the coalition out)
        assert (
            op.post(f"/api/v1/orgs/{live.operator_org_id}/suspend", json={"reason": "x"}).status_code == 409
        )
    for key in (admin, analyst):
        with live.client(key) as c:
            answer = c.get("/api/v1/me")
            assert answer.status_code == 401 and "suspended" in answer.json()["message"]
    with live.client(other) as c:  # suspended: contributions stay visible as marked
        view = _ok(c.get(f"/api/v1/signals/{signal['id']}"))
        assert [x["revoked"] for x in view["contributions"]] == [False]
    with live.client(live.operator_key) as op:
        assert _ok(op.post(f"{path}/reactivate", json={"reason": "rotated"}))["status"] == "active"
    with live.client(analyst) as c:
        _ok(c.get("/api/v1/me"))
    # offboard from the CLI (the local administrator)
    result = runner.invoke(
        app,
        [
            "org",
            "offboard",
            org["id"],
            "--reason",
            "left the coalition",
            "--json",
            "--database-url",
            live.db.url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["status"] == "offboarded"
    with live.client(analyst) as c:
        assert c.get("/api/v1/me").status_code == 401
    with live.client(other) as c:
        view = _ok(c.get(f"/api/v1/signals/{signal['id']}"))
        assert [x["revoked"] for x in view["contributions"]] == [True]
    again = runner.invoke(
        app, ["org", "reactivate", org["id"], "--reason", "x", "--database-url", live.db.url]
    )
    assert again.exit_code != 0 and "is offboarded" in str(again.exception)
    with live.client(live.operator_key) as op:
        entries = _ok(op.get("/api/v1/audit", params={"target": org["id"]}))
        assert [e["action"] for e in reversed(entries)] == [
            "org.create",
            "org.suspend",
            "org.reactivate",
            "org.offboard",
        ]
        offboard = entries[0]["detail"]
        assert offboard["reason"] == "left the coalition"
        assert offboard["keys_revoked"] == 2 and offboard["contributions_revoked"] == 1
