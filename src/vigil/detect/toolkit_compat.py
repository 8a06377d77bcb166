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

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from vigil.core.errors import InputError

if TYPE_CHECKING:
    from vigil.detect.traces import TraceSpec

I64 = npt.NDArray[np.int64]

# The toolkit's command names (co_reply leaves replies that are also reposts out, as its query does).
TOOLKIT_COMMANDS = ("co_link", "co_reply", "co_retweet")


@cache
def toolkit_traces() -> dict[str, TraceSpec]:
    """The toolkit's command name -> the Vigil trace with the same items (imported on first use:
    the CSV path needs none of the traces' modules, whose imports cost more than its computing at
    100k posts)."""
    from vigil.detect.traces import CO_LINK, CO_RESHARE, TraceSpec, posts_events

    co_reply = TraceSpec(
        name="co_reply",
        description="replied to the same post within the window (reposts left out, as the toolkit does)",
        events_sql=posts_events(
            "platform || ':' || reply_to", where="reply_to IS NOT NULL AND reshare_of IS NULL"
        ),
    )
    return {"co_link": CO_LINK, "co_retweet": CO_RESHARE, "co_reply": co_reply}


TOOLKIT_EDGES = pa.schema(
    [
        pa.field("user_1", pa.string(), nullable=False),
        pa.field("user_2", pa.string(), nullable=False),
        pa.field("weight", pa.int64(), nullable=False),
        pa.field("edge_type", pa.string(), nullable=False),
    ]
)

# The toolkit's CSV input, read by position as its reader does (the header row is skipped, not read).
TOOLKIT_CSV_COLUMNS = (
    "message_id",
    "user_id",
    "username",
    "repost_id",
    "reply_id",
    "message",
    "timestamp",
    "urls",
)

# Events of each command over the toolkit's CSV (``_vg_csv``): what its preprocessing stores and
# its query joins. Empty fields are NULL in DuckDB's reader and "" (falsy) in the toolkit's.
_CSV_EVENTS = {
    "co_retweet": "SELECT user_id AS account, message_id AS msg, repost_id AS item, ts FROM _vg_csv "
    "WHERE coalesce(repost_id, '') <> ''",
    "co_reply": "SELECT user_id AS account, message_id AS msg, reply_id AS item, ts FROM _vg_csv "
    "WHERE coalesce(reply_id, '') <> '' AND coalesce(repost_id, '') = ''",
    # URLs of reposts are left out, as its preprocessing does; "" URLs (its quirk) are dropped.
    "co_link": "SELECT account, msg, item, ts FROM (SELECT user_id AS account, message_id AS msg, "
    "unnest(string_split(coalesce(urls, ''), ' ')) AS item, ts FROM _vg_csv "
    "WHERE coalesce(repost_id, '') = '') WHERE item <> ''",
}

# Matched (message, account) pairs enumerated per step: bounds the temporaries (~40 bytes a pair).
_PAIRS_PER_STEP = 8_000_000


def _check(command: str, time_window: float, min_edge_weight: int) -> None:
    if command not in TOOLKIT_COMMANDS:
        raise InputError(f"toolkit compatibility covers {', '.join(TOOLKIT_COMMANDS)}, not {command!r}")
    if time_window < 0 or min_edge_weight < 1:
        raise InputError("time_window must be >= 0 and min_edge_weight >= 1")


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
    _check(command, time_window, min_edge_weight)
    trace = toolkit_traces()[command]
    query = f"""
        SELECT CAST(account AS VARCHAR) AS account, CAST(platform AS VARCHAR) || chr(31) ||
               CAST(post_id AS VARCHAR) AS msg, CAST(item AS VARCHAR) AS item, CAST(ts AS DOUBLE) AS ts
        FROM ({trace.events_sql}) AS src
        WHERE item IS NOT NULL AND item <> '' AND account IS NOT NULL AND post_id IS NOT NULL
          AND ts IS NOT NULL
    """
    try:
        events = con.sql(query).to_arrow_table()
    except duckdb.Error as exc:
        raise InputError(f"toolkit {command}: selecting events failed: {exc}") from exc
    return _edges_of_events(events, command, time_window, min_edge_weight, loops)


