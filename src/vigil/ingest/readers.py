"""Streaming readers of source files: CSV, JSON Lines and Parquet, optionally gzip-compressed.

Every reader yields :class:`SourceBatch` objects of at most ``batch_size`` rows and holds no more
than one batch in memory, so files of any size can be read. Row numbers are 1-based data rows:
for CSV the header line does not count (row 1 is the first record after the header, and a record
spanning several lines because of a quoted newline is still one row); for JSON Lines the row is
the line number; blank lines are skipped but counted in both; for Parquet it is the row's position.

The format comes from the extension (``--format auto``): ``.csv``, ``.jsonl``/``.ndjson``,
``.parquet``/``.pq``, each optionally followed by ``.gz``. The first bytes are checked too, so a
Parquet file named ``.csv`` (or a CSV given with ``--format parquet``) gets a clear error.

A ``.zip`` archive (how Twitter's information-operations releases ship) is read member by member,
in name order, without unpacking it to disk: every member with a known extension is read (folders
and ``__MACOSX`` entries are skipped), and all of them must be of one format. Errors name the member
as ``archive.zip!member.csv``; row numbers count from each member's first row.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vigil.core.errors import DataError, InputError

FORMATS = ("csv", "jsonl", "parquet")
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
_PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
DEFAULT_BATCH_SIZE = 20_000

# Post texts and profile descriptions may be long; the csv module's default limit is 128 KiB.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass
class SourceBatch:
    """Up to ``batch_size`` consecutive rows of one source file.

    ``columns`` maps each column name to its values (CSV: strings or None; JSON Lines: JSON
    values; Parquet: Python values). Parquet batches also keep the Arrow ``table`` so that adapters
    reading Vigil's own schema need not convert values one by one.
    """

    file: str
    first_row: int
    num_rows: int
    column_names: list[str]
    _columns: dict[str, list[Any]] | None = None
    table: pa.Table | None = None
    # Each row's number where skipped blank lines make them non-contiguous.
    lines: list[int] | None = None

    @property
    def columns(self) -> dict[str, list[Any]]:
        if self._columns is None:
            assert self.table is not None
            self._columns = self.table.to_pydict()
        return self._columns

    def column(self, name: str) -> list[Any]:
        """The values of column ``name``, or all None if this batch lacks it."""
        values = self.columns.get(name)
        return values if values is not None else [None] * self.num_rows

    def row_number(self, index: int) -> int:
        """The 1-based data row number of the batch's ``index``-th row."""
        if self.lines is not None:
            return self.lines[index]
        return self.first_row + index

    def error(self, index: int, column: str | None, message: str, expected: str | None = None) -> DataError:
        """A DataError pointing at one cell of this batch."""
        return DataError(
            message, file=self.file, row=self.row_number(index), column=column, expected=expected
        )


def is_zip(path: str | Path) -> bool:
    """Whether ``path`` names a .zip archive (by extension)."""
    return Path(path).suffix.lower() == ".zip"


def zip_members(path: str | Path) -> list[str]:
    """The data members of a .zip archive, in name order (folders and macOS metadata left out)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [info.filename for info in archive.infolist() if not info.is_dir()]
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"not a readable zip archive: {exc}", file=str(path)) from None
    members = sorted(
        name for name in names
        if not name.startswith("__MACOSX/") and not Path(name).name.startswith(".") and _member_format(name)
    )  # fmt: skip
    if not members:
        raise DataError(
            "the zip archive holds no data file", file=str(path),
            expected="members named .csv, .jsonl, .ndjson, .parquet or .pq (optionally .gz)",
        )  # fmt: skip
    return members


def _member_format(name: str) -> str | None:
    suffixes = [s.lower() for s in Path(name).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return _EXTENSIONS.get(suffixes[-1]) if suffixes else None


def format_of(path: str | Path) -> str:
    """The format named by a file's extension (``.gz`` allowed after it); for a .zip archive the
    one format of its data members."""
    if is_zip(path):
        formats = sorted({fmt for name in zip_members(path) if (fmt := _member_format(name))})
        if len(formats) > 1:
            raise InputError(f"{path}: the zip archive mixes formats ({', '.join(formats)}); give --format")
        return formats[0]
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = _EXTENSIONS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise InputError(
            f"{path}: cannot tell the format from the file name; give --format csv, jsonl or parquet "
            "(extensions understood: .csv, .jsonl, .ndjson, .parquet, each optionally .gz, and .zip)"
        )
    return fmt


def resolve_format(path: str | Path, fmt: str) -> str:
    """``fmt`` itself, or the format of ``path``'s extension when ``fmt`` is ``auto``."""
    if fmt == "auto":
        return format_of(path)
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; use auto, {', '.join(FORMATS)}")
    return fmt


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(4)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a data file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


