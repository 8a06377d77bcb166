"""The one generic coordination engine: events -> windowed co-actions -> weighted edges + evidence.

For each :class:`~vigil.detect.traces.base.TraceSpec` the engine runs the same relational steps in
DuckDB (each is one SQL statement, so the pipeline maps one to one onto Spark later):

1. **events**: the trace's SQL, typed, deduplicated, empty items dropped;
2. **window**: the trace's (or the run's) window policy, fixed or estimated from the events;
3. **popularity**: distinct accounts per item; items acted on by one account cannot pair, items
   acted on by more than the popularity cap are skipped (this both down-weights the popular and
   keeps one viral item from exploding the join), the rest get an item weight (:mod:`.weights`);
4. **pairs**: a self-join per item on time buckets ``b = floor(ts / w)`` against ``b - 1, b, b + 1``
   (an equi-join, far faster than a range join), then ``|ts_a - ts_b| <= w`` (inclusive) and
   ``account_a < account_b`` (so an account never pairs with itself and each pair appears once).
   A window of 0 joins on the exact instant (same minute in minute-rounded archives);
   on DuckDB the same pairs come from a sliding window per item in numba (:mod:`.pairs`),
   whose work grows with the pairs rather than with crowded buckets' candidates;
5. **edges**: per account pair, ``weight`` = sum of its distinct items' weights, ``n_items``,
   ``n_coactions`` (matched post pairs), first/last time; pairs below ``min_items`` distinct items
   or ``min_coactions`` matched post pairs are dropped;
6. **evidence**: the post pairs behind every edge, capped for scale: the ``evidence_items_per_edge``
   earliest items of each edge, and per item the ``evidence_per_item`` closest-in-time post pairs.

Output tables follow :mod:`vigil.detect.contract` (EDGES, EVIDENCE).

The SQL is written once, in DuckDB's dialect, against :class:`~vigil.detect.sql.SqlConnection`:
a DuckDB connection runs it as is, :class:`~vigil.detect.engines.spark.SparkConnection` transpiles
it to Spark SQL (docs/scale-out.md). So it uses no engine-private feature (no ``rowid``: events get
an explicit ``eid``), and edge weights are summed in fixed point (integer nano-units of weight) so
the sum is exact and the same whatever order an engine adds the items in.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import duckdb
import pyarrow as pa

from vigil.core.errors import InputError
from vigil.core.progress import NoProgress, Progress
from vigil.detect.contract import EDGES, EVIDENCE
from vigil.detect.duck import POSTS_VIEW, PostsSource, count_rows, first_row, register_posts
from vigil.detect.sql import SqlConnection
from vigil.detect.traces.base import TraceSpec, registry
from vigil.detect.weights import IDF, ItemWeighting
from vigil.detect.window import WindowChoice, WindowPolicy
from vigil.schema.io import ParquetSink

if TYPE_CHECKING:
    from vigil.detect.pairs import IndexedEvents
from vigil.schema.tables import TableSpec, conform

EDGES_TABLE = TableSpec(name="edges", schema=EDGES, key=("trace", "account_a", "account_b"))
EVIDENCE_TABLE = TableSpec(
    name="evidence", schema=EVIDENCE, key=("trace", "account_a", "account_b", "item", "post_a", "post_b")
)

EDGES_FILE = "edges.parquet"
EVIDENCE_FILE = "evidence.parquet"
STATS_FILE = "traces.json"

# Temporary tables of one trace's run; replaced by the next trace, dropped at the end.
_TEMP_TABLES = (
    "_vg_crowded",
    "_vg_ev",
    "_vg_items",
    "_vg_kept",
    "_vg_evk",
    "_vg_acc",
    "_vg_evj",
    "_vg_pairs",
    "_vg_pi",
    "_vg_e",
)

PairMode = Literal["ordered", "distinct", "all"]


@dataclass(frozen=True)
class EngineParams:
    """Knobs of one engine run (docs/detection.md explains each).

    ``window``: overrides every trace's default window when set.
    ``min_items``: an edge needs this many distinct items acted on together in the window.
    ``min_coactions``: an edge needs this many matched post pairs.
    ``max_item_accounts``: the item popularity cap; items acted on by more distinct accounts in the
    whole input are skipped (None: no run-wide cap; a trace's own cap still applies).
    ``max_item_share``: the same cap relative to the data, as a share of the trace's accounts
    (None: off); the smallest of all caps that apply wins.
    ``max_window_accounts``: the crowd cap; an item's events in a time bucket (one window wide)
    where more distinct accounts act on it are left out: a burst that crowded cannot single out
    pairs, and the cap bounds the join (None: off).
    ``weighting``: the item weight (IDF by default).
    ``evidence_per_item`` / ``evidence_items_per_edge``: the evidence caps.
    """

    window: WindowPolicy | None = None
    min_items: int = 2
    min_coactions: int = 1
    max_item_accounts: int | None = None
    max_item_share: float | None = None
    max_window_accounts: int | None = 1000
    weighting: ItemWeighting = IDF
    evidence_per_item: int = 3
    evidence_items_per_edge: int = 20

    def __post_init__(self) -> None:
        for name in ("min_items", "min_coactions", "evidence_per_item", "evidence_items_per_edge"):
            if getattr(self, name) < 1:
                raise InputError(f"engine parameter {name} must be >= 1, not {getattr(self, name)!r}")
        for name in ("max_item_accounts", "max_window_accounts"):
            cap = getattr(self, name)
            if cap is not None and cap < 2:
                raise InputError(f"engine parameter {name} must be >= 2, not {cap!r}")
        if self.max_item_share is not None and not 0 < self.max_item_share <= 1:
            raise InputError(
                f"engine parameter max_item_share must be in (0, 1], not {self.max_item_share!r}"
            )

    def cap_for(self, trace: TraceSpec, n_accounts: int | None = None) -> int | None:
        """The effective popularity cap for ``trace``: the smallest of the run's and the trace's
        absolute caps and, given the trace's account count, their shares of it (at least 2)."""
        caps = [c for c in (self.max_item_accounts, trace.max_item_accounts) if c is not None]
        if n_accounts is not None:
            shares = [s for s in (self.max_item_share, trace.max_item_share) if s is not None]
            caps += [max(2, math.ceil(share * n_accounts)) for share in shares]
        return min(caps) if caps else None


@dataclass(frozen=True)
class TraceStats:
    """What one trace's run saw and produced."""

    trace: str
    window: WindowChoice
    max_item_accounts: int | None
    n_events: int  # event rows the trace's SQL selected (before removing duplicates)
    n_accounts: int
    n_items: int
    n_items_shared: int  # acted on by at least two accounts
    n_items_popular: int  # of those, skipped by the popularity cap
    n_windows_crowded: int  # (item, time bucket) cells above the crowd cap, left out
    n_events_crowded: int  # events in those cells
    n_pairs: int  # matched post pairs in the window
    n_edges: int
    n_evidence: int
    seconds: float
    # The signal kinds the trace declares for its items (TraceSpec.signal_kinds), so the evidence
    # file's (trace, item) rows read as (kind, value) without the specs.
    signal_kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class TraceResult:
    """One trace's edges and evidence, in memory (for tests and small inputs)."""

    stats: TraceStats
    edges: pa.Table
    evidence: pa.Table


@dataclass(frozen=True)
class RunResult:
    """Where :func:`run_traces` wrote its tables, and per-trace statistics."""

    edges_path: Path
    evidence_path: Path
    stats_path: Path
    stats: list[TraceStats] = field(default_factory=list)


def _sql_error(trace: str, step: str, exc: duckdb.Error) -> InputError:
    return InputError(f"trace {trace}: {step} failed: {exc}")


def _events_select(trace: TraceSpec) -> str:
    """``trace``'s events SQL typed, empty items dropped; ``{with_posts}`` marks where a CTE may go."""
    return f"""
        {{with_posts}}
        SELECT CAST(account AS VARCHAR) AS account, CAST(platform AS VARCHAR) AS platform,
               CAST(post_id AS VARCHAR) AS post_id, CAST(item AS VARCHAR) AS item,
               CAST(ts AS DOUBLE) AS ts
        FROM ({trace.events_sql}) AS src
        WHERE item IS NOT NULL AND item <> '' AND account IS NOT NULL AND post_id IS NOT NULL
          AND ts IS NOT NULL
    """


def _run_select(
    con: SqlConnection, trace: TraceSpec, posts: str | None, run: Callable[[str], object]
) -> object:
    """``run`` the events SELECT, reading the table ``posts`` in place of the ``posts`` view when
    given and the selection finds its columns there."""
    statement = _events_select(trace)
    try:
        if posts is not None:
            try:
                # The CTE shadows the view for this statement only (no effect on SQL naming no posts).
                return run(statement.format(with_posts=f"WITH {POSTS_VIEW} AS (SELECT * FROM {posts})"))
            except duckdb.BinderException:
                pass  # a column the kept table lacks: read the view, as without it
        return run(statement.format(with_posts=""))
    except duckdb.Error as exc:
        raise _sql_error(trace.name, "selecting events", exc) from exc


def materialize_events(
    con: SqlConnection, trace: TraceSpec, table: str = "_vg_ev", *, posts: str | None = None
) -> int:
    """Run ``trace``'s events SQL into the temporary ``table`` (typed, empty items dropped); return its rows.

    Duplicate rows (a post naming the same item twice) are kept here and removed by
    :func:`index_events`, which only sees events on items that can pair: far fewer rows to sort.
    ``posts``: a table holding the posts columns events are selected from (:class:`PostsColumns`),
    read in place of the ``posts`` view; a selection that needs another column reads the view.
    """
    _run_select(con, trace, posts, lambda sql: con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {sql}"))
    return count_rows(con, table)


def select_events(con: duckdb.DuckDBPyConnection, trace: TraceSpec, *, posts: str | None = None) -> pa.Table:
    """:func:`materialize_events`'s rows as an Arrow table (what the kernel steps read), without
    writing them to a DuckDB table and reading them back."""
    table = _run_select(con, trace, posts, lambda sql: con.sql(sql).to_arrow_table())
    assert isinstance(table, pa.Table)
    return table


# The posts columns the structural traces' events read (vigil.detect.traces.base.posts_events).
EVENT_COLUMNS = (
    "platform", "account_id", "post_id", "created_at",
    "reshare_of", "reply_to", "urls", "hashtags", "mentions",
)  # fmt: skip
# Bytes a kept post takes in DuckDB (183 MB per million generated posts, measured), and the share
# of DuckDB's memory limit the kept table may take: beyond it the selections scan the file each.
_KEPT_POST_BYTES = 200
_KEPT_SHARE = 0.2
_POSTS_KEPT = "_vg_posts"
_UNITS = {"bytes": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
          "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}  # fmt: skip


def memory_limit_bytes(con: duckdb.DuckDBPyConnection) -> int | None:
    """DuckDB's ``memory_limit`` in bytes (None when it cannot be read, e.g. unlimited)."""
    row = first_row(con, "SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'")
    parts = str(row[0]).split() if row else []
    if len(parts) != 2 or parts[1].lower() not in _UNITS:
        return None
    try:
        return int(float(parts[0]) * _UNITS[parts[1].lower()])
    except ValueError:
        return None


class PostsColumns:
    """The posts columns events are selected from, read from the posts files once per run.

    Each distinct event selection otherwise scans the Parquet file again, decoding the platform,
    account and post id columns every time (~0.4 s of CPU per selection at 1M posts). When at least
    two selections read the ``posts`` view and the kept columns fit in a share of DuckDB's memory
    limit, they are copied into one temporary table that the selections read instead (the same
    rows, so the same events); it is dropped as soon as the last of them has run.
    """

    def __init__(self, con: SqlConnection, traces: Sequence[TraceSpec]) -> None:
        self.table: str | None = None
        self._wanted = False
        self._left = {t.events_sql for t in traces if f"FROM {POSTS_VIEW} " in f"{t.events_sql} "}
        if len(self._left) < 2 or not isinstance(con, duckdb.DuckDBPyConnection):
            return
        try:
            columns = {row[0] for row in con.execute(f"DESCRIBE {POSTS_VIEW}").fetchall()}
        except duckdb.Error:
            return  # no posts view: the traces read other relations
        limit = memory_limit_bytes(con)
        if not set(EVENT_COLUMNS) <= columns or limit is None:
            return
        self._wanted = count_rows(con, POSTS_VIEW) * _KEPT_POST_BYTES <= _KEPT_SHARE * limit

    def source(self, con: SqlConnection, trace: TraceSpec) -> str | None:
        """The table ``trace``'s events may be selected from (copied at the first selection that
        reads the posts, inside that trace's progress stage), or None: read the view."""
        if self._wanted and self.table is None and trace.events_sql in self._left:
            kept = ", ".join(EVENT_COLUMNS)
            con.execute(f"CREATE OR REPLACE TEMP TABLE {_POSTS_KEPT} AS SELECT {kept} FROM {POSTS_VIEW}")
            self.table = _POSTS_KEPT
        return self.table

    def selected(self, con: SqlConnection, trace: TraceSpec) -> None:
        """Note that ``trace``'s events are selected; drop the table after the last selection."""
        self._left.discard(trace.events_sql)
        if not self._left:
            self._wanted = False
            self.close(con)

    def close(self, con: SqlConnection) -> None:
        if self.table is not None:
            _drop(con, self.table)
            self.table = None


def bucket_sql(window: float, ts: str = "ts") -> str:
    """The time bucket of ``ts`` for a window: co-actions lie in the same or adjacent buckets."""
    return f"CAST({ts} AS DOUBLE)" if window == 0 else f"floor({ts} / {float(window)!r})"


def windowed_pairs_sql(events: str, window: float, mode: PairMode = "ordered") -> str:
    """SQL of the matched event pairs of ``events`` (columns ``eid, iid, aid, ts, b``).

    Yields ``iid, a1, a2, x1, x2, t1, t2`` for every two events on the same item with
    ``|t1 - t2| <= window``. ``mode``: ``ordered`` keeps ``a1 < a2`` (each unordered account pair
    once), ``distinct`` keeps ``a1 <> a2`` in both directions, ``all`` also keeps an event with
    itself and same-account pairs (as the coordination-network-toolkit stores them).
    """
    offsets = "(0)" if window == 0 else "(-1), (0), (1)"
    condition = {"ordered": "e1.aid < e2.aid", "distinct": "e1.aid <> e2.aid", "all": "true"}[mode]
    return f"""
        SELECT e1.iid, e1.aid AS a1, e2.aid AS a2, e1.eid AS x1, e2.eid AS x2, e1.ts AS t1, e2.ts AS t2
        FROM {events} AS e1
        JOIN (SELECT eid, iid, aid, ts, b + o AS jb FROM {events} CROSS JOIN (VALUES {offsets}) AS v(o)) AS e2
          ON e1.iid = e2.iid AND e1.b = e2.jb
        WHERE {condition} AND abs(e1.ts - e2.ts) <= {float(window)!r}
    """


def number_accounts(con: SqlConnection, events: str = "_vg_ev") -> int:
    """Number the distinct accounts of ``events`` in account order into ``_vg_acc (account, aid)``
    (so ``a1 < a2`` is the same as ``account_a < account_b``); return how many there are."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _vg_acc AS
        SELECT account, row_number() OVER (ORDER BY account) AS aid
        FROM (SELECT DISTINCT account FROM {events})
        """
    )
    return count_rows(con, "_vg_acc")


def index_events(
    con: SqlConnection,
    window: float,
    *,
    items: str,
    events: str = "_vg_ev",
    accounts_numbered: bool = False,
) -> None:
    """Give kept events integer keys for the join: ``_vg_evk`` (deduplicated, with the event id
    ``eid``, item id ``iid``, account id ``aid``, post ids, ``ts`` and time bucket ``b``),
    ``_vg_acc`` (account ids, see :func:`number_accounts`) and ``_vg_evj`` (the join input
    ``eid, iid, aid, ts, b``).

    ``items`` is a relation ``(iid, item)`` of the items to keep. ``accounts_numbered``: ``_vg_acc``
    already numbers every account of ``events`` (the engine does that first, as it needs the count).
    """
    if not accounts_numbered:
        number_accounts(con, events)
    # One pass gives each kept event its item and account ids and removes duplicates (a post naming
    # the same item twice): strings are hashed here once, everything after works on integers.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _vg_evk AS
        SELECT row_number() OVER () AS eid, d.*, {bucket_sql(window, "d.ts")} AS b FROM (
            SELECT DISTINCT k.iid, a.aid, e.platform, e.post_id, e.ts
            FROM {events} AS e JOIN {items} AS k USING (item) JOIN _vg_acc AS a USING (account)
        ) AS d
        """
    )
    con.execute("CREATE OR REPLACE TEMP TABLE _vg_evj AS SELECT eid, iid, aid, ts, b FROM _vg_evk")


def _drop_crowded(con: SqlConnection, cap: int | None) -> tuple[int, int]:
    """Remove from ``_vg_evj`` the events of (item, bucket) cells with more than ``cap`` accounts.

    A cell cannot hold more accounts than its item has (``_vg_kept.n``), so only items above the
    cap are examined: usually none, and the check costs nothing.
    """
    if cap is None:
        return 0, 0
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _vg_crowded AS
        SELECT iid, b, count(*) AS n
        FROM _vg_evj SEMI JOIN (SELECT iid FROM _vg_kept WHERE n > {int(cap)}) AS big USING (iid)
        GROUP BY iid, b HAVING count(DISTINCT aid) > {int(cap)}
        """
    )
    row = first_row(con, "SELECT count(*), coalesce(sum(n), 0) FROM _vg_crowded")
    cells, events = (int(row[0]), int(row[1])) if row else (0, 0)  # type: ignore[call-overload]
    if cells:
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _vg_evj AS
            SELECT * FROM _vg_evj AS e ANTI JOIN _vg_crowded AS c USING (iid, b)
            """
        )
    return cells, events


class SharedEvents:
    """The event tables of traces that select the same events (co_reshare and co_reshare_slow,
    co_domain and co_domain_slow differ only in their windows): selected from the posts once, kept
    until the last of those traces has run. A trace whose events no other trace shares gets the
    usual ``_vg_ev``, dropped as soon as its events are indexed.

    ``arrow``: the events are selected into Arrow tables (the kernel steps read them there),
    registered on the connection under the same names for the SQL that reads them (the window
    estimate).
    """

    def __init__(
        self, traces: Sequence[TraceSpec], posts: PostsColumns | None = None, *, arrow: bool = False
    ) -> None:
        self._left = Counter(trace.events_sql for trace in traces)
        self._tables: dict[str, tuple[str, int]] = {}
        self._posts = posts
        self._arrow = arrow
        self._selected: dict[str, pa.Table] = {}

    def _select(self, con: SqlConnection, trace: TraceSpec, table: str) -> int:
        posts = None if self._posts is None else self._posts.source(con, trace)
        if self._arrow and isinstance(con, duckdb.DuckDBPyConnection):
            events = select_events(con, trace, posts=posts)
            con.register(table, events)
            self._selected[table] = events
            n = int(events.num_rows)
        else:
            n = materialize_events(con, trace, table, posts=posts)
        if self._posts is not None:
            self._posts.selected(con, trace)
        return n

    def events(self, con: SqlConnection, trace: TraceSpec) -> tuple[str, int]:
        """The table holding ``trace``'s events (selected now or by an earlier trace) and its rows."""
        sql = trace.events_sql
        self._left[sql] -= 1
        if sql not in self._tables:
            # Arrow tables go by other names than the temporary tables (DROP TABLE refuses a view).
            suffix = "a" if self._arrow else ""
            if self._left[sql] <= 0:
                return f"_vg_ev{suffix}", self._select(con, trace, f"_vg_ev{suffix}")
            table = f"_vg_evs{len(self._tables)}{suffix}"
            self._tables[sql] = (table, self._select(con, trace, table))
        return self._tables[sql]

    def arrow(self, table: str) -> pa.Table | None:
        """The Arrow table registered as ``table``, if the events were selected into one."""
        return self._selected.get(table)

    def _remove(self, con: SqlConnection, table: str) -> None:
        if self._selected.pop(table, None) is not None:
            assert isinstance(con, duckdb.DuckDBPyConnection)
            con.unregister(table)
        else:
            _drop(con, table)

    def done(self, con: SqlConnection, trace: TraceSpec, table: str) -> None:
        """``trace`` has read its events from ``table``: drop it if no later trace reads it."""
        sql = trace.events_sql
        if sql in self._tables:
            if self._left[sql] <= 0:
                self._remove(con, self._tables.pop(sql)[0])
        else:
            self._remove(con, table)

    def close(self, con: SqlConnection) -> None:
        """Drop every table still kept (a run that stopped early)."""
        for table, _ in self._tables.values():
            self._remove(con, table)
        self._tables.clear()
        for table in list(self._selected):
            self._remove(con, table)
        if self._posts is not None:
            self._posts.close(con)


def _done(con: SqlConnection, trace: TraceSpec, events: str, shared: SharedEvents | None) -> None:
    """``trace`` has read its events table ``events``: drop it unless a later trace reads it."""
    if shared is None:
        _drop(con, events)
    else:
        shared.done(con, trace, events)


def _compute(
    con: SqlConnection,
    trace: TraceSpec,
    params: EngineParams,
    progress: Progress,
    shared: SharedEvents | None = None,
) -> tuple[TraceStats, tuple[pa.Table, pa.Table] | None]:
    """Run steps 1-6 for one trace: its statistics and, from the kernel steps, its output tables
    (edges, evidence); from the SQL steps None, the results left in ``_vg_e``/``_vg_evidence_out``
    (read with :func:`_edges_query` / :func:`_evidence_query`). ``shared``: event tables shared
    with other traces of the run."""
    started = time.perf_counter()
    if shared is None:
        events, n_events = "_vg_ev", materialize_events(con, trace)
    else:
        events, n_events = shared.events(con, trace)
    progress.advance()

    policy = params.window or trace.window
    try:
        window = policy.resolve(con, events)
    except duckdb.Error as exc:
        raise _sql_error(trace.name, "estimating the window", exc) from exc
    progress.advance()

    if PAIR_STEP == "kernel" and isinstance(con, duckdb.DuckDBPyConnection):
        # Imported here: numba's import and the kernels' loading cost only a run that pairs events.
        from vigil.detect import pairs as kernel

        # The same tables and counts as the SQL below, from the events read once with their
        # strings encoded once (the SQL hashed and sorted them in five statements).
        indexed = kernel.index_events(
            con,
            (shared and shared.arrow(events)) or events,
            window.seconds,
            cap_for=lambda n: params.cap_for(trace, n),
            weight_sql=lambda n: params.weighting.sql("n", str(max(n, 2))),
            units=_WEIGHT_UNITS,
            crowd_cap=params.max_window_accounts,
        )
        n_accounts, cap = indexed.n_accounts, indexed.cap
        n_items, n_shared, n_kept = indexed.n_items, indexed.n_shared, indexed.n_kept
        n_crowded, n_crowded_events = indexed.n_crowded, indexed.n_crowded_events
        _done(con, trace, events, shared)
        progress.advance()
        n_pairs, edges, evidence = _kernel_steps(trace.name, indexed, window.seconds, params, progress)
        del indexed
        tables = (edges, evidence)
        n_edges, n_evidence = edges.num_rows, evidence.num_rows
    else:
        n_accounts = number_accounts(con, events)
        cap = params.cap_for(trace, n_accounts)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _vg_items AS "
            f"SELECT item, count(DISTINCT account) AS n FROM {events} GROUP BY item"
        )
        cap_filter = "WHERE n >= 2" + ("" if cap is None else f" AND n <= {int(cap)}")
        weight = params.weighting.sql("n", str(max(n_accounts, 2)))
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _vg_kept AS
            SELECT row_number() OVER (ORDER BY item) AS iid, item, n, CAST({weight} AS DOUBLE) AS w
            FROM _vg_items {cap_filter}
            """
        )
        n_items = count_rows(con, "_vg_items")
        n_shared = count_rows(con, "(SELECT 1 FROM _vg_items WHERE n >= 2)")
        n_kept = count_rows(con, "_vg_kept")
        index_events(con, window.seconds, items="_vg_kept", events=events, accounts_numbered=True)
        n_crowded, n_crowded_events = _drop_crowded(con, params.max_window_accounts)
        # Each table is dropped as soon as no later step reads it: they all live in DuckDB's memory
        # budget, and at 10M posts the pairs, edges and evidence need it.
        _drop(con, "_vg_items", "_vg_crowded")
        _done(con, trace, events, shared)
        progress.advance()
        n_pairs = _sql_steps(con, window.seconds, params, progress)
        tables = None
        n_edges = count_rows(con, "_vg_e")
        n_evidence = count_rows(con, "_vg_evidence_out")
    stats = TraceStats(
        trace=trace.name,
        window=window,
        max_item_accounts=cap,
        n_events=n_events,
        n_accounts=n_accounts,
        n_items=n_items,
        n_items_shared=n_shared,
        n_items_popular=n_shared - n_kept,
        n_windows_crowded=n_crowded,
        n_events_crowded=n_crowded_events,
        n_pairs=n_pairs,
        n_edges=n_edges,
        n_evidence=n_evidence,
        seconds=time.perf_counter() - started,
        signal_kinds=trace.signal_kinds,
    )
    return stats, tables


_STEPS = 6
# Rows per batch written to the output files.
_BATCH_ROWS = 128 * 1024
# Edge weights are sums of item weights rounded to 1e-9: integers add exactly in any order, so
# DuckDB and Spark (or one engine run twice in parallel) give bit-identical weights.
_WEIGHT_UNITS = "1000000000.0"


def _edges_sql(pair_rows: str, params: EngineParams) -> str:
    """Step 5: edges from the (account pair, item) rows ``a1, a2, iid, nco, ft, lt``."""
    return f"""
        CREATE OR REPLACE TEMP TABLE _vg_e AS
        SELECT a1, a2,
               CAST(sum(CAST(round(k.w * {_WEIGHT_UNITS}) AS BIGINT)) AS DOUBLE) / {_WEIGHT_UNITS} AS weight,
               count(*) AS n_items, CAST(sum(p.nco) AS BIGINT) AS n_coactions,
               min(p.ft) AS first_ts, max(p.lt) AS last_ts
        FROM {pair_rows} AS p JOIN _vg_kept AS k USING (iid)
        GROUP BY a1, a2
        HAVING count(*) >= {params.min_items} AND sum(p.nco) >= {params.min_coactions}
    """


def _top_items_sql(pair_rows: str, params: EngineParams, columns: str) -> str:
    """The (edge, item) rows evidence is drawn from: every item of an edge with at most
    ``evidence_items_per_edge`` items, else its earliest ones (ties by item: item ids are numbered
    in item order), with ``columns`` of ``pair_rows``. Integers only: strings are joined to the
    kept rows when written."""
    cap = params.evidence_items_per_edge
    return f"""
        WITH pe AS (
            SELECT p.*, e.n_items FROM {pair_rows} AS p JOIN _vg_e AS e USING (a1, a2)
        )
        SELECT {columns} FROM pe WHERE n_items <= {cap}
        UNION ALL
        SELECT {columns} FROM (
            SELECT pe.*, row_number() OVER (PARTITION BY pe.a1, pe.a2 ORDER BY pe.ft, pe.iid) AS r
            FROM pe WHERE pe.n_items > {cap}
        ) AS t WHERE r <= {cap}
    """


def _sql_steps(con: SqlConnection, window: float, params: EngineParams, progress: Progress) -> int:
    """Steps 4-6 in SQL (the bucket self-join; what Spark runs): ``_vg_e`` and
    ``_vg_evidence_out`` from ``_vg_evj``; return the number of matched post pairs."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _vg_pairs AS {windowed_pairs_sql('_vg_evj', window)}")
    n_pairs = count_rows(con, "_vg_pairs")
    _drop(con, "_vg_evj")
    progress.advance()

    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _vg_pi AS
        SELECT a1, a2, iid, count(*) AS nco, min(least(t1, t2)) AS ft, max(greatest(t1, t2)) AS lt
        FROM _vg_pairs GROUP BY a1, a2, iid
        """
    )
    con.execute(_edges_sql("_vg_pi", params))
    progress.advance()

    # Integers only until the kept rows are known: ranking is needed only where there is a choice
    # (an edge with more items than the cap, an item with more post pairs than the cap), and the
    # strings (account, item, post ids) are joined to the kept rows only when they are written.
    # The same rows as ranking every pair.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _vg_evidence_out AS
        WITH top_items AS ({_top_items_sql("_vg_pi", params, "a1, a2, iid, nco")}),
        candidates AS (
            SELECT p.a1, p.a2, p.iid, t.nco, p.x1, p.x2, p.t1, p.t2
            FROM _vg_pairs AS p JOIN top_items AS t USING (a1, a2, iid)
        ),
        kept AS (
            SELECT a1, a2, iid, x1, x2, t1, t2 FROM candidates WHERE nco <= {params.evidence_per_item}
            UNION ALL
            SELECT a1, a2, iid, x1, x2, t1, t2 FROM (
                SELECT c.a1, c.a2, c.iid, c.x1, c.x2, c.t1, c.t2,
                       row_number() OVER (
                           PARTITION BY c.a1, c.a2, c.iid
                           ORDER BY abs(c.t1 - c.t2), c.t1, E1.post_id, E2.post_id
                       ) AS r
                FROM candidates AS c JOIN _vg_evk AS E1 ON E1.eid = c.x1 JOIN _vg_evk AS E2 ON E2.eid = c.x2
                WHERE c.nco > {params.evidence_per_item}
            ) AS ranked WHERE r <= {params.evidence_per_item}
        )
        SELECT a1, a2, iid, x1, x2, t1 AS ts_a, t2 AS ts_b FROM kept
        """
    )
    _drop(con, "_vg_pairs", "_vg_pi")
    progress.advance()
    return n_pairs


