"""Combine per-trace edges into one weighted account graph and find its communities with Leiden.

Each trace (co-link, co-reshare, near-duplicate text, ...) gives its own edges with weights on its
own scale. Before adding them up we

1. require **support**: an edge of trace t needs at least ``min_items`` (or the per-trace override)
   distinct shared items, or ``min_repeats`` matched post pairs (the same hashtag or message pushed
   together again and again), since acting once on one item at the same moment happens by chance;
2. **normalise** each trace's weights to [0, 1) with ``1 - exp(-w / median_t)``, where median_t is
   that trace's median supported weight, so no trace dominates merely by its scale;
3. **sum** the normalised weights of an account pair over traces (so a pair tied by several traces
   weighs more) and **prune** pairs whose sum is below ``min_edge_weight``.

Leiden (igraph's implementation, seeded) then partitions the combined graph; CPM keeps apart dense
groups joined by a few stray edges, which modularity would merge or split depending on graph size.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import igraph as ig
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.core.errors import SchemaError
from vigil.detect.contract import EDGES
from vigil.detect.params import GraphParams

# The combined graph's edge table: one row per account pair over all traces.
COMBINED_EDGES = pa.schema(
    [
        pa.field("account_a", pa.string(), nullable=False),
        pa.field("account_b", pa.string(), nullable=False),
        pa.field("weight", pa.float64(), nullable=False),  # sum over traces of normalised weights
        pa.field("n_traces", pa.int64(), nullable=False),
        pa.field("traces", pa.list_(pa.string()), nullable=False),
        pa.field("n_items", pa.int64(), nullable=False),
        pa.field("n_coactions", pa.int64(), nullable=False),
        pa.field("first_ts", pa.float64(), nullable=False),
        pa.field("last_ts", pa.float64(), nullable=False),
    ]
)


@dataclass(frozen=True)
class AccountGraph:
    """The combined account graph: vertex ``i`` is ``accounts[i]``; ``edges`` rows are its edges."""

    accounts: pa.Array  # string, one per vertex
    edges: pa.Table  # COMBINED_EDGES plus int32 columns ``a`` and ``b`` (vertex indices)
    supported: pa.Table  # the per-trace EDGES rows that passed the support filter

    @property
    def n_vertices(self) -> int:
        return len(self.accounts)

    def to_igraph(self) -> ig.Graph:
        a = self.edges.column("a").to_numpy()
        b = self.edges.column("b").to_numpy()
        graph = ig.Graph(n=self.n_vertices, edges=np.column_stack([a, b]).tolist(), directed=False)
        graph.es["weight"] = self.edges.column("weight").to_pylist()
        return graph


def check_edges(edges: pa.Table, *, source: str = "edges") -> pa.Table:
    """Check that ``edges`` has the EDGES contract's columns; return it with exactly those columns."""
    for field in EDGES:
        if field.name not in edges.column_names:
            raise SchemaError("missing column of the EDGES table", file=source, column=field.name)
    return edges.select(EDGES.names).cast(EDGES)


def support_filter(edges: pa.Table, params: GraphParams) -> pa.Table:
    """Keep the per-trace edges backed by enough distinct shared items, or by enough repeats."""
    if edges.num_rows == 0:
        return edges
    traces = pc.unique(edges.column("trace")).to_pylist()
    thresholds = pa.array([params.items_threshold(t) for t in traces], pa.int64())
    needed = pc.take(thresholds, pc.index_in(edges.column("trace"), value_set=pa.array(traces)))
    enough_items = pc.greater_equal(edges.column("n_items"), needed)
    repeated = pc.greater_equal(edges.column("n_coactions"), params.min_repeats)
    return edges.filter(pc.or_(enough_items, repeated))