def check_kind(path: str | Path, fmt: str) -> None:
    """Raise DataError if the file's first bytes contradict ``fmt`` (Parquet vs text)."""
    head = _head(Path(path))
    if head.startswith(_ZIP_MAGIC) and is_zip(path):
        return  # each member is checked when it is read
    is_parquet = head.startswith(_PARQUET_MAGIC)
    if fmt == "parquet" and not is_parquet:
        raise DataError(
            "not a Parquet file (it does not start with the Parquet magic bytes)",
            file=str(path),
            expected="a Parquet file, or the right --format",
        )
    if fmt != "parquet" and is_parquet:
        label = "CSV" if fmt == "csv" else "JSON Lines"
        raise DataError(f"this is a Parquet file, not {label}", file=str(path), expected="--format parquet")


def _open_text(path: Path) -> IO[str]:
    compressed = _head(path).startswith(_GZIP_MAGIC)
    raw = cast(IO[bytes], gzip.GzipFile(path, "rb")) if compressed else path.open("rb")
    return _text(raw)


def _text(raw: IO[bytes]) -> IO[str]:
    # utf-8-sig: spreadsheets often start CSV files with a byte-order mark.
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")


def _peek_gzip(raw: IO[bytes]) -> IO[bytes]:
    """``raw`` itself, or a gzip reader over it when it starts with gzip's magic bytes."""
    buffered = io.BufferedReader(cast(io.RawIOBase, raw)) if not hasattr(raw, "peek") else raw
    head = cast(io.BufferedReader, buffered).peek(2)[:2]
    return cast(IO[bytes], gzip.GzipFile(fileobj=buffered, mode="rb")) if head == _GZIP_MAGIC else buffered


def _decode_error(path: Path, row: int, exc: Exception, what: str) -> DataError:
    if isinstance(exc, UnicodeDecodeError):
        return DataError(f"not UTF-8 text ({exc.reason})", file=str(path), row=row, expected=what)
    if isinstance(exc, gzip.BadGzipFile | EOFError | zlib.error):
        return DataError(f"broken gzip data: {exc}", file=str(path), row=row, expected=what)
    return DataError(f"cannot read: {exc}", file=str(path), row=row, expected=what)


def read_csv(
    path: str | Path, batch_size: int = DEFAULT_BATCH_SIZE, *, columnar: bool = False
) -> Iterator[SourceBatch]:
    """Stream a CSV file with a header row; empty fields are None.

    With ``columnar``, batches hold an Arrow ``table`` of text columns parsed by Arrow's CSV reader
    (multi-threaded, about 20 times the csv module's speed). Anything that reader refuses (a blank
    line, a short row, bad UTF-8, a repeated header name) hands the rest of the file, from the first
    row not yet given out, to the csv module's reader: its row numbers and errors are the reference.
    """
    path = Path(path)
    check_kind(path, "csv")
    given = 0
    if columnar:
        try:
            for batch in _arrow_csv(path, batch_size):
                yield batch
                given += batch.num_rows
            return
        except (pa.ArrowInvalid, UnicodeDecodeError, csv.Error, _NotArrowCsv, OSError, EOFError, zlib.error):
            pass  # includes broken gzip data (BadGzipFile is an OSError): the csv module names the row
    with _open_text(path) as handle:
        yield from _csv_rows(handle, str(path), batch_size, skip=given)


class _NotArrowCsv(Exception):
    """A CSV file the Arrow reader is not used for (its header needs the csv module's checks)."""


def _arrow_csv(path: Path, batch_size: int) -> Iterator[SourceBatch]:

    with _open_text(path) as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise _NotArrowCsv("no header")
    names = [name.strip() for name in header]
    if len(set(names)) != len(names):
        raise _NotArrowCsv("repeated column names")
    stream: Any
    inflate_errors: tuple[type[Exception], ...] = ()
    if _head(path).startswith(_GZIP_MAGIC):
        # ISA-L's inflate (isal) instead of Arrow's zlib: half the CPU (the IRA archive's 163 MB:
        # 0.68 -> 0.35 CPU-s), and it releases the GIL as Arrow does. Its errors on broken data
        # (EOFError, BadGzipFile; isal_zlib.error, made an OSError here) send the file to the
        # csv module's reader, which names the row.
        from isal import igzip, isal_zlib

        stream = igzip.open(path, "rb")  # type: ignore[no-untyped-call]  # (isal leaves it unannotated)
        inflate_errors = (cast(type[Exception], isal_zlib.error),)  # its stub declares an instance
    else:
        stream = pa.input_stream(str(path))
    with stream:
        try:
            yield from _arrow_csv_batches(path, stream, names, batch_size)
        except inflate_errors as exc:
            raise OSError(f"broken gzip data: {exc}") from exc


