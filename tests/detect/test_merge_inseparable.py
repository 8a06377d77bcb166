"""Merging campaigns that the graph cannot tell apart (campaigns.merge_inseparable): a union that
raises modularity is merged; a stray bridge, a community that is no campaign (a trimmed member,
an audience) or no tie at all is not."""

from __future__ import annotations

import itertools

import numpy as np

from tests.detect._edges import Group, accounts, build
from vigil.detect.campaigns import find_campaigns, merge_inseparable
from vigil.detect.graph import combine
from vigil.detect.params import DetectParams, GraphParams


def _cliques_and_cross(cross: list[tuple[str, str]]) -> tuple[list[str], list[str], list[str], list[Group]]:
    a, b, c = accounts("a", 6), accounts("b", 6), accounts("c", 6)
    groups = [Group(g, "co_link", ["u1", "u2", "u3"]) for g in (a, b, c)]
    groups += [Group([x, y], "co_link", ["u1", "u2", "u3"]) for x, y in cross]
    return a, b, c, groups


def _partition(graph_accounts: list[str], *groups: list[str]) -> np.ndarray:
    index = {name: k for k, group in enumerate(groups) for name in group}
    return np.array([index[name] for name in graph_accounts], dtype=np.int64)


def test_groups_tied_beyond_chance_are_merged_and_others_are_not() -> None:
    a, b, c, groups = _cliques_and_cross([])
    # a and b tied by every cross pair: more weight between them than inside either (a split that
    # only a too-fine resolution makes); c has no tie to anyone else.
    cross = [Group([x, y], "co_link", ["u1", "u2", "u3"]) for x, y in itertools.product(a, b)]
    edges, _ = build(groups + cross)
    graph = combine(edges, GraphParams())
    names = graph.accounts.to_pylist()
    partition = _partition(names, a, b, c)
    merged = merge_inseparable(graph, partition, np.ones(3, dtype=bool))
    found = {frozenset(n for n, m in zip(names, merged, strict=True) if m == k) for k in set(merged)}
    assert found == {frozenset(a + b), frozenset(c)}


def test_a_stray_bridge_or_a_small_community_does_not_merge() -> None:
    a, b, c, groups = _cliques_and_cross([("tw:a0", "tw:b0")])
    edges, _ = build([*groups, Group(["tw:c0", "tw:lone"], "co_link", ["u1", "u2", "u3"])])
    graph = combine(edges, GraphParams())
    names = graph.accounts.to_pylist()
    partition = _partition(names, a, b, c, ["tw:lone"])
    # One edge between two cliques of 15 is below what their strengths give by chance; the lone
    # account (no campaign, like a trimmed member) stays out even though its only tie is to c.
    eligible = np.array([True, True, True, False])
    assert (merge_inseparable(graph, partition, eligible) == partition).all()


def test_find_campaigns_merges_by_default_and_can_be_told_not_to() -> None:
    a, b, _, groups = _cliques_and_cross([])
    # Cross ties of two items (normalised weight 0.49 against the cliques' 0.63): a CPM resolution
    # between the two keeps a and b apart, though more weight lies between them than inside either.
    cross = [Group([x, y], "co_link", ["u1", "u2"]) for x, y in itertools.product(a, b)]
    edges, evidence = build(groups + cross)
    fine = GraphParams(min_score=0.0, resolution=0.55)
    merged = find_campaigns(edges, evidence, DetectParams(graph=fine))
    kept_apart = fine.model_copy(update={"merge_inseparable": False})
    split = find_campaigns(edges, evidence, DetectParams(graph=kept_apart))
    sizes = sorted(merged.campaigns.column("n_accounts").to_pylist())
    assert sizes == [6, 12], sizes
    assert sorted(split.campaigns.column("n_accounts").to_pylist()) == [6, 6, 6]
