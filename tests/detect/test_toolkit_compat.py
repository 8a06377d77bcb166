"""Vigil's toolkit-compatible mode equals coordination-network-toolkit 1.5.2 row for row.

The real toolkit runs end to end in a subprocess (its CLI: preprocess, compute) on a CSV that
Vigil exports from generated posts; its SQLite output is compared with Vigil's on the same posts.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.detect.test_engine import post, posts_table
from vigil.core.errors import InputError
from vigil.core.settings import load_settings
from vigil.detect import duck
from vigil.detect.toolkit_compat import export_toolkit_csv, toolkit_csv_edges, toolkit_edges

pytest.importorskip("coordination_network_toolkit")


def generated_posts(seed: int = 7, n: int = 400) -> list[dict[str, Any]]:
    """Dense random posts: few accounts, few URLs and originals, many ties, multi-URL posts, reshares
    that carry URLs (which co_link must ignore) and posts without URLs (the toolkit's "" quirk)."""
    rng = random.Random(seed)
    urls = [f"https://site{i % 5}.example/{i}" for i in range(12)]
    rows = []
    for i in range(n):
        ts = rng.randrange(0, 900) + (0.5 if rng.random() < 0.1 else 0.0)
        kind = rng.random()
        picked = rng.sample(urls, rng.choice([0, 1, 1, 1, 2]))
        rows.append(
            post(
                f"u{rng.randrange(25)}",
                ts,
                post_id=f"m{i}",
                urls=picked,
                reshare_of=f"m{rng.randrange(8)}" if kind < 0.35 else None,
                # some replies are also reshares: the toolkit's co_reply must leave those out
                reply_to=f"m{rng.randrange(5)}" if 0.3 <= kind < 0.6 else None,
            )
        )
    return rows


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duck.connect(load_settings(duckdb_threads=1, duckdb_memory_limit="512MB", temp_dir=tmp_path))
    duck.register_posts(connection, posts_table(generated_posts()))
    yield connection
    connection.close()


def run_toolkit(db: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "coordination_network_toolkit", str(db), *args],
        check=True,
        capture_output=True,
        timeout=300,
    )


def toolkit_rows(db: Path, command: str) -> list[tuple[str, str, int, str]]:
    with sqlite3.connect(db) as sql:
        table = f"{command}_network"
        rows = sql.execute(
            f"SELECT user_1, user_2, weight FROM {table} WHERE user_1 != user_2 ORDER BY user_1, user_2"
        ).fetchall()
    return [(u1, u2, int(w), command) for u1, u2, w in rows]


