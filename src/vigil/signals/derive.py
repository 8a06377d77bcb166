"""Derive signals from a whole posts or accounts table: one row per (record, signal type, value).

This is how a member turns its own content into values to look up in partners' signals (and how
the exchange's sample signals are made). Types with the ``DerivesFromColumns``
capability (every built-in type a matcher looks up) derive a whole batch with Arrow kernels and
compiled loops; types that derive from text alone (``DerivesFromTexts``) run vectorized over the
text column; any other runs row by row on the columns it reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from vigil.core.errors import InputError
from vigil.core.progress import NoProgress, Progress
from vigil.schema.io import ParquetSink, iter_table
from vigil.schema.tables import POSTS, TableSpec
from vigil.signals.base import (
    DerivesFromAccount,
    DerivesFromColumns,
    DerivesFromPost,
    DerivesFromTexts,
    SignalType,
)
from vigil.signals.columns import STRING_LISTS, flatten
from vigil.signals.registry import get_signal_type, signal_types

POST_SIGNALS = pa.schema(
    [
        pa.field("platform", pa.string(), nullable=False),
        pa.field("post_id", pa.string(), nullable=False),
        pa.field("signal_type", pa.string(), nullable=False),
        pa.field("value", pa.string(), nullable=False),
    ]
)
ACCOUNT_SIGNALS = pa.schema(
    [
        pa.field("platform", pa.string(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("signal_type", pa.string(), nullable=False),
        pa.field("value", pa.string(), nullable=False),
    ]
)
POST_SIGNALS_TABLE = TableSpec(
    name="post_signals", key=("platform", "post_id", "signal_type", "value"), schema=POST_SIGNALS
)
BATCH_ROWS = 20_000


def _chosen(types: Sequence[str] | None, capability: type, source: str) -> list[SignalType]:
    if types is None:
        return [t for t in signal_types().values() if isinstance(t, capability)]
    chosen = [get_signal_type(name) for name in types]
    for signal_type in chosen:
        if not isinstance(signal_type, capability):
            raise InputError(f"{signal_type.name} signals cannot be derived from {source}")
    return chosen


def derive_post_signals(
    posts: pa.Table, types: Sequence[str] | None = None, *, progress: Progress | None = None
) -> pa.Table:
    """Every signal of ``types`` (default: all that derive from posts) found in ``posts`` (a table
    with the POSTS columns those types read), as a POST_SIGNALS table in post order (within a post,
    in the order of ``types``)."""
    chosen = _chosen(types, DerivesFromPost, "posts")
    progress = progress or NoProgress()
    progress.start("deriving signals", total=posts.num_rows)
    parts = []
    for batch in posts.to_batches(max_chunksize=BATCH_ROWS):
        table = pa.Table.from_batches([batch])
        per_type: list[pa.Array] = []
        rows = None
        for signal_type in chosen:
            if isinstance(signal_type, DerivesFromColumns):
                per_type.append(signal_type.derive_columns(table))
            elif isinstance(signal_type, DerivesFromTexts) and "text" in batch.schema.names:
                texts = batch.column("text").to_pylist()
                per_type.append(pa.array(signal_type.derive_from_texts(texts), STRING_LISTS))
            else:
                rows = rows if rows is not None else batch.to_pylist()
                derive = signal_type.derive_from_post  # type: ignore[attr-defined]
                per_type.append(pa.array([derive(row) for row in rows], STRING_LISTS))
        parts.append(_interleave(table, [t.name for t in chosen], per_type))
        progress.advance(batch.num_rows)
    progress.finish()
    if not parts:
        return POST_SIGNALS.empty_table()
    return pa.concat_tables(parts)


def _interleave(table: pa.Table, names: list[str], per_type: list[pa.Array]) -> pa.Table:
    """POST_SIGNALS rows from each type's per-post value lists: post by post, types in order."""
    flat = [flatten(lists) for lists in per_type]
    keys = np.concatenate([parents * len(names) + k for k, (parents, _) in enumerate(flat)])
    order = pa.array(np.argsort(keys, kind="stable"))
    parents = np.concatenate([p for p, _ in flat])
    type_of = np.repeat(np.arange(len(names)), [len(p) for p, _ in flat])
    rows = pa.array(parents).take(order)
    return pa.table(
        [
            table.column("platform").combine_chunks().cast(pa.string()).take(rows),
            table.column("post_id").combine_chunks().cast(pa.string()).take(rows),
            pa.array(names, pa.string()).take(pa.array(type_of).take(order)),
            pa.concat_arrays([v.cast(pa.string()) for _, v in flat]).take(order),
        ],
        schema=POST_SIGNALS,
    )


def derive_account_signals(accounts: pa.Table, types: Sequence[str] | None = None) -> pa.Table:
    """Every signal of ``types`` (default: all that derive from accounts) of an ACCOUNTS table."""
    chosen = _chosen(types, DerivesFromAccount, "accounts")
    columns: dict[str, list[str]] = {name: [] for name in ACCOUNT_SIGNALS.names}
    for row in accounts.to_pylist():
        for signal_type in chosen:
            for value in signal_type.derive_from_account(row):  # type: ignore[attr-defined]
                columns["platform"].append(row["platform"])
                columns["account_id"].append(row["account_id"])
                columns["signal_type"].append(signal_type.name)
                columns["value"].append(value)
    return pa.table(columns, schema=ACCOUNT_SIGNALS)


def derive_post_signals_file(
    posts_path: Path,
    out_path: Path,
    types: Sequence[str] | None = None,
    *,
    progress: Progress | None = None,
) -> int:
    """Stream a posts Parquet file into a POST_SIGNALS Parquet file (written atomically); returns
    the number of signal rows written."""
    import pyarrow.parquet as pq

    chosen = _chosen(types, DerivesFromPost, "posts")
    names = [t.name for t in chosen]
    progress = progress or NoProgress()
    total = pq.ParquetFile(str(posts_path)).metadata.num_rows
    progress.start(f"deriving {', '.join(names)}", total=total)
    with ParquetSink(out_path, POST_SIGNALS_TABLE) as sink:
        for batch in iter_table(posts_path, POSTS, batch_size=BATCH_ROWS):
            sink.write(derive_post_signals(pa.Table.from_batches([batch]), names))
            progress.advance(batch.num_rows)
    progress.finish()
    return sink.rows
