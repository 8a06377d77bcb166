"""Incremental TAXII fetch from a real running exchange (uvicorn over HTTP, SQLite and PostgreSQL):
the first fetch downloads everything the member may see, later ones only what was added since;
revoked and expired signals leave the index, and the counts say so."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from tests.match.conftest import Coalition
from vigil.core.errors import AuthenticationError, Conflict, DataError, InputError
from vigil.core.time import utcnow
from vigil.exchange.records import TLP
from vigil.match.fetch import fetch_signals
from vigil.match.state import STATE_FILE, open_index, read_state

DOMAINS = [f"outlet-{i}.info" for i in range(5)]


def test_first_fetch_gets_everything_visible_then_only_what_is_new(
    exchange: Coalition, tmp_path: Path
) -> None:
    index_dir = tmp_path / "index"
    for domain in DOMAINS:
        exchange.submit("source", "domain", domain, TLP.GREEN, confidence=80)
    exchange.submit("source", "hashtag", "platformsonly", TLP.AMBER)  # platforms collection
    exchange.submit("gov", "url", "https://gov-only.org/a", TLP.AMBER)  # not for platforms

    # Pages of 2 objects: the client follows TAXII's ``next`` through every collection.
    first = fetch_signals(index_dir, exchange.base_url, exchange.keys["us"], page_size=2)
    assert first.first_fetch
    assert first.objects_by_type["indicator"] == 6
    assert first.new == 6 and first.updated == 0
    assert set(first.collections) == {"coalition", "platforms", "direct"}
    assert first.by_type == {"domain": 5, "hashtag": 1}
    assert set(first.checkpoints) == set(first.collections)  # every collection holds something

    added = [exchange.submit("source", "url", f"https://new-{i}.org/x", TLP.GREEN) for i in range(2)]
    second = fetch_signals(index_dir, exchange.base_url, exchange.keys["us"])
    assert not second.first_fetch
    # Exactly the two new indicators crossed the wire: no identity, marking or old indicator again.
    assert second.objects_received == 2
    assert second.objects_by_type == {"indicator": 2}
    assert second.new == 2 and second.index_added == 2
    assert second.signals_indexed == 8

    exchange.revoke("source", added[0].id)
    third = fetch_signals(index_dir, exchange.base_url, exchange.keys["us"])
    assert third.objects_by_type == {"indicator": 1}
    assert third.updated == 1 and third.revoked == 1
    assert third.index_removed_revoked == 1 and third.index_removed_expired == 0
    index = open_index(index_dir)
    assert index.indexes["url"].query("https://new-0.org/x") == []
    assert [m.entry_id for m in index.indexes["url"].query("http://www.new-1.org/x/")] == [added[1].id]

    quiet = fetch_signals(index_dir, exchange.base_url, exchange.keys["us"])
    assert quiet.objects_received == 0 and quiet.index_added == 0 and quiet.signals_indexed == 7


def test_expired_signals_leave_the_index_on_the_next_fetch(exchange: Coalition, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    soon = utcnow() + timedelta(days=1)
    exchange.submit("source", "domain", "short-lived.info", TLP.GREEN, valid_until=soon)
    exchange.submit("source", "domain", "long-lived.info", TLP.GREEN)
    first = fetch_signals(index_dir, exchange.base_url, exchange.keys["us"])
    assert first.signals_indexed == 2
    later = fetch_signals(index_dir, exchange.base_url, exchange.keys["us"], now=soon + timedelta(seconds=1))
    assert later.objects_received == 0
    assert later.index_removed_expired == 1 and later.index_removed_revoked == 0
    assert open_index(index_dir).indexes["domain"].query("short-lived.info") == []


def test_campaign_links_follow_indicator_versions(sqlite_exchange: Coalition, tmp_path: Path) -> None:
    ex = sqlite_exchange
    campaign = ex.campaign("source", "Cloned outlets")
    sig = ex.submit("source", "domain", "cloned.info", TLP.GREEN, campaign_id=campaign)
    fetch_signals(tmp_path / "i", ex.base_url, ex.keys["us"])
    index = open_index(tmp_path / "i")
    (record,) = [r for r in index.contributions.values() if r.signal_id == sig.id]
    assert record.campaign == campaign and index.campaigns[campaign] == "Cloned outlets"
    # The source resubmits without the campaign: the new indicator version comes without a link.
    ex.submit("source", "domain", "cloned.info", TLP.GREEN)
    fetch_signals(tmp_path / "i", ex.base_url, ex.keys["us"])
    (record,) = [r for r in open_index(tmp_path / "i").contributions.values() if r.signal_id == sig.id]
    assert record.campaign is None


def test_collections_can_be_chosen_and_unknown_ones_are_named(
    sqlite_exchange: Coalition, tmp_path: Path
) -> None:
    ex = sqlite_exchange
    ex.submit("source", "hashtag", "greenone", TLP.GREEN)
    ex.submit("source", "hashtag", "amberone", TLP.AMBER)
    report = fetch_signals(tmp_path / "i", ex.base_url, ex.keys["us"], collections=["platforms"])
    assert list(report.collections) == ["platforms"]
    assert report.new == 1 and report.by_type == {"hashtag": 1}
    with pytest.raises(InputError, match=r"government-partners.*readable: coalition"):
        fetch_signals(tmp_path / "j", ex.base_url, ex.keys["us"], collections=["government-partners"])


def test_failures_change_nothing(sqlite_exchange: Coalition, tmp_path: Path) -> None:
    ex = sqlite_exchange
    ex.submit("source", "hashtag", "kept", TLP.GREEN)
    index_dir = tmp_path / "i"
    fetch_signals(index_dir, ex.base_url, ex.keys["us"])
    before = (index_dir / STATE_FILE).read_text()
    with pytest.raises(AuthenticationError):
        fetch_signals(index_dir, ex.base_url, "vigil_000000000000_nope")
    with pytest.raises(Conflict, match="was built from"):
        fetch_signals(index_dir, "http://127.0.0.1:9", ex.keys["us"])
    assert (index_dir / STATE_FILE).read_text() == before
    assert len(list(index_dir.glob("gen-*"))) == 1
    state = json.loads(before)
    state["format_version"] = 99
    (index_dir / STATE_FILE).write_text(json.dumps(state))
    with pytest.raises(DataError, match="version 99"):
        read_state(index_dir)


def test_full_resync_drops_what_is_no_longer_visible(sqlite_exchange: Coalition, tmp_path: Path) -> None:
    ex = sqlite_exchange
    kept = ex.submit("source", "domain", "stays-green.info", TLP.GREEN)
    tightened = ex.submit("source", "domain", "goes-red.info", TLP.GREEN)
    first = fetch_signals(tmp_path / "i", ex.base_url, ex.keys["us"])
    assert first.signals_indexed == 2
    ex.submit("source", "domain", "goes-red.info", TLP.RED)  # the source tightens its marking
    incremental = fetch_signals(tmp_path / "i", ex.base_url, ex.keys["us"])
    assert incremental.objects_by_type.get("indicator", 0) == 0  # nothing new that we may see
    full = fetch_signals(tmp_path / "i", ex.base_url, ex.keys["us"], full=True)
    assert full.full and full.index_removed_invisible == 1 and full.forgotten == 1
    index = open_index(tmp_path / "i")
    assert index.indexes["domain"].query("goes-red.info") == []
    assert [m.entry_id for m in index.indexes["domain"].query("stays-green.info")] == [kept.id]
    assert tightened.id not in {r.signal_id for r in index.contributions.values()}


def test_one_fetch_at_a_time_and_no_run_during_a_fetch(tmp_path: Path) -> None:
    from vigil.match.state import locked

    with locked(tmp_path / "i", exclusive=True):
        with pytest.raises(Conflict, match="in use"):
            fetch_signals(tmp_path / "i", "http://127.0.0.1:9", "vigil_x")
        with pytest.raises(Conflict, match="in use"), locked(tmp_path / "i", exclusive=False):
            pass
    with locked(tmp_path / "i", exclusive=False), locked(tmp_path / "i", exclusive=False):
        pass  # readers share
