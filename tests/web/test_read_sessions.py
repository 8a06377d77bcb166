"""Reads take no write lock (issue #23), on SQLite and PostgreSQL, over real HTTP.

Every GET of the API and the dashboard runs on a read session (``Database.reading``: SQLite a
deferred BEGIN under WAL, PostgreSQL a read-only transaction); the audit entries its reads imply are
written after the read in a short write transaction of their own, and a read whose entry cannot be
written is not answered (503). Before, every request began ``BEGIN IMMEDIATE`` on SQLite, so one
open write transaction made ``GET /api/v1/me`` wait for the 30 s busy timeout and answer 503.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from vigil.core.time import utcnow
from vigil.db import Database, DeferredWriteFailed, WriteInReadSession, after_read
from vigil.exchange import audit
from vigil.exchange.models import ApiKeyRow, AuditRow, OrgRow, SignalRow
from vigil.exchange.store import ExchangeStore
from vigil.web.sessions_models import WebSessionRow

from ..exchange.conftest import LiveServer, db, db_url, live, signed_in  # noqa: F401  (fixtures)

# Far below the 30 s busy timeout a read used to wait for, far above a read on a loaded machine.
PROMPT = 8.0


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text[:500]
    return response.json() if "json" in response.headers.get("content-type", "") else response.text


@pytest.fixture(scope="module")
def world(live: LiveServer) -> dict[str, str]:  # noqa: F811  (the exchange's fixture)
    """Two platforms (a reader and a source) and the source's GREEN and AMBER signals."""
    with live.db.session() as session:
        store = ExchangeStore(session)
        source = store.create_org(None, f"RS source {uuid.uuid4().hex[:6]}", "platform")
        reader = store.create_org(None, f"RS reader {uuid.uuid4().hex[:6]}", "platform")
        _, source_key = store.create_key(None, source.id, "analyst")
        reader_info, reader_key = store.create_key(None, reader.id, "analyst")
    ids = {}
    with live.client(source_key) as client:
        for tlp in ("GREEN", "AMBER"):
            body = {
                "kind": "domain",
                "value": f"rs-{tlp.lower()}-{uuid.uuid4().hex[:6]}.org",
                "marking": {"tlp": tlp},
            }
            ids[tlp] = _ok(client.post("/api/v1/signals", json=body), 201)["id"]
    return {
        "reader_key": reader_key,
        "reader_key_id": reader_info.id,
        "reader_org": reader.id,
        "green": ids["GREEN"],
        "amber": ids["AMBER"],
    }


def _reads(live: LiveServer, signal_id: str, reader_org: str) -> int:  # noqa: F811
    with live.db.session() as session:
        stmt = select(func.count()).where(
            AuditRow.action == "signal.read",
            AuditRow.target_id == signal_id,
            AuditRow.actor_org_id == reader_org,
        )
        return int(session.scalar(stmt) or 0)


def _timed(call: Any, *args: Any, **kwargs: Any) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    response = call(*args, **kwargs)
    return response, time.monotonic() - start


def test_reads_answer_while_a_writer_holds_its_transaction(live: LiveServer, world: dict[str, str]) -> None:  # noqa: F811
    sqlite = live.db.engine.dialect.name == "sqlite"
    reads_before = _reads(live, world["amber"], world["reader_org"])
    with (
        live.client(world["reader_key"]) as api,
        signed_in(live, world["reader_key"]) as browser,
        ThreadPoolExecutor(2) as pool,
    ):
        api.timeout = browser.timeout = httpx.Timeout(PROMPT)
        with live.db.session() as writer:
            # A write transaction left open, as a bulk chunk or a TAXII add holds one: on SQLite it
            # holds the database's write lock (BEGIN IMMEDIATE); on PostgreSQL it has locked the
            # rows the reads below read (the reader's key and organisation, the signals).
            writer.execute(
                update(ApiKeyRow).where(ApiKeyRow.id == world["reader_key_id"]).values(name="held")
            )
            writer.execute(update(OrgRow).where(OrgRow.id == world["reader_org"]).values(name=OrgRow.name))
            writer.execute(
                update(SignalRow)
                .where(SignalRow.id.in_([world["green"], world["amber"]]))
                .values(modified_at=SignalRow.modified_at)
            )
            writer.flush()

            me, took_me = _timed(api.get, "/api/v1/me")
            assert _ok(me)["org_id"] == world["reader_org"] and took_me < PROMPT
            green, took_green = _timed(api.get, f"/api/v1/signals/{world['green']}")
            assert _ok(green)["id"] == world["green"] and took_green < PROMPT
            page, took_page = _timed(browser.get, f"/signals/{world['green']}")
            assert page.status_code == 200 and took_page < PROMPT, page.text[:300]

            # An AMBER read (the signal, or a listing that shows it) is audited. PostgreSQL: the
            # entry's insert waits for nobody, so it is answered now. SQLite: the entry needs the
            # write lock, so the read is answered once its entry is written, after the writer
            # commits (writers hold the lock for short chunks): never without its entry.
            amber = pool.submit(api.get, f"/api/v1/signals/{world['amber']}")
            listing = pool.submit(browser.get, "/signals")
            if sqlite:
                time.sleep(1.0)
                assert not amber.done(), "an AMBER read was answered before its audit entry was written"
            else:
                assert _ok(amber.result(timeout=PROMPT))["id"] == world["amber"]
                assert world["amber"] in _ok(listing.result(timeout=PROMPT))
        # the writer commits here
        assert _ok(amber.result(timeout=PROMPT))["id"] == world["amber"]
        assert world["amber"] in _ok(listing.result(timeout=PROMPT))
    assert _reads(live, world["amber"], world["reader_org"]) == reads_before + 2  # the get and the listing


