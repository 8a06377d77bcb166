"""The combined account graph: support filter, per-trace normalisation, pruning, Leiden."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from tests.detect._edges import Group, accounts, build
from vigil.core.errors import SchemaError
from vigil.detect.graph import combine, leiden, normalise_weights, support_filter
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
