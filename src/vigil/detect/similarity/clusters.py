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

from typing import Literal

import igraph
import numpy as np
import numpy.typing as npt

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
    labels = np.arange(n, dtype=np.int64)
    if len(a) == 0:
        return labels
    # Each pair as (later node, earlier node): a node may only join a leader that came before it.
    later = np.maximum(a, b)
    earlier = np.minimum(a, b)
    order = np.lexsort((earlier, distance, later))
    later, earlier, distance = later[order], earlier[order], distance[order]
    starts = np.flatnonzero(np.r_[True, later[1:] != later[:-1]])
    ends = np.r_[starts[1:], len(later)]
    is_leader = np.ones(n, dtype=bool)
    # Nodes are visited in priority order, so every earlier node's status is final when it is read.
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        node = int(later[start])
        candidates = earlier[start:end]  # sorted by distance, then by node number
        leaders = candidates[is_leader[candidates]]
        if len(leaders):
            labels[node] = leaders[0]
            is_leader[node] = False
    return labels


def cluster(n: int, a: IntArray, b: IntArray, distance: FloatArray, policy: ClusterPolicy) -> IntArray:
    """Cluster labels of ``n`` nodes from similar pairs ``(a[i], b[i])`` under ``policy``."""
    if policy == "components":
        return connected_components(n, a, b)
    return leader_clusters(n, a, b, distance)
