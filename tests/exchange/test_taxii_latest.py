"""The TAXII index's latest-version flag (``taxii_objects.latest``, revision 0014) on both backends:
kept right by every write of versions (a newer version, an older one arriving after it, versions
of one id from members with different markings, a deleted row), equal to its definition on mixed
data whether set by the writes, by ``refresh_latest`` or by migration 0014's backfill of a
database that already holds objects, and the default ``match[version]=last`` reads it serves
answer exactly the newest version of each id among all the versions the reader may see."""

from __future__ import annotations

import importlib.util
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import delete, insert, select, text

from vigil.db import MIGRATIONS_DIR, Database, head_revision, upgrade
from vigil.db.database import _alembic_config
from vigil.exchange.access import Principal
from vigil.exchange.records import TLP
from vigil.exchange.store import ExchangeStore
from vigil.exchange.taxii import COLLECTIONS, CollectionSpec
from vigil.exchange.taxii_index import (
    BUCKETS,
    Filters,
    PostedObject,
    _render,
    _rendered,
    page_rows,
    refresh_latest,
    store_posted,
)
from vigil.exchange.taxii_models import MAYBE, NEWEST, SUPERSEDED, TaxiiObjectRow, TaxiiObjectShareRow

from .conftest import BACKENDS, _make_url

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _obj(stix_id: str, minutes: int) -> dict[str, Any]:
    stamp = (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": stix_id,
        "created": T0.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "modified": stamp,
        "pattern": "[ipv4-addr:value = '10.0.0.1']",
        "pattern_type": "stix",
        "valid_from": stamp,
    }


def _members(db: Database) -> dict[str, Principal]:
    found = {}
    with db.session() as session:
        store = ExchangeStore(session)
        for name, kind in (("p1", "platform"), ("p2", "platform"), ("r1", "research")):
            org = store.create_org(None, name, kind)
            _, key = store.create_key(None, org.id, "analyst", name=name)
            found[name] = store.authenticate(key)
    return found


def _post(db: Database, who: Principal, stix_id: str, minutes: int, tlp: TLP) -> None:
    obj = _obj(stix_id, minutes)
    with db.session() as session:
        store_posted(
            session, [PostedObject(obj, json.dumps(obj), who.org_id, tlp)], T0 + timedelta(hours=minutes)
        )


