"""``submit_signals`` (bulk) against ``submit_signal`` (one at a time) on both backends: the same
batch from the same starting database gives the same rows in every table and the same audit log;
bad items are rejected naming the item, and nothing stored before is lost."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import make_url

from vigil.core.errors import Conflict, InputError
from vigil.core.ids import stable_id
from vigil.db import Database
from vigil.exchange import warninglists
from vigil.exchange.access import Principal
from vigil.exchange.models import (
    AuditRow,
    ContributionRow,
    ContributionShareRow,
    ContributionTagRow,
    ContributionVersionRow,
    SignalRow,
)
from vigil.exchange.records import TLP, Marking, Role
from vigil.exchange.store import ExchangeStore, SignalSubmission, bulk
from vigil.web.schemas import BulkItemOut, SignalBulkOut

from .conftest import LiveServer, live  # noqa: F401  (the module-scoped server, found by name)
from .test_api import World, _ok

T0 = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)


@dataclass
class Setup:
    p1: Principal
    p2_id: str
    gov_id: str
    campaign_id: str


def _setup(db: Database) -> Setup:
    """Three organisations, a campaign, an override for a blocked value, and contributions the
    batch will update, un-revoke, or leave alone."""
    with db.session() as s:
        store = ExchangeStore(s, now=T0)
        p1 = store.create_org(None, "p1", "platform")
        p2 = store.create_org(None, "p2", "platform")
        gov = store.create_org(None, "gov", "government")
        key_row, _ = store.create_key(None, p1.id, "analyst", name="p1")
        principal = Principal(key_row.id, p1.id, p1.kind, Role.ANALYST)
        campaign = store.create_campaign(principal, "Cloned outlets", marking=Marking(TLP.GREEN))
        warninglists.add_override(s, principal, "domain", "bit.ly", "campaign uses it", at=T0)
        store.submit_signal(principal, "domain", "old.info", marking=Marking(TLP.GREEN), tags=["x", "y"])
        store.submit_signal(principal, "hashtag", "stolenvote", marking=Marking(TLP.AMBER, (p2.id,)))
        revoked = store.submit_signal(principal, "url", "https://gone-news.org/a", marking=Marking(TLP.GREEN))
        store.revoke_signal(principal, revoked.id)
        p2_principal = Principal("k2", p2.id, p2.kind, principal.role)
        store.submit_signal(p2_principal, "domain", "old.info", marking=Marking(TLP.CLEAR), confidence=90)
        return Setup(principal, p2.id, gov.id, campaign.id)


def _batch(setup: Setup) -> list[SignalSubmission]:
    amber = Marking(TLP.AMBER, (setup.p2_id, setup.gov_id))
    return [
        SignalSubmission("domain", "New-Site.INFO", Marking(TLP.GREEN), confidence=70, tags=["ops"]),
        SignalSubmission("domain", "old.info", Marking(TLP.RED, (setup.gov_id,)), tags=["y", "z"]),
        SignalSubmission("hashtag", "#StolenVote", amber, description="rising", language="en"),
        SignalSubmission("url", "https://gone-news.org/a", Marking(TLP.GREEN)),  # un-revoked
        SignalSubmission("domain", "bit.ly", Marking(TLP.GREEN)),  # blocked, but overridden
        SignalSubmission("domain", "youtube.com", Marking(TLP.CLEAR)),  # flagged: warninglist tag
        SignalSubmission(
            "account",
            "twitter:@cloned_news",
            Marking(TLP.GREEN),
            campaign_id=setup.campaign_id,
            first_seen=T0 - timedelta(days=3),
            last_seen=T0 - timedelta(days=1),
            valid_until=T0 + timedelta(days=30),
        ),
        SignalSubmission("domain", "new-site.info", Marking(TLP.AMBER), confidence=20),  # same signal again
        SignalSubmission("narrative", "Ballots were burned", Marking(TLP.GREEN), language="en"),
        SignalSubmission("narrative", "Ballots were burned", Marking(TLP.AMBER), language="fr"),
    ]


def _submit_one_by_one(store: ExchangeStore, principal: Principal, items: list[SignalSubmission]) -> None:
    for i in items:
        store.submit_signal(
            principal,
            i.kind,
            i.value,
            marking=i.marking,
            confidence=i.confidence,
            tags=i.tags,
            first_seen=i.first_seen,
            last_seen=i.last_seen,
            campaign_id=i.campaign_id,
            description=i.description,
            language=i.language,
            valid_until=i.valid_until,
        )


def _state(db: Database) -> dict[str, Any]:
    """Every row the submission paths write, without the surrogate ids of child rows."""
    with db.session() as s:
        cid = {c.id: (c.signal_id, c.org_id) for c in s.scalars(select(ContributionRow))}

        def rows(model: type, *columns: str, order: Any = None) -> list[tuple[Any, ...]]:
            found: Any = s.scalars(select(model).order_by(order) if order is not None else select(model))
            out = []
            for r in found:
                values = tuple(getattr(r, c) for c in columns)
                if hasattr(r, "contribution_id"):
                    values = (cid[r.contribution_id], *values)
                out.append(values)
            return out if order is not None else sorted(out, key=repr)

        return {
            "signals": rows(SignalRow, "id", "kind", "value", "language", "created_at", "modified_at"),
            "contributions": rows(
                ContributionRow,
                "signal_id",
                "org_id",
                "tlp",
                "confidence",
                "first_seen",
                "last_seen",
                "campaign_id",
                "description",
                "valid_until",
                "revoked_at",
                "version",
                "created_at",
                "modified_at",
            ),
            "shares": rows(ContributionShareRow, "org_id"),
            "tags": rows(ContributionTagRow, "tag"),
            "versions": rows(ContributionVersionRow, "version", "modified_at", "snapshot"),
            "audit": rows(
                AuditRow,
                "at",
                "actor_key_id",
                "actor_org_id",
                "action",
                "target_type",
                "target_id",
                "tlp",
                "detail",
                "subject_org_id",
                order=AuditRow.id,
            ),
        }


def _clone(url: str, tmp_path: Path) -> str:
    """A copy of the database at ``url`` (same ids everywhere), on the same backend."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        target = tmp_path / f"clone-{uuid.uuid4().hex[:8]}.db"
        shutil.copy(str(parsed.database), target)
        return f"sqlite:///{target}"
    name = f"c_{uuid.uuid4().hex[:16]}"
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{parsed.database}"'))
    admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def twins(db_url: str, tmp_path: Path) -> Iterator[tuple[Database, Database, Setup]]:
    first = Database(db_url)
    setup = _setup(first)
    first.dispose()
    second_url = _clone(db_url, tmp_path)
    a, b = Database(db_url), Database(second_url)
    yield a, b, setup
    a.dispose()
    b.dispose()


