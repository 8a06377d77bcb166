"""Campaigns from edges: membership, evidence, scoring components and ranking."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.detect._edges import Group, accounts, build
from vigil.core.errors import DataError, SchemaError
from vigil.detect import campaigns, score
from vigil.detect.campaigns import CAMPAIGN_ACCOUNTS, CAMPAIGN_EVIDENCE, CAMPAIGNS, find_campaigns
from vigil.detect.contract import EVIDENCE
from vigil.detect.params import DetectParams, GraphParams
from vigil.schema.tables import ACCOUNTS


def _members(result: object) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for row in result.accounts.select(["campaign_id", "account"]).to_pylist():  # type: ignore[attr-defined]
        out.setdefault(row["campaign_id"], set()).add(row["account"])
    return out


def test_groups_become_campaigns_with_their_own_evidence_and_pairs_are_left_out() -> None:
    a, b = accounts("a", 6), [*accounts("b", 3, "fb"), "tw:b9"]
    edges, evidence = build(
        [
            Group(a, "co_link", ["u1", "u2", "u3"]),
            Group(b, "co_reshare", ["p1", "p2"], t0=1e6),
            Group(["tw:x", "tw:y"], "co_link", ["u8", "u9"]),
        ]
    )
    result = find_campaigns(edges, evidence, DetectParams())
    assert result.campaigns.schema.equals(CAMPAIGNS)
    assert result.accounts.schema.equals(CAMPAIGN_ACCOUNTS)
    assert result.evidence.schema.equals(CAMPAIGN_EVIDENCE)
    assert sorted(map(frozenset, _members(result).values()), key=len) == [frozenset(b), frozenset(a)]
    # Every evidence row lies inside one campaign, and all evidence of the groups is there.
    members = _members(result)
    for row in result.evidence.to_pylist():
        assert {row["account_a"], row["account_b"]} <= members[row["campaign_id"]]
    assert result.evidence.num_rows == 15 * 3 + 6 * 2
    # The campaign facts follow from the input.
    rows = {frozenset(members[r["campaign_id"]]): r for r in result.campaigns.to_pylist()}
    ra, rb = rows[frozenset(a)], rows[frozenset(b)]
    assert (ra["n_accounts"], ra["n_edges"], ra["n_items"], ra["n_posts"]) == (6, 15, 3, 18)
    assert ra["traces"] == ["co_link"] and ra["platforms"] == ["tw"]
    assert rb["platforms"] == ["fb", "tw"] and rb["score_cross_platform"] == 1.0
    assert ra["median_lag_s"] == pytest.approx(10.0)  # lags 5..25 s between 6 members 5 s apart
    assert ra["first_seen"] == datetime(1970, 1, 1, tzinfo=UTC)
    assert ra["top_items"][0]["n_accounts"] == 6
    # The pair's edge is kept in edges.parquet but tagged with no campaign.
    tagged = {(r["account_a"], r["campaign_id"]) for r in result.edges.to_pylist()}
    assert ("tw:x", None) in tagged
    assert result.graph["campaigns"] == 2


def test_ranking_prefers_fast_dense_multi_trace_campaigns() -> None:
    fast, slow = accounts("f", 6), accounts("s", 6)
    edges, evidence = build(
        [
            Group(fast, "co_link", ["u1", "u2", "u3", "u4"], lag=2.0),
            Group(fast, "co_reshare", ["p1", "p2", "p3"], lag=2.0),
            Group(slow, "co_link", ["u5", "u6"], lag=3000.0, gap=86400.0),
        ]
    )
    result = find_campaigns(edges, evidence, DetectParams(window=60.0, graph=GraphParams(min_score=0.0)))
    ranked = result.campaigns.to_pylist()
    assert [r["rank"] for r in ranked] == [1, 2]
    assert set(_members(result)[ranked[0]["campaign_id"]]) == set(fast)
    assert ranked[0]["score"] > ranked[1]["score"]
    assert ranked[0]["score_synchrony"] > ranked[1]["score_synchrony"]
    assert ranked[0]["score_trace_diversity"] > 0 == ranked[1]["score_trace_diversity"]
    # min_score drops the weaker one.
    cut = (ranked[0]["score"] + ranked[1]["score"]) / 2
    strict = find_campaigns(edges, evidence, DetectParams(window=60.0, graph=GraphParams(min_score=cut)))
    assert strict.campaigns.num_rows == 1 and strict.accounts.num_rows == 6
    assert set(strict.evidence.column("campaign_id").to_pylist()) == {ranked[0]["campaign_id"]}


def test_campaigns_are_stable_across_row_order_and_float_noise() -> None:
    # Groups that share members through weaker ties: where Leiden puts the shared members depends on
    # the graph's order and weights, which engines summing in parallel do not reproduce bit for bit.
    groups = [Group(accounts(p, 6), "co_link", [f"{p}{k}" for k in range(3)]) for p in "abcdef"]
    groups += [
        Group([f"tw:{p}0", f"tw:{q}1", f"tw:{q}2"], "co_reshare", ["x", "y"])
        for p, q in zip("abcde", "bcdef", strict=True)
    ]
    edges, evidence = build(groups)
    first = find_campaigns(edges, evidence, DetectParams())
    rng = np.random.default_rng(0)
    for _ in range(5):
        weights = edges.column("weight").to_numpy() * (1 + 1e-14 * rng.standard_normal(edges.num_rows))
        noisy = edges.set_column(edges.schema.get_field_index("weight"), "weight", pa.array(weights))
        again = find_campaigns(noisy.take(rng.permutation(edges.num_rows)), evidence, DetectParams())
        assert (
            first.campaigns.column("campaign_id").to_pylist()
            == again.campaigns.column("campaign_id").to_pylist()
        )
    assert first.campaigns.column("campaign_id")[0].as_py().startswith("campaign--")


def test_account_creation_clustering_uses_the_accounts_table() -> None:
    group = accounts("a", 5)
    edges, evidence = build([Group(group, "co_link", ["u1", "u2", "u3"])])
    base = datetime(2020, 1, 1, tzinfo=UTC)
    rows = [
        {"platform": "tw", "account_id": a.split(":")[1], "created_at": base + timedelta(hours=i)}
        for i, a in enumerate(group)
    ]
    # 200 organic accounts created over 4 years: being created within a week of each other is unusual.
    rows += [
        {"platform": "tw", "account_id": f"o{i}", "created_at": base - timedelta(days=7 * i + 30)}
        for i in range(200)
    ]
    table = pa.Table.from_pylist(rows).cast(
        pa.schema([ACCOUNTS.schema.field(n) for n in ("platform", "account_id", "created_at")])
    )
    with_accounts = find_campaigns(edges, evidence, DetectParams(), accounts=table).campaigns.to_pylist()[0]
    without = find_campaigns(edges, evidence, DetectParams()).campaigns.to_pylist()[0]
    assert without["score_creation"] is None
    assert with_accounts["score_creation"] > 0.9
    members = find_campaigns(edges, evidence, DetectParams(), accounts=table).accounts.to_pylist()
    assert all(m["created_at"] is not None for m in members)


def test_score_components() -> None:
    assert score.density(3, 3) == 1.0 and score.density(1, 4) == pytest.approx(1 / 6)
    assert score.items(0) == 0.0 and score.items(5) == pytest.approx(1 - math.exp(-1))
    assert score.synchrony(np.array([0.0, 0.0]), 60) == 1.0
    assert score.synchrony(np.array([60.0]), 60) == 0.5
    clockwork = np.arange(0, 1000, 10.0)
    bursts = np.concatenate([np.arange(5) + 1000.0 * k for k in range(20)])
    assert score.burstiness(clockwork) == pytest.approx(0.0)
    assert score.burstiness(bursts) > 0.6  # above a Poisson process (0.5)
    assert score.trace_diversity({"co_link": 10}) == 0.0
    assert score.trace_diversity({"co_link": 10, "co_reshare": 10}) == pytest.approx(0.5)
    assert score.trace_diversity({"a": 10, "b": 1}) < 0.5
    assert score.creation(None, None) is None
    spread = np.sort(np.arange(100) * 86400.0 * 30)
    # Members created months apart: only the median member is "clustered" (f = 1/5, f0 = 1/100).
    assert score.creation(spread[:5], spread) == pytest.approx((1 / 5 - 1 / 100) / (1 - 1 / 100))
    assert score.creation(np.full(5, spread[50]), spread) == 1.0
    assert score.cross_platform(2) == 1.0 and score.cross_platform(1) == 0.0
    assert score.size(2) == 0.0 and score.size(50) > 0.99
    # The total is the weighted mean of the available components.
    parts = {name: 1.0 for name in score.COMPONENTS} | {"creation": None, "density": 0.0}
    expected = 1 - score.COMPONENT_WEIGHTS["density"] / (1 - score.COMPONENT_WEIGHTS["creation"])
    assert score.total(parts) == pytest.approx(expected)


def test_weakly_tied_accounts_are_detached_but_sparse_campaigns_keep_their_members() -> None:
    dense = accounts("d", 8)
    ring = accounts("r", 8)
    groups = [Group(dense, "co_link", ["u1", "u2", "u3"])]
    # An ordinary account that co-acted with one member only (the median member has 7 links).
    groups += [Group([dense[0], "tw:outsider"], "co_hashtag", ["h1", "h2"])]
    # A sparse campaign: each member co-acts with its two neighbours only (a ring).
    groups += [Group([ring[i], ring[(i + 1) % 8]], "co_reshare", ["p1", "p2", "p3"]) for i in range(8)]
    edges, evidence = build(groups)
    params = DetectParams(graph=GraphParams(min_score=0.0))
    members = _members(find_campaigns(edges, evidence, params))
    assert frozenset(dense) in map(frozenset, members.values())
    assert frozenset(ring) in map(frozenset, members.values())
    untrimmed = DetectParams(graph=GraphParams(min_score=0.0, min_member_links=0.0))
    assert frozenset([*dense, "tw:outsider"]) in map(
        frozenset, _members(find_campaigns(edges, evidence, untrimmed)).values()
    )


def test_no_edges_no_campaigns() -> None:
    edges, evidence = build([])
    result = find_campaigns(edges, evidence, DetectParams())
    assert result.campaigns.num_rows == 0 and result.accounts.num_rows == 0
    assert result.evidence.num_rows == 0 and result.edges.num_rows == 0
    assert result.campaigns.schema.equals(CAMPAIGNS)


def _random_evidence(rng: np.random.Generator, n: int) -> pa.Table:
    names = [f"tw:u{i}" for i in range(30)]
    rows = []
    for _ in range(n):
        x, y = sorted(rng.choice(len(names), 2, replace=False))
        trace = str(rng.choice(["co_image", "co_link", "co_reshare"]))
        item = f"i{rng.integers(12)}"
        pa_, pb = int(rng.integers(6)), int(rng.integers(6))
        rows.append(
            {
                "trace": trace,
                "account_a": names[x],
                "account_b": names[y],
                "item": item,
                # A post's timestamp follows from its id, as in real evidence.
                "post_a": f"p{pa_}",
                "post_b": f"p{pb}",
                "ts_a": float(x * 100 + pa_),
                "ts_b": float(y * 100 + pb),
            }
        )
    return pa.Table.from_pylist(rows, schema=EVIDENCE)


def test_evidence_is_read_in_batches_keeping_exactly_the_rows_inside_one_community(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(campaigns, "EVIDENCE_BATCH", 7)
    monkeypatch.setattr(campaigns, "_COMPACT_ROWS", 5)
    rng = np.random.default_rng(3)
    evidence = _random_evidence(rng, 400)
    path = tmp_path / "evidence.parquet"
    pq.write_table(evidence, path, row_group_size=50)
    # Members of communities 0..2; u20.. belong to no community passed in.
    member = {f"tw:u{i}": i % 3 for i in range(20)}
    names, comm = pa.array(list(member)), np.array(list(member.values()))
    inside = [
        (i, member[r["account_a"]])
        for i, r in enumerate(evidence.to_pylist())
        if r["account_a"] in member
        and r["account_b"] in member
        and member[r["account_a"]] == member[r["account_b"]]
    ]
    for source in (evidence, path):
        table, community = campaigns.internal_evidence_rows(campaigns._evidence_batches(source), names, comm)
        assert table.equals(evidence.take([i for i, _ in inside]))
        assert community.tolist() == [c for _, c in inside]
        stats = campaigns.community_evidence(campaigns._evidence_batches(source), names, comm, 4)
        rows = evidence.take([i for i, _ in inside]).to_pylist()
        assert stats.trace_names == list(dict.fromkeys(r["trace"] for r in rows))
        for c in range(4):
            mine = [r for r, (_, k) in zip(rows, inside, strict=True) if k == c]
            assert stats.n_rows[c] == len(mine)
            per_trace = {t: sum(r["trace"] == t for r in mine) for t in stats.trace_names}
            assert stats.per_trace[c].tolist() == list(per_trace.values())
            assert stats.n_items[c] == len({(r["trace"], r["item"]) for r in mine})
            assert sorted(stats.lags[c].tolist()) == sorted(abs(r["ts_a"] - r["ts_b"]) for r in mine)
            posts = {(r[f"account_{s}"], r[f"post_{s}"]): r[f"ts_{s}"] for r in mine for s in "ab"}
            assert sorted(stats.post_times[c].tolist()) == sorted(posts.values())


def test_campaigns_from_an_evidence_file_equal_those_from_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    groups = [Group(accounts(p, 6), "co_link", [f"{p}{k}" for k in range(3)]) for p in "abc"]
    groups += [
        Group(accounts("a", 6), "co_reshare", ["r1", "r2"]),
        Group(["tw:x", "tw:y"], "co_link", ["u8", "u9"]),
    ]
    edges, evidence = build(groups)
    path = tmp_path / "evidence.parquet"
    pq.write_table(evidence, path, row_group_size=16)
    whole = find_campaigns(edges, evidence, DetectParams())
    monkeypatch.setattr(campaigns, "EVIDENCE_BATCH", 5)
    monkeypatch.setattr(campaigns, "_COMPACT_ROWS", 3)
    for source in (evidence, path):
        batched = find_campaigns(edges, source, DetectParams())
        assert batched.campaigns.num_rows == 3
        for name in ("campaigns", "accounts", "evidence", "edges"):
            assert getattr(batched, name).equals(getattr(whole, name)), name
    with pytest.raises(SchemaError, match="item"):
        pq.write_table(evidence.drop_columns(["item"]), path)
        find_campaigns(edges, path, DetectParams())
    with pytest.raises(DataError):
        find_campaigns(edges, tmp_path / "missing.parquet", DetectParams())
