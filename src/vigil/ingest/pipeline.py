"""``ingest``: source files of one layout -> ``posts.parquet`` and ``accounts.parquet`` in Vigil's schema.

Rows stream through in batches (memory stays bounded whatever the input size): the adapter maps
each batch onto posts (and accounts where the layout has profiles), languages are identified for
posts that have text but no language, and the batch is appended to a posts file in a staging
directory beside the output. Accounts are deduplicated at the end by DuckDB, out of core: one row
per (platform, account_id), each attribute taken from the last row that had it, rows the layout
gave explicitly (profiles) winning over what the posts imply (id and handle).

Posts are keyed by (platform, post_id): a row repeating a key already read (overlapping exports,
re-collected posts) is dropped at the end, the first copy kept, unless ``keep_duplicates``.

Nothing is written to the output directory until every input was read without error: then both
files are moved into place. On any error the staging directory is removed and an existing output
stays as it was.
"""

from __future__ import annotations

import os
import queue
import shutil
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from vigil.core.errors import InputError
from vigil.core.progress import NoProgress, Progress, plan_stages
from vigil.core.scratch import make_scratch, sweep
from vigil.core.settings import Settings
from vigil.ingest.adapters import AdapterOptions, make_adapter
from vigil.ingest.adapters.base import Adapter
from vigil.ingest.duck import connect, first_row, sql_string
from vigil.ingest.readers import DEFAULT_BATCH_SIZE, SourceBatch, check_kind, resolve_format
from vigil.ingest.values import TimeFormat
from vigil.schema.io import ParquetSink
from vigil.schema.tables import ACCOUNTS, POSTS

POSTS_FILE = "posts.parquet"
STAGE_PREFIX = ".vigil-ingest-"  # + pid-host-random (vigil.core.scratch), inside --out
ACCOUNTS_FILE = "accounts.parquet"
COLUMNAR_BATCH_SIZE = 131_072
# How posts are written. No dictionary pages: most posts columns (ids, texts, links) hold more
# distinct values than a dictionary page takes, so Arrow built each row group's dictionary and then
# fell back to plain values; zstd catches the repeats anyway (1M generic rows: 2.8 -> 1.2 CPU-s to
# write, same size within 1%, DuckDB reads it as fast). Min/max statistics for the scalar columns
# readers filter on, not for texts and lists (comparing every text for its row group's min/max).
POSTS_WRITE: dict[str, Any] = {
    "use_dictionary": False,
    "write_statistics": [
        "platform", "post_id", "account_id", "account_handle", "created_at", "lang", "lang_detected",
        "reshare_of", "reply_to",
    ],
}  # fmt: skip
# How the staged account rows are written: read once by the deduplication at the end and removed,
# so written cheaply (lz4, no dictionary pages, no statistics; the same size as zstd here). The
# seen accounts of 1M generic posts: 0.65-0.86 -> 0.48 CPU-s in the writer thread.
STAGED_WRITE: dict[str, Any] = {"compression": "lz4", "use_dictionary": False, "write_statistics": False}


@dataclass
class IngestSummary:
    """What one ingest run read and wrote. ``posts`` and ``accounts`` count rows written; the other
    figures (platforms, languages, URLs) describe the posts read, duplicates included."""

    posts_path: Path
    accounts_path: Path
    rows_read: int = 0  # source rows, skipped ones included
    posts: int = 0
    accounts: int = 0
    platforms: dict[str, int] = field(default_factory=dict)
    languages: dict[str, int] = field(default_factory=dict)
    languages_given: int = 0
    languages_detected: int = 0
    urls: int = 0
    shorteners: int = 0
    duplicate_posts: int = 0  # rows whose (platform, post_id) came earlier: dropped unless kept
    skipped: dict[str, int] = field(default_factory=dict)
    # Source values no Vigil field could take, per column and value (the adapter's count).
    unmapped: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "posts_path": str(self.posts_path),
            "accounts_path": str(self.accounts_path),
            "rows_read": self.rows_read,
            "posts": self.posts,
            "accounts": self.accounts,
            "platforms": dict(self.platforms),
            "languages": dict(self.languages),
            "languages_given": self.languages_given,
            "languages_detected": self.languages_detected,
            "urls": self.urls,
            "shorteners": self.shorteners,
            "duplicate_posts": self.duplicate_posts,
            "skipped": dict(self.skipped),
            "unmapped": {column: dict(values) for column, values in self.unmapped.items()},
            "seconds": round(self.seconds, 3),
        }


