"""The Spark engine: the same detection SQL, transpiled to Spark SQL and run on a Spark cluster.

:class:`SparkConnection` implements :class:`~vigil.detect.sql.SqlConnection` over a
``SparkSession``. Each ``CREATE OR REPLACE TEMP TABLE t AS q`` of the engine becomes the
DataFrame of ``q`` (translated by :mod:`.transpile`), checkpointed at once (DuckDB materialises a
temp table when it is created; so does this, which also cuts the lineage the next step builds on)
and registered as the temporary view ``t``. Queries return their rows to the driver; the engine
only fetches counts, window estimates and the (small) edge and evidence outputs that way.

pyspark is an optional dependency (``pip install 'vigil[spark]'``, Java 17+): it is imported only
when a Spark session is made or used.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from vigil.core.errors import ConfigError, DataError, InputError
from vigil.core.progress import Progress
from vigil.detect.duck import POSTS_VIEW, PostsSource, count_rows
from vigil.detect.engine import EngineParams, RunResult, run_traces
from vigil.detect.engines.transpile import to_spark
from vigil.detect.sql import Fetchable, SqlConnection
from vigil.detect.traces.base import TraceSpec
from vigil.schema.tables import POSTS, validate_schema

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyspark.sql import DataFrame, SparkSession

DEFAULT_MASTER = "local[2]"
# Shuffle partitions of a local session: Spark's default of 200 costs more in task start-up than
# it saves on a laptop. On a cluster pass --conf spark.sql.shuffle.partitions (docs/scale-out.md).
LOCAL_SHUFFLE_PARTITIONS = 4
_MAX_ERROR = 600  # characters of a Spark error kept in our message (its plans run to pages)


def _pyspark() -> Any:  # the module, imported lazily
    try:
        import pyspark.sql
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ConfigError(
            "the Spark engine needs pyspark: pip install 'vigil[spark]' (and Java 17+)"
        ) from exc
    return pyspark.sql


def make_session(
    master: str | None = None,
    *,
    app_name: str = "vigil-detect",
    config: dict[str, str] | None = None,
) -> SparkSession:
    """A Spark session on ``master`` (``local[2]`` by default; ``spark://host:7077``, ``yarn``, ...;
    under ``spark-submit`` with no ``master``, the submitted one).

    A local master binds the driver to 127.0.0.1 and runs without the web UI; every session uses UTC
    (timestamps are read as instants either way, this only keeps logs and casts unambiguous).
    ``config`` adds or overrides Spark settings.
    """
    # Under spark-submit the JVM launched this process (it sets PYSPARK_GATEWAY_PORT) and already
    # holds the master and resources given on its command line: keep them unless told otherwise.
    submitted = master is None and "PYSPARK_GATEWAY_PORT" in os.environ
    master = master or DEFAULT_MASTER
    conf: dict[str, str] = {"spark.sql.session.timeZone": "UTC", "spark.ui.showConsoleProgress": "false"}
    if master.startswith("local") and not submitted:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        conf.update(
            {
                "spark.driver.bindAddress": "127.0.0.1",
                "spark.driver.host": "127.0.0.1",
                "spark.ui.enabled": "false",
                "spark.sql.shuffle.partitions": str(LOCAL_SHUFFLE_PARTITIONS),
            }
        )
    conf.update(config or {})
    builder = _pyspark().SparkSession.builder.appName(app_name)
    if not submitted:
        builder = builder.master(master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        session: SparkSession = builder.getOrCreate()
    except Exception as exc:  # Java missing, master unreachable: py4j/pyspark raise various types
        raise ConfigError(f"cannot start Spark on {master}: {exc}") from exc
    session.sparkContext.setLogLevel("ERROR")
    return session


@dataclass(frozen=True)
class _Rows:
    rows: list[tuple[Any, ...]]

    def fetchall(self) -> list[Any]:
        return list(self.rows)


class SparkRelation:
    """A query's result as Arrow, collected to the driver (edges and evidence are small)."""

    def __init__(self, frame: DataFrame) -> None:
        self._frame = frame

    def to_arrow_table(self) -> pa.Table:
        with _spark_errors("fetching a result"):
            return self._frame.toArrow()

    def to_arrow_reader(self, batch_size: int) -> pa.RecordBatchReader:
        table = self.to_arrow_table()
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=batch_size))


@contextmanager
def _spark_errors(what: str, sql: str = "") -> Iterator[None]:
    from pyspark.errors import PySparkException

    try:
        yield
    except PySparkException as exc:
        message = str(exc).strip()
        if len(message) > _MAX_ERROR:
            message = message[:_MAX_ERROR] + " ..."
        detail = f"\n{sql.strip()}" if sql else ""
        raise InputError(f"Spark: {what} failed: {message}{detail}") from exc


