"""Windows: parsing, and CooRnet's automatic window on an example computed by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from vigil.core.errors import InputError
from vigil.core.settings import load_settings
from vigil.detect import duck
from vigil.detect.window import AutoWindow, FixedWindow, estimate_coord_interval, parse_window

# Shares (seconds) of each item. By hand, per item: d2 = time of the 2nd share after the 1st;
# reach = time after the 1st share of the first share whose rank/count > p (p = 0.5).
#   u1: 0 10 20 100   n=4  d2=10   ranks/n .25 .5 .75 -> reach 20
#   u2: 0 2 50        n=3  d2=2    2/3 > .5             -> reach 2
#   u3: 0 100         n=2  d2=100  2/2                  -> reach 100
#   u4: 0 4 6 8 40    n=5  d2=4    3/5                  -> reach 6
#   u5: 7             shared once: ignored
SHARES = {"u1": [0, 10, 20, 100], "u2": [0, 2, 50], "u3": [0, 100], "u4": [0, 4, 6, 8, 40], "u5": [7]}


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duck.connect(load_settings(duckdb_threads=1, duckdb_memory_limit="512MB", temp_dir=tmp_path))
    rows = [
        {"account": f"x:{item}{i}", "platform": "x", "post_id": f"{item}-{i}", "item": item, "ts": 1e9 + t}
        for item, times in SHARES.items()
        for i, t in enumerate(times)
    ]
    connection.register("ev", pa.Table.from_pylist(rows))
    yield connection
    connection.close()


def test_estimate_with_q_one_half(con: duckdb.DuckDBPyConnection) -> None:
    # d2 sorted 2 4 10 100; 0.5-quantile (type 7) at position 1.5: 4 + 0.5 * (10 - 4) = 7
    # quick items: u2 (2), u4 (4); their reaches 2 and 6; median 4.
    est = estimate_coord_interval(con, "ev", q=0.5, p=0.5)
    assert est is not None
    assert (est.n_items_repeated, est.n_items_quick) == (4, 2)
    assert est.second_share_cutoff == pytest.approx(7.0)
    assert est.seconds == pytest.approx(4.0)
    assert (est.reach_min, est.reach_max) == (2.0, 6.0)


def test_estimate_defaults_and_other_quantiles(con: duckdb.DuckDBPyConnection) -> None:
    # q = 0.1: cutoff at position 0.3: 2 + 0.3 * 2 = 2.6; only u2 (reach 2).
    default = estimate_coord_interval(con, "ev")
    assert default is not None and default.seconds == pytest.approx(2.0)
    assert default.second_share_cutoff == pytest.approx(2.6)
    # q = 1: every repeated item; reaches 2 6 20 100; median (6 + 20) / 2 = 13.
    every = estimate_coord_interval(con, "ev", q=1.0, p=0.5)
    assert every is not None and every.seconds == pytest.approx(13.0)
    # p = 0.75: first share with rank/count > .75: u1 100, u2 50, u3 100, u4 8 (4/5);
    # 0.75-quantile of 8 50 100 100 at position 2.25: 100.
    late = estimate_coord_interval(con, "ev", q=1.0, p=0.75)
    assert late is not None and late.seconds == pytest.approx(100.0)


def test_auto_window_floor_and_fallback(con: duckdb.DuckDBPyConnection) -> None:
    assert AutoWindow(q=0.5).resolve(con, "ev").seconds == pytest.approx(4.0)
    # Minute-rounded data: everything at the same instant gives 0 s, floored to 1 s (CooRnet too).
    con.register("ties", pa.table({"platform": ["x"] * 3, "post_id": ["a", "b", "c"], "item": ["u"] * 3,
                                   "ts": [60.0, 60.0, 60.0]}))  # fmt: skip
    choice = AutoWindow().resolve(con, "ties")
    assert (choice.seconds, choice.method, choice.detail["estimate"]) == (1.0, "auto", 0.0)
    con.register("single", pa.table({"platform": ["x"], "post_id": ["a"], "item": ["u"], "ts": [1.0]}))
    assert AutoWindow().resolve(con, "single").method == "auto-fallback"
    assert estimate_coord_interval(con, "single") is None


def test_parse_window() -> None:
    assert parse_window("auto") == AutoWindow()
    assert parse_window("90s") == FixedWindow(90.0)
    assert parse_window("2m") == FixedWindow(120.0)
    assert parse_window(0) == FixedWindow(0.0)
    with pytest.raises(InputError, match="duration"):
        parse_window("soon")
    for bad in (-1, float("inf"), float("nan")):
        with pytest.raises(InputError, match=">= 0"):
            FixedWindow(bad)
    with pytest.raises(InputError, match="q must be between"):
        AutoWindow(q=2)