def fill_languages(posts: pa.Table) -> pa.Table:
    """Identify the language of posts that have text but no language; mark them ``lang_detected``."""
    # Imported here: the classifier brings scipy (~0.3 s of CPU), which --no-detect-language skips.
    from vigil.ingest.lang import detect_languages

    lang = posts.column("lang")
    missing = pc.and_(pc.is_null(lang), pc.is_valid(posts.column("text")))
    indices = pc.indices_nonzero(pc.fill_null(missing, False)).to_pylist()
    flags = posts.column("lang_detected")
    if not indices:
        return posts
    detected = detect_languages(pc.take(posts.column("text"), pa.array(indices)).to_pylist())
    langs = lang.to_pylist()
    flag_values = flags.to_pylist()
    for index, code in zip(indices, detected, strict=True):
        if code is not None:
            langs[index] = code
            flag_values[index] = True
    posts = posts.set_column(posts.schema.get_field_index("lang"), "lang", pa.array(langs, pa.string()))
    return posts.set_column(
        posts.schema.get_field_index("lang_detected"), "lang_detected", pa.array(flag_values, pa.bool_())
    )


def _count(summary: IngestSummary, posts: pa.Table, platforms: Counter[str], langs: Counter[str]) -> None:
    summary.posts += posts.num_rows
    for item in pc.value_counts(posts.column("platform")).to_pylist():
        platforms[item["values"]] += item["counts"]
    for item in pc.value_counts(posts.column("lang").drop_null()).to_pylist():
        langs[item["values"]] += item["counts"]
    detected = posts.column("lang_detected")
    summary.languages_detected += int(pc.sum(pc.fill_null(detected, False).cast(pa.int64())).as_py() or 0)
    summary.languages_given += int(
        pc.sum(pc.fill_null(pc.invert(detected), False).cast(pa.int64())).as_py() or 0
    )
    urls = pc.list_flatten(posts.column("urls"))
    summary.urls += len(urls)
    if len(urls):
        shorteners = pc.struct_field(urls, "is_shortener")
        summary.shorteners += int(pc.sum(pc.fill_null(shorteners, False).cast(pa.int64())).as_py() or 0)


def _write_posts(posts: pa.Table, posts_sink: ParquetSink, seen_sink: ParquetSink) -> None:
    """Append a batch of posts, and the accounts they show, to the staged files."""
    posts_sink.write(posts)
    if posts.num_rows:
        seen_sink.write(_accounts_seen(posts))


def _accounts_seen(posts: pa.Table) -> pa.Table:
    """(platform, account_id, handle) of a batch of posts, one row per account (the last handle)."""
    seen = posts.select(["platform", "account_id", "account_handle"]).group_by(
        ["platform", "account_id"], use_threads=False
    )
    table = seen.aggregate([("account_handle", "last")])
    return table.rename_columns(
        ["handle" if name == "account_handle_last" else name for name in table.column_names]
    )


_ACCOUNT_ATTRIBUTES = ("handle", "display_name", "created_at", "followers", "following", "lang", "extra")


def _dedupe_accounts(stage: Path, sink: ParquetSink, settings: Settings | None, batch_size: int) -> int:
    """One row per (platform, account_id) from the staged account rows; returns how many."""
    # Explicit profile rows (accounts_given) win over rows implied by posts (accounts_seen), later
    # rows over earlier ones: each attribute is the last non-null value of the given rows, else (the
    # handle, the only attribute posts imply) the last one seen. Each file is grouped alone and the
    # two joined: one grouping of every row with a rank took ~2x the CPU (1M generic posts: 0.8 s).
    picks = ",\n".join(
        f"max_by({name}, file_row_number) FILTER (WHERE {name} IS NOT NULL"
        + (" AND cardinality(extra) > 0" if name == "extra" else "")
        + f") AS {name}"
        for name in _ACCOUNT_ATTRIBUTES
    )
    later = ", ".join(f"given.{name}" for name in _ACCOUNT_ATTRIBUTES[1:])
    seen, given = sql_string(stage / "accounts_seen.parquet"), sql_string(stage / "accounts_given.parquet")
    query = f"""
        WITH seen AS (
            SELECT platform, account_id,
                max_by(handle, file_row_number) FILTER (WHERE handle IS NOT NULL) AS handle
            FROM read_parquet({seen}, file_row_number = true) GROUP BY platform, account_id
        ), given AS (
            SELECT platform, account_id, {picks}
            FROM read_parquet({given}, file_row_number = true) GROUP BY platform, account_id
        )
        SELECT platform, account_id, coalesce(given.handle, seen.handle) AS handle, {later}
        FROM seen FULL OUTER JOIN given USING (platform, account_id) ORDER BY platform, account_id
    """
    con = connect(settings)
    try:
        for record_batch in con.sql(query).to_arrow_reader(batch_size):
            sink.write(record_batch)
    finally:
        con.close()
    return sink.rows


