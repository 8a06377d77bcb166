"""Plumbing shared by the content traces (text, cross-lingual text, image).

A content trace clusters near-identical content into items, then emits one event per post of a
cluster that at least two accounts acted on. Beside the events (:data:`vigil.detect.contract.EVENTS`)
each trace returns its **cluster membership** (:data:`MEMBERS`): which post fell into which item,
under which content key, and how close it is to the cluster's representative, so an analyst can
check an item by reading it.

Pair searches run by **time bucket** with the previous bucket carried over: content of bucket ``b``
is compared with bucket ``b`` and ``b - 1``. Any two posts less than ``bucket_seconds`` apart are
therefore compared, which covers every engine window up to ``bucket_seconds``, while memory holds
two buckets at a time rather than the whole dataset.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from vigil.core.errors import InputError
from vigil.detect.contract import EVENTS
from vigil.detect.similarity.clusters import ClusterPolicy, cluster, leader_clusters_sorted
from vigil.detect.traces.base import TraceSpec
from vigil.detect.window import FixedWindow, WindowPolicy

# One row per post and content item: the evidence of a content cluster.
MEMBERS = pa.schema(
    [
        pa.field("trace", pa.string(), nullable=False),
        pa.field("item", pa.string(), nullable=False),
        pa.field("platform", pa.string(), nullable=False),
        pa.field("post_id", pa.string(), nullable=False),
        pa.field("account", pa.string(), nullable=False),
        pa.field("ts", pa.float64(), nullable=False),
        pa.field("key", pa.string(), nullable=False),  # the post's content: normal form, PDQ hash, image id
        pa.field("representative", pa.string(), nullable=False),  # the cluster representative's key
        pa.field("measure", pa.string(), nullable=False),  # "exact", "jaccard", "cosine", "hamming"
        pa.field("score", pa.float64(), nullable=False),  # the member's measure against the representative
    ]
)

DEFAULT_BUCKET_SECONDS = 86_400.0
# Content traces compare posts over longer spans than resharing: copies of one message are posted
# over minutes to hours. The run's window, when set, overrides this default.
DEFAULT_CONTENT_WINDOW: WindowPolicy = FixedWindow(3600.0)


# A table, or a query that builds it when asked (large traces keep their rows in DuckDB).
TableSource: TypeAlias = pa.Table | Callable[[], pa.Table]


@dataclass(frozen=True)
class ContentTrace:
    """A content trace's output: its spec for the engine, its events and its cluster membership.

    ``events`` and ``members`` are Arrow tables. A trace built by :func:`register_trace_sql` keeps
    them in DuckDB and materializes them only when read (each read runs the query again), so a
    10M-post run does not hold millions of member rows in Python while the engine works.
    """

    spec: TraceSpec
    events_source: TableSource
    members_source: TableSource
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def events(self) -> pa.Table:
        source = self.events_source
        return source if isinstance(source, pa.Table) else source()

    @property
    def members(self) -> pa.Table:
        source = self.members_source
        return source if isinstance(source, pa.Table) else source()


def events_relation(trace: str) -> str:
    return f"vg_{trace}_events"


def register_trace(
    con: duckdb.DuckDBPyConnection,
    name: str,
    description: str,
    events: pa.Table,
    members: pa.Table,
    stats: dict[str, float],
    *,
    window: WindowPolicy = DEFAULT_CONTENT_WINDOW,
    max_item_accounts: int | None = None,
    signal_kinds: tuple[str, ...] = (),
) -> ContentTrace:
    """Conform ``events`` and ``members``, register the events on ``con`` and build the engine's spec."""
    events = events.select(EVENTS.names).cast(EVENTS)
    members = members.select(MEMBERS.names).cast(MEMBERS)
    relation = events_relation(name)
    con.register(relation, events)
    spec = TraceSpec.from_relation(
        name,
        relation,
        description=description,
        window=window,
        max_item_accounts=max_item_accounts,
        signal_kinds=signal_kinds,
    )
    return ContentTrace(spec, events, members, stats)


def register_trace_sql(
    con: duckdb.DuckDBPyConnection,
    name: str,
    description: str,
    events_sql: str,
    members_sql: str,
    stats: dict[str, float],
    *,
    window: WindowPolicy = DEFAULT_CONTENT_WINDOW,
    max_item_accounts: int | None = None,
    signal_kinds: tuple[str, ...] = (),
) -> ContentTrace:
    """Like :func:`register_trace`, with events and members left in DuckDB as queries.

    ``events_sql`` becomes the view the engine reads (EVENTS columns); ``members_sql`` (MEMBERS
    columns, ordered) runs only when ``members`` is read. Both read the connection's tables as they
    are at that time.
    """
    relation = events_relation(name)
    con.unregister(relation)  # a previous run may have registered an Arrow table under this name
    con.execute(f"CREATE OR REPLACE TEMP VIEW {relation} AS {events_sql}")
    spec = TraceSpec.from_relation(
        name,
        relation,
        description=description,
        window=window,
        max_item_accounts=max_item_accounts,
        signal_kinds=signal_kinds,
    )

    def events() -> pa.Table:
        query = f"SELECT * FROM {relation} ORDER BY item, ts, platform, post_id"
        return con.sql(query).to_arrow_table().select(EVENTS.names).cast(EVENTS)

    def members() -> pa.Table:
        return con.sql(members_sql).to_arrow_table().select(MEMBERS.names).cast(MEMBERS)

    return ContentTrace(spec, events, members, stats)


