"""Reading and writing Vigil tables as Parquet, streaming and atomically.

Writers write to a temporary file beside the target and rename it into place only when the whole
input was read without error, so a failed run never leaves a partial file behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.parquet as pq

from vigil.core.errors import DataError, SchemaError
from vigil.schema.tables import TABLES, TableSpec, conform, validate_schema

DEFAULT_ROW_GROUP = 128 * 1024


class ParquetSink:
    """Write batches of one Vigil table to ``path``; the file appears only on a clean exit."""

    def __init__(
        self,
        path: str | Path,
        spec: TableSpec,
        *,
        compression: str = "zstd",
        use_dictionary: bool | list[str] = True,
        write_statistics: bool | list[str] = True,
    ) -> None:
        """``use_dictionary`` and ``write_statistics``: Parquet's, for all columns or the ones named
        (nested columns by their path, e.g. ``urls.list.element.domain``)."""
        self.path = Path(path)
        self.spec = spec
        self.rows = 0
        self._compression = compression
        self._use_dictionary = use_dictionary
        self._write_statistics = write_statistics
        self._writer: pq.ParquetWriter | None = None
        self._tmp: Path | None = None

    def __enter__(self) -> ParquetSink:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.close(fd)
        self._tmp = Path(tmp)
        self._writer = pq.ParquetWriter(
            str(self._tmp),
            self.spec.with_metadata(),
            compression=self._compression,
            use_dictionary=self._use_dictionary,
            write_statistics=self._write_statistics,
        )
        return self

    def write(self, batch: pa.Table | pa.RecordBatch) -> None:
        """Conform ``batch`` to the table's schema and append it."""
        if self._writer is None:
            raise RuntimeError("ParquetSink used outside its with-block")
        table = conform(batch, self.spec)
        if table.num_rows:
            self._writer.write_table(table, row_group_size=DEFAULT_ROW_GROUP)
            self.rows += table.num_rows

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tmp is not None
        if self._writer is not None:
            self._writer.close()
        if exc_type is None:
            # mkstemp creates 0600 files; give the result the permissions of any file the user writes.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self._tmp, 0o666 & ~umask)
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)


def table_kind(path: str | Path) -> str | None:
    """The Vigil table a Parquet file holds according to its metadata, or None for foreign files."""
    metadata = pq.read_schema(str(path)).metadata or {}
    kind = metadata.get(b"vigil.table")
    return kind.decode() if kind else None


def iter_table(
    path: str | Path, spec: TableSpec, *, batch_size: int = 65_536, columns: list[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """Stream record batches of a Vigil table file after checking its schema."""
    try:
        parquet = pq.ParquetFile(str(path))
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"not a readable Parquet file: {exc}", file=str(path)) from exc
    validate_schema(parquet.schema_arrow, spec, source=str(path))
    yield from parquet.iter_batches(batch_size=batch_size, columns=columns)


def read_table(path: str | Path, spec: TableSpec) -> pa.Table:
    """Read a whole (small) Vigil table file after checking its schema."""
    table = pq.read_table(str(path))
    validate_schema(table.schema, spec, source=str(path))
    return table


def spec_for(name: str) -> TableSpec:
    try:
        return TABLES[name]
    except KeyError as exc:
        raise SchemaError(f"unknown table {name!r}; known: {', '.join(sorted(TABLES))}") from exc
