"""The meeting agenda's briefing totals (``BriefingService.totals``) against the full briefing
(``BriefingService.build``): the same figures, marking and read audit, on the demo's data (every
demo member and the operator, periods that hold all, some and none of its signals) and on a
coalition of every org kind with every marking, shares, narratives and sightings (both backends)."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from vigil.cases.briefing import BriefingService
from vigil.core.errors import InputError
from vigil.db import Database
from vigil.exchange.access import Principal
from vigil.exchange.models import AuditRow, ContributionRow
from vigil.exchange.records import TLP, Marking, Role
from vigil.exchange.store import ExchangeStore

from ..cases.conftest import Coalition


def _copy_of_demo(demo_run: dict[str, Any], tmp_path: Path) -> Database:
    """A copy of the demo's database (SQLite's backup: a consistent snapshot, WAL included): the
    audit entries written here stay out of the demo's own, which other tests read."""
    source = sqlite3.connect(demo_run["data_dir"] / "vigil.db")  # as tests/frontdoor's copy
    copy = sqlite3.connect(tmp_path / "vigil.db")
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()
    return Database(f"sqlite:///{tmp_path / 'vigil.db'}")


def _audited(
    db: Database, who: str | Principal, now: datetime, since: timedelta, how: str
) -> tuple[Any, list[Any]]:
    """``how`` ("build" or "totals") for the principal (or the key's), and the audit entries it
    wrote (rolled back after)."""
    with db.session() as s:
        principal = ExchangeStore(s).authenticate(who) if isinstance(who, str) else who
        s.flush()
        before = s.scalar(select(func.max(AuditRow.id))) or 0
        result = getattr(BriefingService(s, principal, now=now), how)(since)
        s.flush()
        entries = [
            (r.action, r.actor_org_id, r.target_type, r.target_id, r.tlp, r.subject_org_id)
            for r in s.scalars(select(AuditRow).where(AuditRow.id > before).order_by(AuditRow.id))
        ]
        s.rollback()
    return result, entries


def _same(db: Database, who: str | Principal, now: datetime, since: timedelta) -> tuple[int, int, int]:
    """Asserts totals == build for one reader and period; returns (signals, narratives, audited)."""
    full, full_audit = _audited(db, who, now, since, "build")
    cheap, cheap_audit = _audited(db, who, now, since, "totals")
    assert cheap.title() == full.title()
    assert (cheap.since, cheap.until) == (full.since, full.until)
    assert cheap.new_cases == full.new_cases
    assert cheap.active_cases == full.active_cases
    assert cheap.signals_total == full.signals_total
    assert list(cheap.signals_by_kind.items()) == list(full.signals_by_kind.items())
    assert cheap.top_narratives == full.top_narratives
    assert cheap.tlp == full.tlp
    assert cheap_audit == full_audit
    return full.signals_total, len(full.top_narratives), len(full_audit)


def test_totals_equal_the_full_briefings(demo_run: dict[str, Any], tmp_path: Path) -> None:
    db = _copy_of_demo(demo_run, tmp_path)
    try:
        with db.session() as s:
            first, last = s.execute(
                select(func.min(ContributionRow.modified_at), func.max(ContributionRow.modified_at))
            ).one()
            times = sorted(s.scalars(select(ContributionRow.modified_at)))
        now = last + timedelta(hours=1)
        # everything; the later half of the contributions (the demo writes them within seconds);
        # nothing
        periods = [now - first + timedelta(days=1), now - times[len(times) // 2], timedelta(minutes=30)]
        keys = [key for roles in demo_run["keys"].values() for key in roles.values()]
        assert len(keys) >= 3
        seen = [_same(db, key, now, since) for key in keys for since in periods]
        with db.session() as s:  # as build: a period must end after it starts
            principal = ExchangeStore(s).authenticate(keys[0])
            for empty in (timedelta(0), timedelta(hours=-1)):
                with pytest.raises(InputError, match="must be before now"):
                    BriefingService(s, principal, now=now).totals(empty)
        # the comparison is not vacuous: signals, narratives and restricted reads were there
        assert all(sum(column) > 0 for column in zip(*seen, strict=True))
    finally:
        db.dispose()


def test_totals_equal_the_full_briefings_for_every_kind_of_reader(coalition: Coalition) -> None:
    """Every marking and audience from every org kind, over three days; narratives with equal
    weights (the top's order of ties), sightings that raise a weight, a revoked contribution."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    orgs = coalition.orgs
    authors = ["plat_a", "gov", "res"]
    with coalition.db.session() as s:
        for n, (label, tlp, kind) in enumerate(
            itertools.product(authors, TLP, ["narrative", "domain", "account", "narrative"])
        ):
            at = start + timedelta(hours=5 * n)
            store = ExchangeStore(s, now=at)
            who = coalition.principal(label)
            shared = (orgs["plat_b"],) if tlp in (TLP.AMBER, TLP.RED) and n % 2 else ()
            value = {
                "narrative": f"story {n % 5}",
                "domain": f"site{n % 7}.com",
                "account": f"chirper:acct{n % 6}",
            }[kind]
            signal = store.submit_signal(who, kind, value, marking=Marking(tlp, shared))
            if n % 3 == 0:  # the author's own sighting, and another platform's where it may see it
                store.add_sighting(who, signal.id, count=n + 1, first_seen=at, last_seen=at)
                if tlp in (TLP.CLEAR, TLP.GREEN) or shared:
                    store.add_sighting(
                        coalition.principal("plat_b"), signal.id, count=2, first_seen=at, last_seen=at
                    )
            if n % 11 == 5:
                store.revoke_signal(who, signal.id)
    now = start + timedelta(days=8)
    seen = [
        _same(coalition.db, coalition.principal(label, role), now, since)
        for label in orgs
        for role in (Role.ANALYST, Role.READ_ONLY)
        for since in (timedelta(days=30), timedelta(days=5), timedelta(hours=30), timedelta(hours=1))
    ]
    assert all(sum(column) > 0 for column in zip(*seen, strict=True))
