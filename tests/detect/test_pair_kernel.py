"""The numba pair step (vigil.detect.pairs) gives the SQL bucket join's pairs, edges, evidence and
statistics exactly, on events dense enough to hit every branch: ties in time, accounts acting
many times on one item (items with more post pairs than the evidence cap), edges with more items
than the cap, crowded cells, window 0 and fractional windows."""

from __future__ import annotations

from dataclasses import replace

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from vigil.detect import engine
from vigil.detect.engine import EngineParams, TraceResult, run_trace
from vigil.detect.traces.base import TraceSpec
from vigil.detect.window import FixedWindow


def _events(seed: int, n: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    accounts = rng.integers(0, 60, n)
    # A few popular items and many rare ones; times in half seconds over ten minutes (many ties).
    items = np.minimum((rng.random(n) ** 3 * 400).astype(int), 399)
    ts = rng.integers(0, 1200, n) / 2
    return pa.table(
        {
            "account": [f"x:a{a}" for a in accounts],
            "platform": ["x"] * n,
            "post_id": [f"p{i}" for i in range(n)],
            "item": [f"i{i}" for i in items],
            "ts": ts,
        }
    )


def _run(con: duckdb.DuckDBPyConnection, step: str, params: EngineParams) -> TraceResult:
    previous = engine.PAIR_STEP
    engine.PAIR_STEP = step  # type: ignore[assignment]
    try:
        return run_trace(con, TraceSpec.from_relation("co_dense", "dense_events"), params)
    finally:
        engine.PAIR_STEP = previous


@pytest.mark.parametrize(
    ("window", "min_items", "per_item", "items_per_edge", "crowd"),
    [
        (60.0, 2, 3, 20, 1000),
        (0.0, 1, 1, 1, None),
        (7.5, 1, 2, 3, 12),
        (1.0, 3, 3, 2, None),
    ],
)
def test_kernel_equals_sql(
    window: float, min_items: int, per_item: int, items_per_edge: int, crowd: int | None
) -> None:
    con = duckdb.connect()
    con.register("dense_events", _events(seed=int(window * 10) + min_items, n=6_000))
    params = EngineParams(
        window=FixedWindow(window),
        min_items=min_items,
        evidence_per_item=per_item,
        evidence_items_per_edge=items_per_edge,
        max_window_accounts=crowd,
    )
    kernel, sql = _run(con, "kernel", params), _run(con, "sql", params)
    assert sql.stats.n_pairs > 100 and sql.stats.n_edges > 10  # the case is not trivial
    assert kernel.edges.equals(sql.edges)
    assert kernel.evidence.equals(sql.evidence)
    assert replace(kernel.stats, seconds=0.0) == replace(sql.stats, seconds=0.0)


def test_no_events_and_no_pairs() -> None:
    con = duckdb.connect()
    one = _events(seed=1, n=1).slice(0, 1)
    con.register("dense_events", one)
    result = _run(con, "kernel", EngineParams(min_items=1))
    assert result.stats.n_pairs == 0 and result.edges.num_rows == 0 and result.evidence.num_rows == 0


def _messy_events(seed: int, n: int) -> pa.Table:
    """Events the kernel's own indexing must treat as the SQL does: posts naming an item twice
    (duplicate rows), one post id on two platforms, the same post by two accounts, accounts and
    items outside ASCII (ordered byte by byte), times tied to the second."""
    rng = np.random.default_rng(seed)
    names = ["a", "B", "ä", "a\u00e9", "\U0001f600", "a b", "Z9", "é"]
    accounts = rng.integers(0, 40, n)
    platforms = rng.choice(["x", "tg"], n)
    table = pa.table(
        {
            "account": [f"{p}:{names[a % 8]}{a}" for p, a in zip(platforms, accounts, strict=True)],
            "platform": platforms,
            "post_id": [f"p{i}" for i in rng.integers(0, n // 3, n)],
            "item": [f"{names[i % 8]}{i}" for i in np.minimum((rng.random(n) ** 2 * 150).astype(int), 149)],
            "ts": rng.integers(0, 300, n).astype(float),
        }
    )
    return pa.concat_tables([table, table.slice(0, n // 4)])  # a quarter of the rows twice


@pytest.mark.parametrize(
    ("window", "per_item", "items_per_edge"), [(30.0, 2, 3), (0.0, 3, 20), (120.0, 1, 1)]
)
def test_kernel_equals_sql_on_duplicates_and_ties(window: float, per_item: int, items_per_edge: int) -> None:
    con = duckdb.connect()
    con.register("dense_events", _messy_events(seed=int(window) + per_item, n=4_000))
    params = EngineParams(
        window=FixedWindow(window),
        min_items=1,
        evidence_per_item=per_item,
        evidence_items_per_edge=items_per_edge,
        max_window_accounts=8,
    )
    kernel, sql = _run(con, "kernel", params), _run(con, "sql", params)
    assert sql.stats.n_pairs > 100 and sql.stats.n_edges > 10
    assert sql.stats.n_windows_crowded > 0 or window == 0
    assert kernel.edges.equals(sql.edges)
    assert kernel.evidence.equals(sql.evidence)
    assert replace(kernel.stats, seconds=0.0) == replace(sql.stats, seconds=0.0)