def test_bulk_and_single_submit_store_the_same_rows_and_audit_log(
    twins: tuple[Database, Database, Setup],
) -> None:
    single, bulk, setup = twins
    assert _state(single) == _state(bulk)  # the clone is exact
    items = _batch(setup)
    with single.session() as s:
        _submit_one_by_one(ExchangeStore(s, now=T1), setup.p1, items)
    with bulk.session() as s:
        report = ExchangeStore(s, now=T1).submit_signals(setup.p1, items)
    assert report.stored == len(items) and report.rejected == []
    assert [i.version for i in report.items] == [1, 2, 2, 3, 1, 1, 1, 2, 1, 2]
    assert [i.created for i in report.items] == [
        True,
        False,
        False,
        False,
        True,
        True,
        True,
        False,
        True,
        False,
    ]
    expected, got = _state(single), _state(bulk)
    for table in expected:
        assert got[table] == expected[table], table
    actions = [a[3] for a in got["audit"]]
    assert actions.count("signal.submit") == 10 + 4  # the batch and the setup's four submissions
    assert "warninglist.override_used" in actions


def test_chunked_submission_stores_the_same_rows_and_audit_log(
    twins: tuple[Database, Database, Setup],
) -> None:
    """``chunk=3``: four write transactions; items 0 and 7 (one signal) and 8 and 9 fall in
    different chunks, so versions must carry across commits as in one transaction."""
    single, bulk, setup = twins
    items = _batch(setup)
    with single.session() as s:
        _submit_one_by_one(ExchangeStore(s, now=T1), setup.p1, items)
    calls: list[tuple[int, int]] = []
    with bulk.session() as s:
        report = ExchangeStore(s, now=T1).submit_signals(
            setup.p1, items, chunk=3, progress=lambda done, total: calls.append((done, total))
        )
    assert calls == [(0, 10), (3, 10), (6, 10), (9, 10), (10, 10)]
    assert [i.version for i in report.items] == [1, 2, 2, 3, 1, 1, 1, 2, 1, 2]
    expected, got = _state(single), _state(bulk)
    for table in expected:
        assert got[table] == expected[table], table