def _flags(db: Database, stix_id: str) -> dict[int, int]:
    """minutes of ``modified`` -> latest, for the rows of ``stix_id``."""
    with db.read_session() as session:
        rows = session.execute(
            select(TaxiiObjectRow.modified, TaxiiObjectRow.latest).where(TaxiiObjectRow.stix_id == stix_id)
        ).all()
    return {int((m.replace(tzinfo=UTC) - T0).total_seconds() // 60): flag for m, flag in rows}


def _served(
    db: Database, who: Principal, spec: CollectionSpec, filters: Filters
) -> set[tuple[str, datetime, int]]:
    with db.read_session() as session:
        rows = page_rows(session, who, spec.audience, filters, None, 10_000)
    return {(r.id, r.modified, r.seq) for r in rows}


def _check_reads(db: Database, members: dict[str, Principal]) -> int:
    """Every reader and collection: match[version]=last (the flag) serves the newest of the
    versions match[version]=all serves, per id; also for one id by match[id]. Returns how many
    (reader, collection) pairs served something."""
    nonempty = 0
    for who in members.values():
        for spec in COLLECTIONS:
            if spec.readers is not None and who.org_kind not in spec.readers:
                continue
            every = _served(db, who, spec, Filters(versions=("all",)))
            newest: dict[str, datetime] = {}
            for stix_id, modified, _ in every:
                newest[stix_id] = max(modified, newest.get(stix_id, modified))
            expected = {e for e in every if e[1] == newest[e[0]]}
            assert _served(db, who, spec, Filters()) == expected, (who.org_id, spec.alias)
            for stix_id in newest:
                one = Filters(ids=frozenset({stix_id}))
                assert _served(db, who, spec, one) == {e for e in expected if e[0] == stix_id}
            nonempty += bool(every)
    return nonempty


def test_the_flag_follows_every_version_written(db: Database) -> None:
    members = _members(db)
    p1, p2 = members["p1"], members["p2"]
    x, y, z = (f"indicator--{uuid.uuid4()}" for _ in range(3))
    _post(db, p1, x, 10, TLP.GREEN)
    assert _flags(db, x) == {10: NEWEST}
    _post(db, p1, x, 20, TLP.GREEN)  # a newer version
    assert _flags(db, x) == {10: SUPERSEDED, 20: NEWEST}
    _post(db, p1, x, 5, TLP.GREEN)  # an older version arriving after the newer one
    assert _flags(db, x) == {5: SUPERSEDED, 10: SUPERSEDED, 20: NEWEST}
    _post(db, p1, x, 20, TLP.GREEN)  # the same version again: kept once
    assert _flags(db, x) == {5: SUPERSEDED, 10: SUPERSEDED, 20: NEWEST}
    # a newer version from another member, marked AMBER: p1's GREEN one may be the last some see
    _post(db, p1, y, 10, TLP.GREEN)
    _post(db, p2, y, 30, TLP.AMBER)
    assert _flags(db, y) == {10: MAYBE, 30: NEWEST}
    # a newer RED version from the same member: only p1 sees it (in "direct"), p2 still gets v1
    _post(db, p1, z, 10, TLP.GREEN)
    _post(db, p1, z, 15, TLP.GREEN)
    _post(db, p1, z, 40, TLP.RED)
    assert _flags(db, z) == {10: SUPERSEDED, 15: MAYBE, 40: NEWEST}
    assert _check_reads(db, members) >= 3
    coalition = next(c for c in COLLECTIONS if c.alias == "coalition")
    assert {m.minute for i, m, _ in _served(db, p2, coalition, Filters()) if i == z} == {15}
    # a deleted version: the one before it is the newest again
    with db.session() as session:
        session.execute(
            delete(TaxiiObjectRow).where(
                TaxiiObjectRow.stix_id == x, TaxiiObjectRow.modified == T0 + timedelta(minutes=20)
            )
        )
        refresh_latest(session, [x])
    assert _flags(db, x) == {5: SUPERSEDED, 10: NEWEST}
    with db.session() as session:
        session.execute(
            delete(TaxiiObjectRow).where(TaxiiObjectRow.stix_id == z, TaxiiObjectRow.tlp == TLP.RED.value)
        )
        refresh_latest(session, [z])
    assert _flags(db, z) == {10: SUPERSEDED, 15: NEWEST}
    _check_reads(db, members)


# ---------------------------------------------------------------------------------------------
# mixed data: the definition, refresh_latest and the migration's backfill agree


def _mixed(db: Database, members: dict[str, Principal], seed: int) -> None:
    """Ids with 1-5 versions: posted and contribution rows, two sources, three markings, ties in
    ``modified``, contribution rows with named shares (what the projection and flood notes write)."""
    rng = random.Random(seed)
    orgs = [members["p1"].org_id, members["p2"].org_id]
    rows, shares = [], []
    seq = 0
    for n in range(60):
        stix_id = f"indicator--{uuid.UUID(int=rng.getrandbits(128), version=4)}"
        contribution = rng.choice([None, 1000 + n])
        for _ in range(rng.randint(1, 5)):
            seq += 1
            tlp = rng.choice([TLP.GREEN, TLP.GREEN, TLP.AMBER, TLP.RED])
            cid = contribution if rng.random() < 0.8 else None
            rows.append(
                {
                    "seq": seq,
                    "stix_id": stix_id,
                    "stix_type": "indicator",
                    "spec_version": "2.1",
                    "modified": T0 + timedelta(minutes=rng.randint(0, 4)),
                    "date_added": T0 + timedelta(hours=rng.randint(0, 3)),
                    "org_id": rng.choice(orgs),
                    "tlp": tlp.value,
                    "bucket": BUCKETS[tlp],
                    "body": json.dumps({"id": stix_id, "type": "indicator"}),
                    "contribution_id": cid,
                }
            )
            if cid is not None:
                shares += [{"object_seq": seq, "org_id": o} for o in orgs if rng.random() < 0.4]
    with db.session() as session:
        session.execute(insert(TaxiiObjectRow), rows)
        if shares:
            session.execute(insert(TaxiiObjectShareRow), shares)


def _definition(db: Database) -> dict[int, int]:
    """``latest`` by its definition (taxii_models), in Python."""
    with db.read_session() as session:
        rows = session.execute(
            select(
                TaxiiObjectRow.seq,
                TaxiiObjectRow.stix_id,
                TaxiiObjectRow.modified,
                TaxiiObjectRow.org_id,
                TaxiiObjectRow.tlp,
                TaxiiObjectRow.spec_version,
                TaxiiObjectRow.stix_type,
                TaxiiObjectRow.contribution_id,
            )
        ).all()
        named: dict[int, set[str]] = {}
        for seq, org in session.execute(select(TaxiiObjectShareRow.object_seq, TaxiiObjectShareRow.org_id)):
            named.setdefault(seq, set()).add(org)
    found = {}
    for r in rows:
        others = [o for o in rows if o.stix_id == r.stix_id and o.seq != r.seq]
        newer = [o for o in others if o.modified > r.modified]
        if r.contribution_id is not None and any(
            o.contribution_id is not None
            and o.modified == r.modified
            and o.org_id == r.org_id
            and o.seq > r.seq
            for o in others
        ):
            found[r.seq] = SUPERSEDED
        elif not newer:
            found[r.seq] = NEWEST
        elif any(
            tuple(o[3:]) == tuple(r[3:]) and named.get(o.seq, set()) == named.get(r.seq, set()) for o in newer
        ):
            found[r.seq] = SUPERSEDED
        else:
            found[r.seq] = MAYBE
    return found


def _stored(db: Database) -> dict[int, int]:
    with db.read_session() as session:
        return {seq: flag for seq, flag in session.execute(select(TaxiiObjectRow.seq, TaxiiObjectRow.latest))}


def test_refresh_gives_the_definition_and_reads_follow_it(db: Database) -> None:
    members = _members(db)
    _mixed(db, members, seed=3)
    expected = _definition(db)
    assert set(expected.values()) == {SUPERSEDED, NEWEST, MAYBE}  # the data exercises every case
    with db.session() as session:
        refresh_latest(session, session.scalars(select(TaxiiObjectRow.stix_id).distinct()).all())
    assert _stored(db) == expected
    assert _check_reads(db, members) >= 3


def _backfill_sql() -> str:
    path = next((MIGRATIONS_DIR / "versions").glob("0014_*.py"))
    spec = importlib.util.spec_from_file_location("migration_0014", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.BACKFILL)


@pytest.fixture(params=BACKENDS)
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    db = Database(_make_url(request.param, request, tmp_path))
    request.addfinalizer(db.dispose)
    return db


def test_migration_0014_backfills_a_database_holding_objects(empty_db: Database) -> None:
    db = empty_db
    assert upgrade(db.engine, "0013") == "0013"
    members = _members(db)
    _mixed(db, members, seed=11)  # rows as revision 0013 holds them: no ``latest``
    expected = _definition(db)
    assert upgrade(db.engine) == head_revision()  # 0014 adds the column and fills it
    assert _stored(db) == expected
    assert _check_reads(db, members) >= 3
    config = _alembic_config(db.engine)
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0013")
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM taxii_objects")).scalar() == len(expected)
    assert upgrade(db.engine) == head_revision()
    assert _stored(db) == expected


def test_backfill_sql_is_latest_value(db: Database) -> None:
    """The migration's SQL text and ``latest_value`` are one definition."""
    members = _members(db)
    _mixed(db, members, seed=7)
    expected = _definition(db)
    with db.session() as session:
        session.execute(text("UPDATE taxii_objects SET latest = 1"))
        session.execute(text(_backfill_sql()))
    assert _stored(db) == expected


def test_rendered_cache_keeps_the_most_recently_used() -> None:
    """The rendered-SQL cache is an LRU: past its bound the least recently used entry goes, a
    statement used again stays (not the whole cache cleared at once)."""
    from sqlalchemy import literal
    from sqlalchemy.dialects import sqlite

    import vigil.exchange.taxii_index as index

    dialect = sqlite.dialect()
    hot = select(literal(1, literal_execute=True))
    first = _render(hot, dialect, {})
    cold = [select(literal(n, literal_execute=True)) for n in range(index.RENDERED_MAX + 50)]
    for n, statement in enumerate(cold):
        _render(statement, dialect, {})
        if n % 100 == 0:
            assert _render(hot, dialect, {}) is first  # a hit, kept by its use
    assert len(_rendered) == index.RENDERED_MAX
    assert _render(hot, dialect, {}) is first
    assert _render(cold[-1], dialect, {}).source is cold[-1]
    assert (id(cold[0]), "sqlite", ()) not in _rendered  # the least recently used went first