def _kernel_steps(
    trace: str, indexed: IndexedEvents, window: float, params: EngineParams, progress: Progress
) -> tuple[int, pa.Table, pa.Table]:
    """Steps 4-6 in numba and numpy (:mod:`vigil.detect.pairs`) on the indexed events: the same
    pairs, edges and evidence as :func:`_sql_steps`, returned as the trace's output tables
    (edges, evidence) with their strings, and the number of matched post pairs."""
    from vigil.detect import pairs as kernel

    found = kernel.pairs_of(indexed.item, indexed.aid, indexed.ts, indexed.bucket, indexed.eid, window)
    progress.advance()
    edges = kernel.edges(
        found, indexed.units, _WEIGHT_UNITS,
        min_items=params.min_items, min_coactions=params.min_coactions,
        items_per_edge=params.evidence_items_per_edge,
    )  # fmt: skip
    progress.advance()
    first, second = kernel.evidence(found, indexed, edges.top, params.evidence_per_item)
    tables = kernel.output_tables(trace, found, indexed, edges, first, second)
    progress.advance()
    return found.n_pairs, *tables


# The pair step DuckDB runs: "kernel" (numba's sliding window, the default) or "sql" (the bucket
# self-join Spark runs; the scale bench times both, the tests check they agree).
PAIR_STEP: Literal["kernel", "sql"] = "kernel"


