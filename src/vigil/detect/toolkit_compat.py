"""Edges exactly as coordination-network-toolkit 1.5.2 computes them, for comparison and migration.

The toolkit (QUT Digital Media Research Centre) is the reference many analysts know. Its networks
differ from Vigil's engine in three ways, reproduced here on the same events and the same windowed
join (:func:`vigil.detect.engine.windowed_pairs_sql`):

* edges are **directed**: the weight of ``u1 -> u2`` is the number of distinct messages of ``u1``
  that have a match by ``u2`` on the same item with ``|t1 - t2| <= window`` (inclusive, symmetric),
  so ``u1 -> u2`` and ``u2 -> u1`` may differ, and each direction must reach ``min_edge_weight``;
* no popularity cap and no item weighting;
* self-pairs (``u1 = u2``) are stored and dropped on export (``loops=False``, the export default).

``co_link`` leaves URLs of reposts out (as the toolkit's preprocessing does), ``co_retweet``
pairs reposts of the same message and ``co_reply`` replies (that are not reposts) to the same
message. Known toolkit quirk: its CSV preprocessing stores a message
without URLs under the URL ``""``, which links every URL-less message in a window; delete those
rows from its ``message_url`` table before computing (``DELETE FROM message_url WHERE url = ''``)
for a fair comparison. Vigil never has empty items.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from vigil.core.errors import InputError
from vigil.detect.duck import register_posts
from vigil.detect.engine import index_events, materialize_events, windowed_pairs_sql
from vigil.detect.traces import CO_LINK, CO_RESHARE, TraceSpec, posts_events

# The toolkit's co_reply leaves replies that are also reposts out; Vigil's co_reply keeps them.
_TOOLKIT_CO_REPLY = TraceSpec(
    name="co_reply",
    description="replied to the same post within the window (reposts left out, as the toolkit does)",
    events_sql=posts_events(
        "platform || ':' || reply_to", where="reply_to IS NOT NULL AND reshare_of IS NULL"
    ),
)

# The toolkit's command name -> the Vigil trace with the same items.
TOOLKIT_TRACES: dict[str, TraceSpec] = {
    "co_link": CO_LINK,
    "co_retweet": CO_RESHARE,
    "co_reply": _TOOLKIT_CO_REPLY,
}

TOOLKIT_EDGES = pa.schema(
    [
        pa.field("user_1", pa.string(), nullable=False),
        pa.field("user_2", pa.string(), nullable=False),
        pa.field("weight", pa.int64(), nullable=False),
        pa.field("edge_type", pa.string(), nullable=False),
    ]
)

_TEMP = ("_vg_ev", "_vg_kept", "_vg_evk", "_vg_acc", "_vg_evj")


def toolkit_edges(
    con: duckdb.DuckDBPyConnection,
    command: str,
    *,
    time_window: float,
    min_edge_weight: int = 1,
    loops: bool = False,
) -> pa.Table:
    """The toolkit's ``compute <command>`` network over the registered ``posts`` view.

    Rows ``(user_1, user_2, weight, edge_type)`` sorted by users, users being Vigil accounts
    (``platform:account_id``), as the toolkit's export writes them (``loops`` keeps self-pairs).
    """
    if command not in TOOLKIT_TRACES:
        raise InputError(f"toolkit compatibility covers {', '.join(sorted(TOOLKIT_TRACES))}, not {command!r}")
    if time_window < 0 or min_edge_weight < 1:
        raise InputError("time_window must be >= 0 and min_edge_weight >= 1")
    trace = TOOLKIT_TRACES[command]
    try:
        materialize_events(con, trace)
        # Without self-pairs only items acted on by two accounts (least and greatest account
        # differ) can pair: keeping just those makes the deduplication and join inputs smaller.
        shared = "" if loops else " HAVING min(account) <> max(account)"
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _vg_kept AS SELECT row_number() OVER () AS iid, item "
            f"FROM (SELECT item FROM _vg_ev GROUP BY item{shared})"
        )
        index_events(con, time_window, items="_vg_kept")
        pairs = windowed_pairs_sql("_vg_evj", time_window, "all" if loops else "distinct")
        # The weight counts distinct messages of user_1. Matched events are deduplicated on integers
        # first (an event matched by several of user_2's events counts once anyway), then grouped
        # on the account ids; the (few) edges are named afterwards.
        return (
            con.sql(
                f"""
            WITH w AS (
                SELECT p.a1, p.a2, count(DISTINCT E1.platform || chr(31) || E1.post_id) AS weight
                FROM (SELECT DISTINCT a1, a2, x1 FROM ({pairs})) AS p JOIN _vg_evk AS E1 ON E1.eid = p.x1
                GROUP BY p.a1, p.a2
                HAVING count(DISTINCT E1.platform || chr(31) || E1.post_id) >= {int(min_edge_weight)}
            )
            SELECT A.account AS user_1, B.account AS user_2, w.weight, '{command}' AS edge_type
            FROM w JOIN _vg_acc AS A ON A.aid = w.a1 JOIN _vg_acc AS B ON B.aid = w.a2
            ORDER BY user_1, user_2
            """
            )
            .to_arrow_table()
            .cast(TOOLKIT_EDGES)
        )
    finally:
        for table in _TEMP:
            con.execute(f"DROP TABLE IF EXISTS {table}")


def export_toolkit_csv(
    con: duckdb.DuckDBPyConnection, path: str | Path, *, posts: str | Path | None = None
) -> int:
    """Write the ``posts`` view in the toolkit's CSV input layout; return the number of messages.

    Columns: ``message_id, user_id, username, repost_id, reply_id, message, timestamp, urls``
    (space-separated canonical URLs). Ids are platform-qualified so several platforms cannot
    collide; ``user_id`` is the Vigil account, so toolkit output compares directly.
    """
    if posts is not None:
        register_posts(con, posts)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    quoted = str(target).replace("'", "''")
    con.execute(
        f"""
        COPY (
            SELECT platform || ':' || post_id AS message_id,
                   platform || ':' || account_id AS user_id,
                   coalesce(account_handle, account_id) AS username,
                   CASE WHEN reshare_of IS NULL THEN '' ELSE platform || ':' || reshare_of END AS repost_id,
                   CASE WHEN reply_to IS NULL THEN '' ELSE platform || ':' || reply_to END AS reply_id,
                   coalesce(text, '') AS message,
                   epoch_us(created_at) / 1000000.0 AS timestamp,
                   coalesce(
                       array_to_string(list_transform(urls, lambda u: coalesce(u.canonical, u.url)), ' '), ''
                   ) AS urls
            FROM posts
        ) TO '{quoted}' (HEADER, DELIMITER ',', QUOTE '"')
        """
    ).fetchall()
    rows = con.execute("SELECT count(*) FROM posts").fetchall()
    return int(rows[0][0])
