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
def signature(values: Any, lo: int, hi: int, al: Any, bl: Any, ah: Any, bh: Any, sig: Any) -> None:
    """One text's MinHash values ``(a x + b mod 2**64) >> 32`` (shingles values[lo:hi]) into the
    uint32 ``sig``; ``a`` and ``b`` come split in 32-bit halves (``al``/``bl`` as uint64, ``ah``/``bh``
    as uint32).

    The high word of ``a x + b`` is ``ah x + bh + ((al x + bl) >> 32)`` mod 2**32 (``al x + bl`` cannot
    overflow 64 bits for a 32-bit x): one 32 x 32 -> 64-bit product and 32-bit arithmetic, which
    the compiler vectorizes on AVX2 (it has no 64-bit multiply or unsigned 64-bit minimum), and the
    minimum is taken on 32-bit lanes. Two shingles per pass over the permutations.
    """
    k = al.shape[0]
    for p in range(k):
        sig[p] = np.uint32(0xFFFFFFFF)
    s = lo
    while s + 1 < hi:
        x = np.uint64(values[s])
        y = np.uint64(values[s + 1])
        for p in range(k):
            low_x = al[p] * x + bl[p]
            low_y = al[p] * y + bl[p]
            high_x = np.uint32((np.uint64(ah[p]) * x + np.uint64(bh[p]) + (low_x >> _S32)) & _ONES32)
            high_y = np.uint32((np.uint64(ah[p]) * y + np.uint64(bh[p]) + (low_y >> _S32)) & _ONES32)
            sig[p] = min(sig[p], min(high_x, high_y))
        s += 2
    if s < hi:
        x = np.uint64(values[s])
        for p in range(k):
            low_x = al[p] * x + bl[p]
            high_x = np.uint32((np.uint64(ah[p]) * x + np.uint64(bh[p]) + (low_x >> _S32)) & _ONES32)
            sig[p] = min(sig[p], high_x)


@njit(cache=True, nogil=True)
def signatures(values: Any, offsets: Any, al: Any, bl: Any, ah: Any, bh: Any, out: Any) -> None:
    sig = np.empty(al.shape[0], np.uint32)
    for d in range(offsets.shape[0] - 1):
        signature(values, offsets[d], offsets[d + 1], al, bl, ah, bh, sig)
        for p in range(al.shape[0]):
            out[d, p] = sig[p]


@njit(cache=True, nogil=True)
def band_keys(values: Any, offsets: Any, al: Any, bl: Any, ah: Any, bh: Any, rows: int, out: Any) -> None:
    sig = np.empty(al.shape[0], np.uint32)
    for d in range(offsets.shape[0] - 1):
        signature(values, offsets[d], offsets[d + 1], al, bl, ah, bh, sig)
        for band in range(out.shape[0]):
            key = np.uint64(band)
            for c in range(rows):
                key = splitmix(key * _GOLDEN + np.uint64(sig[band * rows + c]))
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


