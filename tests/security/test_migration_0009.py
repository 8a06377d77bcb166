"""Revision 0009 on SQLite and PostgreSQL: organisation status, and the conservative backfill of
feedback bases (the giver's own contribution, else visible to the giver only), then down again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from vigil.core.time import utcnow
from vigil.db.database import Database, _alembic_config, head_revision, upgrade
from vigil.exchange.store import ExchangeStore

from ..exchange.conftest import BACKENDS, _make_url


@pytest.fixture(params=BACKENDS)
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    db = Database(_make_url(request.param, request, tmp_path))
    request.addfinalizer(db.dispose)
    return db


def test_0009_backfills_feedback_bases_and_org_status(empty_db: Database) -> None:
    assert upgrade(empty_db.engine, "0008") == "0008"
    now = utcnow().replace(tzinfo=None)
    with empty_db.engine.begin() as conn:
        for org, kind in (("identity--a", "platform"), ("identity--b", "government")):
            conn.execute(
                text(
                    "INSERT INTO orgs (id, name, kind, operator, created_at) VALUES (:i, :i, :k, false, :t)"
                ),
                {"i": org, "k": kind, "t": now},
            )
        conn.execute(
            text(
                "INSERT INTO signals (id, kind, value, created_at, modified_at) "
                "VALUES ('indicator--s', 'domain', 'x.com', :t, :t)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO contributions (id, signal_id, org_id, tlp, confidence, version, created_at,"
                " modified_at) VALUES (7, 'indicator--s', 'identity--a', 'RED', 50, 1, :t, :t)"
            ),
            {"t": now},
        )
        conn.execute(text("INSERT INTO contribution_shares VALUES (7, 'identity--b')"))
        for org in ("identity--a", "identity--b"):
            conn.execute(
                text(
                    "INSERT INTO opinions (signal_id, org_id, value, comment, created_at) "
                    "VALUES ('indicator--s', :o, 'confirmed', 'c', :t)"
                ),
                {"o": org, "t": now},
            )
            conn.execute(
                text(
                    "INSERT INTO sightings (signal_id, org_id, count, first_seen, last_seen, created_at) "
                    "VALUES ('indicator--s', :o, 3, :t, :t, :t)"
                ),
                {"o": org, "t": now},
            )
    assert upgrade(empty_db.engine, "0009") == "0009"
    with empty_db.session() as s:
        assert {o.status.value for o in ExchangeStore(s).list_orgs(None)} == {"active"}
        for table in ("opinions", "sightings"):
            rows = dict(s.execute(text(f"SELECT org_id, basis FROM {table}")).all())
            basis = {k: v if isinstance(v, list) else json.loads(v) for k, v in rows.items()}
            assert basis["identity--a"] == [
                {"c": 7, "org": "identity--a", "tlp": "RED", "to": ["identity--b"]}
            ]
            assert basis["identity--b"] == []  # not a contributor: visible to itself only
    config = _alembic_config(empty_db.engine)
    with empty_db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")
    with empty_db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM opinions")).scalar() == 2
    assert upgrade(empty_db.engine, "0009") == "0009"
    assert upgrade(empty_db.engine) == head_revision()