@pytest.fixture
def refuse_audit_of(live: LiveServer) -> Iterator[Any]:  # noqa: F811
    """Make the database refuse audit entries about one target (a real failure of that write)."""
    made: list[str] = []

    def refuse(target_id: str) -> None:
        with live.db.session() as session:
            if live.db.engine.dialect.name == "sqlite":
                session.execute(
                    text(
                        "CREATE TRIGGER rs_refuse BEFORE INSERT ON audit_log"
                        f" WHEN NEW.target_id = '{target_id}'"
                        " BEGIN SELECT RAISE(ABORT, 'audit refused by the test'); END"
                    )
                )
            else:
                session.execute(
                    text(
                        "CREATE FUNCTION rs_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                        f" IF NEW.target_id = '{target_id}' THEN RAISE EXCEPTION 'audit refused by the test';"
                        " END IF; RETURN NEW; END $$"
                    )
                )
                session.execute(
                    text(
                        "CREATE TRIGGER rs_refuse BEFORE INSERT ON audit_log"
                        " FOR EACH ROW EXECUTE FUNCTION rs_refuse()"
                    )
                )
        made.append(target_id)

    yield refuse
    if made:
        with live.db.session() as session:
            if live.db.engine.dialect.name == "sqlite":
                session.execute(text("DROP TRIGGER rs_refuse"))
            else:
                session.execute(text("DROP TRIGGER rs_refuse ON audit_log"))
                session.execute(text("DROP FUNCTION rs_refuse()"))


def test_a_read_whose_audit_entry_cannot_be_written_is_not_answered(
    live: LiveServer,  # noqa: F811
    world: dict[str, str],
    refuse_audit_of: Any,
) -> None:
    reads_before = _reads(live, world["amber"], world["reader_org"])
    refuse_audit_of(world["amber"])
    with live.client(world["reader_key"]) as api:
        refused = api.get(f"/api/v1/signals/{world['amber']}")
        assert refused.status_code == 503, refused.text[:300]
        body = refused.json()
        assert body["error"] == "DeferredWriteFailed" and "audit" in body["message"]
        assert world["amber"] not in refused.text  # nothing of the signal was shown
        # reads that imply no audit entry are not affected
        assert _ok(api.get(f"/api/v1/signals/{world['green']}"))["id"] == world["green"]
    assert _reads(live, world["amber"], world["reader_org"]) == reads_before


def test_a_page_view_notes_the_session_after_the_read(live: LiveServer, world: dict[str, str]) -> None:  # noqa: F811
    with signed_in(live, world["reader_key"]) as browser:
        with live.db.session() as session:
            row = session.scalars(
                select(WebSessionRow)
                .where(WebSessionRow.key_id == world["reader_key_id"], WebSessionRow.revoked_at.is_(None))
                .order_by(WebSessionRow.created_at.desc())
            ).first()
            assert row is not None
            id_hash, seen = row.id_hash, row.last_seen_at
            stale = seen - timedelta(minutes=5)
            session.execute(
                update(WebSessionRow).where(WebSessionRow.id_hash == id_hash).values(last_seen_at=stale)
            )
        assert browser.get("/signals").status_code == 200
        with live.db.session() as session:
            touched = session.get(WebSessionRow, id_hash)
            assert touched is not None and touched.last_seen_at > stale


# ---------------------------------------------------------------------------------------------
# Database.reading itself


def test_reading_defers_writes_and_refuses_writes_in_the_read(db: Database) -> None:  # noqa: F811
    with db.session() as session:
        org = ExchangeStore(session).create_org(None, "reading org", "platform")
    # a deferred audit entry is written after the read, in its own transaction
    with db.reading() as session:
        assert after_read(session) is not None
        audit.record(session, None, "test.read", at=utcnow(), target_id=org.id)
        assert (
            session.scalar(
                select(func.count()).where(AuditRow.target_id == org.id, AuditRow.action.like("test.%"))
            )
            == 0
        )
    with db.session() as session:
        assert (
            session.scalar(
                select(func.count()).where(AuditRow.target_id == org.id, AuditRow.action.like("test.%"))
            )
            == 1
        )
    # a block that fails drops its deferred entries, as a write transaction would roll them back
    with pytest.raises(LookupError), db.reading() as session:
        audit.record(session, None, "test.read", at=utcnow(), target_id=org.id)
        raise LookupError
    # a write in the read fails loudly (never discarded unseen), ORM or Core
    with pytest.raises(WriteInReadSession), db.reading() as session:
        session.get(OrgRow, org.id).name = "changed"  # type: ignore[union-attr]
    with pytest.raises(WriteInReadSession), db.reading() as session:
        session.execute(update(OrgRow).where(OrgRow.id == org.id).values(name="changed"))
    with db.session() as session:
        assert session.get(OrgRow, org.id).name == "reading org"  # type: ignore[union-attr]
        assert (
            session.scalar(
                select(func.count()).where(AuditRow.target_id == org.id, AuditRow.action.like("test.%"))
            )
            == 1
        )
    # the read-only mode does not leak into the pooled connection's next write transaction
    with db.session() as session:
        audit.record(session, None, "test.write", at=utcnow(), target_id=org.id)
    with db.read_session() as session:
        assert (
            session.scalar(
                select(func.count()).where(AuditRow.target_id == org.id, AuditRow.action.like("test.%"))
            )
            == 2
        )
    # a deferred write that fails is an error of the reading block (503)

    def broken(writer: Session) -> None:
        writer.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(DeferredWriteFailed), db.reading() as session:
        writes = after_read(session)
        assert writes is not None
        writes.append(broken)
