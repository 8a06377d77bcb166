"""The one interface every source layout implements, and helpers to build Vigil tables row by row.

An adapter turns batches of one source layout into batches of Vigil's posts table and, where the
layout carries profile data, of its accounts table. Reading the file is the readers' job (or, for
layouts that must regroup rows first, the adapter's own ``batches``); adapters only map values,
and report any bad value as a DataError naming the file, row and column.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pyarrow as pa

from vigil.core.errors import DataError
from vigil.core.settings import Settings
from vigil.ingest.readers import DEFAULT_BATCH_SIZE, FORMATS, SourceBatch, parquet_rows, read_batches
from vigil.ingest.urls import canonicalize
from vigil.ingest.values import BadValue, TimeFormat, to_micros
from vigil.schema.tables import ACCOUNTS, POSTS, TIMESTAMP, TableSpec

T = TypeVar("T")


@dataclass(frozen=True)
class AdapterOptions:
    """What the user told ``vigil ingest`` about the source, shared by all adapters."""

    mapping: Mapping[str, str] = field(default_factory=dict)  # Vigil field -> source column
    platform: str | None = None
    time_format: TimeFormat = field(default_factory=TimeFormat)
    list_separator: str | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    settings: Settings | None = None  # DuckDB memory limit, threads and spill directory
    # Map text columns a column at a time where the layout can (vigil.ingest.columnar); False
    # forces the row-by-row path (the reference the columnar path is tested against).
    columnar: bool = True


class Adapter(ABC):
    """One source layout. Subclasses set ``name`` (the ``--layout`` value) and implement ``to_posts``."""

    name: ClassVar[str]
    description: ClassVar[str]
    formats: ClassVar[tuple[str, ...]] = FORMATS
    # Whether batches may be mapped by several instances at once (``ingest`` maps batches in worker
    # threads, one adapter each): ``to_posts`` and ``to_accounts`` must then depend on nothing but
    # the batch (per-instance memos are caches; ``skipped`` and ``unmapped`` are summed at the end).
    parallel: ClassVar[bool] = False

    def __init__(self, options: AdapterOptions) -> None:
        self.options = options
        # Rows the layout documents as skippable, by reason (e.g. "no post id"), for the summary.
        self.skipped: dict[str, int] = {}
        # Values present in the source that no Vigil field could take, per column and value
        # (e.g. a language that is no ISO 639-1 code): reported by ``vigil ingest``.
        self.unmapped: dict[str, dict[str, int]] = {}

    def count_unmapped(self, column: str, value: str, count: int = 1) -> None:
        values = self.unmapped.setdefault(column, {})
        values[value] = values.get(value, 0) + count

    def required_columns(self, column_names: list[str]) -> tuple[str, ...]:
        """Source columns a file must have (may depend on which columns it has)."""
        return ()

    def check_columns(self, file: str, column_names: list[str]) -> None:
        """Raise DataError naming the first required column the file lacks."""
        for column in self.required_columns(column_names):
            if column not in column_names:
                raise DataError(
                    f"missing column required by the {self.name} layout", file=file, column=column
                )

    def batches(self, path: Path, fmt: str) -> Iterator[SourceBatch]:
        """Batches of source rows, each checked for the required columns."""
        for batch in read_batches(path, fmt, self.options.batch_size, columnar=self.options.columnar):
            self.check_columns(batch.file, batch.column_names)
            yield batch

    def companions(self, inputs: list[Path]) -> list[Path]:
        """Files to read besides ``inputs`` (e.g. the accounts table next to a posts table)."""
        return []

    def total_rows(self, path: Path, fmt: str) -> int | None:
        """Rows the source holds, if cheap to know (for the progress bar)."""
        return parquet_rows(path) if fmt == "parquet" else None

    def source_rows(self, batch: SourceBatch) -> int:
        """Source rows behind a batch (progress counts source rows)."""
        return batch.num_rows

    @abstractmethod
    def to_posts(self, batch: SourceBatch) -> pa.Table:
        """The batch's rows as posts (conformable to POSTS)."""

    def to_accounts(self, batch: SourceBatch) -> pa.Table | None:
        """Account rows this batch describes beyond (platform, account_id, handle), if any."""
        return None


def need(value: T | None, expected: str) -> T:
    """``value``, or BadValue("missing value") when it is None or empty.

    Adapters read a row inside one ``try`` that turns BadValue into a DataError at (file, row,
    column): one try per row is much cheaper than one per cell.
    """
    if value is None or value == "":
        raise BadValue("missing value", expected)
    return value


def url_structs(urls: Iterable[str]) -> list[dict[str, object]]:
    """URL structs (url, canonical, domain, is_shortener) of the given URLs, without repeats."""
    seen: dict[str, dict[str, object]] = {}
    for url in urls:
        struct = _url_struct(url)
        seen.setdefault(str(struct["canonical"]), struct)
    return list(seen.values())


@lru_cache(maxsize=1 << 16)
def _url_struct(url: str) -> dict[str, object]:
    # Shared, read-only dicts: reshared links are converted to Arrow many times.
    return canonicalize(url).as_dict()


class TableBuilder:
    """Collects rows of one Vigil table and builds an Arrow table of its schema.

    Rows are kept as the keyword dicts given to ``add`` and turned into columns once per batch
    (comprehensions per column are several times faster than appending cell by cell). Timestamps
    are aware datetimes; ``extra`` is a dict (empty dicts become null).
    """

    def __init__(self, spec: TableSpec) -> None:
        self.spec = spec
        self._rows: list[dict[str, Any]] = []

    @property
    def num_rows(self) -> int:
        return len(self._rows)

    def add(self, **values: Any) -> None:
        self._rows.append(values)

    def set(self, row: int, name: str, value: Any) -> None:
        """Change one field of a row already added (a value computed for many rows at once)."""
        self._rows[row][name] = value

    def build(self) -> pa.Table:
        rows = self._rows
        arrays = []
        for schema_field in self.spec.schema:
            name = schema_field.name
            if name == "extra":
                values = [list(extra.items()) if (extra := row.get(name)) else None for row in rows]
                arrays.append(pa.array(values, type=schema_field.type))
            elif schema_field.type == TIMESTAMP:
                micros = [None if (t := row.get(name)) is None else to_micros(t) for row in rows]
                arrays.append(pa.array(micros, type=pa.int64()).cast(TIMESTAMP))
            else:
                arrays.append(pa.array([row.get(name) for row in rows], type=schema_field.type))
        return pa.Table.from_arrays(arrays, schema=self.spec.schema)


def posts_builder() -> TableBuilder:
    return TableBuilder(POSTS)


def accounts_builder() -> TableBuilder:
    return TableBuilder(ACCOUNTS)
