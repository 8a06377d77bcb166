"""The generic engine on hand-made posts: window edges, same-account, popularity, minimums, evidence."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.core.errors import ConfigError, DataError, InputError, SchemaError
from vigil.core.settings import load_settings
from vigil.detect import duck, engine
from vigil.detect.contract import EDGES, EVIDENCE
from vigil.detect.engine import EngineParams, run_trace, run_traces
from vigil.detect.traces import CO_HASHTAG, CO_LINK, CO_MENTION, CO_RESHARE, TraceSpec
from vigil.detect.weights import UNIT
from vigil.detect.window import AutoWindow, FixedWindow
from vigil.schema.tables import POSTS, conform

T0 = 1_700_000_000  # an arbitrary whole second


def post(
    account: str,
    ts: float,
    *,
    post_id: str | None = None,
    platform: str = "x",
    urls: Sequence[str] = (),
    domains: Sequence[str] | None = None,
    shortener: bool = False,
    hashtags: Sequence[str] = (),
    mentions: Sequence[str] = (),
    reshare_of: str | None = None,
    reply_to: str | None = None,
) -> dict[str, Any]:
    """One row of the posts table; ``ts`` is seconds after T0."""
    doms = list(domains) if domains is not None else [u.split("/")[2] for u in urls]
    return {
        "platform": platform,
        "post_id": post_id,
        "account_id": account,
        "created_at": datetime.fromtimestamp(T0 + ts, tz=UTC),
        "urls": [
            {"url": u, "canonical": u, "domain": d, "is_shortener": shortener}
            for u, d in zip(urls, doms, strict=True)
        ],
        "hashtags": list(hashtags),
        "mentions": list(mentions),
        "reshare_of": reshare_of,
        "reply_to": reply_to,
    }


def posts_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Conform hand-written rows to the posts table, numbering posts that have no id."""
    for n, row in enumerate(rows):
        row["post_id"] = row["post_id"] or f"p{n}"
    return conform(pa.Table.from_pylist(rows), POSTS)


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duck.connect(load_settings(duckdb_threads=1, duckdb_memory_limit="512MB", temp_dir=tmp_path))
    yield connection
    connection.close()


def edges_of(
    con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]], trace: TraceSpec, **params: Any
) -> list[dict[str, Any]]:
    duck.register_posts(con, posts_table(rows))
    return run_trace(con, trace, EngineParams(**params)).edges.to_pylist()


def pairs(edges: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(e["account_a"], e["account_b"]) for e in edges}


U1, U2, U3 = "https://a.example/1", "https://b.example/2", "https://c.example/3"


def test_window_is_inclusive_at_exactly_w_and_excludes_w_plus_one(con: duckdb.DuckDBPyConnection) -> None:
    rows = [
        post("a", 0, urls=[U1]),
        post("b", 10, urls=[U1]),  # |dt| = 10 = w: included
        post("c", 0, urls=[U2]),
        post("d", 11, urls=[U2]),  # |dt| = 11 = w + 1: excluded
    ]
    edges = edges_of(con, rows, CO_LINK, window=FixedWindow(10), min_items=1)
    assert pairs(edges) == {("x:a", "x:b")}
    assert edges[0]["n_coactions"] == 1
    assert (edges[0]["first_ts"], edges[0]["last_ts"]) == (T0, T0 + 10)


@pytest.mark.parametrize("w", [1, 7, 60, 3600])
def test_bucket_join_equals_brute_force(con: duckdb.DuckDBPyConnection, w: int) -> None:
    # Times straddle bucket borders on purpose; the bucketed join must find exactly the brute-force pairs.
    times = {"a": [0, 59, 61, 3599], "b": [1, 60, 119, 3600], "c": [7, 8, 120, 7200]}
    rows = [post(acc, t, urls=[U1]) for acc, ts in times.items() for t in ts]
    expected_coactions: dict[tuple[str, str], int] = {}
    for a in times:
        for b in times:
            if a < b:
                n = sum(1 for ta in times[a] for tb in times[b] if abs(ta - tb) <= w)
                if n:
                    expected_coactions[(f"x:{a}", f"x:{b}")] = n
    edges = edges_of(con, rows, CO_LINK, window=FixedWindow(w), min_items=1)
    assert {(e["account_a"], e["account_b"]): e["n_coactions"] for e in edges} == expected_coactions


