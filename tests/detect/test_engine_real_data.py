"""The engine on real data (German federal election 2021, Facebook + Twitter), checked against
independent pure-Python computations of the same definitions."""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from vigil.core.settings import load_settings
from vigil.detect import duck
from vigil.detect.engine import EngineParams, run_trace
from vigil.detect.traces import TraceSpec
from vigil.detect.weights import UNIT
from vigil.detect.window import AutoWindow, FixedWindow, estimate_coord_interval

Event = tuple[str, str, str, float]  # account, post, item, ts


@pytest.fixture(scope="module")
def events(shared_data: Path) -> list[Event]:
    table = pq.read_table(shared_data / "german-elections-2021" / "posts.parquet")
    rows = {
        (r["account_id"], str(r["post_id"]), str(r["url_id"]), r["timestamp"])
        for r in table.select(["account_id", "post_id", "url_id", "timestamp"]).to_pylist()
        if r["url_id"] is not None
    }
    return sorted(rows)


@pytest.fixture
def con(tmp_path: Path, events: list[Event]) -> Iterator[duckdb.DuckDBPyConnection]:
    import pyarrow as pa

    connection = duck.connect(load_settings(duckdb_threads=1, duckdb_memory_limit="1GB", temp_dir=tmp_path))
    connection.register(
        "url_events",
        pa.table(
            {
                "account": [e[0] for e in events],
                "platform": [e[0][:2] for e in events],
                "post_id": [e[1] for e in events],
                "item": [e[2] for e in events],
                "ts": [e[3] for e in events],
            }
        ),
    )
    yield connection
    connection.close()


def r_quantile(values: list[float], q: float) -> float:
    """R's quantile type 7."""
    xs = sorted(values)
    h = (len(xs) - 1) * q
    lo = math.floor(h)
    return xs[lo] + (h - lo) * (xs[min(lo + 1, len(xs) - 1)] - xs[lo])


def coornet_interval(events: list[Event], q: float, p: float) -> float:
    """CooRnet's estimate_coord_interval, written directly from its R source's steps."""
    shares: dict[str, list[float]] = defaultdict(list)
    for _account, _post, item, ts in events:
        shares[item].append(ts)
    repeated = {item: sorted(ts) for item, ts in shares.items() if len(ts) > 1}
    d2 = {item: ts[1] - ts[0] for item, ts in repeated.items()}
    cut = r_quantile(list(d2.values()), q)
    reach = []
    for item, ts in repeated.items():
        if d2[item] <= cut:
            n = len(ts)
            reach.append(next(t - ts[0] for rank, t in enumerate(ts, start=1) if rank / n > p))
    return r_quantile(reach, p)


def test_auto_window_matches_coornet_steps_on_real_data(
    con: duckdb.DuckDBPyConnection, events: list[Event]
) -> None:
    for q, p in [(0.1, 0.5), (0.5, 0.5), (0.25, 0.75)]:
        estimate = estimate_coord_interval(con, "url_events", q=q, p=p)
        assert estimate is not None
        assert estimate.seconds == pytest.approx(coornet_interval(events, q, p)), (q, p)


def test_edges_match_brute_force_on_real_data(con: duckdb.DuckDBPyConnection, events: list[Event]) -> None:
    window = AutoWindow(q=0.5).resolve(con, "url_events").seconds
    assert window > 1
    by_item: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for account, _post, item, ts in events:
        by_item[item].append((ts, account))
    coactions: dict[tuple[str, str], int] = defaultdict(int)
    shared: dict[tuple[str, str], set[str]] = defaultdict(set)
    for item, acts in by_item.items():
        acts.sort()
        times = [t for t, _ in acts]
        for i, (t, a) in enumerate(acts):
            for _t2, b in acts[i + 1 : bisect.bisect_right(times, t + window)]:
                if a != b:
                    pair = (min(a, b), max(a, b))
                    coactions[pair] += 1
                    shared[pair].add(item)
    expected = {pair: (len(shared[pair]), n) for pair, n in coactions.items() if len(shared[pair]) >= 2}
    assert len(expected) > 50  # real coordination-like structure exists in this data

    trace = TraceSpec.from_relation("co_url", "url_events")
    params = EngineParams(window=FixedWindow(window), min_items=2, max_item_accounts=None, weighting=UNIT)
    result = run_trace(con, trace, params)
    got = {
        (e["account_a"], e["account_b"]): (e["n_items"], e["n_coactions"]) for e in result.edges.to_pylist()
    }
    assert got == expected
    assert all(e["weight"] == e["n_items"] for e in result.edges.to_pylist())
    # Every edge has evidence, every evidence row is within the window and on a shared item.
    evidence = result.evidence.to_pylist()
    assert {(r["account_a"], r["account_b"]) for r in evidence} == set(expected)
    assert all(abs(r["ts_a"] - r["ts_b"]) <= window and r["item"] in shared[(r["account_a"], r["account_b"])]
               for r in evidence)  # fmt: skip
