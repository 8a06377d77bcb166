"""Secrets at rest: webhook secrets and peer API keys are sealed in the database (SQLite file bytes,
every PostgreSQL row), webhooks still verify at a real receiver, keys rotate, a wrong key stops the
worker with a ConfigError naming the setting before anything is claimed or sent, and migration
0007 marks clear values that the worker then seals (and downgrade opens again), on both backends."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text
from typer.testing import CliRunner

from vigil.cli.app import app
from vigil.core.errors import ConfigError
from vigil.core.settings import Settings, get_settings, load_settings
from vigil.core.time import utcnow
from vigil.db.database import Database, _alembic_config, head_revision, upgrade
from vigil.exchange import federation, push, secrets_box
from vigil.exchange.access import Principal
from vigil.exchange.lifecycle_models import DeliveryRow, FederationPeerRow, SubscriptionRow
from vigil.exchange.records import TLP, Marking, OrgKind, Role
from vigil.exchange.secrets_box import SecretBox, generate_key, load_box
from vigil.exchange.stix_service import local_principal
from vigil.exchange.store import ExchangeStore

from .conftest import BACKENDS, LOCAL_RECEIVERS, Receiver, _make_url, push_settings, seed

PEER_KEY = "peer-api-key-0123456789abcdef"


# ---------------------------------------------------------------------------------------------
# the box


def test_seal_open_and_rotation() -> None:
    old, new = generate_key(), generate_key()
    sealed = SecretBox([old], source="test").seal("hunter2-secret")
    assert sealed.startswith("fernet:") and "hunter2" not in sealed
    assert SecretBox([old], source="test").open(sealed) == "hunter2-secret"
    # rotation: new key first, old after it; everything opens, reseal moves values to the new key
    both = SecretBox([new, old], source="test")
    assert both.open(sealed) == "hunter2-secret"
    moved = both.reseal(sealed)
    assert SecretBox([new], source="test").open(moved) == "hunter2-secret"
    with pytest.raises(ConfigError, match="cannot be opened with the key"):
        SecretBox([old], source="test").open(moved)
    # a value stored before revision 0007, and one with no scheme at all
    assert both.open("clear:legacy") == "legacy"
    with pytest.raises(ConfigError, match="no known scheme"):
        both.open("just-text")


def test_wrong_or_malformed_key_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"key 2 in VIGIL_SECRET_KEY \(secret_key\) is not a Fernet key"):
        load_box(load_settings(data_dir=tmp_path, secret_key=f"{generate_key()},not-a-key"))
    sealed = load_box(load_settings(data_dir=tmp_path, secret_key=generate_key())).seal("s")
    with pytest.raises(ConfigError, match=r"VIGIL_SECRET_KEY \(secret_key\): wrong key"):
        load_box(load_settings(data_dir=tmp_path, secret_key=generate_key())).open(sealed)
    bad_file = tmp_path / "bad.key"
    bad_file.write_text("garbage\n")
    with pytest.raises(ConfigError, match=f"secret_key_file {bad_file}"):
        load_box(load_settings(data_dir=tmp_path, secret_key_file=bad_file))


def test_key_file_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    box = load_box(settings)
    path = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    sealed = box.seal("x")
    assert load_box(settings).open(sealed) == "x"  # the same key next time
    secrets_box.add_key(settings)
    assert len(path.read_text().split()) == 2 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    rotated = load_box(settings)
    assert rotated.key_count == 2 and rotated.open(sealed) == "x"


# ---------------------------------------------------------------------------------------------
# stored sealed, on both backends


def _all_stored_text(db: Database) -> bytes:
    """Everything the database holds: the SQLite files' bytes, or every PostgreSQL row as text."""
    if db.engine.dialect.name == "sqlite":
        path = Path(str(db.engine.url.database))
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    with db.engine.connect() as conn:
        tables = inspect(conn).get_table_names()
        return "\n".join(
            str(row[0]) for t in tables for row in conn.execute(text(f'SELECT t::text FROM "{t}" t'))
        ).encode()


