"""Turning verified similar pairs into clusters (items).

Two policies, chosen per trace and documented in docs/detection-content.md:

* **components**: connected components of the pair graph. Every similar pair ends up in one item
  (no coordination is missed), but chains A~B~C may join A and C although they are not similar.
* **leader**: in priority order (earliest first), a node joins the closest earlier *leader* it is
  similar to, or becomes a leader itself. Every member is similar to its leader (bounded cluster
  diameter, no chaining), at the price that two similar members of different leaders' clusters do
  not share an item.

Nodes are numbered 0..n-1 in priority order; labels are node numbers of the cluster's first node
(components) or leader (leader), so labels are deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import igraph
import numpy as np
import numpy.typing as npt

from vigil.detect.similarity import kernels

ClusterPolicy = Literal["components", "leader"]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def connected_components(n: int, a: IntArray, b: IntArray) -> IntArray:
    """Label of every node: the smallest node number of its connected component."""
    labels = np.arange(n, dtype=np.int64)
    if len(a) == 0:
        return labels
    graph = igraph.Graph(n=n, edges=np.column_stack([a, b]).tolist(), directed=False)
    membership = np.asarray(graph.connected_components().membership, dtype=np.int64)
    # igraph numbers components arbitrarily; name each by its smallest node instead.
    smallest = np.full(membership.max() + 1, n, dtype=np.int64)
    np.minimum.at(smallest, membership, labels)
    result: IntArray = smallest[membership]
    return result


def leader_clusters(n: int, a: IntArray, b: IntArray, distance: FloatArray) -> IntArray:
    """Label of every node: the leader it joined (itself for leaders). Lower ``distance`` is closer."""
    if len(a) == 0:
        return np.arange(n, dtype=np.int64)
    # Each pair as (later node, earlier node): a node may only join a leader that came before it.
    later = np.maximum(a, b)
    earlier = np.minimum(a, b)
    order = np.lexsort((earlier, distance, later))
    return leader_clusters_sorted(n, [(later[order], earlier[order])])


def leader_clusters_sorted(n: int, batches: Iterable[tuple[IntArray, IntArray]]) -> IntArray:
    """:func:`leader_clusters` from pairs ``(later, earlier)`` (later > earlier) already sorted by later
    node, then distance, then earlier node, arriving in batches (e.g. streamed from a database sort):
    memory holds one batch and the labels, never all pairs. A node's pairs may span batches."""
    labels, _ = leader_clusters_scored(
        n, ((later, earlier, np.zeros(len(later), dtype=np.float64)) for later, earlier in batches)
    )
    return labels


def leader_clusters_scored(
    n: int, batches: Iterable[tuple[IntArray, IntArray, FloatArray]]
) -> tuple[IntArray, FloatArray]:
    """:func:`leader_clusters_sorted` from ``(later, earlier, similarity)`` batches, also returning
    each node's similarity to its leader: the similarity of the pair that made it join (a
    leader's own is 1.0). A member's score against its representative then needs no second pass."""
    labels = np.arange(n, dtype=np.int64)
    is_leader = np.ones(n, dtype=bool)
    score = np.ones(n, dtype=np.float64)
    tail_later = np.zeros(0, dtype=np.int64)
    tail_earlier = np.zeros(0, dtype=np.int64)
    tail_sim = np.zeros(0, dtype=np.float64)
    for batch_later, batch_earlier, batch_sim in batches:
        later = np.concatenate([tail_later, np.asarray(batch_later, dtype=np.int64)])
        earlier = np.concatenate([tail_earlier, np.asarray(batch_earlier, dtype=np.int64)])
        sim = np.concatenate([tail_sim, np.asarray(batch_sim, dtype=np.float64)])
        if len(later) == 0:
            continue
        # The last node's pairs may continue in the next batch: keep them for it.
        cut = int(np.searchsorted(later, later[-1], side="left"))
        kernels.join_leaders(later[:cut], earlier[:cut], sim[:cut], labels, is_leader, score)
        tail_later, tail_earlier, tail_sim = later[cut:], earlier[cut:], sim[cut:]
    kernels.join_leaders(tail_later, tail_earlier, tail_sim, labels, is_leader, score)
    return labels, score


def cluster(n: int, a: IntArray, b: IntArray, distance: FloatArray, policy: ClusterPolicy) -> IntArray:
    """Cluster labels of ``n`` nodes from similar pairs ``(a[i], b[i])`` under ``policy``."""
    if policy == "components":
        return connected_components(n, a, b)
    return leader_clusters(n, a, b, distance)