def toolkit_csv_edges(
    con: duckdb.DuckDBPyConnection,
    csv_path: str | Path,
    commands: list[str] | tuple[str, ...] = ("co_link", "co_retweet"),
    *,
    time_window: float,
    min_edge_weight: int = 1,
    loops: bool = False,
) -> dict[str, pa.Table]:
    """CSV in, edges out: the toolkit's networks straight from a CSV in its input layout.

    The file is what ``compute_networks DB preprocess --format csv FILE`` reads (columns by
    position: ``message_id, user_id, username, repost_id, reply_id, message, timestamp, urls``, a
    header row, URLs space-separated); users are its ``user_id`` values as written. Equal, row for
    row, to the toolkit's ``compute`` on its own SQLite with the ``""`` URL rows removed (see the
    module doc), including its handling of a message id given twice: the first row is the message
    (``insert or ignore``), and each (message, URL) keeps the first row that names it.
    """
    for command in commands:
        _check(command, time_window, min_edge_weight)
    path = Path(csv_path)
    if not path.is_file():
        raise InputError(f"no such CSV file: {path}")
    quoted = str(path).replace("'", "''")
    columns = ", ".join(f"'{c}': 'VARCHAR'" for c in TOOLKIT_CSV_COLUMNS)
    (preserve,) = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0]
    try:
        # File order matters (the first row of a message id wins); the message text is parsed
        # over, never kept. Empty fields are NULL here and "" (falsy) in the toolkit's reader.
        con.execute("SET preserve_insertion_order = true")
        rows = con.sql(
            f"""
            SELECT message_id, user_id, nullif(repost_id, '') AS repost_id,
                   nullif(reply_id, '') AS reply_id, nullif(urls, '') AS urls,
                   CAST(timestamp AS DOUBLE) AS ts
            FROM read_csv('{quoted}', header = true, columns = {{{columns}}}, quote = '"', escape = '"',
                          auto_detect = false, strict_mode = false)
            """
        ).to_arrow_table()
    except duckdb.Error as exc:
        raise InputError(f"reading the toolkit CSV {path}: {exc}") from exc
    finally:
        con.execute(f"SET preserve_insertion_order = {'true' if preserve else 'false'}")
    if rows.num_rows and (
        rows["message_id"].null_count or rows["user_id"].null_count or rows["ts"].null_count
    ):
        raise InputError(f"{path}: every row needs a message_id, a user_id and a timestamp")
    msg, _ = _codes(rows["message_id"])
    # Codes follow first appearance: a row is its message's first iff its code is new.
    first = msg > np.maximum.accumulate(np.r_[-1, msg[:-1]])
    # Users are numbered once for every command.
    users, accounts = _sorted_codes(rows["user_id"])
    ts = rows["ts"].to_numpy()
    result = {}
    for command in commands:
        if command == "co_link":
            # Every row that is not a repost files its URLs (duplicate rows too, as the toolkit does).
            mask = pc.is_null(rows["repost_id"]).to_numpy(zero_copy_only=False)
            lists = pc.split_pattern(rows["urls"].filter(pa.array(mask)).combine_chunks(), " ")
            row_of = np.flatnonzero(mask)[pc.list_parent_indices(lists).to_numpy()]
            flat = pc.list_flatten(lists)
            nonempty = pc.not_equal(flat, "").to_numpy(zero_copy_only=False)
            row_of = row_of[nonempty]
            iid, _ = _codes(flat.filter(pa.array(nonempty)))
        else:
            column = "repost_id" if command == "co_retweet" else "reply_id"
            valid = pc.is_valid(rows[column]).to_numpy(zero_copy_only=False)
            if command == "co_reply":
                valid &= pc.is_null(rows["repost_id"]).to_numpy(zero_copy_only=False)
            row_of = np.flatnonzero(valid & first)
            iid, _ = _codes(rows[column].take(pa.array(row_of)))
        if len(row_of) == 0:
            result[command] = TOOLKIT_EDGES.empty_table()
            continue
        weights = directed_weights(
            iid, users[row_of], msg[row_of], ts[row_of], time_window, min_weight=min_edge_weight, loops=loops
        )
        result[command] = _named_edges(accounts, *weights, command)
    return result


