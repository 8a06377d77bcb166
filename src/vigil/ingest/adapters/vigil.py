"""Parquet files already in Vigil's schema (written by ``vigil generate``, ``vigil ingest`` or a
partner running Vigil): validated and re-conformed, not re-mapped.

A file's table (posts or accounts) is read from its ``vigil.table`` metadata, or from its columns
when a foreign writer left no metadata. A file written with another schema version is refused.
Given ``DIR/posts.parquet``, the ``DIR/accounts.parquet`` beside it is read too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vigil.core.errors import DataError, InputError, SchemaError
from vigil.ingest.adapters.base import Adapter, AdapterOptions
from vigil.ingest.readers import SourceBatch, check_kind, read_parquet
from vigil.schema.tables import ACCOUNTS, POSTS, SCHEMA_VERSION, TableSpec, conform

_SPECS = {"posts": POSTS, "accounts": ACCOUNTS}


class VigilAdapter(Adapter):
    name: ClassVar[str] = "vigil"
    description: ClassVar[str] = "Parquet posts/accounts tables already in Vigil's schema"
    formats: ClassVar[tuple[str, ...]] = ("parquet",)

    def __init__(self, options: AdapterOptions) -> None:
        super().__init__(options)
        self._kind: dict[str, TableSpec] = {}

    def companions(self, inputs: list[Path]) -> list[Path]:
        """The ``accounts.parquet`` beside each ``posts.parquet`` given (Vigil writes them as a
        pair), unless it is given too: profiles (followers, creation dates) are not lost."""
        given = {path.resolve() for path in inputs}
        found: list[Path] = []
        for path in inputs:
            sibling = path.with_name("accounts.parquet")
            if path.name == "posts.parquet" and sibling.is_file() and sibling.resolve() not in given:
                given.add(sibling.resolve())
                found.append(sibling)
        return found

    def batches(self, path: Path, fmt: str) -> Iterator[SourceBatch]:
        if fmt != "parquet":
            raise InputError(
                f"{path}: the vigil layout reads Parquet files; for CSV or JSON Lines with Vigil's "
                "column names use --layout generic"
            )
        check_kind(path, "parquet")
        self._kind[str(path)] = self._spec_of(path)
        yield from read_parquet(path, self.options.batch_size)

    @staticmethod
    def _spec_of(path: Path) -> TableSpec:
        try:
            schema = pq.read_schema(str(path))
        except (OSError, pa.ArrowInvalid) as exc:
            raise DataError(f"not a readable Parquet file: {exc}", file=str(path)) from exc
        metadata = schema.metadata or {}
        version = metadata.get(b"vigil.schema_version")
        if version is not None and version != str(SCHEMA_VERSION).encode():
            raise SchemaError(
                f"written with schema version {version.decode()}, this Vigil reads {SCHEMA_VERSION}",
                file=str(path),
            )
        kind = metadata.get(b"vigil.table", b"").decode()
        if not kind:
            kind = "posts" if "post_id" in schema.names else "accounts"
        if kind not in _SPECS:
            raise InputError(f"{path}: holds Vigil's {kind} table; ingest reads posts and accounts tables")
        return _SPECS[kind]

    def _conformed(self, batch: SourceBatch, spec: TableSpec) -> pa.Table:
        assert batch.table is not None
        _check_nulls(batch, spec)
        return conform(batch.table, spec, source=batch.file)

    def to_posts(self, batch: SourceBatch) -> pa.Table:
        if self._kind.get(batch.file) is not POSTS:
            return POSTS.schema.empty_table()
        return self._conformed(batch, POSTS)

    def to_accounts(self, batch: SourceBatch) -> pa.Table | None:
        if self._kind.get(batch.file) is not ACCOUNTS:
            return None
        return self._conformed(batch, ACCOUNTS)


def _check_nulls(batch: SourceBatch, spec: TableSpec) -> None:
    """Raise DataError at the first null of a required column (conform would not say which row)."""
    assert batch.table is not None
    for field in spec.schema:
        if field.nullable or field.name not in batch.table.column_names:
            continue
        column = batch.table.column(field.name)
        if column.null_count:
            index = pc.index(pc.is_null(column), True).as_py()
            raise batch.error(
                index, field.name, "missing value", f"a value in the required column {field.name}"
            )
