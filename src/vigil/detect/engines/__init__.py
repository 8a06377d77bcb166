"""The engines that run detection's one SQL definition: DuckDB (embedded default) and Spark (scale-out).

The engine (:mod:`vigil.detect.engine`), the windows (:mod:`vigil.detect.window`) and every trace
(:mod:`vigil.detect.traces`) are written once, in DuckDB's SQL dialect, against the small
:class:`~vigil.detect.sql.SqlConnection` protocol. A DuckDB connection satisfies it as is;
:class:`~vigil.detect.engines.spark.SparkConnection` satisfies it by transpiling each statement to
Spark SQL with sqlglot (:mod:`vigil.detect.engines.transpile`) and materialising each temporary
table as a checkpointed DataFrame. docs/scale-out.md explains the split.
"""

from __future__ import annotations

from typing import Literal, cast

from vigil.core.errors import InputError

ENGINES = ("duckdb", "spark")
EngineName = Literal["duckdb", "spark"]


def engine_name(value: str) -> EngineName:
    """Validate an engine's name (from the command line or a config)."""
    if value not in ENGINES:
        raise InputError(f"unknown engine {value!r}; known: {', '.join(ENGINES)}")
    return cast(EngineName, value)


__all__ = ["ENGINES", "EngineName", "engine_name"]
