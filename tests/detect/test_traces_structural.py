"""Each structural trace on hand-made posts: what its item is, and what it must leave out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.detect.test_engine import post, posts_table
from vigil.core.errors import InputError
from vigil.core.settings import load_settings
from vigil.detect import duck
from vigil.detect.engine import EngineParams, materialize_events, run_trace
from vigil.detect.traces import (
    CO_DOMAIN,
    CO_HASHTAG,
    CO_HASHTAG_SEQUENCE,
    CO_LINK,
    CO_MENTION,
    CO_REPLY,
    CO_RESHARE,
    STRUCTURAL_TRACES,
    TraceSpec,
    select_traces,
)
from vigil.detect.traces.hashtags import RARE_HASHTAG_ACCOUNTS
from vigil.detect.traces.links import LOW_TRAFFIC_DOMAIN_ACCOUNTS
from vigil.detect.window import FixedWindow


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duck.connect(load_settings(duckdb_threads=1, duckdb_memory_limit="512MB", temp_dir=tmp_path))
    yield connection
    connection.close()


def edges(
    con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]], trace: TraceSpec, **params: Any
) -> dict[tuple[str, str], dict[str, Any]]:
    duck.register_posts(con, posts_table(rows))
    params = {"window": FixedWindow(60), "min_items": 1, **params}
    result = run_trace(con, trace, EngineParams(**params))
    return {(e["account_a"], e["account_b"]): e for e in result.edges.to_pylist()}


def items(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]], trace: TraceSpec) -> list[str]:
    duck.register_posts(con, posts_table(rows))
    materialize_events(con, trace, "_t_ev")
    return sorted(r[0] for r in con.execute("SELECT item FROM _t_ev").fetchall())


U1, U2 = "https://news.example/a", "https://tiny.example/b"


def test_co_link_uses_canonical_urls_and_leaves_reshares_out(con: duckdb.DuckDBPyConnection) -> None:
    rows = [
        post("a", 0, urls=[U1, U2]),
        post("b", 5, urls=[U1]),
        post("c", 6, urls=[U1], reshare_of="p0"),  # a reshare carries the original's link
    ]
    assert items(con, rows, CO_LINK) == [U1, U1, U2]
    assert set(edges(con, rows, CO_LINK)) == {("x:a", "x:b")}


def test_co_domain_only_for_low_traffic_domains_and_never_shorteners(
    con: duckdb.DuckDBPyConnection,
) -> None:
    crowd = [
        post(f"z{i}", 1000 + i, urls=[f"https://big.example/{i}"])
        for i in range(LOW_TRAFFIC_DOMAIN_ACCOUNTS + 1)
    ]
    rows = [
        post("a", 0, urls=["https://tiny.example/1"]),
        post("b", 5, urls=["https://tiny.example/2"]),  # different URL, same small domain
        post("a", 1000, urls=["https://big.example/x"]),
        post("b", 1001, urls=["https://big.example/y"]),
        post("c", 0, urls=["https://bit.ly/1"], shortener=True),
        post("d", 1, urls=["https://bit.ly/2"], shortener=True),
        *crowd,
    ]
    found = edges(con, rows, CO_DOMAIN)
    assert set(found) == {("x:a", "x:b")}
    assert found[("x:a", "x:b")]["n_items"] == 1  # tiny.example only: big.example is too popular
    assert "bit.ly" not in items(con, rows, CO_DOMAIN)
    # Below the cap the big domain would count.
    small = TraceSpec("co_domain_all", "", CO_DOMAIN.events_sql)
    assert edges(con, rows, small)[("x:a", "x:b")]["n_items"] == 2


def test_co_reshare_pairs_reshares_of_the_same_post_on_the_same_platform(
    con: duckdb.DuckDBPyConnection,
) -> None:
    rows = [
        post("a", 0, reshare_of="42"),
        post("b", 30, reshare_of="42"),
        post("c", 31, reshare_of="42", platform="y"),  # post 42 of another platform
        post("d", 10, reshare_of="43"),
        post("e", 10),
    ]
    assert set(edges(con, rows, CO_RESHARE)) == {("x:a", "x:b")}
    assert items(con, rows, CO_RESHARE) == ["x:42", "x:42", "x:43", "y:42"]


def test_co_reply_and_co_mention_targets(con: duckdb.DuckDBPyConnection) -> None:
    rows = [
        post("a", 0, reply_to="9", mentions=["mp_smith"]),
        post("b", 20, reply_to="9", mentions=["mp_smith", "other"]),
        post("c", 20, reply_to="8", mentions=["other"]),
        post("d", 200, reply_to="9", mentions=["mp_smith"]),  # outside the window
    ]
    assert set(edges(con, rows, CO_REPLY)) == {("x:a", "x:b")}
    mention = edges(con, rows, CO_MENTION)
    assert set(mention) == {("x:a", "x:b"), ("x:b", "x:c")}
    assert items(con, rows, CO_MENTION).count("x:@mp_smith") == 3  # the account signal value


def test_co_hashtag_only_for_rare_hashtags(con: duckdb.DuckDBPyConnection) -> None:
    crowd = [post(f"z{i}", 2000 + i, hashtags=["election"]) for i in range(RARE_HASHTAG_ACCOUNTS)]
    rows = [
        post("a", 0, hashtags=["rigged2024", "election"]),
        post("b", 10, hashtags=["rigged2024"]),
        post("a", 2000, hashtags=["election"]),
        post("b", 2000, hashtags=["election"]),
        *crowd,
    ]
    found = edges(con, rows, CO_HASHTAG)
    assert set(found) == {("x:a", "x:b")}  # #election: 202 accounts, above the cap
    assert found[("x:a", "x:b")]["n_items"] == 1


def test_co_hashtag_sequence_needs_the_same_order_of_two_or_more(con: duckdb.DuckDBPyConnection) -> None:
    rows = [
        post("a", 0, hashtags=["stop", "the", "count"]),
        post("b", 1, hashtags=["stop", "the", "count"]),
        post("c", 2, hashtags=["count", "the", "stop"]),  # same set, other order
        post("d", 3, hashtags=["stop"]),
        post("e", 4, hashtags=["stop"]),  # single hashtags are the co_hashtag trace's business
    ]
    assert set(edges(con, rows, CO_HASHTAG_SEQUENCE)) == {("x:a", "x:b")}
    assert items(con, rows, CO_HASHTAG_SEQUENCE) == ["count the stop", "stop the count", "stop the count"]


def test_registry_and_selection() -> None:
    assert set(STRUCTURAL_TRACES) == {
        "co_link",
        "co_domain",
        "co_reshare",
        "co_reply",
        "co_mention",
        "co_hashtag",
        "co_hashtag_seq",
    }
    assert [t.name for t in select_traces(["co_reply", "co_link"])] == ["co_reply", "co_link"]
    with pytest.raises(InputError, match="known: co_domain"):
        select_traces(["co_linq"])
