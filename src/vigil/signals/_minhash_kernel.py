"""The compiled loop behind ``text_minhash`` signatures (imported only by
:func:`vigil.signals.text_minhash.signatures_of_normal_forms`, on first use: numba takes ~0.3 s to
import; its machine code is cached on disk, ``cache=True``).

One pass per text: each character 5-gram is hashed (polynomial, then splitmix64) and folded into
the 128 running minima at once, so no (permutations x shingles) temporary is ever written, which is
what the numpy formulation spent most of its time on. All arithmetic is uint64 and wraps modulo
2**64 exactly as numpy's does; constants are uint64 so numba never promotes to float.

Detection's near-duplicate MinHash (``vigil.detect.similarity._numba_kernels``) has the same inner
loop over other shingles and constants; it sits above this layer and may call this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_POLY = np.uint64(1_000_003)
_S27, _S30, _S31, _S32 = np.uint64(27), np.uint64(30), np.uint64(31), np.uint64(32)
_ONES64 = np.uint64(0xFFFFFFFFFFFFFFFF)


@njit(cache=True, nogil=True)
def signatures(points: Any, offsets: Any, shingle: int, a: Any, b: Any, out: Any) -> None:
    """MinHash of each text ``points[offsets[d]:offsets[d + 1]]`` (code points, uint64; non-empty)
    into ``out[d]`` (uint32): the top 32 bits of min over shingles of ``a[p] * h + b[p]``."""
    k = a.shape[0]
    sig = np.empty(k, np.uint64)
    for d in range(offsets.shape[0] - 1):
        lo = offsets[d]
        hi = offsets[d + 1]
        width = min(hi - lo, shingle)  # a text shorter than a shingle is one shingle
        for p in range(k):
            sig[p] = _ONES64
        for s in range(lo, hi - width + 1):
            x = np.uint64(0)
            for o in range(width):
                x = x * _POLY + points[s + o]
            x = x ^ (x >> _S30)
            x = x * _MIX1
            x = x ^ (x >> _S27)
            x = x * _MIX2
            x = x ^ (x >> _S31)
            for p in range(k):
                h = a[p] * x + b[p]
                if h < sig[p]:
                    sig[p] = h
        for p in range(k):
            out[d, p] = np.uint32(sig[p] >> _S32)
