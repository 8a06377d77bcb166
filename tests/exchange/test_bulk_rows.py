"""``signals_rows.RowWriter`` below the bulk paths, on both backends: ``select_in`` answers each
matching row once, in key order, however the ids are given (repeated, unordered, some missing),
and the writer begins no transaction (on SQLite: takes no write lock) before its first statement."""

from __future__ import annotations

from sqlalchemy import select

from vigil.db import Database
from vigil.exchange.access import Principal
from vigil.exchange.models import ContributionRow, SignalRow
from vigil.exchange.records import TLP, Marking, Role
from vigil.exchange.store import ExchangeStore, SignalSubmission
from vigil.exchange.store.signals_rows import RowWriter, table_of


def _two_members(db: Database) -> tuple[list[str], str, str]:
    """Five signals from one member, two of them also from another: their ids and both orgs."""
    with db.session() as s:
        store = ExchangeStore(s)
        orgs = [store.create_org(None, name, "platform") for name in ("rows-a", "rows-b")]
        a, b = (Principal(f"k-{o.name}", o.id, o.kind, Role.ANALYST) for o in orgs)
        items = [SignalSubmission("domain", f"rows-{i}.info", Marking(TLP.GREEN)) for i in range(5)]
        report = store.submit_signals(a, items)
        store.submit_signals(b, items[:2])
        ids = [str(i.signal_id) for i in report.items]
    return ids, a.org_id, b.org_id


def test_select_in_reads_each_row_once_in_key_order(db: Database) -> None:
    ids, a, b = _two_members(db)
    asked = [ids[3], ids[1], ids[3], "indicator--none", ids[0], ids[1]]
    with db.session() as s:
        expected = [
            (r.id, r.modified_at)
            for r in s.scalars(select(SignalRow).where(SignalRow.id.in_(asked)).order_by(SignalRow.id))
        ]
        rows = RowWriter(s)
        found = rows.select_in(table_of(SignalRow), ("id", "modified_at"), "id", asked, lock=True)
        assert [(sid, rows.read_time(at)) for sid, at in found] == expected
        assert len(found) == 3

        mine = rows.select_in(
            table_of(ContributionRow), ("signal_id", "org_id"), "signal_id", asked, where=("org_id", b)
        )
        assert mine == sorted((sid, b) for sid in {ids[0], ids[1]})
        everyone = rows.select_in(table_of(ContributionRow), ("signal_id",), "signal_id", ids[:2] * 3)
        assert sorted(everyone) == sorted([(ids[0],), (ids[0],), (ids[1],), (ids[1],)])
        assert a != b


def test_row_writer_begins_no_transaction_before_its_first_statement(db: Database) -> None:
    ids, _, _ = _two_members(db)
    with db.session() as s:
        rows = RowWriter(s)
        assert rows.time(None) is None and rows.json({"a": 1}) is not None
        assert not s.in_transaction()  # SQLite: no BEGIN IMMEDIATE, no write lock yet
        rows.select_in(table_of(SignalRow), ("id",), "id", ids[:1])
        assert s.in_transaction()