def normalise_weights(edges: pa.Table) -> pa.Array:
    """Each edge's weight mapped to [0, 1) by ``1 - exp(-w / median of its trace's weights)``."""
    trace = edges.column("trace").to_numpy(zero_copy_only=False)
    # Engines sum weights in parallel, so the last bits vary from run to run; rounding them keeps
    # the graph, and hence Leiden's seeded result, identical across runs.
    weight = np.round(edges.column("weight").to_numpy(), 9)
    out = np.zeros(len(weight), dtype=np.float64)
    for name in np.unique(trace):
        mask = trace == name
        scale = float(np.median(weight[mask]))
        if scale <= 0:
            scale = 1.0
        out[mask] = 1.0 - np.exp(-np.maximum(weight[mask], 0.0) / scale)
    return pa.array(out)


def combine(edges: pa.Table, params: GraphParams) -> AccountGraph:
    """Support-filter, normalise and sum per-trace edges into the combined account graph."""
    edges = check_edges(edges)
    supported = support_filter(edges, params)
    if supported.num_rows == 0:
        empty = COMBINED_EDGES.empty_table()
        empty = empty.append_column("a", pa.array([], pa.int32())).append_column(
            "b", pa.array([], pa.int32())
        )
        return AccountGraph(accounts=pa.array([], pa.string()), edges=empty, supported=supported)
    normed = supported.append_column("w_norm", normalise_weights(supported))
    grouped = normed.group_by(["account_a", "account_b"]).aggregate(
        [
            ("w_norm", "sum"),
            ("trace", "count_distinct"),
            ("trace", "distinct"),
            ("n_items", "sum"),
            ("n_coactions", "sum"),
            ("first_ts", "min"),
            ("last_ts", "max"),
        ]
    )
    combined = pa.table(
        {
            "account_a": grouped.column("account_a"),
            "account_b": grouped.column("account_b"),
            "weight": grouped.column("w_norm_sum"),
            "n_traces": grouped.column("trace_count_distinct"),
            "traces": grouped.column("trace_distinct"),
            "n_items": grouped.column("n_items_sum"),
            "n_coactions": grouped.column("n_coactions_sum"),
            "first_ts": grouped.column("first_ts_min"),
            "last_ts": grouped.column("last_ts_max"),
        }
    )
    combined = combined.filter(pc.greater_equal(combined.column("weight"), params.min_edge_weight))
    # A canonical order (and so canonical vertex numbers): Leiden's result depends on both.
    combined = combined.cast(COMBINED_EDGES).sort_by([("account_a", "ascending"), ("account_b", "ascending")])
    combined = combined.set_column(
        combined.schema.get_field_index("weight"),
        COMBINED_EDGES.field("weight"),
        pc.round(combined.column("weight"), 9),
    )
    ends = pa.chunked_array(
        combined.column("account_a").chunks + combined.column("account_b").chunks, type=pa.string()
    )
    encoded = ends.combine_chunks().dictionary_encode()
    indices = encoded.indices.cast(pa.int32())
    n = combined.num_rows
    combined = combined.append_column("a", indices.slice(0, n)).append_column("b", indices.slice(n))
    return AccountGraph(accounts=encoded.dictionary, edges=combined, supported=supported)


def leiden(graph: AccountGraph, params: GraphParams) -> np.ndarray:
    """Community of each vertex (int array, one entry per vertex) by seeded Leiden.

    igraph's C implementation: on a 1M-post run's graph (18k accounts, 286k edges) it takes about
    1 s where leidenalg's takes 35 s, for the same CPM quality. igraph draws from a process-wide
    random generator; it is swapped for one seeded from ``params.seed`` for the call.
    """
    if graph.n_vertices == 0:
        return np.zeros(0, dtype=np.int64)
    g = graph.to_igraph()
    ig.set_random_number_generator(random.Random(params.seed))
    try:
        clusters = g.community_leiden(
            objective_function="CPM" if params.objective == "CPM" else "modularity",
            weights="weight",
            resolution=params.resolution,
            n_iterations=-1,
        )
    finally:
        ig.set_random_number_generator(random)
    return np.asarray(clusters.membership, dtype=np.int64)
