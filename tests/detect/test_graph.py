"""The combined account graph: support filter, per-trace normalisation, pruning, Leiden."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.detect._edges import Group, accounts, build
from vigil.core.errors import SchemaError
from vigil.detect.contract import EDGES
from vigil.detect.graph import COMBINED_EDGES, combine, leiden, normalise_weights, support_filter
from vigil.detect.params import GraphParams


def test_support_filter_needs_distinct_items_or_repeats_and_honours_per_trace_override() -> None:
    edges, _ = build(
        [
            Group(accounts("a", 3), "co_link", ["u1"]),  # one item once: chance
            Group(accounts("b", 3), "co_link", ["u1", "u2"]),
            Group(accounts("c", 3), "co_hashtag", ["h1", "h2", "h3"]),  # below the override of 4
            Group(accounts("d", 3), "co_hashtag_seq", ["s1"], repeats=4),  # one sequence, pushed 4 times
        ]
    )
    kept = support_filter(edges, GraphParams(min_items=2, min_trace_items={"co_hashtag": 4}, min_repeats=4))
    assert {r["account_a"][:4] for r in kept.to_pylist()} == {"tw:b", "tw:d"}
    fewer_repeats = support_filter(edges, GraphParams(min_trace_items={"co_hashtag": 4}, min_repeats=3))
    assert {r["account_a"][:4] for r in fewer_repeats.to_pylist()} == {"tw:b", "tw:c", "tw:d"}


def test_normalisation_puts_traces_on_one_scale() -> None:
    # Same structure, weights 100x apart: normalised weights must be equal.
    small, _ = build([Group(accounts("a", 3), "co_link", ["u1", "u2"], weight_per_item=0.01)])
    large, _ = build([Group(accounts("b", 3), "co_reshare", ["p1", "p2"], weight_per_item=1.0)])
    normed = normalise_weights(pa.concat_tables([small, large])).to_numpy()
    assert np.allclose(normed, 1 - math.exp(-1))


def test_pairs_linked_by_several_traces_weigh_more() -> None:
    group = accounts("a", 3)
    edges, _ = build(
        [
            Group(group, "co_link", ["u1", "u2"]),
            Group(group, "co_reshare", ["p1", "p2"]),
            Group(accounts("b", 3), "co_link", ["u1", "u2"]),
        ]
    )
    graph = combine(edges, GraphParams())
    by_pair = {
        (r["account_a"], r["account_b"]): r
        for r in graph.edges.select(["account_a", "account_b", "weight", "n_traces"]).to_pylist()
    }
    assert by_pair[("tw:a0", "tw:a1")]["n_traces"] == 2
    assert by_pair[("tw:a0", "tw:a1")]["weight"] == pytest.approx(2 * by_pair[("tw:b0", "tw:b1")]["weight"])
    # Vertex indices point at the right names.
    names = graph.accounts.to_pylist()
    for row in graph.edges.to_pylist():
        assert names[row["a"]] == row["account_a"] and names[row["b"]] == row["account_b"]


def test_weak_pairs_are_pruned() -> None:
    edges, _ = build(
        [
            Group(accounts("a", 3), "co_link", ["u1", "u2", "u3", "u4", "u5", "u6"]),
            Group(["tw:a0", "tw:x"], "co_link", ["u1", "u2"]),  # weight 2 vs median 6: 1 - e^(-1/3) < 0.3
        ]
    )
    graph = combine(edges, GraphParams(min_edge_weight=0.3))
    assert "tw:x" not in graph.accounts.to_pylist()
    assert "tw:x" in combine(edges, GraphParams(min_edge_weight=0.2)).accounts.to_pylist()


def test_leiden_separates_dense_groups_joined_by_a_bridge() -> None:
    a, b = accounts("a", 8), accounts("b", 8)
    edges, _ = build(
        [
            Group(a, "co_link", ["u1", "u2", "u3"]),
            Group(b, "co_reshare", ["p1", "p2", "p3"]),
            Group([a[0], b[0]], "co_link", ["u7", "u8", "u9"]),  # a strong single bridge
        ]
    )
    params = GraphParams()
    graph = combine(edges, params)
    membership = leiden(graph, params)
    names = graph.accounts.to_pylist()
    community = {names[i]: int(c) for i, c in enumerate(membership)}
    assert len({community[x] for x in a}) == 1
    assert len({community[x] for x in b}) == 1
    assert community[a[1]] != community[b[1]]
    # Seeded: the same input gives the same partition.
    assert np.array_equal(membership, leiden(graph, params))


def test_modularity_objective_also_runs() -> None:
    edges, _ = build(
        [Group(accounts("a", 5), "co_link", ["u1", "u2"]), Group(accounts("b", 5), "co_link", ["u3", "u4"])]
    )
    params = GraphParams(objective="modularity", resolution=1.0)
    graph = combine(edges, params)
    assert len(set(leiden(graph, params).tolist())) == 2


def test_empty_and_malformed_inputs() -> None:
    edges, _ = build([])
    graph = combine(edges, GraphParams())
    assert graph.n_vertices == 0 and len(leiden(graph, GraphParams())) == 0
    with pytest.raises(SchemaError, match="n_items"):
        combine(edges.drop_columns(["n_items"]), GraphParams())


def _edge_rows(rows: list[tuple[str, str, str, float, int, int, float, float]]) -> pa.Table:
    names = ["trace", "account_a", "account_b", "weight", "n_items", "n_coactions", "first_ts", "last_ts"]
    return pa.Table.from_pylist([dict(zip(names, row, strict=True)) for row in rows], schema=EDGES)


def test_combine_sums_traces_per_pair_and_numbers_vertices_by_first_appearance() -> None:
    edges = _edge_rows(
        [
            ("co_reshare", "tw:b", "tw:c", 3.0, 3, 4, 50.0, 60.0),
            ("co_link", "tw:a", "tw:d", 2.0, 2, 2, 10.0, 20.0),
            ("co_link", "tw:b", "tw:c", 2.0, 2, 2, 40.0, 70.0),
            ("co_reshare", "tw:a", "tw:d", 1.0, 2, 2, 5.0, 15.0),
        ]
    )
    graph = combine(edges, GraphParams(min_edge_weight=0.0))
    # Pairs in name order; vertices by first appearance in (a ends, then b ends): a, b, d, c.
    assert graph.accounts.to_pylist() == ["tw:a", "tw:b", "tw:d", "tw:c"]
    rows = graph.edges.to_pylist()
    link, reshare = 1 - math.exp(-1.0), (1 - math.exp(-0.5), 1 - math.exp(-1.5))  # medians 2 and 2
    assert rows == [
        {
            "account_a": "tw:a",
            "account_b": "tw:d",
            "weight": round(link + reshare[0], 9),
            "n_traces": 2,
            "traces": ["co_link", "co_reshare"],  # in input order
            "n_items": 4,
            "n_coactions": 4,
            "first_ts": 5.0,
            "last_ts": 20.0,
            "a": 0,
            "b": 2,
        },
        {
            "account_a": "tw:b",
            "account_b": "tw:c",
            "weight": round(reshare[1] + link, 9),
            "n_traces": 2,
            "traces": ["co_reshare", "co_link"],
            "n_items": 5,
            "n_coactions": 6,
            "first_ts": 40.0,
            "last_ts": 70.0,
            "a": 1,
            "b": 3,
        },
    ]
    assert graph.edges.schema.remove(10).remove(9).equals(COMBINED_EDGES)
    # Each supported row knows its ends' vertices.
    assert graph.supported_a.tolist() == [1, 0, 1, 0] and graph.supported_b.tolist() == [3, 2, 3, 2]


def _reference_combine(edges: pa.Table, min_edge_weight: float) -> tuple[list[str], list[dict[str, Any]]]:
    """combine() spelled out row by row: a group-by on (account_a, account_b) in input order."""
    w_norm = normalise_weights(edges).to_pylist()
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    for row, w in zip(edges.to_pylist(), w_norm, strict=True):
        pair = pairs.setdefault(
            (row["account_a"], row["account_b"]),
            {
                "weight": 0.0,
                "traces": [],
                "n_items": 0,
                "n_coactions": 0,
                "first_ts": math.inf,
                "last_ts": -math.inf,
            },
        )
        pair["weight"] += w
        if row["trace"] not in pair["traces"]:
            pair["traces"].append(row["trace"])
        pair["n_items"] += row["n_items"]
        pair["n_coactions"] += row["n_coactions"]
        pair["first_ts"] = min(pair["first_ts"], row["first_ts"])
        pair["last_ts"] = max(pair["last_ts"], row["last_ts"])
    kept = sorted((k, v) for k, v in pairs.items() if v["weight"] >= min_edge_weight)
    vertices: dict[str, int] = {}
    for name in [a for (a, _), _ in kept] + [b for (_, b), _ in kept]:
        vertices.setdefault(name, len(vertices))
    rows = [
        {
            "account_a": a,
            "account_b": b,
            "weight": v["weight"],
            "n_traces": len(v["traces"]),
            "traces": v["traces"],
            "n_items": v["n_items"],
            "n_coactions": v["n_coactions"],
            "first_ts": v["first_ts"],
            "last_ts": v["last_ts"],
            "a": vertices[a],
            "b": vertices[b],
        }
        for (a, b), v in kept
    ]
    return list(vertices), rows


def test_combine_equals_a_row_by_row_group_by_on_random_multi_trace_edges() -> None:
    rng = np.random.default_rng(7)
    names = [f"{p}:{rng.integers(10**6)}" for p in rng.choice(["tw", "fb", "tg"], 60)]
    traces = ["co_link", "co_reshare", "co_hashtag", "co_image", "co_text_near"]
    rows: dict[tuple[str, str, str], tuple[str, str, str, float, int, int, float, float]] = {}
    for _ in range(1500):  # at most one edge per (trace, pair), as the EDGES contract says
        x, y = sorted(rng.choice(len(names), 2, replace=False))
        a, b = sorted([names[x], names[y]])
        trace = str(rng.choice(traces))
        t0 = float(rng.uniform(0, 1e6))
        rows[(trace, a, b)] = (
            trace, a, b, float(rng.exponential(2.0)), int(rng.integers(1, 5)), int(rng.integers(1, 9)),
            t0, t0 + float(rng.uniform(0, 1e4)),
        )  # fmt: skip
    edges = _edge_rows(list(rows.values()))
    params = GraphParams(min_items=1, min_edge_weight=0.8)
    graph = combine(edges, params)
    accounts_, expected = _reference_combine(support_filter(edges, params), params.min_edge_weight)
    assert graph.accounts.to_pylist() == accounts_
    got = graph.edges.to_pylist()
    assert len(got) == len(expected) and any(r["n_traces"] > 2 for r in got)
    for row, want in zip(got, expected, strict=True):
        assert row == {**want, "weight": row["weight"]}
        assert row["weight"] == pc.round(pa.scalar(want["weight"]), 9).as_py()
    # Pruned accounts have no vertex; kept ones map back to their names.
    vertex = dict(zip(accounts_, range(len(accounts_)), strict=True))
    for i, row in enumerate(graph.supported.to_pylist()):
        assert graph.supported_a[i] == vertex.get(row["account_a"], -1)
        assert graph.supported_b[i] == vertex.get(row["account_b"], -1)
    # igraph gets the same edges and weights.
    g = graph.to_igraph()
    assert g.get_edgelist() == [(r["a"], r["b"]) for r in got]
    assert g.es["weight"] == [r["weight"] for r in got]


def test_leiden_runs_seeds_only_on_graphs_up_to_the_edge_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import igraph as ig

    edges, _ = build(
        [Group(accounts("a", 5), "co_link", ["u1", "u2"]), Group(accounts("b", 5), "co_link", ["u3", "u4"])]
    )
    calls: list[int] = []
    real = ig.Graph.community_leiden

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(self.ecount())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ig.Graph, "community_leiden", counted)
    small = GraphParams(leiden_runs=4)
    graph = combine(edges, small)
    leiden(graph, small)
    assert len(calls) == 4
    calls.clear()
    large = GraphParams(leiden_runs=4, leiden_runs_max_edges=graph.to_igraph().ecount() - 1)
    leiden(graph, large)
    assert len(calls) == 1