def test_chunked_submission_commits_each_chunk_and_holds_no_lock_between_them(db: Database) -> None:
    """After each chunk another connection sees its rows and can lock them at once (SQLite: takes
    the write lock with a 1 s busy timeout; PostgreSQL: ``FOR UPDATE NOWAIT``); a bad item still
    stores nothing, and ``chunk`` must be a positive integer."""
    with db.session() as s:
        store = ExchangeStore(s)
        org = store.create_org(None, "chunky", "platform")
        principal = Principal("k", org.id, org.kind, Role.ANALYST)
    items = [SignalSubmission("domain", f"chunk-{i}.info", Marking(TLP.GREEN)) for i in range(12)]
    ids = [stable_id("indicator", "domain", i.value) for i in items]
    sqlite = db.engine.dialect.name == "sqlite"
    other = create_engine(db.url, **({"connect_args": {"timeout": 1}} if sqlite else {}))
    seen: list[int] = []

    def probe(done: int, total: int) -> None:
        with other.connect() as conn:
            if sqlite:
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # OperationalError if a chunk held the lock
            stored = conn.execute(select(func.count()).where(SignalRow.id.in_(ids))).scalar_one()
            if not sqlite and done:
                conn.execute(
                    select(SignalRow.id).where(SignalRow.id == ids[done - 1]).with_for_update(nowait=True)
                )
            conn.rollback()
        seen.append(stored)

    try:
        with db.session() as s:
            ExchangeStore(s).submit_signals(principal, items, chunk=5, progress=probe)
        assert seen == [0, 5, 10, 12]
        if sqlite:  # the chunks before the last deferred the WAL checkpoint; the last put it back
            with db.session() as s:
                assert s.connection().exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
        bad = [*items[:3], SignalSubmission("domain", "not a domain", Marking(TLP.GREEN))]
        with db.session() as s, pytest.raises(InputError, match=r"item 3 \(domain 'not a domain'\)"):
            ExchangeStore(s).submit_signals(principal, bad, chunk=1)
        for wrong in (0, -1, True):
            with db.session() as s, pytest.raises(InputError, match="chunk must be a positive"):
                ExchangeStore(s).submit_signals(principal, items, chunk=wrong)
        with db.session() as s, pytest.raises(InputError, match="hold must be a positive"):
            ExchangeStore(s).submit_signals(principal, items, chunk=5, hold=0)
        with db.session() as s:
            versions = s.scalars(select(ContributionRow.version).where(ContributionRow.signal_id.in_(ids)))
            assert sorted(versions) == [1] * 12  # the refused batches stored nothing
    finally:
        other.dispose()


