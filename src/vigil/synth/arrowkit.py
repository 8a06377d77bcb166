"""Small vectorized Arrow/numpy helpers shared by the generator's parts."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

US_PER_S = 1_000_000


def take_or_null(values: pa.Array, index: np.ndarray) -> pa.Array:
    """``values[index]`` with a null wherever ``index`` is negative."""
    mask = index < 0
    return values.take(pa.array(np.where(mask, 0, index), mask=mask))


def join_words(parts: list[pa.Array]) -> pa.Array:
    """Join string columns row-wise with single spaces, skipping nulls.

    Every row must have at least one non-null part. pyarrow 26 drops the rows where every input
    is null, so a never-null empty first column is joined in and the leading space cut off.
    """
    n = len(parts[0])
    lead = pa.array(np.full(n, "", dtype=object), type=pa.string())
    joined = pc.binary_join_element_wise(lead, *parts, " ", null_handling="skip")
    if len(joined) != n:
        raise AssertionError("binary_join_element_wise changed the row count")
    return pc.utf8_slice_codeunits(joined, 1)


def list_from_matrix(index: np.ndarray, values: pa.Array) -> pa.ListArray:
    """A list column from an (n, k) index matrix into ``values``; negative entries are absent.

    Rows with no entry get an empty list (not null), so readers never special-case null lists.
    """
    n = index.shape[0]
    if index.ndim == 1:
        index = index[:, None]
    present = index >= 0
    counts = present.sum(axis=1)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    flat = index[present]  # row-major: keeps each row's order
    return pa.ListArray.from_arrays(pa.array(offsets), values.take(pa.array(flat, type=pa.int64())))


def hex_strings(codes: np.ndarray) -> pa.StringArray:
    """Lower-case hex of each row of a (n, k) uint8 matrix, as a string array (no Python loop)."""
    n, width = codes.shape
    data = np.ascontiguousarray(codes).tobytes().hex().encode("ascii")
    offsets = np.arange(n + 1, dtype=np.int32) * (2 * width)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))


def int_strings(values: np.ndarray) -> pa.Array:
    """Decimal strings of an int64 array."""
    return pa.array(values, type=pa.int64()).cast(pa.string())


def weighted_pick(rng: np.random.Generator, cumulative: np.ndarray, n: int) -> np.ndarray:
    """``n`` draws of indices with probability proportional to the increments of ``cumulative``."""
    u = rng.random(n) * cumulative[-1]
    picked: np.ndarray = np.minimum(np.searchsorted(cumulative, u, side="right"), len(cumulative) - 1)
    return picked


def zipf_weights(n: int, exponent: float) -> np.ndarray:
    """Popularity weights 1/rank**exponent for ranks 1..n."""
    return 1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent


def apportion(expected: np.ndarray, total: int) -> np.ndarray:
    """Integer counts summing exactly to ``total``, proportional to ``expected`` (largest remainder)."""
    flat = expected.ravel().astype(np.float64)
    scaled = flat / flat.sum() * total
    counts = np.floor(scaled).astype(np.int64)
    short = total - int(counts.sum())
    if short:
        # Stable sort on the remainders: ties go to the earlier cell, so the result is deterministic.
        order = np.argsort(-(scaled - counts), kind="stable")
        counts[order[:short]] += 1
    shaped: np.ndarray = counts.reshape(expected.shape)
    return shaped