def _duplicate_posts(path: Path, settings: Settings | None, one_platform: bool = False) -> int:
    # With one platform the post ids alone are the keys: counting distinct strings, not structs of
    # two, takes ~40% less CPU (1M generic posts: 0.46 -> 0.27 s).
    key = "post_id" if one_platform else "(platform, post_id)"
    con = connect(settings)
    try:
        row = first_row(con, f"SELECT count(*) - count(DISTINCT {key}) FROM read_parquet({sql_string(path)})")
    finally:
        con.close()
    return int(row[0]) if row else 0


def _drop_duplicates(path: Path, sink: ParquetSink, settings: Settings | None, batch_size: int) -> None:
    """Copy the posts of ``path`` to ``sink`` keeping the first row of each (platform, post_id)."""
    query = f"""
        SELECT * EXCLUDE (file_row_number, copy) FROM (
            SELECT *, row_number() OVER (PARTITION BY platform, post_id ORDER BY file_row_number) AS copy
            FROM read_parquet({sql_string(path)}, file_row_number = true)
        ) WHERE copy = 1 ORDER BY file_row_number
    """
    con = connect(settings)
    try:
        for record_batch in con.sql(query).to_arrow_reader(batch_size):
            sink.write(record_batch)
    finally:
        con.close()


def _check_inputs(inputs: Sequence[str | Path], fmt: str, adapter: Adapter) -> list[tuple[Path, str]]:
    if not inputs:
        raise InputError("no input files given")
    checked = []
    for item in inputs:
        path = Path(item)
        if not path.exists():
            raise InputError(f"{path}: no such file")
        if path.is_dir():
            raise InputError(f"{path}: is a directory; give the data files inside it")
        resolved = resolve_format(path, fmt)
        if resolved not in adapter.formats:
            raise InputError(
                f"{path}: the {adapter.name} layout reads {', '.join(adapter.formats)}, not {resolved}"
            )
        check_kind(path, resolved)
        checked.append((path, resolved))
    return checked