def _codes(column: pa.ChunkedArray | pa.Array) -> tuple[I64, pa.Array]:
    """Dictionary codes of a column, in order of first appearance, and its distinct values."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_integer(column.type):
        values = column.to_numpy(zero_copy_only=False).astype(np.int64)
        return values, column
    encoded = pc.dictionary_encode(column)
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary


def _edges_of_events(events: pa.Table, command: str, window: float, min_weight: int, loops: bool) -> pa.Table:
    """Directed toolkit weights from events ``(account, msg, item, ts)``, named and sorted."""
    if events.num_rows == 0:
        return TOOLKIT_EDGES.empty_table()
    aid, accounts = _sorted_codes(events["account"])
    mid, _ = _codes(events["msg"])
    iid, _ = _codes(events["item"])
    ts = events["ts"].to_numpy()
    return _named_edges(
        accounts, *directed_weights(iid, aid, mid, ts, window, min_weight=min_weight, loops=loops), command
    )


def _sorted_codes(column: pa.ChunkedArray | pa.Array) -> tuple[I64, pa.Array]:
    """Codes numbered in the sort order of the values (so sorting edges by account numbers sorts
    them by user strings), and the sorted distinct values."""
    codes, values = _codes(column)
    order = pc.sort_indices(values).to_numpy()
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return rank[codes], values.take(pa.array(order))


def _named_edges(accounts: pa.Array, a1: I64, a2: I64, weight: I64, command: str) -> pa.Table:
    return pa.table(
        [accounts.take(pa.array(a1)), accounts.take(pa.array(a2)), pa.array(weight, pa.int64()),
         pa.array([command] * len(weight), pa.string())],
        schema=TOOLKIT_EDGES,
    )  # fmt: skip


def directed_weights(
    iid: I64,
    aid: I64,
    mid: I64,
    ts: npt.NDArray[np.float64],
    window: float,
    *,
    min_weight: int = 1,
    loops: bool = False,
) -> tuple[I64, I64, I64]:
    """The toolkit's directed weights over integer-coded events; edges sorted by ``(a1, a2)``.

    Event ``k`` is message ``mid[k]`` of account ``aid[k]`` on item ``iid[k]`` at ``ts[k]``. The
    weight of ``a1 -> a2`` counts the distinct messages of ``a1`` with an event on an item on
    which ``a2`` has an event at ``ts`` in ``[t1 - window, t1 + window]`` (the toolkit's
    ``BETWEEN``, computed as it computes it). Without ``loops`` pairs ``a1 = a2`` are left out.

    No pair table is joined back: events are sorted by (item, time) once, each event's window is
    a range ``[lo, hi)`` of that order (exact, found by binary search on ranks of the times), and
    the matched (message, account) pairs are enumerated per block of messages straight into
    per-edge counts, so memory holds one block's pairs and the distinct edges.
    """
    n_acc = int(aid.max()) + 1 if len(aid) else 1
    keep, mid = _toolkit_events(iid, aid, mid, n_acc)
    if not keep.all():
        iid, aid, mid, ts = iid[keep], aid[keep], mid[keep], ts[keep]
    if len(iid) == 0:
        return _no_edges()
    # Times as ranks (ties share one), and the rank range each event's window covers: searches of
    # sorted needles in a time order, the toolkit's t1 - w and t1 + w computed in doubles as it does.
    by_time = np.argsort(ts)  # ties share a rank: their order does not matter
    ts_sorted = ts[by_time]
    times = ts_sorted[np.r_[True, ts_sorted[1:] != ts_sorted[:-1]]]
    width = np.int64(len(times) + 1)
    rank, low, high = (np.empty(len(ts), np.int64) for _ in range(3))
    with np.errstate(invalid="ignore", over="ignore"):
        rank[by_time] = np.searchsorted(times, ts_sorted)
        low[by_time] = np.searchsorted(times, ts_sorted - window, side="left")
        high[by_time] = np.searchsorted(times, ts_sorted + window, side="right")
    del by_time, ts_sorted
    key = iid * width + rank
    order = np.argsort(key)  # windows are ranges of keys: ties may come in any order
    key, iid, aid, mid = key[order], iid[order], aid[order], mid[order]
    low, high = low[order], high[order]
    if not loops:
        # Only items acted on by two accounts can pair.
        starts = np.flatnonzero(np.r_[True, iid[1:] != iid[:-1]])
        least, most = np.minimum.reduceat(aid, starts), np.maximum.reduceat(aid, starts)
        keep = np.repeat(least != most, np.diff(np.r_[starts, len(iid)]))
        if not keep.all():
            key, iid, aid, mid, low, high = key[keep], iid[keep], aid[keep], mid[keep], low[keep], high[keep]
    if len(iid) == 0:
        return _no_edges()
    lo = np.searchsorted(key, iid * width + low, side="left")
    hi = np.searchsorted(key, iid * width + high, side="left")
    del key, low, high
    account_of = np.zeros(int(mid.max()) + 1, np.int64)
    account_of[mid] = aid
    # Pairs are enumerated per block of whole messages (a message's events on several items must
    # meet in one block for its (message, account) pairs to be distinct).
    by_msg = np.argsort(mid)  # blocks are cut between messages: order within one is free
    counts = (hi - lo)[by_msg]
    cumulative = np.cumsum(counts)
    msg_sorted = mid[by_msg]
    boundary = np.r_[True, msg_sorted[1:] != msg_sorted[:-1]]
    # One event per message and per (item, account): a window cannot name an account twice, so
    # the pairs are distinct without deduplication (the usual case for co_retweet).
    single = bool(boundary.all()) and len(_distinct(iid * np.int64(n_acc) + aid)) == len(iid)
    edge_keys: list[I64] = []
    edge_counts: list[I64] = []
    for lo_k, hi_k in _blocks(cumulative, boundary):
        events_k = by_msg[lo_k:hi_k]
        c = hi[events_k] - lo[events_k]
        total = int(c.sum())
        if total == 0:
            continue
        src = np.repeat(events_k, c)
        first = np.cumsum(c) - c
        dst = np.repeat(lo[events_k] - first, c) + np.arange(total, dtype=np.int64)
        a1, a2 = aid[src], aid[dst]
        if not loops:
            keep = a1 != a2
            src, a1, a2 = src[keep], a1[keep], a2[keep]
        if not single:
            pair = _distinct(mid[src] * np.int64(n_acc) + a2)
            a1 = account_of[pair // n_acc]
            a2 = pair % n_acc
        keys, k_counts = _counted(a1 * np.int64(n_acc) + a2)
        edge_keys.append(keys)
        edge_counts.append(k_counts)
    if not edge_keys:
        return _no_edges()
    keys = np.concatenate(edge_keys)
    weights = np.concatenate(edge_counts)
    if len(edge_keys) > 1:
        order = np.argsort(keys, kind="stable")
        keys, weights = keys[order], weights[order]
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        keys, weights = keys[starts], np.add.reduceat(weights, starts)
    kept = weights >= min_weight
    keys, weights = keys[kept], weights[kept]
    return keys // n_acc, keys % n_acc, weights


def _no_edges() -> tuple[I64, I64, I64]:
    empty = np.zeros(0, np.int64)
    return empty, empty, empty


def _toolkit_events(iid: I64, aid: I64, mid: I64, n_acc: int) -> tuple[npt.NDArray[np.bool_], I64]:
    """The toolkit's rows: the first event of each (message, item) (its ``message_url`` primary
    key; a post naming one URL twice counts once). Returns message codes under which each message
    has one user: a message id whose rows name several users is split per user, as the toolkit's
    ``count(distinct message_id)`` grouped by user sees it. Returns ``(kept events, codes)``."""
    keep = np.ones(len(mid), dtype=bool)
    per_message = np.bincount(mid) if len(mid) else np.zeros(0, np.int64)
    if len(per_message) == 0 or per_message.max() <= 1:
        return keep, mid
    multi = np.flatnonzero(per_message[mid] > 1)
    # lexsort is stable: the first of each (message, item) run is its earliest event.
    order = multi[np.lexsort((iid[multi], mid[multi]))]
    m, i, a = mid[order], iid[order], aid[order]
    same_msg = m[1:] == m[:-1]
    keep[order[1:][same_msg & (i[1:] == i[:-1])]] = False
    if (same_msg & (a[1:] != a[:-1])).any():
        pair = mid * np.int64(n_acc) + aid
        mid = np.searchsorted(_distinct(pair), pair)
    return keep, mid


def _distinct(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Sorted distinct values (numpy 2's ``np.unique`` hashes first: several times slower here)."""
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


