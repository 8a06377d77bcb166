"""What the detection SQL needs from an engine: run a statement, fetch rows, stream a result as Arrow.

A ``duckdb.DuckDBPyConnection`` satisfies :class:`SqlConnection` structurally; the Spark adapter
implements the same four methods. Keeping the protocol this small is what lets the engine's SQL
stay one definition.
"""

from __future__ import annotations

from typing import Any, Protocol

import pyarrow as pa


class Fetchable(Protocol):
    """The result of :meth:`SqlConnection.execute`: all rows as tuples."""

    def fetchall(self) -> list[Any]: ...


class Relation(Protocol):
    """The result of :meth:`SqlConnection.sql`: a query's rows as Arrow."""

    def to_arrow_table(self) -> pa.Table: ...

    def to_arrow_reader(self, batch_size: int) -> pa.RecordBatchReader: ...


class SqlConnection(Protocol):
    """A connection that runs DuckDB-dialect SQL (``CREATE OR REPLACE TEMP TABLE ... AS``, queries,
    ``DROP TABLE IF EXISTS``) and can register an Arrow table under a name."""

    def execute(self, query: str, parameters: object = None) -> Fetchable: ...

    def sql(self, query: str) -> Relation: ...