def test_secrets_never_stored_in_clear_and_webhooks_still_verify(
    db: Database, receiver: Receiver, tmp_path: Path
) -> None:
    settings = push_settings(tmp_path, push_backoff_s=0.01, push_timeout_s=2)
    with db.session() as s:
        store = ExchangeStore(s)
        c = seed(store)
        _, receiver.secret = push.create_subscription(
            store, c.principals["gov"], "hook", receiver.url, settings=settings
        )
        store.create_org(None, "Intl", "research")
        federation.add_peer(store, None, "intl", "https://peer.example.org", PEER_KEY, as_org="Intl",
                            settings=settings)  # fmt: skip
        store.submit_signal(c.principals["p1"], "domain", "sealed.info", marking=Marking(TLP.GREEN))
    _, sent = push.run_once(db, settings)
    assert sent.delivered == 1 and receiver.received[0].verified
    stored = _all_stored_text(db)
    assert b"sealed.info" in stored  # the check can see stored text at all
    assert receiver.secret.encode() not in stored and PEER_KEY.encode() not in stored
    with db.session() as s:
        row = s.scalars(select(SubscriptionRow)).one()
        peer = s.scalars(select(FederationPeerRow)).one()
        assert row.secret.startswith("fernet:") and peer.api_key.startswith("fernet:")
        assert load_box(settings).open(peer.api_key) == PEER_KEY