# The output queries. Account ids are numbered in account order and item ids in item order, so
# ordering by them is ordering by account and item (integers compare far faster than strings); the
# account and item strings are joined to the evidence only here, for the rows kept.
def _edges_query(trace: str) -> str:
    # trace names are validated ([a-z0-9_] only), safe inside a SQL literal
    return f"""
        SELECT '{trace}' AS trace, A.account AS account_a, B.account AS account_b,
               CAST(e.weight AS DOUBLE) AS weight, CAST(e.n_items AS BIGINT) AS n_items,
               e.n_coactions, e.first_ts, e.last_ts
        FROM _vg_e AS e JOIN _vg_acc AS A ON A.aid = e.a1 JOIN _vg_acc AS B ON B.aid = e.a2
        ORDER BY e.a1, e.a2
    """


def _evidence_query(trace: str) -> str:
    return f"""
        SELECT '{trace}' AS trace, A.account AS account_a, B.account AS account_b, k.item,
               E1.post_id AS post_a, E2.post_id AS post_b, v.ts_a, v.ts_b
        FROM _vg_evidence_out AS v JOIN _vg_acc AS A ON A.aid = v.a1 JOIN _vg_acc AS B ON B.aid = v.a2
        JOIN _vg_kept AS k USING (iid) JOIN _vg_evk AS E1 ON E1.eid = v.x1 JOIN _vg_evk AS E2 ON E2.eid = v.x2
        ORDER BY v.a1, v.a2, v.iid, v.ts_a, v.ts_b, E1.post_id, E2.post_id
    """


