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
from functools import cached_property

import igraph as ig
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.core.errors import SchemaError
from vigil.detect.contract import EDGES
from vigil.detect.params import GraphParams

IGRAPH_SLICE = 1 << 20  # edges handed to igraph per call

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
    """The combined account graph: vertex ``i`` is ``accounts[i]``; ``pairs`` rows are its edges.

    Kept as integers (vertex numbers, trace codes) so that graphs of millions of edges stay small;
    ``edges`` spells the pairs out as the COMBINED_EDGES table when someone needs the names.
    """

    accounts: pa.Array  # string, one per vertex
    # One row per edge, sorted by (account_a, account_b): int32 ``a`` and ``b`` (vertex numbers,
    # a's name < b's), ``weight``, ``n_traces``, ``traces`` (list of dictionary-encoded trace names,
    # in order of first appearance in the input), ``n_items``, ``n_coactions``, ``first_ts``, ``last_ts``.
    pairs: pa.Table
    supported: pa.Table  # the per-trace EDGES rows that passed the support filter
    # Per supported row, the vertices of its account_a and account_b (-1: pruned from the graph).
    supported_a: np.ndarray
    supported_b: np.ndarray

    @property
    def n_vertices(self) -> int:
        return len(self.accounts)

    @cached_property
    def edges(self) -> pa.Table:
        """COMBINED_EDGES plus int32 columns ``a`` and ``b`` (vertex numbers), built on first use."""
        p = self.pairs
        table = pa.table(
            {
                "account_a": self.accounts.take(p.column("a")),
                "account_b": self.accounts.take(p.column("b")),
                "weight": p.column("weight"),
                "n_traces": p.column("n_traces"),
                "traces": p.column("traces").cast(pa.list_(pa.string())),
                "n_items": p.column("n_items"),
                "n_coactions": p.column("n_coactions"),
                "first_ts": p.column("first_ts"),
                "last_ts": p.column("last_ts"),
            }
        ).cast(COMBINED_EDGES)
        return table.append_column("a", p.column("a")).append_column("b", p.column("b"))

    def to_igraph(self) -> ig.Graph:
        graph = ig.Graph(n=self.n_vertices, directed=False)
        a = self.pairs.column("a").to_numpy()
        b = self.pairs.column("b").to_numpy()
        # igraph converts edges one Python pair at a time: from a bounded slice, so the millions of
        # pairs of a large graph never exist as Python objects at once (1.1 GB at 5.6M). The pairs
        # are zipped from two flat lists: a (n, 2) array's tolist() builds a list per pair, 0.18 s
        # of the 0.23 s this took at 319k edges (1M generated posts); zipped, 0.06 s.
        for start in range(0, len(a), IGRAPH_SLICE):
            stop = start + IGRAPH_SLICE
            graph.add_edges(zip(a[start:stop].tolist(), b[start:stop].tolist(), strict=True))
        graph.es["weight"] = self.pairs.column("weight").to_pylist()
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
    keep = pc.or_(enough_items, repeated)
    # Usually every edge passes: then no copy of a table of millions of rows.
    return edges if pc.all(keep).as_py() else edges.filter(keep)


