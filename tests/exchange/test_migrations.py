"""Migrations: revisions apply in order on both backends, keep data and the append-only guard,
and leave exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

import vigil.cases.meetings_models
import vigil.cases.models  # noqa: F401  (cases tables share the exchange's metadata and history)
from vigil.cases import policies_models as _policies  # noqa: F401  (revision 0010's table)
from vigil.core.time import utcnow
from vigil.db import Base, Database, current_revision, head_revision, upgrade
from vigil.exchange import audit
from vigil.exchange import flood_models as _flood  # noqa: F401  (revision 0012's tables)
from vigil.exchange import lifecycle_models as _lifecycle  # noqa: F401  (revision 0004's tables)
from vigil.exchange import taxii_models as _taxii  # noqa: F401  (revision 0011's tables)
from vigil.exchange.models import AuditRow
from vigil.web import sessions_models as _web_sessions  # noqa: F401  (revision 0008's table)

from .conftest import BACKENDS, _make_url


@pytest.fixture(params=BACKENDS)
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    db = Database(_make_url(request.param, request, tmp_path))
    request.addfinalizer(db.dispose)
    return db


def test_upgrade_step_by_step_keeps_data_and_the_audit_guard(empty_db: Database) -> None:
    assert current_revision(empty_db.engine) is None
    assert upgrade(empty_db.engine, "0001") == "0001"
    with empty_db.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO audit_log (at, action, detail) VALUES (:at, 'org.create', '{}')"),
            {"at": utcnow().replace(tzinfo=None)},
        )
    assert upgrade(empty_db.engine) == head_revision()
    with empty_db.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditRow)) == 1
        audit.record(s, None, "org.create", at=utcnow(), subject_org_id="identity--x")
    with empty_db.session() as s:
        assert [e.subject_org_id for e in audit.query(s, audit.AuditFilter())] == ["identity--x", None]
    with pytest.raises(DBAPIError, match="append-only"), empty_db.session() as s:
        s.execute(text("DELETE FROM audit_log"))
    assert upgrade(empty_db.engine) == head_revision()  # idempotent


def test_migrated_schema_matches_the_models(empty_db: Database) -> None:
    upgrade(empty_db.engine)
    with empty_db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        assert compare_metadata(context, Base.metadata) == []


@pytest.mark.timeout(90)  # without the lock the upgrades interfere and hang
def test_servers_starting_together_migrate_once(empty_db: Database) -> None:
    """Several processes upgrading one empty database at the same moment all succeed."""
    from concurrent.futures import ThreadPoolExecutor

    engines = [Database(empty_db.url) for _ in range(3)]
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            revisions = list(pool.map(lambda d: upgrade(d.engine), engines))
    finally:
        for d in engines:
            d.dispose()
    assert revisions == [head_revision()] * 3