def test_a_failing_chunked_submission_leaves_the_checkpoint_setting_as_it_was(tmp_path: Path) -> None:
    """SQLite: the chunks before the last defer the WAL checkpoint on their connection. A database
    error in the third chunk (a trigger refuses one value's audit entry) keeps the two chunks
    committed before it, and every connection the submission used is back at the default (1,000
    pages); before, the failing chunk's connection went back to the pool at 16,384."""
    db = Database(f"sqlite:///{tmp_path / 'checkpoint.db'}")
    try:
        from vigil.db import upgrade

        upgrade(db.engine)
        with db.session() as s:
            org = ExchangeStore(s).create_org(None, "failing", "platform")
            principal = Principal("k", org.id, org.kind, Role.ANALYST)
            s.connection().exec_driver_sql(
                "CREATE TRIGGER refuse_one BEFORE INSERT ON audit_log "
                f"WHEN NEW.target_id = '{stable_id('indicator', 'domain', 'fail-12.info')}' "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        used: list[Any] = []
        event.listen(db.engine, "begin", lambda conn: used.append(conn.connection.dbapi_connection))
        items = [SignalSubmission("domain", f"fail-{i}.info", Marking(TLP.GREEN)) for i in range(20)]
        with pytest.raises(Exception, match="refused by the test"), db.session() as s:
            ExchangeStore(s).submit_signals(principal, items, chunk=5)
        assert used, "no write transaction seen"
        for connection in {id(c): c for c in used}.values():
            assert connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        with db.session() as s:  # the chunks before the failing one stay, each whole
            stored = sorted(s.scalars(select(SignalRow.value).where(SignalRow.value.like("fail-%"))))
            assert stored == sorted(i.value for i in items[:10]), stored
    finally:
        db.dispose()


def test_chunks_are_sized_to_the_hold_time(db: Database) -> None:
    """``hold``: each chunk's wall time sizes the next (never below ``MIN_CHUNK``, never above
    ``chunk``); a generous hold keeps the largest chunks."""
    with db.session() as s:
        store = ExchangeStore(s)
        org = store.create_org(None, "sized", "platform")
        principal = Principal("k", org.id, org.kind, Role.ANALYST)
    items = [SignalSubmission("domain", f"sized-{i}.info", Marking(TLP.GREEN)) for i in range(160)]
    done: list[int] = []
    with db.session() as s:
        ExchangeStore(s).submit_signals(
            principal, items, chunk=60, hold=1e-9, progress=lambda d, t: done.append(d)
        )
    assert done == [0, 60, 110, 160]  # 60, then the floor of 50
    done.clear()
    with db.session() as s:  # every item again (updates), in chunks of at most 100
        ExchangeStore(s).submit_signals(
            principal, items, chunk=100, hold=3600, progress=lambda d, t: done.append(d)
        )
    assert done == [0, 100, 160]
    assert bulk._next_size(500, 500, 0.2, 0.1, 2000) == 375  # halfway from 500 to the 250 that fit
    assert bulk._next_size(500, 500, 0.01, 0.1, 2000) == 2000


def test_a_bad_item_rejects_the_batch_naming_it_and_loses_nothing(
    twins: tuple[Database, Database, Setup],
) -> None:
    _, db, setup = twins
    before = _state(db)
    items = _batch(setup)
    items.insert(3, SignalSubmission("domain", "not a domain", Marking(TLP.GREEN)))
    items.append(SignalSubmission("hashtag", "fine", Marking(TLP.GREEN), confidence=101))
    with db.session() as s, pytest.raises(InputError) as caught:
        ExchangeStore(s, now=T1).submit_signals(setup.p1, items)
    message = caught.value.message
    assert message.startswith("2 of 12 signal(s) rejected, nothing of the batch stored")
    assert "item 3 (domain 'not a domain')" in message
    assert "item 11 (hashtag 'fine'): confidence must be an integer 0-100, got 101" in message
    assert caught.value.details["rejected"] == [3, 11]
    assert _state(db) == before


def test_a_blocked_value_is_a_409_and_per_item_mode_stores_the_rest(
    twins: tuple[Database, Database, Setup],
) -> None:
    _, db, setup = twins
    items = [
        SignalSubmission("domain", "fresh.info", Marking(TLP.GREEN)),
        SignalSubmission("hashtag", "breaking", Marking(TLP.GREEN)),  # trending-hashtags, no override
        SignalSubmission("account", "twitter:@x", Marking(TLP.GREEN), campaign_id="campaign--nope"),
    ]
    with db.session() as s, pytest.raises(InputError):
        ExchangeStore(s, now=T1).submit_signals(setup.p1, items)  # two different error classes
    with (
        db.session() as s,
        pytest.raises(Conflict, match=r"item 1 \(hashtag 'breaking'\).*trending-hashtags"),
    ):
        ExchangeStore(s, now=T1).submit_signals(setup.p1, items[:2])
    with db.session() as s:
        store = ExchangeStore(s, now=T1)
        report = store.submit_signals(setup.p1, items, atomic=False)
        assert report.stored == 1
        assert [(b.index, type(b.error).__name__) for b in report.rejected] == [
            (1, "Conflict"),
            (2, "InputError"),
        ]
        assert report.rejected[0].to_dict()["error"]["details"]["warninglist"] == "trending-hashtags"
        assert store.find_signal(setup.p1, "domain", "fresh.info").contributions[0].version == 1
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(SignalRow).where(SignalRow.value == "breaking")) == 0