def test_wrong_key_stops_the_worker_before_anything_is_sent(
    db: Database, receiver: Receiver, tmp_path: Path
) -> None:
    settings = push_settings(tmp_path / "right")
    with db.session() as s:
        store = ExchangeStore(s)
        c = seed(store)
        _, receiver.secret = push.create_subscription(
            store, c.principals["gov"], "hook", receiver.url, settings=settings
        )
        store.submit_signal(c.principals["p1"], "domain", "waiting.info", marking=Marking(TLP.GREEN))
    wrong = push_settings(tmp_path / "wrong")  # another data dir: another (new) key file
    with pytest.raises(ConfigError, match=r"secret_key_file .*wrong.*secret\.key: wrong key"):
        push.run_once(db, wrong)
    assert receiver.received == []
    with db.session() as s:
        (delivery,) = s.scalars(select(DeliveryRow)).all()
        assert delivery.status == push.PENDING and delivery.attempts == 0  # not claimed either
        assert delivery.next_attempt_at <= utcnow()
    # the CLI says so in one line, exit code 78 (EX_CONFIG), no traceback
    env = {"VIGIL_DATABASE_URL": db.url, "VIGIL_DATA_DIR": str(tmp_path / "wrong"), **_env_allow()}
    vigil = Path(sys.executable).parent / "vigil"
    done = subprocess.run(
        [str(vigil), "push", "run", "--rounds", "1"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 78 and "Traceback" not in done.stderr
    assert "cannot be opened with the key(s) in secret_key_file" in " ".join(done.stderr.split())
    _, sent = push.run_once(db, settings)
    assert sent.delivered == 1 and receiver.received[0].verified


def _env_allow() -> dict[str, str]:
    return {f"VIGIL_{k.upper()}": "true" for k in LOCAL_RECEIVERS}


def test_cli_rotate_key_reseals_everything(db: Database, receiver: Receiver, tmp_path: Path) -> None:
    env = {"VIGIL_DATABASE_URL": db.url, "VIGIL_DATA_DIR": str(tmp_path), **_env_allow()}
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == 0, (result.output, result.exception)
        return " ".join(result.output.split())

    with db.session() as s:
        seed(ExchangeStore(s))
    out = run("push", "subscribe", receiver.url, "--org", "Org gov")
    receiver.secret = out.split("with it): ")[1].split()[0]
    run("federation", "add-peer", "intl", "--url", "https://peer.example.org", "--key", PEER_KEY,
        "--as-org", "Org p1")  # fmt: skip
    with db.session() as s:
        before = s.scalars(select(SubscriptionRow.secret)).one()
    assert "sealed 1 webhook secret(s) and 1 peer API key(s)" in run("push", "rotate-key")
    keys = (tmp_path / "secret.key").read_text().split()
    assert len(keys) == 2
    newest_only = SecretBox(keys[:1], source="newest key")
    with db.session() as s:
        after = s.scalars(select(SubscriptionRow.secret)).one()
        assert after != before and newest_only.open(after) == receiver.secret
        assert newest_only.open(s.scalars(select(FederationPeerRow.api_key)).one()) == PEER_KEY
    # drop the old key: everything still works, webhooks still verify
    (tmp_path / "secret.key").write_text(keys[0] + "\n")
    with db.session() as s:
        store = ExchangeStore(s)
        p1 = local_principal(store, "Org p1")
        store.submit_signal(p1, "domain", "rotated.info", marking=Marking(TLP.GREEN))
    _, sent = push.run_once(db, load_settings(data_dir=tmp_path, **LOCAL_RECEIVERS))
    assert sent.delivered == 1 and receiver.received[-1].verified
    assert "sealed 1 webhook secret(s)" in run("push", "rekey")
    assert len(run("push", "generate-key")) == 44


# ---------------------------------------------------------------------------------------------
# migration 0007


@pytest.fixture
def process_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The process settings (what a migration's downgrade reads the key from) under tmp_path."""
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "proc"))
    monkeypatch.delenv("VIGIL_SECRET_KEY", raising=False)
    monkeypatch.setenv("VIGIL_PUSH_ALLOW_HTTP", "true")
    monkeypatch.setenv("VIGIL_PUSH_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.mark.parametrize("backend", BACKENDS)
def test_migration_0007_marks_clear_values_and_the_worker_seals_them(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    receiver: Receiver,
    process_settings: Settings,
) -> None:
    db = Database(_make_url(backend, request, tmp_path))
    request.addfinalizer(db.dispose)
    upgrade(db.engine, "0006")
    old_secret = "pre-0007-secret-" + "x" * 27  # 43 characters, like token_urlsafe(32)
    with db.session() as s:
        store = ExchangeStore(s)
        org = store.create_org(None, "Gov", "government")
        intl = store.create_org(None, "Intl", "research")
        p1 = store.create_org(None, "P1", "platform")
    now = utcnow().replace(tzinfo=None)
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO push_subscriptions (id, org_id, name, url, secret, kinds, tlps, events,"
                " active, created_at, scanned_until) VALUES ('subscription--old', :org, 'old', :url,"
                " :secret, '[]', '[]', :events, :t, :now, :now)"
            ),
            {
                "org": org.id,
                "url": receiver.url,
                "secret": old_secret,
                "t": True,
                "now": now,
                "events": json.dumps(push.SIGNAL_EVENTS),
            },
        )
        conn.execute(
            text(
                "INSERT INTO federation_peers (id, name, url, api_key, collections, as_org_id, max_tlp,"
                " enabled, created_at) VALUES ('peer--old', 'old', 'https://peer.example.org', :key,"
                " '[]', :org, 'GREEN', :t, :now)"
            ),
            {"key": PEER_KEY, "org": intl.id, "t": True, "now": now},
        )
    assert upgrade(db.engine) == head_revision()
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT secret FROM push_subscriptions")).scalar() == "clear:" + old_secret
        assert conn.execute(text("SELECT api_key FROM federation_peers")).scalar() == "clear:" + PEER_KEY

    # the worker's next round seals every marked value, and the old subscriber's webhooks verify
    receiver.secret = old_secret
    with db.session() as s:
        ExchangeStore(s).submit_signal(
            _principal(p1.id), "domain", "after-upgrade.info", marking=Marking(TLP.GREEN)
        )
    settings = push_settings(tmp_path / "proc", push_timeout_s=2)
    _, sent = push.run_once(db, settings)
    assert sent.delivered == 1 and receiver.received[0].verified
    stored = _all_stored_text(db)
    assert old_secret.encode() not in stored and PEER_KEY.encode() not in stored
    with db.session() as s:
        assert load_box(settings).open(s.scalars(select(FederationPeerRow.api_key)).one()) == PEER_KEY

    # downgrade opens them again with the process settings' key
    from alembic import command

    config = _alembic_config(db.engine)
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0006")
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT secret FROM push_subscriptions")).scalar() == old_secret
        assert conn.execute(text("SELECT api_key FROM federation_peers")).scalar() == PEER_KEY
    assert upgrade(db.engine) == head_revision()


def _principal(org_id: str) -> Principal:
    return Principal("test", org_id, OrgKind.PLATFORM, Role.ANALYST)


def test_app_refuses_to_start_with_a_malformed_secret_key(tmp_path: Path) -> None:
    from vigil.web.app import create_app

    with pytest.raises(ConfigError, match=r"VIGIL_SECRET_KEY \(secret_key\)"):
        create_app(load_settings(data_dir=tmp_path, secret_key="not-a-key"))
    assert create_app(load_settings(data_dir=tmp_path, secret_key=generate_key())) is not None