def ingest(
    inputs: Sequence[str | Path],
    *,
    layout: str,
    out_dir: str | Path,
    fmt: str = "auto",
    mapping: Mapping[str, str] | None = None,
    platform: str | None = None,
    time_format: str = "auto",
    list_separator: str | None = None,
    detect_language: bool = True,
    keep_duplicates: bool = False,
    batch_size: int | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
    columnar: bool = True,
    workers: int | None = None,
) -> IngestSummary:
    """Read ``inputs`` (one layout) and write ``out_dir``/posts.parquet and accounts.parquet atomically.

    A post whose (platform, post_id) was already read is dropped (the first copy is kept and
    ``duplicate_posts`` counts the others) unless ``keep_duplicates``. Raises InputError /
    DataError (file, row, column, expected) on bad input; then nothing in ``out_dir`` has changed.
    ``columnar=False`` maps every batch row by row (the reference path; same output, much slower).
    ``batch_size`` defaults to 20,000 rows row by row and 131,072 columnar (fewer, larger batches
    repeat less of the per-distinct-value work; Arrow holds them compactly). ``workers``: threads
    mapping batches, default 2 (one on a one-CPU machine); layouts that are not ``parallel`` and
    the row path use one.
    """
    batch_size = batch_size or (COLUMNAR_BATCH_SIZE if columnar else DEFAULT_BATCH_SIZE)
    started = time.perf_counter()
    progress = progress or NoProgress()
    try:
        parsed_time = TimeFormat(time_format)
    except ValueError as exc:
        raise InputError(f"--time-format: {exc}") from None
    options = AdapterOptions(
        mapping=dict(mapping or {}),
        platform=platform,
        time_format=parsed_time,
        list_separator=list_separator,
        batch_size=batch_size,
        settings=settings,
        columnar=columnar,
    )
    adapter = make_adapter(layout, options)
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    if workers < 1:
        raise InputError(f"workers: {workers}; give 1 or more")
    if not (columnar and adapter.parallel):
        workers = 1  # the row path holds the GIL: threads would only take turns
    sources = _check_inputs([*inputs, *adapter.companions([Path(p) for p in inputs])], fmt, adapter)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file; give a directory for posts.parquet and accounts.parquet")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot create the directory: {exc.strerror or exc}") from None
    summary = IngestSummary(posts_path=out / POSTS_FILE, accounts_path=out / ACCOUNTS_FILE)
    platforms: Counter[str] = Counter()
    langs: Counter[str] = Counter()
    # The stage names its process: this run first removes what a killed earlier run left in out.
    sweep(out, STAGE_PREFIX)
    stage = make_scratch(out, STAGE_PREFIX)
    try:
        totals = [adapter.total_rows(path, resolved) for path, resolved in sources]
        total = sum(t for t in totals if t is not None) if all(t is not None for t in totals) else None
        plan_stages(progress, 2)  # rows in, then accounts and duplicates (DuckDB)
        progress.start("ingesting rows", total=total)
        # Batches are mapped in ``workers`` threads, each with its own adapter (Arrow compute and
        # DuckDB release the GIL, so two threads use two cores), and taken back in reading order:
        # the output is the one-thread output, row for row. At most ``workers + 1`` batches are
        # being mapped; each batch's posts are written (encoded, compressed) in one more thread
        # while later batches are mapped, one write at a time. The executors are left (waiting for
        # the last write) before the sinks close.
        mappers = [adapter] + [make_adapter(layout, options) for _ in range(workers - 1)]
        idle: queue.SimpleQueue[Adapter] = queue.SimpleQueue()
        for mapper in mappers:
            idle.put(mapper)

        def map_batch(batch: SourceBatch) -> tuple[pa.Table, pa.Table | None, int]:
            mapper = idle.get()  # one per worker thread: never waits
            try:
                posts = mapper.to_posts(batch)
                if detect_language and posts.num_rows:
                    posts = fill_languages(posts)
                return posts, mapper.to_accounts(batch), mapper.source_rows(batch)
            finally:
                idle.put(mapper)

        with (
            ParquetSink(stage / POSTS_FILE, POSTS, **POSTS_WRITE) as posts_sink,
            ParquetSink(stage / "accounts_seen.parquet", ACCOUNTS, **STAGED_WRITE) as seen_sink,
            ParquetSink(stage / "accounts_given.parquet", ACCOUNTS, **STAGED_WRITE) as given_sink,
            ThreadPoolExecutor(1, thread_name_prefix="vigil-ingest-write") as writer,
            ThreadPoolExecutor(workers, thread_name_prefix="vigil-ingest-map") as pool,
        ):
            pending: Future[None] | None = None
            in_flight: deque[Future[tuple[pa.Table, pa.Table | None, int]]] = deque()

            def take_oldest() -> None:
                nonlocal pending
                posts, accounts, rows = in_flight.popleft().result()  # raises what mapping raised
                _count(summary, posts, platforms, langs)
                if pending is not None:
                    pending.result()  # raises what the write raised
                pending = writer.submit(_write_posts, posts, posts_sink, seen_sink)
                if accounts is not None:
                    given_sink.write(accounts)
                summary.rows_read += rows
                progress.advance(rows)

            try:
                for path, resolved in sources:
                    for batch in adapter.batches(path, resolved):
                        in_flight.append(pool.submit(map_batch, batch))
                        if len(in_flight) > workers:
                            take_oldest()
                while in_flight:
                    take_oldest()
            finally:
                pool.shutdown(cancel_futures=True)  # after an error: map no further batch
            if pending is not None:
                pending.result()
        for mapper in mappers[1:]:
            for reason, count in mapper.skipped.items():
                adapter.skipped[reason] = adapter.skipped.get(reason, 0) + count
            for column, values in mapper.unmapped.items():
                for value, count in values.items():
                    adapter.count_unmapped(column, value, count)
        progress.finish()
        progress.start("accounts and duplicate posts", total=3)
        with ParquetSink(stage / ACCOUNTS_FILE, ACCOUNTS) as accounts_sink:
            summary.accounts = _dedupe_accounts(stage, accounts_sink, settings, batch_size)
        progress.advance()
        summary.duplicate_posts = _duplicate_posts(stage / POSTS_FILE, settings, len(platforms) <= 1)
        progress.advance()
        posts_file = stage / POSTS_FILE
        if summary.duplicate_posts and not keep_duplicates:
            posts_file = stage / "posts-unique.parquet"
            with ParquetSink(posts_file, POSTS, **POSTS_WRITE) as unique_sink:
                _drop_duplicates(stage / POSTS_FILE, unique_sink, settings, batch_size)
            summary.posts -= summary.duplicate_posts
        os.replace(posts_file, summary.posts_path)
        os.replace(stage / ACCOUNTS_FILE, summary.accounts_path)
        progress.finish()
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    summary.platforms = dict(platforms.most_common())
    summary.languages = dict(langs.most_common())
    summary.skipped = dict(adapter.skipped)
    summary.unmapped = {
        column: dict(sorted(values.items(), key=lambda kv: (-kv[1], kv[0])))
        for column, values in adapter.unmapped.items()
    }
    summary.rows_read += sum(summary.skipped.values())  # read, though not turned into posts
    summary.seconds = time.perf_counter() - started
    return summary
