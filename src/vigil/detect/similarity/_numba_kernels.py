"""The numba loops behind :mod:`vigil.detect.similarity.kernels` (imported only through it).

Module-level functions, so numba can cache their machine code on disk (``cache=True``). All
arithmetic is on uint64 (wrapping, as numpy's); constants are uint64 so nothing is promoted to
float (numba turns uint64 mixed with int64 into float64).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from vigil.signals.hashing import GOLDEN

_GOLDEN = np.uint64(int(GOLDEN))
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S27, _S30, _S31, _S32 = np.uint64(27), np.uint64(30), np.uint64(31), np.uint64(32)
_ONES64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_ONES32 = np.uint64(0xFFFFFFFF)


@njit(cache=True, nogil=True)
def splitmix(z: Any) -> Any:
    """splitmix64's finalizer (vigil.signals.hashing.splitmix64) of one word."""
    z = z ^ (z >> _S30)
    z = z * _MIX1
    z = z ^ (z >> _S27)
    z = z * _MIX2
    return z ^ (z >> _S31)


@njit(cache=True, nogil=True)
def signature(values: Any, lo: int, hi: int, a: Any, b: Any, sig: Any) -> None:
    """One text's MinHash values (shingles values[lo:hi]) into ``sig`` (uint64 holding 32 bits)."""
    k = a.shape[0]
    if lo == hi:
        for p in range(k):
            sig[p] = _ONES32
        return
    for p in range(k):
        sig[p] = _ONES64
    for s in range(lo, hi):
        x = values[s]
        for p in range(k):
            h = a[p] * x + b[p]
            if h < sig[p]:
                sig[p] = h
    # The shift is monotone: the minimum of the shifted words is the shifted minimum.
    for p in range(k):
        sig[p] = sig[p] >> _S32


@njit(cache=True, nogil=True)
def signatures(values: Any, offsets: Any, a: Any, b: Any, out: Any) -> None:
    sig = np.empty(a.shape[0], np.uint64)
    for d in range(offsets.shape[0] - 1):
        signature(values, offsets[d], offsets[d + 1], a, b, sig)
        for p in range(a.shape[0]):
            out[d, p] = np.uint32(sig[p])


@njit(cache=True, nogil=True)
def band_keys(values: Any, offsets: Any, a: Any, b: Any, rows: int, out: Any) -> None:
    sig = np.empty(a.shape[0], np.uint64)
    for d in range(offsets.shape[0] - 1):
        signature(values, offsets[d], offsets[d + 1], a, b, sig)
        for band in range(out.shape[0]):
            key = np.uint64(band)
            for c in range(rows):
                key = splitmix(key * _GOLDEN + sig[band * rows + c])
            out[band, d] = key


@njit(cache=True, nogil=True)
def jaccard(values: Any, offsets: Any, first: Any, second: Any, out: Any) -> None:
    for i in range(first.shape[0]):
        p, p_end = offsets[first[i]], offsets[first[i] + 1]
        q, q_end = offsets[second[i]], offsets[second[i] + 1]
        size = (p_end - p) + (q_end - q)
        inter = 0
        while p < p_end and q < q_end:
            if values[p] == values[q]:
                inter += 1
                p += 1
                q += 1
            elif values[p] < values[q]:
                p += 1
            else:
                q += 1
        union = size - inter
        out[i] = inter / union if union > 0 else 0.0