@pytest.fixture
def api(live: LiveServer) -> Iterator[World]:  # noqa: F811  (live is the fixture parameter)
    w = World(live)
    yield w
    w.close()


def test_bulk_route_over_http(api: World) -> None:
    world = api
    world.org("bulk", "platform", roles=("analyst", "read-only"))
    signals: list[dict[str, Any]] = [
        {"kind": "domain", "value": f"bulk-{uuid.uuid4().hex[:8]}.info", "marking": {"tlp": "GREEN"}}
        for _ in range(3)
    ]
    with world.client("bulk") as c:
        body = _ok(c.post("/api/v1/signals/bulk", json={"signals": signals}))
        assert body["stored"] == 3 and body["rejected"] == 0
        assert [i["version"] for i in body["items"]] == [1, 1, 1]
        again = _ok(c.post("/api/v1/signals/bulk", json={"signals": signals[:1]}))
        assert again["items"][0]["version"] == 2 and again["items"][0]["created"] is False
        bad = [*signals, {"kind": "hashtag", "value": "breaking", "marking": {"tlp": "GREEN"}}]
        refused = c.post("/api/v1/signals/bulk", json={"signals": bad})
        assert refused.status_code == 409, refused.text
        assert "item 3 (hashtag 'breaking')" in refused.json()["message"]
        listed = _ok(c.get("/api/v1/signals/lookup", params={"kind": "domain", "value": signals[1]["value"]}))
        assert listed["contributions"][0]["version"] == 1  # the refused batch stored nothing
        partial = _ok(c.post("/api/v1/signals/bulk", json={"signals": bad, "atomic": False}))
        assert partial["stored"] == 3 and partial["rejected"] == 1
        assert partial["items"][3]["error"]["error"] == "Conflict"
        # the answer is written without the response model: it must be exactly what the model gives
        for answer in (body, partial):
            assert SignalBulkOut.model_validate(answer).model_dump(mode="json") == answer
        assert list(body["items"][0]) == list(BulkItemOut.model_fields)
        # NUL is looked for once over the whole envelope; the error still names where it is
        nul = [*signals, {"kind": "domain", "value": "nul.info", "tags": ["ok", "a\x00b"]}]
        refused = c.post("/api/v1/signals/bulk", json={"signals": nul})
        assert refused.status_code == 400, refused.text
        assert "signals[3].tags[1] contains a NUL" in refused.json()["message"]
        # a literal backslash-u0000 (six characters, no NUL) is text like any other
        literal = {**signals[0], "description": "see \\u0000 in the feed"}
        assert _ok(c.post("/api/v1/signals/bulk", json={"signals": [literal]}))["stored"] == 1
    with world.client("bulk", "read-only") as c:
        assert c.post("/api/v1/signals/bulk", json={"signals": signals}).status_code == 403


def test_concurrent_bulk_submissions_of_overlapping_values_lose_nothing(db: Database) -> None:
    with db.session() as s:
        store = ExchangeStore(s)
        principals = []
        for n in range(3):
            org = store.create_org(None, f"org{n}", "platform")
            principals.append(Principal(f"k{n}", org.id, org.kind, Role.ANALYST))
    values = [f"shared-{i}.info" for i in range(120)]

    def submit(n: int) -> int:
        # each organisation sends the same values in its own order, in batches of 40
        mine = values[n::1] + values[:n] if n else list(reversed(values))
        for start in range(0, len(mine), 40):
            with db.session() as s:
                items = [SignalSubmission("domain", v, Marking(TLP.GREEN)) for v in mine[start : start + 40]]
                ExchangeStore(s).submit_signals(principals[n], items)
        return n

    with ThreadPoolExecutor(3) as pool:
        assert sorted(pool.map(submit, range(3))) == [0, 1, 2]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(SignalRow)) == len(values)
        assert s.scalar(select(func.count()).select_from(ContributionRow)) == 3 * len(values)
        submits = s.scalar(
            select(func.count()).select_from(AuditRow).where(AuditRow.action == "signal.submit")
        )
        assert submits == 3 * len(values)
