"""The engine's DuckDB SQL as Spark receives it (no Spark needed: these are pure translations)."""

from __future__ import annotations

import pytest

from vigil.core.errors import InputError
from vigil.detect.engines.spark import relations_read
from vigil.detect.engines.transpile import to_spark
from vigil.detect.pipeline import CO_DOMAIN_SLOW
from vigil.detect.traces import STRUCTURAL_TRACES
from vigil.detect.traces.base import TraceSpec


@pytest.mark.parametrize("trace", [*STRUCTURAL_TRACES.values(), CO_DOMAIN_SLOW], ids=lambda t: t.name)
def test_every_structural_trace_translates_without_duckdb_only_functions(trace: TraceSpec) -> None:
    statement = to_spark(trace.events_sql)
    assert statement.kind == "query"
    sql = statement.query.upper()
    assert "UNIX_MICROS(CREATED_AT)" in sql
    for duckdb_only in ("EPOCH_US", "UNNEST(", "ARRAY_TO_STRING", "LENGTH(", "::"):
        assert duckdb_only not in sql, (duckdb_only, sql)


def test_list_functions_become_spark_functions() -> None:
    sql = to_spark(STRUCTURAL_TRACES["co_hashtag_seq"].events_sql).query.upper()
    assert "ARRAY_JOIN(HASHTAGS, ' ')" in sql and "SIZE(HASHTAGS) >= 2" in sql
    assert "EXPLODE(URLS)" in to_spark(STRUCTURAL_TRACES["co_link"].events_sql).query.upper()


def test_create_and_drop_statements() -> None:
    created = to_spark("CREATE OR REPLACE TEMP TABLE _vg_x AS SELECT row_number() OVER () AS iid, n FROM t")
    assert created.kind == "create" and created.table == "_vg_x"
    # Unordered row numbers are only ids: no single-partition window on Spark.
    assert "MONOTONICALLY_INCREASING_ID()" in created.query.upper()
    assert "ROW_NUMBER" not in created.query.upper()
    dropped = to_spark("DROP TABLE IF EXISTS _vg_x")
    assert (dropped.kind, dropped.table) == ("drop", "_vg_x")


def test_ordered_row_numbers_and_quantiles() -> None:
    ordered = to_spark("SELECT row_number() OVER (ORDER BY account) AS aid FROM a").query.upper()
    assert "ROW_NUMBER() OVER (ORDER BY ACCOUNT" in ordered
    quantile = to_spark("SELECT quantile_cont(d, 0.5) FROM r").query.upper()
    assert "PERCENTILE(D, 0.5)" in quantile


def test_unparseable_sql_is_an_input_error_naming_the_statement() -> None:
    with pytest.raises(InputError, match="SELEC x FRM"):
        to_spark("SELEC x FRM (")


def test_relations_read_by_a_trace() -> None:
    assert relations_read(STRUCTURAL_TRACES["co_link"].events_sql) == ["posts"]
    spec = TraceSpec.from_relation("co_text_exact", "vg_co_text_exact_events")
    assert relations_read(spec.events_sql) == ["vg_co_text_exact_events"]
    assert relations_read("WITH s AS (SELECT * FROM posts) SELECT * FROM s") == ["posts"]