def test_compat_edges_equal_the_toolkits(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    csv_path = tmp_path / "messages.csv"
    assert export_toolkit_csv(con, csv_path) == 400
    db = tmp_path / "toolkit.db"
    run_toolkit(db, "preprocess", "--format", "csv", str(csv_path))
    with sqlite3.connect(db) as sql:
        # The toolkit's CSV reader files URL-less messages under the URL "": remove them (see module doc).
        removed = sql.execute("DELETE FROM message_url WHERE url = ''").rowcount
    assert removed > 0
    for command, window, min_weight in [
        ("co_link", 60, 1),
        ("co_link", 20, 2),
        ("co_link", 0, 1),
        ("co_retweet", 60, 1),
        ("co_retweet", 15, 2),
        ("co_reply", 120, 1),
    ]:
        run_toolkit(
            db, "compute", command, "--time_window", str(window), "--min_edge_weight", str(min_weight),
            "--n_cpus", "1",
        )  # fmt: skip
        expected = toolkit_rows(db, command)
        ours = toolkit_edges(con, command, time_window=window, min_edge_weight=min_weight)
        got = [(r["user_1"], r["user_2"], r["weight"], r["edge_type"]) for r in ours.to_pylist()]
        assert len(expected) >= 5, (command, window)  # the case must be non-trivial
        assert got == expected, (command, window, min_weight)
        # CSV in, edges out: the same rows straight from the toolkit's input file.
        from_csv = toolkit_csv_edges(con, csv_path, [command], time_window=window, min_edge_weight=min_weight)
        got_csv = [
            (r["user_1"], r["user_2"], r["weight"], r["edge_type"]) for r in from_csv[command].to_pylist()
        ]
        assert got_csv == expected, ("csv", command, window, min_weight)
        if window == 60:
            # Directed weights: some pairs differ by direction, as in the toolkit.
            weights = {(u1, u2): w for u1, u2, w, _ in expected}
            assert any(weights.get((u2, u1)) != w for (u1, u2), w in weights.items())


def test_compat_hand_example_and_loops(con: duckdb.DuckDBPyConnection) -> None:
    duck.register_posts(
        con,
        posts_table(
            [
                post("a", 0, urls=["https://x.example/1"], post_id="a1"),
                post("a", 5, urls=["https://x.example/1"], post_id="a2"),
                post("b", 3, urls=["https://x.example/1"], post_id="b1"),
                post("b", 300, urls=["https://x.example/1"], post_id="b2"),
            ]
        ),
    )
    rows = toolkit_edges(con, "co_link", time_window=5, min_edge_weight=1, loops=True).to_pylist()
    # a1 and a2 both match b1 -> a->b = 2; only b1 matches -> b->a = 1; loops count own messages.
    assert [(r["user_1"], r["user_2"], r["weight"]) for r in rows] == [
        ("x:a", "x:a", 2),
        ("x:a", "x:b", 2),
        ("x:b", "x:a", 1),
        ("x:b", "x:b", 2),
    ]
    with pytest.raises(InputError, match="co_link, co_reply, co_retweet"):
        toolkit_edges(con, "co_tweet", time_window=1)


def test_compat_csv_refuses_bad_input(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    header = "message_id,user_id,username,repost_id,reply_id,message,timestamp,urls\n"
    bad_time = tmp_path / "bad_time.csv"
    bad_time.write_text(header + "m1,u1,a,,,hi,noon,https://x.example/1\n")
    with pytest.raises(InputError, match=r"bad_time\.csv"):
        toolkit_csv_edges(con, bad_time, ["co_link"], time_window=60)
    with pytest.raises(InputError, match="no such CSV file"):
        toolkit_csv_edges(con, tmp_path / "missing.csv", time_window=60)
    # A quoted message with a comma and a newline, and repeated spaces between URLs, still parse.
    good = tmp_path / "good.csv"
    good.write_text(
        header
        + 'm1,u1,a,,,"hi, there\nfriend",10,https://x.example/1  https://x.example/2\n'
        + "m2,u2,b,,,yo,12.5,https://x.example/2\n"
        + "m3,u2,b,m1,,yo,13,https://x.example/1\n"
    )
    edges = toolkit_csv_edges(con, good, ["co_link"], time_window=5)["co_link"].to_pylist()
    assert [(e["user_1"], e["user_2"], e["weight"]) for e in edges] == [("u1", "u2", 1), ("u2", "u1", 1)]


def test_compat_csv_repeated_message_ids_as_the_toolkit(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """A message id given twice: the toolkit keeps the first row as the message, and each (message,
    URL) from the first row naming it, whatever the later rows say (other user, time, URLs)."""
    header = "message_id,user_id,username,repost_id,reply_id,message,timestamp,urls\n"
    rows = [
        "m1,u1,a,,,hi,10,https://x.example/1",
        "m1,u2,b,,,hi,20,https://x.example/1 https://x.example/2",  # m1 again: only URL 2 is new
        "m2,u2,b,,,yo,12,https://x.example/1",
        "m3,u3,c,,,yo,21,https://x.example/2 https://x.example/2",
        "m4,u1,a,r1,,rt,10,",
        "m4,u3,c,r1,,rt,30,",  # a repost id given twice: the first row is the repost
        "m5,u2,b,r1,,rt,12,",
        "m6,u3,c,r1,,rt,14,",
        "m7,u2,b,,,hi,13,https://x.example/1",
        "m7,u2,b,,,hi,13,https://x.example/1",  # an exact repeat
    ]
    path = tmp_path / "repeated.csv"
    path.write_text(header + "\n".join(rows) + "\n")
    db = tmp_path / "repeated.db"
    run_toolkit(db, "preprocess", "--format", "csv", str(path))
    with sqlite3.connect(db) as sql:
        sql.execute("DELETE FROM message_url WHERE url = ''")
    for command in ("co_link", "co_retweet"):
        run_toolkit(db, "compute", command, "--time_window", "5", "--min_edge_weight", "1", "--n_cpus", "1")
        expected = toolkit_rows(db, command)
        got = toolkit_csv_edges(con, path, [command], time_window=5)[command].to_pylist()
        assert len(expected) >= 2, command
        assert [(r["user_1"], r["user_2"], r["weight"], r["edge_type"]) for r in got] == expected, command
