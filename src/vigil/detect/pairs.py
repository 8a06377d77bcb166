"""The engine's steps 3-6 on one machine: integer keys in numpy, a sliding window per item in numba.

The SQL pair step (:func:`vigil.detect.engine.windowed_pairs_sql`) joins each event with every
event of its item in the same and the two adjacent time buckets, then filters, materialises every
matched pair with seven columns and groups them twice. On heavy retweet cascades that is most of
a run's time and memory: at 10M cascade posts the join's candidates and the pair table outgrew
DuckDB's memory limit and spilled. Here a trace's events are read from DuckDB once and their
account and item strings dictionary-encoded once (:func:`index_events`; the SQL hashed and sorted
the strings in five statements); the events (integers and times only) are sorted by item and time;
numba walks each event forward while the next events of its item are within the window, and
writes matched pairs as two int32 event positions (8 bytes a pair). Each item's pairs are then
ordered by account pair, which gives the (account pair, item) rows the edges are summed from
without a hash aggregation, and where each row's pairs start, so evidence takes the kept rows'
pairs by position. The work grows with the pairs in the window, not with the square of a crowded
bucket's candidates. The output rows get their strings (accounts, items, post ids) by position
only at the end, for the rows written.

The pairs, edges and evidence are exactly those of the SQL step (the tests run both on the same
events): the same window test on the same doubles, the same bucket condition, item weights by the
same SQL expressions, sums of the same integer units, strings ordered byte by byte as DuckDB
orders VARCHAR, and evidence ranked by time, then post ids, as the SQL ranks it. The SQL step
remains the one Spark runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.detect import _pair_kernels as kernels
from vigil.detect.similarity.minhash import sorted_unique

# The name under which a trace's items are registered while their weights are computed.
_INDEX = "_vg_idx"


@dataclass
class IndexedEvents:
    """One trace's kept events with integer keys, sorted by item, time and event id (what
    :func:`pairs_of` walks), and the counts the trace's statistics report.

    ``item`` (``iid``), ``aid``, ``eid`` and the time bucket ``bucket`` are those of the SQL step's
    ``_vg_evj``: accounts numbered 1.. in account order, kept items 1.. in item order.
    """

    item: np.ndarray
    aid: np.ndarray
    ts: np.ndarray
    bucket: np.ndarray
    eid: np.ndarray
    n_accounts: int
    cap: int | None
    n_items: int
    n_shared: int
    n_kept: int
    n_crowded: int
    n_crowded_events: int
    accounts: pa.Array  # account of aid k at k - 1
    items: pa.Array  # item of iid k at k - 1
    units: np.ndarray  # weight of iid k in integer units at k (0 unused)
    posts: pa.Array  # post id of eid k at k - 1


def _array(column: pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _ranks(names: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The sort order of ``names`` and each name's 1-based rank in it: DuckDB's ``ORDER BY`` on
    VARCHAR and Arrow's sort compare strings byte by byte, so the ranks are ``row_number() OVER
    (ORDER BY name)``'s."""
    order = pc.sort_indices(names).to_numpy().astype(np.int64)
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(1, len(order) + 1, dtype=np.int64)
    return order, rank


def _duplicates(
    run: np.ndarray, candidates: np.ndarray, aid: np.ndarray, platform: pa.Array, post_id: pa.Array
) -> np.ndarray:
    """Of the ``candidates`` (positions in runs of equal item and time; ``run`` numbers the runs;
    ``aid``, ``platform`` and ``post_id`` are theirs), those repeating an earlier candidate's
    account and post in the same run."""
    codes = [
        _array(pc.dictionary_encode(column, null_encoding="encode")).indices.to_numpy()
        for column in (platform, post_id)
    ]
    keys = (codes[1], codes[0], aid, run[candidates])
    order = np.lexsort(keys)
    same = np.ones(len(order) - 1, bool)
    for key in keys:
        ordered = key[order]
        same &= ordered[1:] == ordered[:-1]
    return candidates[order[1:][same]]


def _equal_next(values: np.ndarray) -> np.ndarray:
    """``values[k + 1] == values[k]`` for each k, NaN equal to NaN (as SQL's DISTINCT has it)."""
    same: np.ndarray = values[1:] == values[:-1]
    if values.dtype.kind == "f":
        same |= np.isnan(values[1:]) & np.isnan(values[:-1])
    return same


