"""Building blocks for deriving signal values column-wise, many posts at a time.

A type with the ``DerivesFromColumns`` capability turns a whole Arrow table of posts into one
``list<string>`` array (row ``i``: the values ``derive_from_post`` gives for post ``i``) without a
Python call per post. The pattern every built-in type follows: the rows whose columns are in the
common, simple form get their values from Arrow kernels (or a rule applied once per *distinct*
value: hashtags, domains and hosts repeat across a stream), and the few rows that are not (odd
characters, malformed values that must raise the same error as before) go through
``derive_from_post`` itself, so the two paths cannot disagree on them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

STRING_LISTS = pa.list_(pa.string())


def column(table: pa.Table, name: str, type_: pa.DataType) -> pa.Array:
    """Column ``name`` as one array of ``type_``, all null when the table lacks it (a row without
    the column derives nothing, as ``post.get(name)`` is None)."""
    if name not in table.column_names:
        return pa.nulls(table.num_rows, type_)
    values = table.column(name).combine_chunks()
    return values if values.type == type_ else values.cast(type_)


def nonempty(values: pa.Array) -> npt.NDArray[np.bool_]:
    """Python truthiness of each string (not null, not ``""``)."""
    return np.asarray(
        pc.fill_null(pc.greater(pc.binary_length(values), 0), False).to_numpy(zero_copy_only=False)
    )


def matches(values: pa.Array, pattern: str) -> npt.NDArray[np.bool_]:
    """Whether each string matches the (anchored) regex; null: False."""
    found = pc.fill_null(pc.match_substring_regex(values, pattern), False)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


def flatten(lists: pa.Array) -> tuple[npt.NDArray[np.int64], pa.Array]:
    """(row of each item, items) of a list array; null lists have no items."""
    parents = np.asarray(pc.list_parent_indices(lists).to_numpy(zero_copy_only=False), dtype=np.int64)
    return parents, pc.list_flatten(lists)


def to_lists(rows: int, parents: npt.NDArray[np.int64], values: pa.Array) -> pa.Array:
    """A ``list<string>`` array of ``rows`` rows from items sorted by row (``parents``)."""
    counts = np.bincount(parents, minlength=rows) if len(parents) else np.zeros(rows, dtype=np.int64)
    offsets = np.zeros(rows + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values.cast(pa.string()))


def first_of_each(parents: npt.NDArray[np.int64], values: pa.Array) -> npt.NDArray[np.bool_]:
    """Which items are the first of their value in their row (``dedupe`` per row, order kept)."""
    if len(parents) == 0:
        return np.zeros(0, dtype=bool)
    keyed = pa.table({"row": parents, "value": values, "at": np.arange(len(parents))})
    first = keyed.group_by(["row", "value"], use_threads=False).aggregate([("at", "min")])
    keep = np.zeros(len(parents), dtype=bool)
    keep[np.asarray(first.column("at_min").to_numpy())] = True
    return keep


def deduped_lists(rows: int, parents: npt.NDArray[np.int64], values: pa.Array) -> pa.Array:
    """``to_lists`` with repeats in a row dropped, the first kept."""
    keep = first_of_each(parents, values)
    return to_lists(rows, parents[keep], values.filter(pa.array(keep)))


def per_distinct(
    values: pa.Array, rule: Callable[[str], str | None], memo: dict[str, str | None]
) -> pa.Array:
    """``rule`` of each non-null string, computed once per distinct value and remembered in ``memo``
    across batches (bounded: cleared when it grows past ~100,000 values); null stays null."""
    if len(values) == 0:
        return pa.array([], pa.string())
    encoded = pc.dictionary_encode(values)
    distinct = encoded.dictionary.to_pylist()
    if len(memo) + len(distinct) > 100_000:
        memo.clear()
    results = []
    for value in distinct:
        if value not in memo:
            memo[value] = rule(value)
        results.append(memo[value])
    return pc.take(pa.array(results, pa.string()), encoded.indices)


def with_rows(
    table: pa.Table,
    lists: pa.Array,
    slow: npt.NDArray[np.bool_],
    derive_row: Callable[[dict[str, Any]], list[str]],
) -> pa.Array:
    """``lists`` with the rows marked ``slow`` replaced by ``derive_row`` of those rows (as Python
    dicts, like ``derive_from_post`` gets them); their errors propagate unchanged."""
    if not slow.any():
        return lists
    slow_rows = np.flatnonzero(slow)
    derived = [derive_row(row) for row in table.take(pa.array(slow_rows)).to_pylist()]
    parents, values = flatten(lists)
    fast = ~slow[parents]
    slow_parents = np.repeat(slow_rows, [len(v) for v in derived]).astype(np.int64)
    all_parents = np.concatenate([parents[fast], slow_parents])
    all_values = pa.concat_arrays(
        [
            values.filter(pa.array(fast)).cast(pa.string()),
            pa.array([v for vs in derived for v in vs], pa.string()),
        ]
    )
    order = np.argsort(all_parents, kind="stable")
    return to_lists(len(lists), all_parents[order], all_values.take(pa.array(order)))