def _counted(keys: I64) -> tuple[I64, I64]:
    """Sorted distinct keys and how often each occurs."""
    keys = np.sort(keys)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return keys[starts], np.diff(np.r_[starts, len(keys)]).astype(np.int64)


def _blocks(cumulative: I64, boundary: npt.NDArray[np.bool_]) -> Iterator[tuple[int, int]]:
    """Ranges of the message-ordered events holding about ``_PAIRS_PER_STEP`` pairs, cut only where a
    message starts."""
    n = len(cumulative)
    start = 0
    while start < n:
        base = int(cumulative[start - 1]) if start else 0
        stop = int(np.searchsorted(cumulative, base + _PAIRS_PER_STEP, side="right"))
        stop = max(stop, start + 1)
        # Move the cut back to a message start (or forward if the block would be empty).
        while stop < n and not boundary[stop]:
            stop += 1
        yield start, stop
        start = stop


def export_toolkit_csv(
    con: duckdb.DuckDBPyConnection, path: str | Path, *, posts: str | Path | None = None
) -> int:
    """Write the ``posts`` view in the toolkit's CSV input layout; return the number of messages.

    Columns: ``message_id, user_id, username, repost_id, reply_id, message, timestamp, urls``
    (space-separated canonical URLs). Ids are platform-qualified so several platforms cannot
    collide; ``user_id`` is the Vigil account, so toolkit output compares directly.
    """
    if posts is not None:
        from vigil.detect.duck import register_posts

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