@njit(cache=True, nogil=True, inline="always")
def popcount(x: Any) -> Any:
    """Set bits of a uint64 (SWAR: no popcount instruction is reachable from numba)."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(cache=True, nogil=True)
def shingle_masks(values: Any, offsets: Any, low: Any, high: Any, extra: Any) -> None:
    """Each text's 128-bit mask of its shingles' top 7 bits (``low``: bits 0-63, ``high``: 64-127) and
    ``extra``, how many of its shingles share a bit with another (size minus set bits)."""
    seven = np.uint32(25)
    one = np.uint64(1)
    for d in range(offsets.shape[0] - 1):
        lo = np.uint64(0)
        hi = np.uint64(0)
        for s in range(offsets[d], offsets[d + 1]):
            bit = np.uint64(values[s] >> seven)
            if bit < 64:
                lo |= one << bit
            else:
                hi |= one << (bit - np.uint64(64))
        low[d] = lo
        high[d] = hi
        extra[d] = (offsets[d + 1] - offsets[d]) - (popcount(lo) + popcount(hi))


@njit(cache=True, nogil=True)
def jaccard_at_least(
    values: Any,
    offsets: Any,
    low: Any,
    high: Any,
    extra: Any,
    first: Any,
    second: Any,
    threshold: float,
    out: Any,
) -> None:
    """``jaccard`` where it can reach ``threshold``, else -1.0.

    J >= t needs an intersection of at least t (|A| + |B|) / (1 + t) (a margin of 1e-9 keeps
    rounding from abandoning a pair exactly at the threshold). Two upper bounds of the
    intersection are tried before the merge: the smaller size, and the masks of
    :func:`shingle_masks` (a shared shingle sets the same bit in both masks, and a bit both have
    holds at most 1 + min(extra) shared shingles beyond the first: so |A & B| <= popcount(mask_A &
    mask_B) + min(extra_A, extra_B)); 80-90% of the LSH candidates fail one of them. The merge
    stops once the intersection so far plus the shingles left on the shorter side fall short.
    """
    for i in range(first.shape[0]):
        f = first[i]
        g = second[i]
        p, p_end = offsets[f], offsets[f + 1]
        q, q_end = offsets[g], offsets[g + 1]
        size = (p_end - p) + (q_end - q)
        need = threshold * size / (1.0 + threshold) - 1e-9
        if min(p_end - p, q_end - q) < need:
            out[i] = -1.0
            continue
        shared_bits = popcount(low[f] & low[g]) + popcount(high[f] & high[g])
        if shared_bits + min(extra[f], extra[g]) < need:
            out[i] = -1.0
            continue
        inter = 0
        abandoned = False
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
        if count <= 48:
            # Insertion sort: a text has a few dozen shingles, where the library sort's set-up
            # costs more than the sort.
            for s in range(start + 1, start + count):
                value = values[s]
                t = s - 1
                while t >= start and values[t] > value:
                    values[t + 1] = values[t]
                    t -= 1
                values[t + 1] = value
        else:
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
def band_firsts(old: Any, new: Any, fresh_from: int, firsts: Any) -> None:
    """For every band and every text at or after ``fresh_from``, the first (lowest) position whose
    key in that band equals the text's: ``firsts[band, text - fresh_from]`` (the text itself when no
    earlier text shares the key). Keys are the columns of ``old`` then ``new`` (bands x texts).

    One open-addressing hash table per band, linear in the texts (a sort of each band was
    n log n). It holds positions only (int32, about 1.5 slots a text, so it stays in cache; the
    full 64-bit key of an occupied slot is read from the keys), inserted in order, so the first
    text of a key is the one kept.
    """
    n_old = old.shape[1]
    n = n_old + new.shape[1]
    bits = 1
    while (1 << bits) < n + n // 2:
        bits += 1
    mask = (1 << bits) - 1
    shift = np.uint64(64 - bits)
    table = np.empty(1 << bits, np.int32)
    for band in range(new.shape[0]):
        table[:] = -1
        for i in range(n):
            key = old[band, i] if i < n_old else new[band, i - n_old]
            # Fibonacci hashing: the slot from the product's high bits, whatever the keys' low bits.
            slot = np.int64((key * _GOLDEN) >> shift)
            while True:
                held = table[slot]
                if held < 0:
                    table[slot] = i
                    first = i
                    break
                if (old[band, held] if held < n_old else new[band, held - n_old]) == key:
                    first = held
                    break
                slot = (slot + 1) & mask
            if i >= fresh_from:
                firsts[band, i - fresh_from] = first


@njit(cache=True, nogil=True)
def star_pairs(firsts: Any, fresh_from: int, n: int) -> Any:
    """The distinct pairs ``first << 32 | member`` of :func:`band_firsts`' table (a member is a text
    at or after ``fresh_from`` whose first in some band is another text), sorted.

    Each text's distinct firsts are listed once (texts read in blocks of 1,024, so the band-major
    table is read a cache line at a time), then placed by a counting sort on the first text; members
    ascend within a first because they were listed in order.
    """
    bands, rows = firsts.shape
    block = 1024
    local = np.empty((block, bands), np.int32)
    counts = np.zeros(n + 1, np.int64)
    capacity = max(rows, 16)
    firsts_of = np.empty(capacity, np.int32)
    members_of = np.empty(capacity, np.int32)
    total = 0
    for lo in range(0, rows, block):
        hi = min(lo + block, rows)
        for j in range(bands):
            for r in range(lo, hi):
                local[r - lo, j] = firsts[j, r]
        for r in range(lo, hi):
            member = r + fresh_from
            start = total
            for j in range(bands):
                f = local[r - lo, j]
                if f == member:
                    continue
                seen = False
                for u in range(start, total):
                    if firsts_of[u] == f:
                        seen = True
                        break
                if seen:
                    continue
                if total == capacity:
                    capacity *= 2
                    grown = np.empty(capacity, np.int32)
                    grown[:total] = firsts_of[:total]
                    firsts_of = grown
                    grown = np.empty(capacity, np.int32)
                    grown[:total] = members_of[:total]
                    members_of = grown
                firsts_of[total] = f
                members_of[total] = member
                counts[f] += 1
                total += 1
    place = 0
    for f in range(n + 1):
        c = counts[f]
        counts[f] = place
        place += c
    out = np.empty(total, np.uint64)
    for u in range(total):
        f = firsts_of[u]
        out[counts[f]] = (np.uint64(f) << _S32) | np.uint64(members_of[u])
        counts[f] += 1
    return out
