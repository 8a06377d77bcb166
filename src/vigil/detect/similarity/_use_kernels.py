"""The numba loops behind :mod:`vigil.detect.similarity.use_dedup` (imported only through it).

Each replaces a chain of numpy gathers and in-place operations that made several passes through
memory over (rows x 256) temporaries with one pass. Module-level functions, so numba caches their
machine code on disk (``cache=True``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def window_layer(products: Any, picked: Any, bias: Any, below: Any, left: int, out: Any) -> None:
    """``out[r] = relu(sum_j products[picked[j, r], j-th block] + bias) + below[picked[left, r]]``:
    one CNN layer on distinct windows, from the per-row products ``rows @ W_j`` of the layer below
    (block ``j`` in columns ``j * width .. (j + 1) * width``)."""
    n, m = picked.shape
    width = out.shape[1]
    for r in range(m):
        for c in range(width):
            out[r, c] = bias[c]
        for j in range(n):
            src = picked[j, r]
            base = j * width
            for c in range(width):
                out[r, c] += products[src, base + c]
        res = picked[left, r]
        for c in range(width):
            value = out[r, c]
            out[r, c] = (value if value > 0.0 else 0.0) + below[res, c]


@njit(cache=True, nogil=True)
def row_moments(rows: Any, sums: Any, squares: Any) -> None:
    """Sum and sum of squares of each row, in float64."""
    for r in range(rows.shape[0]):
        s = 0.0
        q = 0.0
        for c in range(rows.shape[1]):
            v = np.float64(rows[r, c])
            s += v
            q += v * v
        sums[r] = s
        squares[r] = q


@njit(cache=True, nogil=True)
def weighted_segment_sums(rows: Any, inverse: Any, weight: Any, starts: Any, lens: Any, out: Any) -> None:
    """``out[s] = sum over the tokens t of segment s of weight[t] * rows[inverse[t]]`` (float32)."""
    width = rows.shape[1]
    for s in range(starts.shape[0]):
        for c in range(width):
            out[s, c] = 0.0
        for t in range(starts[s], starts[s] + lens[s]):
            w = weight[t]
            src = inverse[t]
            for c in range(width):
                out[s, c] += w * rows[src, c]


# fastmath: lets the sum be vectorized (reassociated); the result moves by float32 rounding only.
@njit(cache=True, nogil=True, fastmath=True)
def pair_dots(matrix: Any, first: Any, second: Any, out: Any) -> None:
    """``out[k] = matrix[first[k]] . matrix[second[k]]`` in float32, without gathering the rows."""
    for k in range(first.shape[0]):
        a = first[k]
        b = second[k]
        s = np.float32(0.0)
        for c in range(matrix.shape[1]):
            s += matrix[a, c] * matrix[b, c]
        out[k] = s


@njit(cache=True, nogil=True)
def admitted(upper: Any, left_rest: Any, right_rest: Any, limit: float, out_q: Any, out_x: Any) -> int:
    """The (row, column) of ``upper[i, j] + left_rest[i] * right_rest[j] >= limit``, row-major, into
    ``out_q``/``out_x`` (sized by the caller from :func:`count_admitted`); returns how many."""
    k = 0
    for i in range(upper.shape[0]):
        rest = left_rest[i]
        for j in range(upper.shape[1]):
            if upper[i, j] + rest * right_rest[j] >= limit:
                out_q[k] = i
                out_x[k] = j
                k += 1
    return k


@njit(cache=True, nogil=True)
def count_admitted(upper: Any, left_rest: Any, right_rest: Any, limit: float) -> int:
    """How many entries :func:`admitted` finds (a first pass, so nothing is allocated per entry)."""
    k = 0
    for i in range(upper.shape[0]):
        rest = left_rest[i]
        for j in range(upper.shape[1]):
            if upper[i, j] + rest * right_rest[j] >= limit:
                k += 1
    return k
