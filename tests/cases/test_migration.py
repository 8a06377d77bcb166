"""Revision 0003 adds the cases tables to an existing exchange database and removes them again."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from vigil.db import Database, head_revision, upgrade
from vigil.exchange.store import ExchangeStore

from ..exchange.conftest import BACKENDS, _make_url

CASE_TABLES = {"cases", "case_signals", "case_actions", "case_events", "case_checklist", "briefings"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_from_0002_keeps_the_exchange_and_downgrade_removes_cases(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    db = Database(_make_url(backend, request, tmp_path))
    request.addfinalizer(db.dispose)
    upgrade(db.engine, "0002")
    with db.session() as s:
        org = ExchangeStore(s).create_org(None, "Examplebook", "platform")
    assert not CASE_TABLES & set(inspect(db.engine).get_table_names())
    assert upgrade(db.engine) == head_revision()
    assert set(inspect(db.engine).get_table_names()) >= CASE_TABLES
    with db.session() as s:
        assert ExchangeStore(s).get_org(None, org.id).name == "Examplebook"

    from alembic import command

    from vigil.db.database import _alembic_config

    config = _alembic_config(db.engine)
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    assert not CASE_TABLES & set(inspect(db.engine).get_table_names())
