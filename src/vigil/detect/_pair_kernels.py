"""The numba loops behind :mod:`vigil.detect.pairs` (imported only through it).

Events arrive sorted by item, then time. For each event the loops walk forward over the later
events of the same item while they lie within the window (a sliding window per item, so the work
is the matched pairs plus the same-account pairs in the window, never the item's whole square),
and keep a pair when its accounts differ and its time buckets are at most one apart (the bucket
join's own condition, so the pairs are exactly the SQL step's, float rounding included).

Module-level functions, so numba can cache their machine code on disk (``cache=True``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def count_pairs(item: Any, aid: Any, ts: Any, bucket: Any, window: float) -> int:
    """How many event pairs of the same item, different accounts, within ``window`` there are."""
    n = item.shape[0]
    total = 0
    for i in range(n):
        j = i + 1
        while j < n and item[j] == item[i] and ts[j] - ts[i] <= window:
            if aid[j] != aid[i] and bucket[j] - bucket[i] <= 1.0:
                total += 1
            j += 1
    return total


@njit(cache=True, nogil=True)
def fill_pairs(item: Any, aid: Any, ts: Any, bucket: Any, window: float, first: Any, second: Any) -> None:
    """Write the pairs :func:`count_pairs` counts as event positions, ``first`` the one of the
    smaller account id; item by item, so each item's pairs are contiguous."""
    n = item.shape[0]
    k = 0
    for i in range(n):
        j = i + 1
        while j < n and item[j] == item[i] and ts[j] - ts[i] <= window:
            if aid[j] != aid[i] and bucket[j] - bucket[i] <= 1.0:
                if aid[i] < aid[j]:
                    first[k] = i
                    second[k] = j
                else:
                    first[k] = j
                    second[k] = i
                k += 1
            j += 1


@njit(cache=True, nogil=True)
def sort_within_items(item: Any, aid: Any, first: Any, second: Any, n_accounts: int) -> int:
    """Order each item's pairs by account pair (stable, so pairs keep their time order within an
    account pair); return the number of (item, account pair) groups."""
    n = first.shape[0]
    groups = 0
    lo = 0
    while lo < n:
        it = item[first[lo]]
        hi = lo + 1
        while hi < n and item[first[hi]] == it:
            hi += 1
        if hi - lo > 1:
            keys = np.empty(hi - lo, np.int64)
            for k in range(lo, hi):
                keys[k - lo] = aid[first[k]] * n_accounts + aid[second[k]]
            order = np.argsort(keys, kind="mergesort")
            f = first[lo:hi].copy()
            s = second[lo:hi].copy()
            for k in range(hi - lo):
                first[lo + k] = f[order[k]]
                second[lo + k] = s[order[k]]
            groups += 1
            for k in range(1, hi - lo):
                if keys[order[k]] != keys[order[k - 1]]:
                    groups += 1
        else:
            groups += 1
        lo = hi
    return groups


@njit(cache=True, nogil=True)
def fill_groups(
    item: Any,
    aid: Any,
    ts: Any,
    first: Any,
    second: Any,
    a1: Any,
    a2: Any,
    iid: Any,
    nco: Any,
    ft: Any,
    lt: Any,
    start: Any,
) -> None:
    """One row per (item, account pair) of the sorted pairs: its accounts, item, number of post
    pairs, first and last time of its posts, and where its pairs start."""
    n = first.shape[0]
    g = -1
    for k in range(n):
        f = first[k]
        s = second[k]
        lo_t = min(ts[f], ts[s])
        hi_t = max(ts[f], ts[s])
        if g < 0 or item[f] != iid[g] or aid[f] != a1[g] or aid[s] != a2[g]:
            g += 1
            a1[g] = aid[f]
            a2[g] = aid[s]
            iid[g] = item[f]
            nco[g] = 1
            ft[g] = lo_t
            lt[g] = hi_t
            start[g] = k
        else:
            nco[g] += 1
            ft[g] = min(ft[g], lo_t)
            lt[g] = max(lt[g], hi_t)
