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
        # The values are 32-bit: widened here, so the compiler knows their high half is zero and
        # multiplies with two 32-bit products instead of three.
        x = np.uint64(values[s])
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


@njit(cache=True, nogil=True)
def jaccard_at_least(values: Any, offsets: Any, first: Any, second: Any, threshold: float, out: Any) -> None:
    """``jaccard`` where it can reach ``threshold``, else -1.0.

    J >= t needs an intersection of at least t (|A| + |B|) / (1 + t); the merge stops once the
    intersection so far plus the shingles left on the shorter side fall short of that (a margin of
    1e-9 keeps rounding from abandoning a pair exactly at the threshold).
    """
    for i in range(first.shape[0]):
        p, p_end = offsets[first[i]], offsets[first[i] + 1]
        q, q_end = offsets[second[i]], offsets[second[i] + 1]
        size = (p_end - p) + (q_end - q)
        need = threshold * size / (1.0 + threshold) - 1e-9
        inter = 0
        abandoned = min(p_end - p, q_end - q) < need
        while not abandoned and p < p_end and q < q_end:
            if values[p] == values[q]:
                inter += 1
                p += 1
                q += 1
            elif values[p] < values[q]:
                p += 1
                abandoned = inter + min(p_end - p, q_end - q) < need
            else:
                q += 1
                abandoned = inter + min(p_end - p, q_end - q) < need
        if abandoned:
            out[i] = -1.0
        else:
            union = size - inter
            out[i] = inter / union if union > 0 else 0.0


_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


@njit(cache=True, nogil=True)
def token_hash(data: Any, lo: int, hi: int) -> Any:
    """64-bit hash of the UTF-8 bytes data[lo:hi]: FNV-1a, then splitmix64 with the length mixed in."""
    h = _FNV_OFFSET
    for i in range(lo, hi):
        h = (h ^ np.uint64(data[i])) * _FNV_PRIME
    return splitmix(h ^ np.uint64(hi - lo))


@njit(cache=True, nogil=True)
def shingle_counts(data: Any, offsets: Any, k: int, out: Any) -> None:
    """Shingles of each text before deduplication: one per k tokens ahead, one for a shorter text."""
    space = np.uint8(32)
    for d in range(offsets.shape[0] - 1):
        tokens = 1
        for i in range(offsets[d], offsets[d + 1]):
            if data[i] == space:
                tokens += 1
        out[d] = tokens - k + 1 if tokens >= k else 1


@njit(cache=True, nogil=True)
def shingles(data: Any, offsets: Any, k: int, starts: Any, values: Any, out_offsets: Any) -> None:
    """Each text's sorted distinct 32-bit shingle hashes, packed: text d's are
    values[out_offsets[d]:out_offsets[d + 1]] (``starts[d]`` is where its unpacked shingles begin).

    Tokens are the pieces between single spaces (as Arrow's ``split_pattern(" ")``, so an empty text
    is one empty token); a shingle folds its k token hashes as ``combined * GOLDEN + hash`` (tokens
    past a short text's end add 0) and keeps the top 32 bits of splitmix64 of that.
    """
    space = np.uint8(32)
    hashes = np.empty(64, np.uint64)
    written = 0
    out_offsets[0] = 0
    for d in range(offsets.shape[0] - 1):
        lo, hi = offsets[d], offsets[d + 1]
        n = 0
        begin = lo
        for i in range(lo, hi + 1):
            if i == hi or data[i] == space:
                if n == hashes.shape[0]:
                    grown = np.empty(2 * n, np.uint64)
                    grown[:n] = hashes
                    hashes = grown
                hashes[n] = token_hash(data, begin, i)
                n += 1
                begin = i + 1
        count = n - k + 1 if n >= k else 1
        start = starts[d]
        for s in range(count):
            combined = np.uint64(0)
            for j in range(k):
                part = hashes[s + j] if s + j < n else np.uint64(0)
                combined = combined * _GOLDEN + part
            values[start + s] = np.uint32(splitmix(combined) >> _S32)
        values[start : start + count].sort()
        # Pack left: written <= start, so copying upwards never overwrites an unread value.
        for s in range(count):
            if s == 0 or values[start + s] != values[start + s - 1]:
                values[written] = values[start + s]
                written += 1
        out_offsets[d + 1] = written


@njit(cache=True, nogil=True)
def join_leaders(later: Any, earlier: Any, sim: Any, labels: Any, is_leader: Any, score: Any) -> None:
    """The leader pass over pairs sorted by (later, distance, earlier): each later node joins its
    first candidate that is still a leader (``score`` gets that pair's similarity), else stays one.

    Nodes are visited in priority order, so every earlier node's status is final when it is read.
    """
    n = later.shape[0]
    i = 0
    while i < n:
        node = later[i]
        joined = False
        while i < n and later[i] == node:
            if not joined and is_leader[earlier[i]]:
                labels[node] = earlier[i]
                is_leader[node] = False
                score[node] = sim[i]
                joined = True
            i += 1


@njit(cache=True, nogil=True)
def band_pairs(tagged: Any, key: Any, low: Any, fresh_from: int, out: Any) -> int:
    """One LSH band's pairs from its keys sorted with their positions in the low bits (``tagged``):
    each run of equal high bits pairs its later texts with its first, encoded
    ``first << 32 | member``, into ``out``; only pairs reaching position ``fresh_from`` are kept.
    Returns how many, or -1 when two texts of one run have different full keys (their keys differ
    only in the low bits: the caller groups that band by an argsort instead)."""
    n = tagged.shape[0]
    written = 0
    fresh = np.uint64(fresh_from)
    high_mask = ~low
    i = 0
    while i < n:
        high = tagged[i] & high_mask
        j = i + 1
        while j < n and (tagged[j] & high_mask) == high:
            j += 1
        if j - i > 1:
            first = tagged[i] & low
            first_key = key[first]
            for r in range(i + 1, j):
                member = tagged[r] & low
                if key[member] != first_key:
                    return -1
                if member >= fresh or first >= fresh:
                    out[written] = (first << _S32) | member
                    written += 1
        i = j
    return written