def test_same_account_never_pairs_with_itself(con: duckdb.DuckDBPyConnection) -> None:
    rows = [post("a", 0, urls=[U1]), post("a", 1, urls=[U1]), post("a", 2, urls=[U1], platform="y")]
    edges = edges_of(con, rows, CO_LINK, window=FixedWindow(60), min_items=1)
    # The same account id on another platform is another account.
    assert pairs(edges) == {("x:a", "y:a")}
    assert edges[0]["n_coactions"] == 2


def test_window_zero_pairs_same_instant_only(con: duckdb.DuckDBPyConnection) -> None:
    # Minute-rounded archive: many ties; w = 0 means "the same minute".
    rows = [
        post("a", 60, urls=[U1]),
        post("b", 60, urls=[U1]),
        post("c", 60, urls=[U1]),
        post("d", 120, urls=[U1]),
    ]
    edges = edges_of(con, rows, CO_LINK, window=FixedWindow(0), min_items=1)
    assert pairs(edges) == {("x:a", "x:b"), ("x:a", "x:c"), ("x:b", "x:c")}
    edges = edges_of(con, rows, CO_LINK, window=FixedWindow(60), min_items=1)
    assert len(edges) == 6


def test_min_items_counts_distinct_items_and_min_coactions_counts_post_pairs(
    con: duckdb.DuckDBPyConnection,
) -> None:
    rows = [
        # a-b: two distinct URLs together; a-c: one URL, three times
        post("a", 0, urls=[U1]), post("b", 1, urls=[U1]),
        post("a", 100, urls=[U2]), post("b", 101, urls=[U2]),
        post("a", 1000, urls=[U3]), post("c", 1001, urls=[U3]),
        post("a", 2000, urls=[U3]), post("c", 2001, urls=[U3]),
        post("a", 3000, urls=[U3]), post("c", 3001, urls=[U3]),
    ]  # fmt: skip
    w = FixedWindow(5)
    assert pairs(edges_of(con, rows, CO_LINK, window=w, min_items=2)) == {("x:a", "x:b")}
    both = {(e["account_a"], e["account_b"]): e for e in edges_of(con, rows, CO_LINK, window=w, min_items=1)}
    assert both[("x:a", "x:b")]["n_items"] == 2 and both[("x:a", "x:b")]["n_coactions"] == 2
    assert both[("x:a", "x:c")]["n_items"] == 1 and both[("x:a", "x:c")]["n_coactions"] == 3
    assert pairs(edges_of(con, rows, CO_LINK, window=w, min_items=1, min_coactions=3)) == {("x:a", "x:c")}


def test_popular_items_are_skipped_above_the_cap_and_down_weighted_below(
    con: duckdb.DuckDBPyConnection,
) -> None:
    crowd = [post(f"z{i}", 500 + i, urls=[U3]) for i in range(8)]  # U3: 10 accounts
    rows = [
        post("a", 0, urls=[U1]), post("b", 1, urls=[U1]),  # U1: 2 accounts
        post("a", 500, urls=[U3]), post("b", 501, urls=[U3]), *crowd,
    ]  # fmt: skip
    w = FixedWindow(60)
    capped = edges_of(con, rows, CO_LINK, window=w, min_items=1, max_item_accounts=9)
    assert pairs(capped) == {("x:a", "x:b")}  # U3 skipped: no crowd edges
    assert capped[0]["n_items"] == 1 and capped[0]["weight"] == pytest.approx(1.0)

    open_ = {
        (e["account_a"], e["account_b"]): e
        for e in edges_of(con, rows, CO_LINK, window=w, min_items=1, max_item_accounts=None)
    }
    n_total = 10  # distinct accounts in the trace
    idf = lambda n: __import__("math").log(1 + n_total / n) / __import__("math").log(1 + n_total / 2)  # noqa: E731
    assert open_[("x:a", "x:b")]["weight"] == pytest.approx(idf(2) + idf(10))
    assert open_[("x:a", "x:z0")]["weight"] == pytest.approx(idf(10))
    assert idf(10) < 0.5  # a crowd's item is weak evidence
    unit = edges_of(con, rows, CO_LINK, window=w, min_items=1, max_item_accounts=None, weighting=UNIT)
    assert {e["weight"] for e in unit if (e["account_a"], e["account_b"]) == ("x:a", "x:b")} == {2.0}