def index_events(
    con: duckdb.DuckDBPyConnection,
    events: str | pa.Table,
    window: float,
    *,
    cap_for: Callable[[int], int | None],
    weight_sql: Callable[[int], str],
    units: str,
    crowd_cap: int | None,
) -> IndexedEvents:
    """Steps 3 and 4's input in numpy: what the SQL step's ``_vg_acc``, ``_vg_items``/``_vg_kept``,
    ``_vg_evk`` and crowded cells hold, from the events (a relation, or its rows as
    :func:`vigil.detect.engine.select_events` gives them) read once, strings encoded once.

    The same rows as the SQL (:func:`vigil.detect.engine.index_events` and the statements around
    it): accounts numbered in account order, kept items in item order, duplicate events (a post
    naming the same item twice) removed, the time bucket the same floating-point operation. Event
    ids number the kept events in (item, time) order, so no sort is needed later; the
    pairs, edges and evidence never depend on which of two equal events gets the smaller id.
    ``cap_for(n_accounts)``: the popularity cap; ``weight_sql(n_accounts)``: the item weight as
    SQL over ``n``, evaluated by DuckDB and scaled to integer ``units`` as the SQL step does.
    """
    if isinstance(events, str):
        table = con.sql(f"SELECT account, platform, post_id, item, ts FROM {events}").to_arrow_table()
    else:
        table = events
    accounts = pc.dictionary_encode(_array(table.column("account")))
    names = accounts.dictionary
    account_order, account_rank = _ranks(names)
    n_accounts = len(names)
    aid_all = account_rank[accounts.indices.to_numpy()]
    del accounts
    account_names = names.take(pa.array(account_order))
    del names

    items = pc.dictionary_encode(_array(table.column("item")))
    item_names = items.dictionary
    item_all = items.indices.to_numpy().astype(np.int64)
    del items
    n_items = len(item_names)
    # distinct accounts per item: the distinct (item, account) keys, counted by item
    keys = sorted_unique(item_all * max(n_accounts, 1) + (aid_all - 1))
    per_item = np.bincount(keys // max(n_accounts, 1), minlength=n_items)
    del keys
    cap = cap_for(n_accounts)
    shared = per_item >= 2
    kept = shared & (per_item <= cap) if cap is not None else shared
    kept_index = np.flatnonzero(kept)
    kept_names = item_names.take(kept_index)
    item_order, _ = _ranks(kept_names)
    n_kept = len(kept_index)
    iid_of = np.zeros(n_items, np.int64)
    iid_of[kept_index[item_order]] = np.arange(1, n_kept + 1, dtype=np.int64)
    n_of_iid = np.zeros(n_kept + 1, np.int64)
    n_of_iid[1:] = per_item[kept_index[item_order]]
    item_names_kept = kept_names.take(pa.array(item_order))
    # Each item's weight in integer units by the SQL step's own expressions: the weight as the
    # engine's DOUBLE, then round(w * units) (vigil.detect.engine._edges_sql), so the sums are the same.
    con.register(_INDEX, pa.table({"iid": np.arange(1, n_kept + 1, dtype=np.int64), "n": n_of_iid[1:]}))
    try:
        weights = con.sql(
            f"SELECT iid, CAST(round(w * {units}) AS BIGINT) AS u FROM "
            f"(SELECT iid, CAST({weight_sql(n_accounts)} AS DOUBLE) AS w FROM {_INDEX})"
        ).to_arrow_table()
    finally:
        unregister(con, _INDEX)
    unit_of_iid = np.zeros(n_kept + 1, np.int64)
    unit_of_iid[weights.column("iid").to_numpy()] = weights.column("u").to_numpy()
    del kept_names, item_names

    iid_all = iid_of[item_all]
    rows = np.flatnonzero(iid_all)
    iid = iid_all[rows]
    aid = aid_all[rows]
    ts = table.column("ts").to_numpy()[rows]
    del iid_all, aid_all, item_all
    # (item, time) order by one integer key, the item and the time's rank (equal times have
    # neighbouring ranks, so they stay together within an item): a third of a lexsort's time.
    by_time = np.argsort(ts)
    rank = np.empty(len(ts), np.int64)
    rank[by_time] = np.arange(len(ts), dtype=np.int64)
    del by_time
    order = np.argsort(iid * max(len(ts), 1) + rank)
    del rank
    rows, iid, aid, ts = rows[order], iid[order], aid[order], ts[order]
    # Duplicates share item and time, so they are neighbours in this order: only rows in such runs
    # have their accounts and posts compared.
    same = (iid[1:] == iid[:-1]) & _equal_next(ts)
    if same.any():
        run = np.cumsum(np.r_[True, ~same]) - 1
        in_run = np.zeros(len(iid), bool)
        in_run[1:] |= same
        in_run[:-1] |= same
        candidates = np.flatnonzero(in_run)
        taken = pa.array(rows[candidates])
        repeated = _duplicates(
            run,
            candidates,
            aid[candidates],
            _array(table.column("platform")).take(taken),
            _array(table.column("post_id")).take(taken),
        )
        if len(repeated):
            keep = np.ones(len(iid), bool)
            keep[repeated] = False
            rows, iid, aid, ts = rows[keep], iid[keep], aid[keep], ts[keep]
    eid = np.arange(1, len(iid) + 1, dtype=np.int64)
    posts = _array(table.column("post_id")).take(pa.array(rows))
    del table, rows
    bucket = ts.copy() if window == 0 else np.floor(ts / float(window))

    n_crowded = n_crowded_events = 0
    if crowd_cap is not None and n_kept:
        big = np.flatnonzero(n_of_iid[iid] > crowd_cap)
        if len(big):
            cells = big[np.lexsort((aid[big], bucket[big], iid[big]))]
            new_cell = np.r_[True, (iid[cells][1:] != iid[cells][:-1]) | ~_equal_next(bucket[cells])]
            new_account = new_cell | np.r_[True, aid[cells][1:] != aid[cells][:-1]]
            cell = np.cumsum(new_cell) - 1
            crowded = np.bincount(cell, weights=new_account) > crowd_cap
            n_crowded = int(crowded.sum())
            if n_crowded:
                n_crowded_events = int(np.bincount(cell)[crowded].sum())
                keep = np.ones(len(iid), bool)
                keep[cells[crowded[cell]]] = False
                iid, aid, ts, bucket, eid = iid[keep], aid[keep], ts[keep], bucket[keep], eid[keep]
    return IndexedEvents(
        iid, aid, ts, bucket, eid, n_accounts, cap, n_items, int(shared.sum()), n_kept,
        n_crowded, n_crowded_events, account_names, item_names_kept, unit_of_iid, posts,
    )  # fmt: skip


@dataclass
class ItemPairs:
    """The matched pairs of one trace's events, grouped by (item, account pair).

    Events (``item``, ``aid``, ``ts``, ``eid``) are sorted by item and time; pair ``k`` is the
    events at positions ``first[k]`` and ``second[k]`` (``first`` the smaller account id); rows
    (``rows``, an Arrow table ``a1, a2, iid, nco, ft, lt, start``) group the pairs, which lie at
    ``start`` .. ``start + nco`` in row order.
    """

    item: np.ndarray
    aid: np.ndarray
    ts: np.ndarray
    eid: np.ndarray
    first: np.ndarray
    second: np.ndarray
    rows: pa.Table

    @property
    def n_pairs(self) -> int:
        return int(self.first.shape[0])


def _positions(n: int) -> type[np.signedinteger]:
    # int32 positions halve the pair arrays' memory; beyond 2^31 events, int64.
    return np.int32 if n < 2**31 - 1 else np.int64


def pairs_of(
    item: np.ndarray, aid: np.ndarray, ts: np.ndarray, bucket: np.ndarray, eid: np.ndarray, window: float
) -> ItemPairs:
    """Match the pairs of events sorted by item, time and event id (``bucket``: their time
    buckets) within ``window`` seconds."""
    window = float(window)
    count = kernels.count_pairs(item, aid, ts, bucket, window)
    dtype = _positions(len(item))
    first = np.empty(count, dtype)
    second = np.empty(count, dtype)
    kernels.fill_pairs(item, aid, ts, bucket, window, first, second)
    del bucket
    n_accounts = int(aid.max()) + 1 if len(aid) else 1
    groups = kernels.sort_within_items(item, aid, first, second, n_accounts)
    a1 = np.empty(groups, np.int64)
    a2 = np.empty(groups, np.int64)
    iid = np.empty(groups, np.int64)
    nco = np.empty(groups, np.int64)
    ft = np.empty(groups, np.float64)
    lt = np.empty(groups, np.float64)
    start = np.empty(groups, np.int64)
    kernels.fill_groups(item, aid, ts, first, second, a1, a2, iid, nco, ft, lt, start)
    rows = pa.table({"a1": a1, "a2": a2, "iid": iid, "nco": nco, "ft": ft, "lt": lt, "start": start})
    return ItemPairs(item, aid, ts, eid, first, second, rows)


@dataclass
class Edges:
    """Step 5's edges (``table``: ``a1, a2, weight, n_items, n_coactions, first_ts, last_ts`` in
    account-pair order) and step 6's choice of items: ``top``, the pair rows (positions in
    ``ItemPairs.rows``) evidence is drawn from."""

    table: pa.Table
    top: np.ndarray


def edges(
    pairs: ItemPairs,
    units: np.ndarray,
    units_scale: str,
    *,
    min_items: int,
    min_coactions: int,
    items_per_edge: int,
) -> Edges:
    """Step 5 on the (account pair, item) rows of ``pairs``, the rows and types of the engine's
    edges SQL, and the rows of its evidence's top-items SQL (``_top_items_sql``).

    ``units``: each item's weight in integer units (index: item id); the sums are of integers
    (exact in any order) and the final division by ``units_scale`` (a SQL number) is the same IEEE
    operation, so the weights are bit-identical to the SQL's. A sort of the rows by account pair
    replaces DuckDB's hash aggregation, which on a day window's millions of rows was the trace's
    largest step. An edge's items for evidence: all of them up to ``items_per_edge``, else its
    earliest (by first time, then item id).
    """
    rows = pairs.rows
    a1 = rows.column("a1").to_numpy()
    a2 = rows.column("a2").to_numpy()
    iid = rows.column("iid").to_numpy()
    width = np.int64(int(a2.max()) + 1 if len(a2) else 1)
    # One gathered column at a time: at 10M posts the rows are tens of millions.
    key = a1 * width + a2
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, np.int64)
    del key

    n_items = np.diff(np.r_[starts, len(order)]).astype(np.int64)
    n_coactions = _grouped(np.add, rows.column("nco").to_numpy(), order, starts)
    keep = (n_items >= min_items) & (n_coactions >= min_coactions)
    head = order[starts[keep]]
    scale = float(units_scale)
    weight = _grouped(np.add, units[iid], order, starts)[keep].astype(np.float64) / scale
    ft = rows.column("ft").to_numpy()
    table = pa.table(
        {
            "a1": a1[head],
            "a2": a2[head],
            "weight": weight,
            "n_items": n_items[keep],
            "n_coactions": n_coactions[keep],
            "first_ts": _grouped(np.minimum, ft, order, starts)[keep],
            "last_ts": _grouped(np.maximum, rows.column("lt").to_numpy(), order, starts)[keep],
        }
    )
    # the kept edges' rows: groups in order, each row tagged with its group's size
    group = np.repeat(np.arange(len(starts)), n_items)
    kept_rows = keep[group]
    members = order[kept_rows]
    sizes = n_items[group[kept_rows]]
    few = sizes <= items_per_edge
    top = members[few]
    many = members[~few]
    if len(many):
        edge = group[kept_rows][~few]
        by_time = np.lexsort((iid[many], ft[many], edge))
        ranked, edge = many[by_time], edge[by_time]
        first = np.r_[True, edge[1:] != edge[:-1]]
        begin = np.maximum.accumulate(np.where(first, np.arange(len(edge)), 0))
        top = np.r_[top, ranked[np.arange(len(edge)) - begin < items_per_edge]]
    return Edges(table, top)


