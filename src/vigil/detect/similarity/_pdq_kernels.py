"""The numba loop behind :class:`vigil.detect.similarity.pdq.MultiIndex` (imported only through it).

A module-level function, so numba caches its machine code on disk (``cache=True``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def file_chunk(values: Any, masks: Any, base: int, order: Any, starts: Any) -> None:
    """Counting sort of one chunk's keys ``values[i] ^ masks[k]`` into ``order`` (the row ``i`` of
    each entry, rows ascending within a key) and ``starts`` (where key ``v`` begins, from ``base``).

    The same tables as a stable argsort of the keys (row-major over (row, mask)) and a bincount,
    in two passes over the rows and no sort."""
    n_values = starts.shape[0] - 1
    counts = np.zeros(n_values + 1, dtype=np.int64)
    n, m = values.shape[0], masks.shape[0]
    for i in range(n):
        v = values[i]
        for k in range(m):
            counts[(v ^ masks[k]) + 1] += 1
    acc = base
    starts[0] = base
    for v in range(n_values):
        acc += counts[v + 1]
        starts[v + 1] = acc
    cursor = np.empty(n_values, dtype=np.int64)
    for v in range(n_values):
        cursor[v] = starts[v]
    for i in range(n):
        v = values[i]
        for k in range(m):
            key = v ^ masks[k]
            order[cursor[key]] = i
            cursor[key] += 1