def test_evidence_names_the_post_pairs_and_is_capped(con: duckdb.DuckDBPyConnection) -> None:
    rows = [post("a", t, urls=[U1], post_id=f"a{t}") for t in (0, 1, 2, 3)]
    rows += [post("b", 2, urls=[U1], post_id="b2"), post("b", 100, urls=[U2], post_id="b100")]
    rows += [post("a", 101, urls=[U2], post_id="a101")]
    duck.register_posts(con, posts_table(rows))
    result = run_trace(con, CO_LINK, EngineParams(window=FixedWindow(5), min_items=2, evidence_per_item=2))
    assert result.edges.num_rows == 1 and result.edges.column("n_coactions").to_pylist() == [5]
    evidence = result.evidence.to_pylist()
    by_item: dict[str, set[tuple[str, str]]] = {}
    for row in evidence:
        by_item.setdefault(row["item"], set()).add((row["post_a"], row["post_b"]))
    # Per item the closest-in-time pairs: a2-b2 (dt 0), then of a1-b2 / a3-b2 (dt 1) the earlier.
    assert by_item == {U1: {("a2", "b2"), ("a1", "b2")}, U2: {("a101", "b100")}}
    assert all(abs(r["ts_a"] - r["ts_b"]) <= 5 for r in evidence)
    assert result.evidence.schema.equals(EVIDENCE.with_metadata(result.evidence.schema.metadata))


