"""The lifecycle's REST endpoints over a real uvicorn server, and the CLI on a real database:
warning lists (409 naming the list, override with a reason, audit), subscriptions and dead letters,
federation peers; `vigil federation` / `vigil push` / `vigil warninglist` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.cli.app import app
from vigil.core.errors import NotFound
from vigil.db import Database
from vigil.exchange import warninglists
from vigil.exchange.store import ExchangeStore

from .conftest import LIVE_KEY, LiveServer, Receiver, push_settings, seed


@pytest.fixture(scope="module")
def keys(live: LiveServer) -> dict[str, str]:
    with live.db.session() as s:
        c = seed(ExchangeStore(s))
    return {**c.keys, "operator": live.operator_key}


def test_warning_list_refuses_then_override_with_reason(live: LiveServer, keys: dict[str, str]) -> None:
    with live.client(keys["p1"]) as http:
        refused = http.post(
            "/api/v1/signals", json={"kind": "domain", "value": "news.BBC.co.uk", "marking": {"tlp": "GREEN"}}
        )
        assert refused.status_code == 409
        body = refused.json()
        assert "news-domains" in body["message"] and body["details"]["warninglist"] == "news-domains"
        check = http.get("/api/v1/warninglists/check", params={"kind": "domain", "value": "bit.ly"}).json()
        assert [h["name"] for h in check["lists"]] == ["url-shorteners"]
        assert (
            http.post(
                "/api/v1/warninglists/overrides", json={"kind": "domain", "value": "bbc.co.uk"}
            ).status_code
            == 400
        )
        made = http.post(
            "/api/v1/warninglists/overrides",
            json={
                "kind": "domain",
                "value": "news.bbc.co.uk",
                "reason": "cloned subdomain used by the operation",
            },
        )
        assert made.status_code == 201 and made.json()["list"] == "news-domains"
        accepted = http.post(
            "/api/v1/signals", json={"kind": "domain", "value": "news.bbc.co.uk", "marking": {"tlp": "GREEN"}}
        )
        assert accepted.status_code == 201, accepted.text
        # Flagged, not blocked: a broad value is tagged for every consumer.
        broad = http.post(
            "/api/v1/signals", json={"kind": "hashtag", "value": "#Elections", "marking": {"tlp": "GREEN"}}
        )
        assert broad.status_code == 201
        assert "warninglist:too-broad" in broad.json()["contributions"][0]["tags"]
        lists = {w["name"]: w for w in http.get("/api/v1/warninglists").json()}
        assert {"news-domains", "url-shorteners", "trending-hashtags", "too-broad"} <= set(lists)
        assert (
            http.post("/api/v1/warninglists/news-domains/values", json={"add": ["x.info"]}).status_code == 403
        )
    with live.client(keys["p2"]) as http:  # the override was p1's alone
        again = http.post(
            "/api/v1/signals", json={"kind": "domain", "value": "news.bbc.co.uk", "marking": {"tlp": "GREEN"}}
        )
        assert again.status_code == 409
    with live.client(keys["operator"]) as http:
        edited = http.post(
            "/api/v1/warninglists/trending-hashtags/values",
            json={"add": ["#Ballot2026"], "reason": "trending today"},
        )
        assert edited.status_code == 200 and "ballot2026" in edited.json()["values"]
        audit = http.get("/api/v1/audit", params={"action": "warninglist.override"}).json()
        assert audit and audit[0]["detail"]["reason"] == "cloned subdomain used by the operation"
    with live.client(keys["p2"]) as http:
        assert (
            http.post(
                "/api/v1/signals",
                json={"kind": "hashtag", "value": "ballot2026", "marking": {"tlp": "GREEN"}},
            ).status_code
            == 409
        )


def test_subscription_endpoints_and_dead_letters(
    live: LiveServer, keys: dict[str, str], receiver: Receiver, tmp_path: Path
) -> None:
    from vigil.exchange import push

    with live.client(keys["gov"]) as http:
        made = http.post(
            "/api/v1/subscriptions", json={"name": "hook", "url": receiver.url, "kinds": ["url"]}
        )
        assert made.status_code == 201
        secret, sub_id = made.json()["secret"], made.json()["id"]
        listed = http.get("/api/v1/subscriptions").json()
        assert [s["id"] for s in listed] == [sub_id] and "secret" not in listed[0]
        bad = http.post("/api/v1/subscriptions", json={"name": "x", "url": "file:///etc/passwd"})
        assert bad.status_code == 400 and "url" in bad.json()["message"]
    with live.client(keys["p1"]) as http:
        assert (
            http.post(
                "/api/v1/signals",
                json={"kind": "url", "value": "https://dead.info/x", "marking": {"tlp": "GREEN"}},
            ).status_code
            == 201
        )
    receiver.secret = secret
    receiver.fail_next = 10
    settings = push_settings(tmp_path, secret_key=LIVE_KEY, push_max_attempts=1, push_backoff_s=0.01)
    _, sent = push.run_once(live.db, settings)
    assert sent.dead == 1
    with live.client(keys["gov"]) as http:
        dead = http.get("/api/v1/subscriptions/dead-letters").json()
        assert len(dead) == 1 and dead[0]["last_error"].startswith("HTTP 500")
        receiver.fail_next = 0
        assert http.post(f"/api/v1/subscriptions/dead-letters/{dead[0]['id']}/retry").status_code == 200
    with live.client(keys["p2"]) as http:
        assert http.get("/api/v1/subscriptions/dead-letters").json() == []
        assert http.post(f"/api/v1/subscriptions/dead-letters/{dead[0]['id']}/retry").status_code == 404
    _, sent = push.run_once(live.db, settings)
    assert sent.delivered == 1 and receiver.received[-1].verified
    with live.client(keys["gov"]) as http:
        assert http.delete(f"/api/v1/subscriptions/{sub_id}").json()["active"] is False


def test_federation_peer_endpoints_are_for_the_operator(live: LiveServer, keys: dict[str, str]) -> None:
    with live.client(keys["p1"]) as http:
        assert http.get("/api/v1/federation/peers").status_code == 403
        assert http.post("/api/v1/federation/peers/x/pull").status_code == 403
    with live.client(keys["operator"]) as http:
        made = http.post(
            "/api/v1/federation/peers",
            json={"name": "self", "url": live.base_url, "key": keys["gov"], "as_org": "Org p2"},
        )
        assert made.status_code == 201 and "key" not in made.json()
        pulled = http.post("/api/v1/federation/peers/self/pull")
        assert pulled.status_code == 200, pulled.text
        assert pulled.json()["objects_received"] > 0
        assert http.get("/api/v1/federation/peers").json()[0]["last_pull_at"]


def test_cli_federation_push_warninglist(tmp_path: Path, db: Database, receiver: Receiver) -> None:
    runner = CliRunner()
    env = {
        "VIGIL_DATABASE_URL": db.url,
        "VIGIL_DATA_DIR": str(tmp_path),
        "VIGIL_PUSH_ALLOW_HTTP": "true",  # the receiver is http://127.0.0.1
        "VIGIL_PUSH_ALLOW_PRIVATE": "true",
    }
    with db.session() as s:
        seed(ExchangeStore(s))

    def run(*args: str) -> str:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == 0, result.output
        return result.output

    out = run("push", "subscribe", receiver.url, "--org", "Org gov", "--kind", "domain")
    receiver.secret = out.split("with it): ")[1].split()[0]
    result = runner.invoke(app, ["warninglist", "check", "domain", "t.co"], env=env)
    assert result.exit_code == 1 and "url-shorteners" in result.output
    run("warninglist", "override", "domain", "t.co", "--org", "Org p1", "--reason", "test reason")
    with db.session() as s:
        store = ExchangeStore(s)
        from vigil.exchange.records import TLP, Marking
        from vigil.exchange.stix_service import local_principal

        store.submit_signal(local_principal(store, "Org p1"), "domain", "t.co", marking=Marking(TLP.GREEN))
    out = run("push", "run", "--rounds", "1", "--interval", "1s")
    assert "delivered 1" in out and receiver.received[0].verified
    assert json.loads(receiver.received[0].body)["signal"]["value"] == "t.co"
    listed = json.loads(run("warninglist", "overrides", "--json"))
    assert listed[0]["reason"] == "test reason"
    assert "t.co" not in run("warninglist", "show", "too-broad")
    result = runner.invoke(app, ["federation", "pull", "nobody"], env=env)
    assert isinstance(result.exception, NotFound) and "nobody" in str(result.exception)
    run("federation", "add-peer", "down", "--url", "http://127.0.0.1:9", "--key", "k", "--as-org", "Org p1")
    result = runner.invoke(app, ["federation", "pull"], env=env)
    assert result.exit_code == 6 and "unreachable" in result.output.replace("\n", " ")
    assert "down" in run("federation", "list")


def test_shipped_lists_parse_and_suffix_matching() -> None:
    lists = warninglists.file_lists()
    assert lists["news-domains"].hit(warninglists.SignalKind.DOMAIN, "sport.bbc.co.uk")
    assert not lists["news-domains"].hit(warninglists.SignalKind.DOMAIN, "notbbc.co.uk")
    assert not lists["url-shorteners"].hit(warninglists.SignalKind.URL, "https://bit.ly/abc")
    with pytest.raises(warninglists.ConfigError, match="kinds"):
        warninglists.parse_list({"name": "x", "values": ["a"]}, "x.yaml")
    with pytest.raises(warninglists.ConfigError, match="not a valid domain"):
        warninglists.parse_list({"name": "x", "kinds": ["domain"], "values": ["not a domain"]}, "x.yaml")
