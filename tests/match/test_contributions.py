"""The columnar contribution record and delta reconcile: updates write only what changed, and the
indexes always equal what a full recomputation from the record gives."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from vigil.core.errors import DataError
from vigil.core.ids import stable_id
from vigil.match.contributions import ContributionRecord, ContributionStore, hash_strings
from vigil.match.state import MatchIndex, open_index

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def record(n: int, *, kind: str = "domain", revoked: bool = False, **extra: object) -> ContributionRecord:
    value = f"site-{n}.com" if kind == "domain" else f"#tag{n}"
    fields: dict[str, object] = {
        "stix_id": f"indicator--{n:08d}",
        "signal_id": stable_id("indicator", kind, value),
        "kind": kind,
        "value": value,
        "org_id": "identity--source",
        "tlp": "GREEN",
        "confidence": 70,
        "labels": ["x"] if n % 3 == 0 else [],
        "modified": NOW - timedelta(days=1),
        "valid_until": None,
        "revoked": revoked,
        "collection": "coalition",
    }
    fields.update(extra)
    return ContributionRecord(**fields)  # type: ignore[arg-type]


def test_hash_strings_is_stable_and_independent_of_the_array_around_a_string() -> None:
    words = [f"indicator--{i}" for i in range(1000)] + ["", "é", "x" * 400]
    whole = hash_strings(pa.array(words))
    sliced = hash_strings(pa.array(["pad", *words]).slice(1))
    single = np.array([hash_strings(pa.array([w]))[0] for w in words[:50]], dtype=np.uint64)
    assert (whole == sliced).all() and (whole[:50] == single).all()
    assert len(set(whole.tolist())) == len(words)  # no collision among these


def test_store_saves_only_the_delta_and_links_the_rest(tmp_path: Path) -> None:
    store = ContributionStore(record(i) for i in range(5000))
    store.save(tmp_path / "g1")
    assert store.parts == [5000, 0]
    reopened = ContributionStore.open(tmp_path / "g1")
    assert len(reopened) == 5000
    assert reopened["indicator--00000007"].value == "site-7.com"
    assert reopened["indicator--00000003"].labels == ["x"]
    # One update and one new record (and record 3, read with [] so possibly changed in place): the
    # big part stays, a part of three rows is added.
    reopened.put(record(7, revoked=True, modified=NOW))
    reopened.put(record(9000))
    reopened.save(tmp_path / "g2")
    assert reopened.parts == [4998, 3, 0]
    big = next((tmp_path / "g1").glob("p-*.arrow"))
    assert (tmp_path / "g2" / big.name).stat().st_ino == big.stat().st_ino  # hard link, not rewritten
    again = ContributionStore.open(tmp_path / "g2")
    assert len(again) == 5001
    assert again["indicator--00000007"].revoked is True
    by_signal = again.by_signal([record(7).signal_id, record(9000).signal_id, "indicator--none"])
    assert sorted(r.stix_id for rs in by_signal.values() for r in rs) == [
        "indicator--00000007",
        "indicator--00009000",
    ]
    assert "indicator--00009999" not in again and "indicator--00000001" in again


def test_parts_merge_geometrically(tmp_path: Path) -> None:
    store = ContributionStore(record(i) for i in range(1000))
    store.save(tmp_path / "g0")
    for step in range(1, 8):
        for i in range(1000 + step * 100, 1000 + step * 100 + 100):
            store.put(record(i))
        store.save(tmp_path / f"g{step}")
    sizes = store.parts[:-1]
    assert sum(sizes) == 1700
    assert all(a > b * 4 - 1 for a, b in itertools.pairwise(sizes))  # each < 1/4 the one before


def test_a_damaged_part_is_a_data_error(tmp_path: Path) -> None:
    store = ContributionStore(record(i) for i in range(10))
    store.save(tmp_path / "g")
    next((tmp_path / "g").glob("p-*.live.npy")).write_bytes(b"not numpy")
    with pytest.raises(DataError, match="contribution record"):
        ContributionStore.open(tmp_path / "g")


def indexed(index: MatchIndex) -> set[str]:
    return {i for idx in index.indexes.values() for i in idx.entries()[1]}


def test_delta_reconcile_equals_a_full_one_through_random_changes_and_reopens(tmp_path: Path) -> None:
    rng = random.Random(4)
    index = MatchIndex(directory=tmp_path / "i")
    for i in range(300):
        index.upsert(record(i, kind=rng.choice(["domain", "hashtag"])))
    index.reconcile(NOW)
    index.save()
    now = NOW
    for _step in range(6):
        index = open_index(tmp_path / "i")
        now += timedelta(hours=rng.choice([1, 30]))
        for _ in range(40):
            n = rng.randrange(400)
            kind = "domain" if n % 2 else "hashtag"
            change = rng.random()
            if change < 0.4:
                index.upsert(record(n, kind=kind, modified=now, revoked=True))
            elif change < 0.7:
                until = now + timedelta(hours=rng.choice([-1, 5, 40]))
                index.upsert(record(n, kind=kind, modified=now, valid_until=until))
            else:
                index.upsert(record(n, kind=kind, modified=now))
        result = index.reconcile(now)
        assert result.added + result.removed_revoked + result.removed_expired >= 0
        assert indexed(index) == set(index.active_contributions(now)), "delta reconcile"
        index.save()
    # Time passing alone expires signals: a reconcile later, with no new record, removes them.
    later = now + timedelta(days=3)
    index = open_index(tmp_path / "i")
    expiring = {
        r.signal_id for r in index.contributions.values() if r.valid_until and now < r.valid_until <= later
    }
    result = index.reconcile(later)
    assert indexed(index) == set(index.active_contributions(later))
    assert result.removed_expired <= len(expiring)
    # The same record reconciled from scratch (as an earlier version's index is) agrees.
    fresh = MatchIndex(directory=tmp_path / "j")
    fresh.contributions = {r.stix_id: r for r in index.contributions.values()}
    fresh.reconcile(later)
    assert indexed(fresh) == indexed(index)


def test_an_index_saved_by_the_previous_version_opens_and_reconciles(tmp_path: Path) -> None:
    import json

    import pyarrow.parquet as pq

    from vigil.match.contributions import records_table

    index = MatchIndex(directory=tmp_path / "i")
    for i in range(20):
        index.upsert(record(i))
    index.reconcile(NOW)
    index.save()
    # Rewrite the generation as the previous format: one contributions.parquet, no reconciled_at.
    state = json.loads((tmp_path / "i" / "state.json").read_text())
    generation = tmp_path / "i" / state["generation"]
    table = records_table(open_index(tmp_path / "i").contributions.values())
    for path in (generation / "contributions").iterdir():
        path.unlink()
    (generation / "contributions").rmdir()
    pq.write_table(table, generation / "contributions.parquet")
    del state["reconciled_at"]
    (tmp_path / "i" / "state.json").write_text(json.dumps(state))
    old = open_index(tmp_path / "i")
    assert len(old.contributions) == 20 and old.reconciled_at is None
    old.upsert(record(3, revoked=True, modified=NOW))
    result = old.reconcile(NOW)
    assert result.removed_revoked == 1 and len(indexed(old)) == 19
