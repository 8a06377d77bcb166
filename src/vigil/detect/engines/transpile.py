"""DuckDB-dialect detection SQL -> Spark SQL: sqlglot's dialect translation plus three rules of ours.

sqlglot already turns ``unnest`` into ``explode``, ``array_to_string`` into ``array_join``,
``x::DOUBLE`` into ``CAST``, ``array_length`` into ``size``. What it leaves alone, or cannot know:

* ``epoch_us(ts)`` (DuckDB's microseconds since the epoch) is Spark's ``unix_micros(ts)``;
* ``quantile_cont(x, q)`` (linear interpolation, R type 7) is Spark's exact ``percentile(x, q)``,
  which interpolates the same way;
* ``row_number() OVER ()`` with neither partition nor order only asks for distinct row ids; Spark
  would move every row into one partition to number them, so it becomes
  ``monotonically_increasing_id()`` (distinct, not dense; the engine only joins on these ids);

Traces must write ``array_length(list)``, not ``len(list)``: sqlglot reads DuckDB's ``len`` as a
string length, which Spark rejects on arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from vigil.core.errors import InputError


@dataclass(frozen=True)
class Statement:
    """One DuckDB statement as Spark sees it: ``kind`` is ``create`` (``table`` from ``query``),
    ``drop`` (``table``) or ``query``."""

    kind: str
    query: str = ""
    table: str = ""


def _rewrite(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "epoch_us":
        return exp.Anonymous(this="unix_micros", expressions=node.expressions)
    if isinstance(node, exp.PercentileCont) and node.expression is not None:
        return exp.Anonymous(this="percentile", expressions=[node.this, node.expression])
    if (
        isinstance(node, exp.Window)
        and isinstance(node.this, exp.RowNumber)
        and not node.args.get("partition_by")
        and not node.args.get("order")
    ):
        return exp.Anonymous(this="monotonically_increasing_id", expressions=[])
    return node


def to_spark(sql: str) -> Statement:
    """Translate one DuckDB statement for Spark (raises :class:`InputError` naming the statement)."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except ParseError as exc:
        raise InputError(f"cannot parse detection SQL for Spark: {exc}\n{sql.strip()}") from exc
    if isinstance(tree, exp.Create):
        body = tree.expression
        if not isinstance(body, exp.Query):
            raise InputError(f"Spark SQL: only CREATE ... AS SELECT is supported:\n{sql.strip()}")
        return Statement("create", _spark_sql(body), tree.this.name)
    if isinstance(tree, exp.Drop):
        tables = tree.args.get("tables") or [tree.this]
        return Statement("drop", table=tables[0].name)
    return Statement("query", _spark_sql(tree))


def _spark_sql(tree: exp.Expr) -> str:
    return tree.transform(_rewrite).sql(dialect="spark")
