"""Vigil's normalized tables (Arrow / Parquet): posts, accounts and ground-truth labels.

Every input format is turned into these tables before analysis; analysis reads only these.
See docs/schema.md for each column.
"""

from vigil.schema.tables import (
    ACCOUNTS,
    LABELS,
    POSTS,
    SCHEMA_VERSION,
    TableSpec,
    conform,
    empty_table,
    validate_schema,
)

__all__ = [
    "ACCOUNTS",
    "LABELS",
    "POSTS",
    "SCHEMA_VERSION",
    "TableSpec",
    "conform",
    "empty_table",
    "validate_schema",
]