def _arrow_csv_batches(path: Path, stream: Any, names: list[str], batch_size: int) -> Iterator[SourceBatch]:
    import pyarrow.csv as pacsv

    # Arrow's reader parses blocks ahead of the consumer, up to 32 of them (its background
    # generator's queue) when mapping is slower than parsing, as it is: 32 MB blocks held a whole
    # 158 MB file in memory (peak RSS grew by ~160 MB per million rows). 1 MB blocks bound what is
    # read ahead to ~32 MB, and parse with less CPU than 4 MB ones (1M generic rows: 0.7-1.0
    # against 1.2 CPU-s; the IRA archive 1.7 against 1.9); their record batches are regrouped into
    # batches of ``batch_size`` rows.
    reader = pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=_CSV_BLOCK),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    first = 1
    parts: list[pa.RecordBatch] = []
    held = 0
    for record_batch in reader:
        # An empty line reads as a row of nulls here; the csv module skips it (but counts it) and
        # refuses a row of empty cells: either way it decides, with its row numbers.
        empty = pa.array(np.ones(record_batch.num_rows, dtype=bool))
        for column in record_batch.columns:
            empty = pc.and_(empty, pc.is_null(column))
        if pc.any(empty).as_py():
            raise _NotArrowCsv("a line without values")
        while record_batch.num_rows:
            take = min(batch_size - held, record_batch.num_rows)
            parts.append(record_batch.slice(0, take))
            held += take
            record_batch = record_batch.slice(take)
            if held == batch_size:
                yield _arrow_batch(path, first, names, parts)
                first += held
                parts, held = [], 0
    if parts:
        yield _arrow_batch(path, first, names, parts)


_CSV_BLOCK = 1 << 20


def _arrow_batch(path: Path, first: int, names: list[str], parts: list[pa.RecordBatch]) -> SourceBatch:
    table = pa.Table.from_batches(parts).combine_chunks()
    return SourceBatch(
        file=str(path), first_row=first, num_rows=table.num_rows, column_names=names, table=table
    )


def _csv_rows(handle: IO[str], label: str, batch_size: int, skip: int = 0) -> Iterator[SourceBatch]:
    """Batches of a CSV text stream; the first ``skip`` data rows (already read) are passed over."""
    path = Path(label)
    reader = csv.reader(handle)
    row = 0
    try:
        header = next(reader, None)
        if header is None:
            raise DataError("empty file", file=str(path), expected="a header row naming the columns")
        header = [name.strip() for name in header]
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            raise DataError(
                f"the header names column {duplicates[0]!r} twice", file=str(path), row=0,
                expected="unique column names",
            )  # fmt: skip
        width = len(header)
        rows: list[list[str]] = []
        numbers: list[int] = []
        for record in reader:
            row += 1
            if len(record) != width:
                if not any(cell.strip() for cell in record):
                    continue  # a blank line: skipped, but counted so later row numbers stay true
                raise DataError(
                    f"has {len(record)} fields, the header has {width}",
                    file=str(path), row=row, expected="one value per header column",
                )  # fmt: skip
            if row <= skip:
                continue
            rows.append(record)
            numbers.append(row)
            if len(rows) >= batch_size:
                yield _csv_batch(str(path), numbers, header, rows)
                rows, numbers = [], []
        if rows:
            yield _csv_batch(str(path), numbers, header, rows)
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise _decode_error(path, row + 1, exc, "a UTF-8 CSV file") from exc
    except csv.Error as exc:
        raise DataError(f"not valid CSV: {exc}", file=str(path), row=row + 1) from exc


def _csv_batch(file: str, numbers: list[int], header: list[str], rows: list[list[str]]) -> SourceBatch:
    columns: dict[str, list[Any]] = {
        name: [cell if cell != "" else None for cell in values]
        for name, values in zip(header, zip(*rows, strict=True), strict=True)
    }
    return SourceBatch(
        file=file, first_row=numbers[0], num_rows=len(rows), column_names=header, _columns=columns,
        lines=numbers if numbers[-1] - numbers[0] + 1 != len(numbers) else None,
    )  # fmt: skip