def dictionary_codes(column: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """``column``'s distinct values (in order of first appearance) and each row's int32 index into
    them: integers that stand in for millions of strings. Arrow encodes every chunk of a chunked
    array against one shared dictionary."""
    encoded = column.dictionary_encode()
    if not encoded.num_chunks:
        return pa.array([], column.type), np.zeros(0, dtype=np.int32)
    return encoded.chunk(0).dictionary, np.concatenate([chunk.indices.to_numpy() for chunk in encoded.chunks])


def normalise_weights(edges: pa.Table) -> pa.Array:
    """Each edge's weight mapped to [0, 1) by ``1 - exp(-w / median of its trace's weights)``."""
    # Trace codes, not a NumPy array of millions of Python strings.
    _, trace = dictionary_codes(edges.column("trace"))
    # Engines sum weights in parallel, so the last bits vary from run to run; rounding them keeps
    # the graph, and hence Leiden's seeded result, identical across runs.
    weight = np.round(edges.column("weight").to_numpy(), 9)
    out = np.zeros(len(weight), dtype=np.float64)
    for code in np.unique(trace):
        mask = trace == code
        scale = float(np.median(weight[mask]))
        if scale <= 0:
            scale = 1.0
        out[mask] = 1.0 - np.exp(-np.maximum(weight[mask], 0.0) / scale)
    return pa.array(out)


def _empty_graph(supported: pa.Table) -> AccountGraph:
    pairs = pa.table(
        {
            "a": pa.array([], pa.int32()),
            "b": pa.array([], pa.int32()),
            "weight": pa.array([], pa.float64()),
            "n_traces": pa.array([], pa.int64()),
            "traces": pa.array([], pa.list_(pa.dictionary(pa.int32(), pa.string()))),
            "n_items": pa.array([], pa.int64()),
            "n_coactions": pa.array([], pa.int64()),
            "first_ts": pa.array([], pa.float64()),
            "last_ts": pa.array([], pa.float64()),
        }
    )
    no_vertex = np.full(supported.num_rows, -1, dtype=np.int32)
    return AccountGraph(
        accounts=pa.array([], pa.string()),
        pairs=pairs,
        supported=supported,
        supported_a=no_vertex,
        supported_b=no_vertex,
    )


def _sorted_codes(supported: pa.Table) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Every account of ``supported`` once, sorted, and each row's account_a and account_b as an
    index into that list: comparing codes then compares names, so integers stand in for strings."""
    n = supported.num_rows
    ends = pa.chunked_array(
        supported.column("account_a").chunks + supported.column("account_b").chunks, type=pa.string()
    )
    dictionary, first_seen = dictionary_codes(ends)
    order = pc.array_sort_indices(dictionary).to_numpy()  # Arrow's string order, as sort_by uses
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    # int32 codes: row-sized arrays are what costs memory here.
    codes = rank[first_seen]
    del first_seen
    return dictionary.take(pa.array(order)), codes[:n], codes[n:]


def combine(edges: pa.Table, params: GraphParams) -> AccountGraph:
    """Support-filter, normalise and sum per-trace edges into the combined account graph.

    Works on integer codes throughout (accounts ranked by name, traces by first appearance): a
    grouping on two string columns of millions of rows took several GB. The result is the one a
    group-by on (account_a, account_b) over the rows in input order gives: each pair's weight is
    summed in input row order, its traces listed distinct in order of first appearance.
    """
    edges = check_edges(edges)
    supported = support_filter(edges, params)
    if supported.num_rows == 0:
        return _empty_graph(supported)
    w_norm = normalise_weights(supported).to_numpy()
    names, code_a, code_b = _sorted_codes(supported)
    n_codes = len(names)
    trace_names, trace = dictionary_codes(supported.column("trace"))

    # Rows grouped by pair, in input order within a pair (stable sort); groups in name order.
    key = code_a.astype(np.int64) * n_codes + code_b
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    del key  # temporaries of a row each are freed as soon as possible: there can be millions
    sizes = np.diff(np.r_[starts, len(order)]).astype(np.int32)
    n_pairs = len(starts)

    # Weight summed row by row in input order (as a hash aggregation adds them) so the float sum,
    # hence the graph and Leiden's partition, come out the same; distinct traces by a seen-matrix.
    weight = np.zeros(n_pairs, dtype=np.float64)
    seen = np.zeros((n_pairs, len(trace_names)), dtype=bool)
    first_of_trace = np.zeros(len(order), dtype=bool)  # per sorted row: its trace is new to the pair
    # One step per rank k within a pair (a pair has a row per trace, so only a few steps).
    for k in range(int(sizes.max())):
        groups = np.flatnonzero(sizes > k)
        pos = starts[groups] + k
        rows = order[pos]
        weight[groups] += w_norm[rows]
        t = trace[rows]
        first_of_trace[pos] = ~seen[groups, t]
        seen[groups, t] = True
        del groups, pos, rows, t
    del seen, w_norm, sizes
    n_traces = np.add.reduceat(first_of_trace.astype(np.int64), starts)
    n_items = np.add.reduceat(supported.column("n_items").to_numpy()[order], starts)
    n_coactions = np.add.reduceat(supported.column("n_coactions").to_numpy()[order], starts)
    first_ts = np.minimum.reduceat(supported.column("first_ts").to_numpy()[order], starts)
    last_ts = np.maximum.reduceat(supported.column("last_ts").to_numpy()[order], starts)
    trace_values = trace[order][first_of_trace]
    trace_offsets = np.r_[0, np.cumsum(n_traces)]
    del trace, first_of_trace

    kept = weight >= params.min_edge_weight
    leaders = order[starts]  # each pair's first row
    del order, starts
    pair_a = code_a[leaders][kept]
    pair_b = code_b[leaders][kept]
    del leaders
    # Vertices numbered by first appearance in (all a ends, then all b ends) of the sorted pairs:
    # a canonical numbering, on which Leiden's seeded result depends.
    n_kept = len(pair_a)
    first = np.full(n_codes, 2 * n_kept, dtype=np.int64)
    np.minimum.at(first, pair_a, np.arange(n_kept, dtype=np.int64))
    np.minimum.at(first, pair_b, np.arange(n_kept, 2 * n_kept, dtype=np.int64))
    present = np.flatnonzero(first < 2 * n_kept)
    by_appearance = present[np.argsort(first[present], kind="stable")]
    vertex_of = np.full(n_codes, -1, dtype=np.int32)
    vertex_of[by_appearance] = np.arange(len(by_appearance), dtype=np.int32)

    traces = pa.ListArray.from_arrays(
        pa.array(trace_offsets.astype(np.int32)),
        pa.DictionaryArray.from_arrays(pa.array(trace_values.astype(np.int32)), trace_names),
    ).filter(pa.array(kept))
    pairs = pa.table(
        {
            "a": pa.array(vertex_of[pair_a]),
            "b": pa.array(vertex_of[pair_b]),
            "weight": pc.round(pa.array(weight[kept]), 9),
            "n_traces": pa.array(n_traces[kept]),
            "traces": traces,
            "n_items": pa.array(n_items[kept]),
            "n_coactions": pa.array(n_coactions[kept]),
            "first_ts": pa.array(first_ts[kept]),
            "last_ts": pa.array(last_ts[kept]),
        }
    )
    return AccountGraph(
        accounts=names.take(pa.array(by_appearance)),
        pairs=pairs,
        supported=supported,
        supported_a=vertex_of[code_a],
        supported_b=vertex_of[code_b],
    )


def leiden(graph: AccountGraph, params: GraphParams) -> np.ndarray:
    """Community of each vertex (int array, one entry per vertex) by seeded Leiden.

    igraph's C implementation: on a 1M-post run's graph (18k accounts, 286k edges) it takes about
    1 s where leidenalg's takes 35 s, for the same CPM quality. igraph draws from a process-wide
    random generator; it is swapped for one seeded from ``params.seed`` for the call.
    """
    if graph.n_vertices == 0:
        return np.zeros(0, dtype=np.int64)
    g = graph.to_igraph()
    best: list[int] = []
    best_quality = -np.inf
    # Leiden is randomised and different seeds end in different local optima of its quality
    # function (on the IRA 2017 archive two seeds of five kept a 10-account group apart that the
    # others joined, at a slightly lower CPM quality): of ``leiden_runs`` runs, seeds ``seed``,
    # ``seed + 1``..., the partition of highest quality is kept (ties: the earliest seed).
    # Extra runs cost a run each (about 1 s at 286k edges, tens of seconds at millions): the
    # seeds' disagreement matters on archive-sized graphs, so large graphs get a single run.
    runs = params.leiden_runs if g.ecount() <= params.leiden_runs_max_edges else 1
    for run in range(runs):
        ig.set_random_number_generator(random.Random(params.seed + run))
        try:
            clusters = g.community_leiden(
                objective_function="CPM" if params.objective == "CPM" else "modularity",
                weights="weight",
                resolution=params.leiden_resolution,
                n_iterations=-1,
            )
        finally:
            ig.set_random_number_generator(random)
        quality = float(clusters.quality)
        if quality > best_quality:
            best, best_quality = list(clusters.membership), quality
    return np.asarray(best, dtype=np.int64)
