"""Definitions of the posts, accounts and labels tables, and checks that a table conforms.

The schema version is written into each Parquet file's metadata so that a reader can refuse (or
migrate) files written by an older layout instead of misreading them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from vigil.core.errors import SchemaError

# Bump when a column is added, removed or changes meaning; readers check it.
SCHEMA_VERSION = 1

TIMESTAMP = pa.timestamp("us", tz="UTC")

URL_STRUCT = pa.struct(
    [
        pa.field("url", pa.string()),  # as posted
        pa.field("canonical", pa.string()),  # see vigil.ingest.urls.canonicalize
        pa.field("domain", pa.string()),  # registrable domain (public suffix + 1 label)
        pa.field("is_shortener", pa.bool_()),  # a known shortener: its target is unknown
    ]
)


@dataclass(frozen=True)
class TableSpec:
    """A named Arrow schema with the metadata Vigil writes into every file of that table."""

    name: str
    schema: pa.Schema
    key: tuple[str, ...]

    @property
    def metadata(self) -> dict[bytes, bytes]:
        return {b"vigil.table": self.name.encode(), b"vigil.schema_version": str(SCHEMA_VERSION).encode()}

    def with_metadata(self) -> pa.Schema:
        return self.schema.with_metadata(self.metadata)

    @property
    def column_names(self) -> list[str]:
        return list(self.schema.names)


POSTS = TableSpec(
    name="posts",
    key=("platform", "post_id"),
    schema=pa.schema(
        [
            pa.field("platform", pa.string(), nullable=False),
            pa.field("post_id", pa.string(), nullable=False),
            pa.field("account_id", pa.string(), nullable=False),
            pa.field("account_handle", pa.string()),
            pa.field("created_at", TIMESTAMP, nullable=False),
            pa.field("text", pa.string()),
            pa.field("lang", pa.string()),  # ISO 639-1 where known
            pa.field("lang_detected", pa.bool_()),  # True when Vigil identified the language
            pa.field("urls", pa.list_(URL_STRUCT)),
            pa.field("hashtags", pa.list_(pa.string())),  # lower-case, no '#', in order of appearance
            pa.field("mentions", pa.list_(pa.string())),  # lower-case handles, no '@'
            pa.field("reshare_of", pa.string()),  # post id of the reshared / retweeted post
            pa.field("reply_to", pa.string()),  # post id replied to
            pa.field("image_pdq", pa.list_(pa.string())),  # PDQ hashes, 64 lower-case hex chars
            pa.field("image_ids", pa.list_(pa.string())),  # opaque image ids compared by equality (MD5...)
            pa.field("extra", pa.map_(pa.string(), pa.string())),
        ]
    ),
)

ACCOUNTS = TableSpec(
    name="accounts",
    key=("platform", "account_id"),
    schema=pa.schema(
        [
            pa.field("platform", pa.string(), nullable=False),
            pa.field("account_id", pa.string(), nullable=False),
            pa.field("handle", pa.string()),
            pa.field("display_name", pa.string()),
            pa.field("created_at", TIMESTAMP),
            pa.field("followers", pa.int64()),
            pa.field("following", pa.int64()),
            pa.field("lang", pa.string()),
            pa.field("extra", pa.map_(pa.string(), pa.string())),
        ]
    ),
)

# Ground truth written by the generator: which accounts belong to which planted campaign.
LABELS = TableSpec(
    name="labels",
    key=("platform", "account_id"),
    schema=pa.schema(
        [
            pa.field("platform", pa.string(), nullable=False),
            pa.field("account_id", pa.string(), nullable=False),
            pa.field("campaign_id", pa.string()),  # null: organic account
            pa.field("campaign_style", pa.string()),  # null: organic account
        ]
    ),
)

TABLES = {spec.name: spec for spec in (POSTS, ACCOUNTS, LABELS)}


def empty_table(spec: TableSpec) -> pa.Table:
    """A zero-row table of ``spec`` (with metadata)."""
    return spec.with_metadata().empty_table()


def validate_schema(schema: pa.Schema, spec: TableSpec, *, source: str | None = None) -> None:
    """Raise SchemaError naming the first missing column, wrong type or foreign schema version."""
    version = (schema.metadata or {}).get(b"vigil.schema_version")
    if version is not None and version != str(SCHEMA_VERSION).encode():
        raise SchemaError(
            f"{spec.name} table has schema version {version.decode()}, this Vigil reads {SCHEMA_VERSION}",
            file=source,
        )
    for field in spec.schema:
        if field.name not in schema.names:
            raise SchemaError(f"missing column of the {spec.name} table", file=source, column=field.name)
        actual = schema.field(field.name).type
        if not actual.equals(field.type):
            raise SchemaError(
                f"wrong type {actual}", file=source, column=field.name, expected=str(field.type)
            )


def conform(table: pa.Table | pa.RecordBatch, spec: TableSpec, *, source: str | None = None) -> pa.Table:
    """Select and order ``spec``'s columns, add missing nullable ones as nulls, cast safely.

    Raises SchemaError if a required column is absent or a value cannot be cast.
    """
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    columns = []
    for field in spec.schema:
        if field.name in table.column_names:
            column = table.column(field.name)
            if not column.type.equals(field.type):
                try:
                    column = column.cast(field.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise SchemaError(
                        f"cannot convert {column.type} values: {exc}",
                        file=source,
                        column=field.name,
                        expected=str(field.type),
                    ) from exc
            if not field.nullable and column.null_count:
                raise SchemaError("null in a required column", file=source, column=field.name)
        elif field.nullable:
            column = pa.nulls(table.num_rows, type=field.type)
        else:
            raise SchemaError(f"missing column of the {spec.name} table", file=source, column=field.name)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=spec.with_metadata())