def read_jsonl(path: str | Path, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[SourceBatch]:
    """Stream a JSON Lines file: one JSON object per line."""
    path = Path(path)
    check_kind(path, "jsonl")
    with _open_text(path) as handle:
        yield from _jsonl_rows(handle, str(path), batch_size)


def _jsonl_rows(handle: IO[str], label: str, batch_size: int) -> Iterator[SourceBatch]:
    path = Path(label)
    line_no = 0
    objects: list[dict[str, Any]] = []
    lines: list[int] = []
    try:
        for line in handle:
            line_no += 1
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"not valid JSON: {exc.msg} at character {exc.pos + 1}",
                    file=str(path), row=line_no, expected="one JSON object per line",
                ) from None  # fmt: skip
            if not isinstance(value, dict):
                raise DataError(
                    f"a JSON {type(value).__name__}, not an object",
                    file=str(path), row=line_no, expected="one JSON object per line",
                )  # fmt: skip
            objects.append(value)
            lines.append(line_no)
            if len(objects) >= batch_size:
                yield _json_batch(str(path), lines, objects)
                objects, lines = [], []
        if objects:
            yield _json_batch(str(path), lines, objects)
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise _decode_error(path, line_no + 1, exc, "a UTF-8 JSON Lines file") from exc


def _json_batch(file: str, lines: list[int], objects: list[dict[str, Any]]) -> SourceBatch:
    names: dict[str, None] = {}
    for obj in objects:
        names.update(dict.fromkeys(obj))
    columns = {name: [obj.get(name) for obj in objects] for name in names}
    return SourceBatch(
        file=file,
        first_row=lines[0],
        num_rows=len(objects),
        column_names=list(names),
        _columns=columns,
        lines=lines,
    )


def read_parquet(path: str | Path, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[SourceBatch]:
    """Stream a Parquet file by row groups (iter_batches)."""
    path = Path(path)
    check_kind(path, "parquet")
    yield from _parquet_rows(str(path), str(path), batch_size)


def _parquet_rows(source: str | IO[bytes], label: str, batch_size: int) -> Iterator[SourceBatch]:
    path = label
    try:
        parquet = pq.ParquetFile(source)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"not a readable Parquet file: {exc}", file=str(path)) from exc
    names = list(parquet.schema_arrow.names)
    first = 1
    for record_batch in parquet.iter_batches(batch_size=batch_size):
        table = pa.Table.from_batches([record_batch])
        yield SourceBatch(
            file=str(path), first_row=first, num_rows=table.num_rows, column_names=names, table=table
        )
        first += table.num_rows


def parquet_rows(path: str | Path) -> int | None:
    """The number of rows of a Parquet file from its footer (None if unreadable): a progress total."""
    try:
        return int(pq.ParquetFile(str(path)).metadata.num_rows)
    except (OSError, pa.ArrowInvalid):
        return None


def read_batches(
    path: str | Path, fmt: str, batch_size: int = DEFAULT_BATCH_SIZE, *, columnar: bool = False
) -> Iterator[SourceBatch]:
    """Stream ``path`` in format ``fmt`` (``auto`` resolves by extension); ``columnar``: see read_csv."""
    fmt = resolve_format(path, fmt)
    if is_zip(path):
        return read_zip(path, fmt, batch_size)
    if fmt == "csv":
        return read_csv(path, batch_size, columnar=columnar)
    if fmt == "jsonl":
        return read_jsonl(path, batch_size)
    return read_parquet(path, batch_size)


def read_zip(path: str | Path, fmt: str, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[SourceBatch]:
    """Stream every data member of a .zip archive in ``fmt``, in name order, without unpacking."""
    path = Path(path)
    members = zip_members(path)
    with zipfile.ZipFile(path) as archive:
        for member in members:
            label = f"{path}!{member}"
            with archive.open(member) as raw:
                if fmt == "parquet":
                    # Parquet reads its footer first: members are seekable (slowly when deflated).
                    yield from _parquet_rows(raw, label, batch_size)
                    continue
                handle = _text(_peek_gzip(raw))
                rows = _csv_rows if fmt == "csv" else _jsonl_rows
                try:
                    yield from rows(handle, label, batch_size)
                except zipfile.BadZipFile as exc:
                    raise DataError(f"broken zip member: {exc}", file=label) from exc