def _drop(con: SqlConnection, *tables: str) -> None:
    for table in tables:
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _drop_temp(con: SqlConnection) -> None:
    _drop(con, *_TEMP_TABLES, "_vg_edges_out", "_vg_evidence_out")


def run_trace(
    con: SqlConnection,
    trace: TraceSpec,
    params: EngineParams | None = None,
    *,
    progress: Progress | None = None,
) -> TraceResult:
    """Run one trace and return its edges and evidence as Arrow tables (sorted by accounts).

    The posts (or whatever relation the trace reads) must already be registered on ``con``
    (:func:`vigil.detect.duck.register_posts`).
    """
    params = params or EngineParams()
    progress = progress or NoProgress()
    progress.start(f"trace {trace.name}", total=_STEPS)
    try:
        stats, tables = _compute(con, trace, params, progress)
        if tables is None:
            edges = con.sql(_edges_query(trace.name)).to_arrow_table()
            evidence = con.sql(_evidence_query(trace.name)).to_arrow_table()
        else:
            edges, evidence = tables
    finally:
        _drop_temp(con)
        progress.finish()
    return TraceResult(stats, conform(edges, EDGES_TABLE), conform(evidence, EVIDENCE_TABLE))


def run_traces(
    con: SqlConnection,
    traces: Sequence[TraceSpec],
    params: EngineParams | None = None,
    *,
    out_dir: str | Path,
    posts: PostsSource | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run ``traces`` and write ``edges.parquet``, ``evidence.parquet`` and ``traces.json`` to ``out_dir``.

    ``posts``, when given, is registered first as the ``posts`` view (Parquet path(s) or Arrow
    table). Files appear only when every trace succeeded; each trace reports to ``progress``.
    """
    registry(traces)  # refuse duplicate names: they are the trace column's values
    params = params or EngineParams()
    progress = progress or NoProgress()
    if posts is not None:
        if not isinstance(con, duckdb.DuckDBPyConnection):
            raise InputError("run_traces registers posts on DuckDB only; register them on the engine first")
        register_posts(con, posts)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    all_stats: list[TraceStats] = []
    kernel = PAIR_STEP == "kernel" and isinstance(con, duckdb.DuckDBPyConnection)
    shared = SharedEvents(traces, PostsColumns(con, traces), arrow=kernel)
    try:
        with (
            ParquetSink(out / EDGES_FILE, EDGES_TABLE) as edges,
            ParquetSink(out / EVIDENCE_FILE, EVIDENCE_TABLE) as evidence,
        ):
            for trace in traces:
                progress.start(f"trace {trace.name}", total=_STEPS)
                try:
                    stats, tables = _compute(con, trace, params, progress, shared)
                    all_stats.append(stats)
                    if tables is None:
                        for sink, query in (
                            (edges, _edges_query(trace.name)),
                            (evidence, _evidence_query(trace.name)),
                        ):
                            for batch in con.sql(query).to_arrow_reader(_BATCH_ROWS):
                                sink.write(batch)
                    else:
                        for sink, table in zip((edges, evidence), tables, strict=True):
                            for batch in table.to_batches(_BATCH_ROWS):
                                sink.write(batch)
                finally:
                    _drop_temp(con)
                    progress.finish()
    finally:
        shared.close(con)
    stats_path = out / STATS_FILE
    tmp = stats_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps([asdict(s) for s in all_stats], indent=2) + "\n", encoding="utf-8")
    tmp.replace(stats_path)
    return RunResult(out / EDGES_FILE, out / EVIDENCE_FILE, stats_path, all_stats)