def check_bucket(bucket_seconds: float) -> float:
    if not bucket_seconds > 0:
        raise InputError(f"bucket_seconds must be > 0, not {bucket_seconds!r}")
    return float(bucket_seconds)


_DICTIONARY_COLUMNS = frozenset({"platform", "account", "lang", "bucket"})


def stream_to_parquet(
    con: duckdb.DuckDBPyConnection,
    query: str,
    path: Path,
    transform: Callable[[pa.RecordBatch], pa.Table],
    schema: pa.Schema,
    *,
    batch_rows: int,
) -> int:
    """Run ``query``, ``transform`` each record batch and write the results to the Parquet ``path``.

    Memory holds one batch; the caller reads ``path`` back with ``read_parquet`` (compressed on
    disk, streamed by DuckDB) and deletes it.
    """
    rows = 0
    reader = con.sql(query).to_arrow_reader(batch_rows)
    # Dictionary pages only for the low-cardinality columns: building (and dropping) a dictionary
    # of post ids and texts, nearly all distinct, was a third of the spool's writing time.
    small = [name for name in schema.names if name in _DICTIONARY_COLUMNS]
    with pq.ParquetWriter(str(path), schema, use_dictionary=small) as writer:
        for batch in reader:
            out = transform(batch).cast(schema)
            if out.num_rows:
                writer.write_table(out)
                rows += out.num_rows
    return rows


def iter_buckets(
    con: duckdb.DuckDBPyConnection, table: str, columns: str, order: str
) -> Iterator[tuple[int, pa.Table]]:
    """The rows of ``table`` one ``bucket`` at a time, in bucket order (``columns`` and ``order`` are SQL).

    One query per bucket keeps one bucket in memory; ``table`` should be created ``ORDER BY bucket``
    so DuckDB's zone maps skip the other buckets' row groups.
    """
    buckets = [
        int(row[0]) for row in con.execute(f"SELECT DISTINCT bucket FROM {table} ORDER BY 1").fetchall()
    ]
    for bucket in buckets:
        rows = con.sql(f"SELECT {columns} FROM {table} WHERE bucket = {bucket} ORDER BY {order}")
        yield bucket, rows.to_arrow_table()


# Similar pairs read back per batch by the leader clustering (sorted by DuckDB, which spills).
PAIR_BATCH = 1_000_000


def cluster_pair_relation(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    similarity: str,
    n_nodes: int,
    policy: ClusterPolicy,
    *,
    nodes: npt.NDArray[np.int64] | None = None,
) -> npt.NDArray[np.int64]:
    """Cluster labels of ``n_nodes`` nodes from the similar pairs ``(a < b, <similarity>)`` of a
    DuckDB ``relation`` (a table, or ``read_parquet(...)``).

    ``a`` and ``b`` are node numbers, or ids that ``nodes`` (sorted: node i is ``nodes[i]``) maps
    to them. Under leader clustering DuckDB sorts the pairs (spilling if it must) by later node,
    then distance ``1 - similarity``, then earlier node, and the leader pass reads them a batch at a
    time: memory holds one batch, never all pairs.
    """

    def node_of(ids: pa.Array) -> npt.NDArray[np.int64]:
        values: npt.NDArray[np.int64] = ids.to_numpy().astype(np.int64)
        if nodes is not None:
            values = np.searchsorted(nodes, values).astype(np.int64)
        return values

    if policy == "leader":
        reader = con.sql(
            f"SELECT b AS later, a AS earlier FROM {relation} ORDER BY b, 1.0 - {similarity}, a"
        ).to_arrow_reader(PAIR_BATCH)
        batches = ((node_of(batch.column(0)), node_of(batch.column(1))) for batch in reader)
        return leader_clusters_sorted(n_nodes, batches)
    found = con.sql(f"SELECT a, b, 1.0 - {similarity} AS distance FROM {relation}").to_arrow_table()
    distance = found.column("distance").to_numpy().astype(np.float64)
    return cluster(n_nodes, node_of(found.column("a")), node_of(found.column("b")), distance, policy)


class Timer:
    """Seconds spent per named step, for the stats of a trace."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._start = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[f"seconds_{name}"] = self.seconds.get(f"seconds_{name}", 0.0) + now - self._start
        self._start = now