def _grouped(ufunc: np.ufunc, values: np.ndarray, order: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """``ufunc`` over each group of ``values`` taken in ``order`` (groups begin at ``starts``)."""
    # reduceat on no groups would still yield one value
    return ufunc.reduceat(values[order], starts) if len(starts) else values[:0]


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The positions ``starts[r] .. starts[r] + counts[r]`` of every row ``r``, concatenated."""
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, np.int64)
    offsets = np.cumsum(counts) - counts
    return np.repeat(starts - offsets, counts) + np.arange(total, dtype=np.int64)


def _dense_ranks(strings: pa.Array) -> np.ndarray:
    """Each string's rank in byte order, equal strings equal (as ``ORDER BY`` a VARCHAR compares)."""
    ranks: np.ndarray = pc.rank(strings, sort_keys="ascending", tiebreaker="dense").to_numpy()
    return ranks.astype(np.int64)


def _posts(indexed: IndexedEvents, eids: np.ndarray) -> pa.Array:
    return indexed.posts.take(pa.array(eids - 1))


def evidence(
    pairs: ItemPairs, indexed: IndexedEvents, top: np.ndarray, per_item: int
) -> tuple[np.ndarray, np.ndarray]:
    """Step 6: the evidence post pairs (as first and second positions, see :class:`ItemPairs`) of
    the ``top`` pair rows: all pairs of a row with at most ``per_item``, else its ``per_item``
    closest in time, then earliest, then by post ids (the SQL step's ranking)."""
    rows = pairs.rows
    nco = rows.column("nco").to_numpy()[top]
    start = rows.column("start").to_numpy()[top]
    whole = nco <= per_item
    chosen = [_ranges(start[whole], nco[whole])]
    counts = nco[~whole]
    if len(counts):
        positions = _ranges(start[~whole], counts)
        row = np.repeat(np.arange(len(counts)), counts)
        f, s = pairs.first[positions], pairs.second[positions]
        ts_a, ts_b = pairs.ts[f], pairs.ts[s]
        gap = np.abs(ts_a - ts_b)
        order = np.lexsort((ts_a, gap, row))
        row_o, gap_o, ts_o = row[order], gap[order], ts_a[order]
        tied = (row_o[1:] == row_o[:-1]) & (gap_o[1:] == gap_o[:-1]) & (ts_o[1:] == ts_o[:-1])
        if tied.any():  # post ids decide: ranked only when times tie
            post_a = _dense_ranks(_posts(indexed, pairs.eid[f]))
            post_b = _dense_ranks(_posts(indexed, pairs.eid[s]))
            order = np.lexsort((post_b, post_a, ts_a, gap, row))
            row_o = row[order]
        first = np.r_[True, row_o[1:] != row_o[:-1]]
        begin = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
        chosen.append(positions[order[np.arange(len(order)) - begin < per_item]])
    picked = np.concatenate(chosen)
    return pairs.first[picked], pairs.second[picked]


def output_tables(
    trace: str, pairs: ItemPairs, indexed: IndexedEvents, found: Edges, first: np.ndarray, second: np.ndarray
) -> tuple[pa.Table, pa.Table]:
    """The trace's EDGES and EVIDENCE rows with their strings, in the engine's output order
    (edges by account pair; evidence by account pair, item, times and post ids)."""
    table = found.table
    a1 = table.column("a1").to_numpy()
    a2 = table.column("a2").to_numpy()
    edges_out = pa.table(
        {
            "trace": pa.repeat(pa.scalar(trace), len(a1)),
            "account_a": indexed.accounts.take(pa.array(a1 - 1)),
            "account_b": indexed.accounts.take(pa.array(a2 - 1)),
            "weight": table.column("weight"),
            "n_items": table.column("n_items"),
            "n_coactions": table.column("n_coactions"),
            "first_ts": table.column("first_ts"),
            "last_ts": table.column("last_ts"),
        }
    )
    e1, e2 = pairs.aid[first], pairs.aid[second]
    iid = pairs.item[first]
    ts_a, ts_b = pairs.ts[first], pairs.ts[second]
    x1, x2 = pairs.eid[first], pairs.eid[second]
    order = np.lexsort((ts_b, ts_a, iid, e2, e1))
    if len(order) > 1:
        same = np.ones(len(order) - 1, bool)
        for key in (e1, e2, iid, ts_a, ts_b):
            ordered = key[order]
            same &= ordered[1:] == ordered[:-1]
        if same.any():  # post ids decide: ranked only when everything else ties
            post_a = _dense_ranks(_posts(indexed, x1))
            post_b = _dense_ranks(_posts(indexed, x2))
            order = np.lexsort((post_b, post_a, ts_b, ts_a, iid, e2, e1))
    evidence_out = pa.table(
        {
            "trace": pa.repeat(pa.scalar(trace), len(order)),
            "account_a": indexed.accounts.take(pa.array(e1[order] - 1)),
            "account_b": indexed.accounts.take(pa.array(e2[order] - 1)),
            "item": indexed.items.take(pa.array(iid[order] - 1)),
            "post_a": _posts(indexed, x1[order]),
            "post_b": _posts(indexed, x2[order]),
            "ts_a": ts_a[order],
            "ts_b": ts_b[order],
        }
    )
    return edges_out, evidence_out


def unregister(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    """Remove Arrow views registered on a DuckDB connection (absent ones are ignored)."""
    for name in names:
        con.unregister(name)