def test_run_traces_writes_contract_files_and_stats(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    rows = [
        post("a", 0, urls=[U1]),
        post("b", 3, urls=[U1]),
        post("a", 9, urls=[U2]),
        post("b", 9, urls=[U2]),
    ]
    path = tmp_path / "posts.parquet"
    pq.write_table(posts_table(rows), path)
    events = pa.table(
        {
            "account": ["x:a", "x:c"],
            "platform": ["x", "x"],
            "post_id": ["p0", "q0"],
            "item": ["cluster-1", "cluster-1"],
            "ts": [float(T0), float(T0 + 2)],
        }
    )
    con.register("my_events", events)
    custom = TraceSpec.from_relation("co_custom", "my_events", window=FixedWindow(2))
    result = run_traces(
        con, [CO_LINK, custom], EngineParams(window=None, min_items=1), out_dir=tmp_path / "out", posts=path
    )
    edges = pq.read_table(result.edges_path)
    assert edges.schema.remove_metadata().equals(EDGES)
    assert sorted(zip(edges["trace"].to_pylist(), edges["account_a"].to_pylist(), strict=True)) == [
        ("co_custom", "x:a"),
        ("co_link", "x:a"),
    ]
    link = next(s for s in result.stats if s.trace == "co_link")
    assert (link.n_events, link.n_items_shared, link.n_edges, link.window.seconds) == (4, 2, 1, 60.0)
    assert pq.read_table(result.evidence_path).num_rows == 3
    assert result.stats_path.is_file()


def test_traces_sharing_their_events_give_what_each_gives_alone(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """co_link and a slow twin select the same events: the run selects them once and keeps them
    only until the twin has run, with the same edges, evidence and stats as separate runs."""
    rows = [
        post("a", 0, urls=[U1]),
        post("b", 30, urls=[U1]),
        post("c", 3_000, urls=[U1]),
        post("a", 100, urls=[U2]),
        post("c", 5_000, urls=[U2]),
        post("b", 110, urls=[U2, U3]),
    ]
    path = tmp_path / "posts.parquet"
    pq.write_table(posts_table(rows), path)
    slow = TraceSpec("co_link_slow", "slow twin", CO_LINK.events_sql, window=FixedWindow(86_400))
    params = EngineParams(min_items=1)
    together = run_traces(con, [slow, CO_HASHTAG, CO_LINK], params, out_dir=tmp_path / "both", posts=path)
    left = con.execute("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '_vg_%'").fetchall()
    assert left == []
    # nor Arrow tables registered for the kernel steps
    assert con.execute("SELECT view_name FROM duckdb_views() WHERE view_name LIKE '_vg_%'").fetchall() == []
    apart = [run_traces(con, [t], params, out_dir=tmp_path / t.name, posts=path) for t in (slow, CO_LINK)]
    both_edges = pq.read_table(together.edges_path)
    both_evidence = pq.read_table(together.evidence_path)
    for trace, alone in zip((slow, CO_LINK), apart, strict=True):
        mine = pc.equal(both_edges["trace"], trace.name)
        assert both_edges.filter(mine).equals(pq.read_table(alone.edges_path))
        mine = pc.equal(both_evidence["trace"], trace.name)
        assert both_evidence.filter(mine).equals(pq.read_table(alone.evidence_path))
        stats = next(s for s in together.stats if s.trace == trace.name)
        assert replace(stats, seconds=0.0) == replace(alone.stats[0], seconds=0.0)
    # The slow twin pairs across the hour; the minute window does not.
    assert {(e["account_a"], e["account_b"]) for e in both_edges.to_pylist() if e["trace"] == "co_link"} == {
        ("x:a", "x:b")
    }
    assert len(pq.read_table(apart[0].edges_path)) == 3


def test_posts_columns_read_once_give_the_same_files(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Selections read the posts columns copied once (PostsColumns) with the same edges, evidence
    and stats as scanning the file per selection; a selection needing a column not kept (text)
    reads the view; the copy is gone when the run ends."""
    rows = [
        post("a", 0, urls=[U1], hashtags=["h1", "h2"], mentions=["m"]),
        post("b", 30, urls=[U1], hashtags=["h1", "h2"], mentions=["m"]),
        post("c", 40, urls=[U2], hashtags=["h1"], reshare_of="o1"),
        post("a", 100, urls=[U2], hashtags=["h2"], reshare_of="o1"),
        post("b", 110, urls=[U2, U3], reshare_of="o2", reply_to="r"),
        post("c", 115, reshare_of="o2", reply_to="r"),
    ]
    path = tmp_path / "posts.parquet"
    pq.write_table(posts_table(rows), path)
    by_text = TraceSpec(
        "co_text_raw",
        "same raw text",
        "SELECT platform || ':' || account_id AS account, platform, post_id, "
        "coalesce(text, post_id) AS item, "
        "epoch_us(created_at) / 1000000.0 AS ts FROM posts",
    )
    traces = [CO_LINK, CO_HASHTAG, CO_RESHARE, CO_MENTION, by_text]
    params = EngineParams(min_items=1)
    duck.register_posts(con, path)
    kept_columns = engine.PostsColumns(con, traces)
    assert kept_columns.table is None  # copied at the first selection, not before
    assert kept_columns.source(con, CO_LINK) is not None
    kept_columns.close(con)
    kept = run_traces(con, traces, params, out_dir=tmp_path / "kept", posts=path)
    left = con.execute("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '_vg_%'").fetchall()
    assert left == []
    monkeypatch.setattr(engine, "_KEPT_SHARE", 0.0)  # nothing fits: every selection scans the file
    assert engine.PostsColumns(con, traces).source(con, CO_LINK) is None
    scanned = run_traces(con, traces, params, out_dir=tmp_path / "scanned", posts=path)
    for name in ("edges_path", "evidence_path"):
        assert pq.read_table(getattr(kept, name)).equals(pq.read_table(getattr(scanned, name)))
    assert [replace(s, seconds=0.0) for s in kept.stats] == [replace(s, seconds=0.0) for s in scanned.stats]
    assert {s.trace for s in kept.stats if s.n_edges} >= {"co_link", "co_hashtag", "co_reshare", "co_mention"}


def test_memory_limit_is_read_in_bytes(con: duckdb.DuckDBPyConnection) -> None:
    assert engine.memory_limit_bytes(con) == pytest.approx(512e6, rel=0.01)  # the fixture's 512MB
    con.execute("SET memory_limit = '3GB'")
    assert engine.memory_limit_bytes(con) == pytest.approx(3e9, rel=0.04)  # shown as "2.7 GiB"


def test_bad_inputs_fail_clearly(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="min_items"):
        EngineParams(min_items=0)
    with pytest.raises(ConfigError, match="name"):
        TraceSpec("Bad Name", "", "SELECT 1")
    with pytest.raises(InputError, match="trace co_broken"):
        run_trace(con, TraceSpec("co_broken", "", "SELECT nothing FROM nowhere"))
    wrong = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"platform": ["x"]}), wrong)
    with pytest.raises(SchemaError, match="post_id"):
        duck.register_posts(con, wrong)
    with pytest.raises(ConfigError, match="two traces"):
        run_traces(con, [CO_LINK, CO_LINK], out_dir=tmp_path / "o", posts=posts_table([post("a", 0)]))
    assert not (tmp_path / "o" / "edges.parquet").exists()


def test_auto_window_is_used_when_asked(con: duckdb.DuckDBPyConnection) -> None:
    rows = [post("a", 0, urls=[U1]), post("b", 30, urls=[U1]), post("c", 31, urls=[U1])]
    duck.register_posts(con, posts_table(rows))
    result = run_trace(con, CO_LINK, EngineParams(window=AutoWindow(), min_items=1))
    assert result.stats.window.method == "auto"
    # one repeated item: second share after 30 s; rank/count > 0.5 first at rank 2 (2/3): 30 s
    assert result.stats.window.seconds == 30.0
    assert pairs(result.edges.to_pylist()) == {("x:a", "x:b"), ("x:b", "x:c")}  # a-c: 31 s apart


def test_auto_window_reads_the_events_a_run_selected(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """In a run the window estimate reads the events selected into Arrow for the kernel steps
    (shared by two traces here): the same window and edges as one trace run alone."""
    rows = [post("a", 0, urls=[U1]), post("b", 30, urls=[U1]), post("c", 31, urls=[U1])]
    duck.register_posts(con, posts_table(rows))
    params = EngineParams(window=AutoWindow(), min_items=1)
    twin = TraceSpec("co_link_twin", "twin", CO_LINK.events_sql)
    run = run_traces(con, [CO_LINK, twin], params, out_dir=tmp_path)
    alone = run_trace(con, CO_LINK, params)
    assert [s.window for s in run.stats] == [alone.stats.window] * 2
    assert alone.stats.window.seconds == 30.0
    edges = pq.read_table(run.edges_path)
    assert edges.filter(pc.equal(edges["trace"], "co_link")).equals(alone.edges)


class RecordingProgress:
    def __init__(self) -> None:
        self.events: list[tuple[str, float | None]] = []

    def start(self, description: str, total: float | None = None) -> None:
        self.events.append((description, total))

    def advance(self, amount: float = 1) -> None:
        self.events.append(("advance", amount))

    def finish(self) -> None:
        self.events.append(("finish", None))


def test_empty_input_and_progress(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    progress = RecordingProgress()
    empty = posts_table([post("a", 0)])  # one post, no URLs: no co_link events at all
    result = run_traces(
        con, [CO_LINK], EngineParams(window=AutoWindow()), out_dir=tmp_path, posts=empty, progress=progress
    )
    assert pq.read_table(result.edges_path).num_rows == 0
    assert pq.read_table(result.evidence_path).num_rows == 0
    assert result.stats[0].window.method == "auto-fallback" and result.stats[0].n_events == 0
    assert progress.events[0] == ("trace co_link", 6)
    assert progress.events.count(("advance", 1)) == 6 and progress.events[-1] == ("finish", None)


def test_crowded_windows_are_left_out_but_quiet_ones_kept(con: duckdb.DuckDBPyConnection) -> None:
    burst = [post(f"z{i:02d}", 1000 + i, urls=[U1]) for i in range(12)]  # 12 accounts in one minute bucket
    rows = [post("a", 0, urls=[U1]), post("b", 5, urls=[U1]), *burst]
    duck.register_posts(con, posts_table(rows))
    capped = run_trace(
        con, CO_LINK, EngineParams(window=FixedWindow(60), min_items=1, max_window_accounts=10)
    )
    assert pairs(capped.edges.to_pylist()) == {("x:a", "x:b")}
    assert (capped.stats.n_windows_crowded, capped.stats.n_events_crowded) == (1, 12)
    assert capped.stats.n_items_popular == 0  # the item itself is kept
    open_ = run_trace(
        con, CO_LINK, EngineParams(window=FixedWindow(60), min_items=1, max_window_accounts=None)
    )
    assert open_.edges.num_rows == 1 + 12 * 11 // 2
    assert open_.stats.n_windows_crowded == 0


def test_crowd_cap_counts_accounts_per_cell_not_per_item(con: duckdb.DuckDBPyConnection) -> None:
    # The crowd check only examines items with more accounts than the cap: such an item may still
    # have no crowded cell, and a cell exactly at the cap is kept. Minute buckets start at T0 + 40 s.
    spread = [
        post(f"s{k}{side}", 7000 + 300 * k + 5 * (side == "b"), urls=[U1]) for k in range(6) for side in "ab"
    ]
    at_cap = [post(f"c{i:02d}", 4000 + i, urls=[U2]) for i in range(10)]
    over_cap = [post(f"o{i:02d}", 1000 + i, urls=[U3]) for i in range(11)]
    duck.register_posts(con, posts_table([*spread, *at_cap, *over_cap]))
    capped = run_trace(
        con, CO_LINK, EngineParams(window=FixedWindow(60), min_items=1, max_window_accounts=10)
    )
    found = pairs(capped.edges.to_pylist())
    assert {(f"x:s{k}a", f"x:s{k}b") for k in range(6)} <= found  # 12 accounts on U1, 2 per cell
    assert len(found) == 6 + 10 * 9 // 2 and not any(a.startswith("x:o") for a, _ in found)
    assert (capped.stats.n_windows_crowded, capped.stats.n_events_crowded) == (1, 11)
    open_ = run_trace(
        con, CO_LINK, EngineParams(window=FixedWindow(60), min_items=1, max_window_accounts=None)
    )
    assert open_.edges.num_rows == 6 + 10 * 9 // 2 + 11 * 10 // 2


def test_posts_from_a_directory_of_parquet_files(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    folder = tmp_path / "posts"
    folder.mkdir()
    pq.write_table(posts_table([post("a", 0, urls=[U1], post_id="a1")]), folder / "part-0.parquet")
    pq.write_table(posts_table([post("b", 1, urls=[U1], post_id="b1")]), folder / "part-1.parquet")
    result = run_traces(con, [CO_LINK], EngineParams(min_items=1), out_dir=tmp_path / "out", posts=folder)
    assert result.stats[0].n_edges == 1
    with pytest.raises(DataError, match="no such file"):
        duck.register_posts(con, tmp_path / "missing")
    with pytest.raises(DataError, match=r"no \.parquet files"):
        duck.register_posts(con, _empty_dir(tmp_path))


def _empty_dir(tmp_path: Path) -> Path:
    empty = tmp_path / "empty"
    empty.mkdir()
    return empty


event_rows = st.lists(
    st.tuples(
        st.sampled_from(["x:a", "x:b", "x:c", "y:a"]),  # account
        st.sampled_from(["i1", "i2", "i3"]),  # item
        st.integers(0, 400).map(lambda t: t / 2),  # ts, half seconds, many ties
    ),
    max_size=40,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=event_rows, window=st.sampled_from([0.0, 0.5, 1.0, 7.5, 60.0]))
def test_engine_equals_brute_force_on_random_events(
    con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, float]], window: float
) -> None:
    events = pa.table(
        {
            "account": [r[0] for r in rows],
            "platform": [r[0][0] for r in rows],
            "post_id": [f"p{n}" for n in range(len(rows))],
            "item": [r[1] for r in rows],
            "ts": [r[2] for r in rows],
        },
        schema=pa.schema([("account", pa.string()), ("platform", pa.string()), ("post_id", pa.string()),
                          ("item", pa.string()), ("ts", pa.float64())]),
    )  # fmt: skip
    con.register("random_events", events)
    expected: dict[tuple[str, str], tuple[set[str], int]] = {}
    for i, (a, item_a, ta) in enumerate(rows):
        for b, item_b, tb in rows[i + 1 :]:
            if a != b and item_a == item_b and abs(ta - tb) <= window:
                pair = (min(a, b), max(a, b))
                items, n = expected.get(pair, (set(), 0))
                expected[pair] = (items | {item_a}, n + 1)
    params = EngineParams(window=FixedWindow(window), min_items=1, weighting=UNIT)
    result = run_trace(con, TraceSpec.from_relation("co_random", "random_events"), params)
    got = {
        (e["account_a"], e["account_b"]): (e["n_items"], e["n_coactions"]) for e in result.edges.to_pylist()
    }
    assert got == {pair: (len(items), n) for pair, (items, n) in expected.items()}


# Few accounts and items, many events close in time: edges with several items, items with several pairs.
dense_rows = st.lists(
    st.tuples(
        st.sampled_from(["x:a", "x:b", "y:a"]),
        st.sampled_from(["i1", "i2", "i3", "i4"]),
        st.integers(0, 40).map(lambda t: t / 2),
    ),
    min_size=15,
    max_size=40,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=dense_rows,
    window=st.sampled_from([1.0, 7.5, 60.0]),
    caps=st.sampled_from([(1, 1), (2, 2), (3, 1)]),
)
def test_evidence_equals_brute_force_ranking_on_random_events(
    con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, float]], window: float, caps: tuple[int, int]
) -> None:
    """Small caps make edges with more items, and items with more pairs, than are kept: the
    engine ranks only those, and must keep the same rows as ranking every pair, in output order."""
    per_item, items_per_edge = caps
    events = pa.table(
        {
            "account": [r[0] for r in rows],
            "platform": [r[0][0] for r in rows],
            "post_id": [f"p{n}" for n in range(len(rows))],
            "item": [r[1] for r in rows],
            "ts": [r[2] for r in rows],
        },
        schema=pa.schema([("account", pa.string()), ("platform", pa.string()), ("post_id", pa.string()),
                          ("item", pa.string()), ("ts", pa.float64())]),
    )  # fmt: skip
    con.register("random_events", events)
    found: dict[tuple[str, str], dict[str, list[tuple[str, str, float, float]]]] = {}
    for i, (a, item_a, ta) in enumerate(rows):
        for j, (b, item_b, tb) in enumerate(rows):
            if a < b and item_a == item_b and abs(ta - tb) <= window:
                found.setdefault((a, b), {}).setdefault(item_a, []).append((f"p{i}", f"p{j}", ta, tb))
    expected = []
    for (a, b), items in found.items():
        first = sorted(items, key=lambda item: (min(min(p[2], p[3]) for p in items[item]), item))
        for item in first[:items_per_edge]:
            ranked = sorted(items[item], key=lambda p: (abs(p[2] - p[3]), p[2], p[0], p[1]))
            expected += [(a, b, item, *p) for p in ranked[:per_item]]
    expected.sort(key=lambda r: (r[0], r[1], r[2], r[5], r[6], r[3], r[4]))
    params = EngineParams(
        window=FixedWindow(window),
        min_items=1,
        evidence_per_item=per_item,
        evidence_items_per_edge=items_per_edge,
    )
    result = run_trace(con, TraceSpec.from_relation("co_random", "random_events"), params)
    got = [
        (r["account_a"], r["account_b"], r["item"], r["post_a"], r["post_b"], r["ts_a"], r["ts_b"])
        for r in result.evidence.to_pylist()
    ]
    assert got == expected