class SparkConnection:
    """Runs the engine's DuckDB-dialect SQL on a ``SparkSession`` (see the module docstring)."""

    def __init__(self, session: SparkSession) -> None:
        self.session = session
        self._tables: dict[str, DataFrame] = {}
        self._views: set[str] = set()

    def _frame(self, query: str) -> DataFrame:
        with _spark_errors("a query", query):
            return self.session.sql(query)

    def execute(self, query: str, parameters: object = None) -> Fetchable:
        if parameters:
            raise InputError("the Spark engine takes no query parameters: write values into the SQL")
        statement = to_spark(query)
        if statement.kind == "create":
            frame = self._frame(statement.query)
            with _spark_errors(f"creating {statement.table}", statement.query):
                # Eager, like DuckDB's CREATE TABLE; measured faster here than lazy persist(), whose
                # plans were recomputed by the several count queries that follow each step.
                frame = frame.localCheckpoint(eager=True)
            self._drop(statement.table)
            frame.createOrReplaceTempView(statement.table)
            self._tables[statement.table] = frame
            return _Rows([])
        if statement.kind == "drop":
            self._drop(statement.table)
            return _Rows([])
        frame = self._frame(statement.query)
        with _spark_errors("fetching rows", statement.query):
            return _Rows([tuple(row) for row in frame.collect()])

    def sql(self, query: str) -> SparkRelation:
        return SparkRelation(self._frame(to_spark(query).query))

    def register(self, name: str, table: pa.Table) -> None:
        """Make an Arrow table (e.g. a content trace's events) the temporary view ``name``."""
        with _spark_errors(f"registering {name}"):
            frame = self.session.createDataFrame(table)
        self._drop(name)
        frame.createOrReplaceTempView(name)
        self._views.add(name)

    def register_view(self, name: str, frame: DataFrame) -> None:
        self._drop(name)
        frame.createOrReplaceTempView(name)
        self._views.add(name)

    def _drop(self, name: str) -> None:
        old = self._tables.pop(name, None)
        if name in self._views or old is not None:
            self.session.catalog.dropTempView(name)
            self._views.discard(name)
        if old is not None:
            old.unpersist()

    def close(self) -> None:
        """Drop every view and table this connection made (the session stays up)."""
        for name in [*self._tables, *self._views]:
            self._drop(name)


def is_local(source: PostsSource) -> bool:
    """Whether ``source`` is plain local paths (DuckDB and the content traces can read them); any
    URI, ``file://`` included, is left to Spark's Hadoop file systems."""
    if isinstance(source, pa.Table):
        return True
    items = [source] if isinstance(source, str | Path) else list(source)
    return all("://" not in str(item) for item in items)


def _local_files(paths: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(path.rglob("*.parquet"))
            if not found:
                raise DataError("directory holds no .parquet files", file=str(path))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise DataError("no such file or directory", file=str(path))
    return files


def register_posts(con: SparkConnection, source: PostsSource, *, name: str = POSTS_VIEW) -> None:
    """Make the posts table at ``source`` the Spark view ``name``.

    ``source``: an Arrow table, or Parquet file(s)/directories on a local path or any
    Hadoop-compatible URI Spark can read (``hdfs://``, ``s3a://``, ``gs://``, ``abfss://``). Local
    files are checked against the posts schema with the file and column named; remote ones are
    checked by column names from the schema Spark reads.
    """
    if isinstance(source, pa.Table):
        validate_schema(source.schema, POSTS, source="<arrow table>")
        con.register(name, source)
        return
    paths = [str(source)] if isinstance(source, str | Path) else [str(p) for p in source]
    if not paths:
        raise InputError("no posts files given")
    reader = con.session.read.option("recursiveFileLookup", "true")
    if is_local(paths):
        files = _local_files(paths)
        for file in files:
            try:
                schema = pq.read_schema(str(file))
            except (OSError, pa.ArrowInvalid) as exc:
                raise DataError(f"not a readable Parquet file: {exc}", file=str(file)) from exc
            validate_schema(schema, POSTS, source=str(file))
        with _spark_errors("reading the posts"):
            frame = reader.parquet(*[str(f.resolve()) for f in files])
    else:
        with _spark_errors(f"reading the posts from {', '.join(paths)}"):
            frame = reader.parquet(*paths)
        missing = [column for column in POSTS.schema.names if column not in frame.columns]
        if missing:
            raise DataError(f"not a posts table: missing columns {', '.join(missing)}", file=paths[0])
    con.register_view(name, frame)


def relations_read(sql: str) -> list[str]:
    """The tables and views a trace's events SQL reads (CTE names excluded)."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    names = {table.name for table in tree.find_all(exp.Table)}
    return sorted(names - ctes)


def copy_relations(source: SqlConnection, target: SparkConnection, names: Sequence[str]) -> None:
    """Copy relations (content traces' events computed on DuckDB) into Spark as Arrow."""
    for name in names:
        target.register(name, source.sql(f"SELECT * FROM {name}").to_arrow_table())


def run_on_spark(
    local: SqlConnection,
    traces: Sequence[TraceSpec],
    params: EngineParams,
    *,
    posts: PostsSource,
    out_dir: str | Path,
    progress: Progress | None = None,
    session: SparkSession | None = None,
    master: str | None = None,
) -> tuple[RunResult, int]:
    """Run ``traces`` through the engine on Spark; return the run and the number of posts.

    Posts are read by Spark from ``posts`` (local or Hadoop-compatible URI). Relations other than
    ``posts`` that a trace reads (the content traces' events, clustered in Python on ``local``)
    are copied into Spark first. ``session``: an existing session (kept running); otherwise one is
    started on ``master`` and stopped at the end.
    """
    own = session is None
    spark = session if session is not None else make_session(master)
    con = SparkConnection(spark)
    try:
        register_posts(con, posts)
        extra = sorted({name for trace in traces for name in relations_read(trace.events_sql)} - {POSTS_VIEW})
        copy_relations(local, con, extra)
        n_posts = count_rows(con, POSTS_VIEW)
        run = run_traces(con, traces, params, out_dir=out_dir, progress=progress)
    finally:
        con.close()
        if own:
            spark.stop()
    return run, n_posts
