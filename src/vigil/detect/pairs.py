"""The engine's pair step on one machine: a sliding window per item in numba instead of a self-join.

The SQL pair step (:func:`vigil.detect.engine.windowed_pairs_sql`) joins each event with every
event of its item in the same and the two adjacent time buckets, then filters, materialises every
matched pair with seven columns and groups them twice. On heavy retweet cascades that is most of
a run's time and memory: at 10M cascade posts the join's candidates and the pair table outgrew
DuckDB's memory limit and spilled. Here the events (integers and times only) are sorted by item
and time once; numba walks each event forward while the next events of its item are within the
window, and writes matched pairs as two int32 event positions (8 bytes a pair). Each item's
pairs are then ordered by account pair, which gives the (account pair, item) rows the edges are
summed from without a hash aggregation, and where each row's pairs start, so evidence takes the
kept rows' pairs by position. The work grows with the pairs in the window, not with the square of
a crowded bucket's candidates.

The pairs, edges and evidence are exactly those of the SQL step (the tests run both on the same
events): the same window test on the same doubles, the same bucket condition, the edges summed by
the same SQL, and evidence ranked with post ids by the same SQL wherever there is a choice. The
SQL step remains the one Spark runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from vigil.detect import _pair_kernels as kernels

# Names registered on the connection while a trace runs (Arrow views, not temp tables).
PAIR_ROWS = "_vg_pik"
_DIRECT = "_vg_evd"
_CANDIDATES = "_vg_evc"
_EDGES = "_vg_edk"


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


def item_pairs(con: duckdb.DuckDBPyConnection, events: str, window: float) -> ItemPairs:
    """Match the pairs of ``events`` (columns ``eid, iid, aid, ts, b``) within ``window`` seconds."""
    table = con.sql(f"SELECT iid, aid, ts, b, eid FROM {events} ORDER BY iid, ts, eid").to_arrow_table()
    item = table.column("iid").to_numpy()
    aid = table.column("aid").to_numpy()
    ts = table.column("ts").to_numpy()
    bucket = table.column("b").to_numpy()
    eid = table.column("eid").to_numpy()
    del table
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


def edges(
    con: duckdb.DuckDBPyConnection,
    pairs: ItemPairs,
    items: str,
    units: str,
    out: str,
    *,
    min_items: int,
    min_coactions: int,
) -> None:
    """Step 5 on the (account pair, item) rows of ``pairs``: the temporary table ``out`` with the
    rows and types of the engine's edges SQL (``a1, a2, weight, n_items, n_coactions, first_ts,
    last_ts``).

    Each item's weight in integer units (``round(w * units)``, ``units`` a SQL number) comes from
    SQL over ``items`` (``iid, w``), so it is the engine's own rounding; the sums are of integers
    (exact in any order) and the final division is the same IEEE operation, so the weights are
    bit-identical to the SQL's. A sort of the rows by account pair replaces DuckDB's hash
    aggregation, which on a day window's millions of rows was the trace's largest step.
    """
    rows = pairs.rows
    table = con.sql(f"SELECT iid, CAST(round(w * {units}) AS BIGINT) AS u FROM {items}").to_arrow_table()
    iid = table.column("iid").to_numpy()
    per_item = np.zeros(int(iid.max()) + 1 if len(iid) else 1, np.int64)
    per_item[iid] = table.column("u").to_numpy()
    a1 = rows.column("a1").to_numpy()
    a2 = rows.column("a2").to_numpy()
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
    weight = _grouped(np.add, per_item[rows.column("iid").to_numpy()], order, starts)[keep].astype(
        np.float64
    ) / float(units)
    result = pa.table(
        {
            "a1": a1[head],
            "a2": a2[head],
            "weight": weight,
            "n_items": n_items[keep],
            "n_coactions": n_coactions[keep],
            "first_ts": _grouped(np.minimum, rows.column("ft").to_numpy(), order, starts)[keep],
            "last_ts": _grouped(np.maximum, rows.column("lt").to_numpy(), order, starts)[keep],
        }
    )
    del order
    con.register(_EDGES, result)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT * FROM {_EDGES}")
    finally:
        unregister(con, _EDGES)


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


def _pair_table(pairs: ItemPairs, positions: np.ndarray) -> pa.Table:
    f = pairs.first[positions]
    s = pairs.second[positions]
    return pa.table(
        {
            "a1": pairs.aid[f],
            "a2": pairs.aid[s],
            "iid": pairs.item[f],
            "x1": pairs.eid[f],
            "x2": pairs.eid[s],
            "ts_a": pairs.ts[f],
            "ts_b": pairs.ts[s],
        }
    )


def evidence(
    con: duckdb.DuckDBPyConnection,
    pairs: ItemPairs,
    top_items: pa.Table,
    per_item: int,
    events: str,
    out: str,
) -> None:
    """Write the evidence of ``top_items`` (rows ``nco, start`` of the kept (edge, item) rows) to
    the temporary table ``out`` (``a1, a2, iid, x1, x2, ts_a, ts_b``).

    Rows with at most ``per_item`` post pairs give all of them (no choice to make); the others'
    pairs are ranked in SQL as the SQL step ranks them (closest in time, then time, then post ids
    from ``events``), keeping ``per_item``.
    """
    nco = top_items.column("nco").to_numpy()
    start = top_items.column("start").to_numpy()
    whole = nco <= per_item
    direct = _pair_table(pairs, _ranges(start[whole], nco[whole]))
    candidates = _pair_table(pairs, _ranges(start[~whole], nco[~whole]))
    con.register(_DIRECT, direct)
    con.register(_CANDIDATES, candidates)
    try:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {out} AS
            SELECT * FROM {_DIRECT}
            UNION ALL
            SELECT a1, a2, iid, x1, x2, ts_a, ts_b FROM (
                SELECT c.*, row_number() OVER (
                           PARTITION BY c.a1, c.a2, c.iid
                           ORDER BY abs(c.ts_a - c.ts_b), c.ts_a, E1.post_id, E2.post_id
                       ) AS r
                FROM {_CANDIDATES} AS c JOIN {events} AS E1 ON E1.eid = c.x1
                JOIN {events} AS E2 ON E2.eid = c.x2
            ) AS ranked WHERE r <= {int(per_item)}
            """
        )
    finally:
        unregister(con, _DIRECT, _CANDIDATES)


def unregister(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    """Remove Arrow views registered on a DuckDB connection (absent ones are ignored)."""
    for name in names:
        con.unregister(name)
