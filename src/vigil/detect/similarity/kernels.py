"""Compiled loops (numba) of the near-duplicate search: MinHash band keys and exact Jaccard.

The numpy versions in :mod:`vigil.detect.similarity.minhash` build a (shingles x permutations)
matrix and reduce it: five passes over 128 words per shingle through memory, 60% of the
near-duplicate trace's time at 1M posts. These loops compute the same numbers in registers, one
text at a time, and go straight from a text's signature to its band keys (the signature is never
stored). Results are bit for bit those of the numpy path (tests/detect/test_minhash_kernels.py):

* ``min(a x + b) >> 32`` equals ``min((a x + b) >> 32)`` (the shift is monotone), so the minimum is
  taken on the 64-bit words and shifted once per permutation;
* band keys fold each band's values through splitmix64 in the same order as ``band_keys``;
* Jaccard is ``|A & B| / |A | B|`` on the sorted distinct shingle values, by a merge.

numba is imported on first use (it takes ~0.3 s), and compiled code is cached on disk
(``cache=True``), so a process pays compilation once per machine, not once per run.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@cache
def _compiled() -> Any:
    """The compiled kernels' module (imports numba; compiles, or loads numba's cache, on first call)."""
    from vigil.detect.similarity import _numba_kernels

    return _numba_kernels


def signatures(values: U32, offsets: I64, a: U64, b: U64) -> U32:
    """MinHash signatures (n_texts, len(a)) of CSR shingle sets; an empty text gets all-ones."""
    out = np.empty((len(offsets) - 1, len(a)), dtype=np.uint32)
    _compiled().signatures(values.astype(np.uint32, copy=False), offsets.astype(np.int64), a, b, out)
    return out


def band_keys(values: U32, offsets: I64, a: U64, b: U64, bands: int) -> U64:
    """LSH band keys (bands, n_texts) of CSR shingle sets, as ``minhash.band_keys(signatures(...))``."""
    out = np.empty((bands, len(offsets) - 1), dtype=np.uint64)
    rows = len(a) // bands
    _compiled().band_keys(values.astype(np.uint32, copy=False), offsets.astype(np.int64), a, b, rows, out)
    return out


def jaccard(values: U32, offsets: I64, first: I64, second: I64) -> F64:
    """Exact Jaccard similarity of the (sorted, distinct) shingle sets of each pair."""
    out = np.empty(len(first), dtype=np.float64)
    _compiled().jaccard(
        values, offsets.astype(np.int64), first.astype(np.int64), second.astype(np.int64), out
    )
    return out


def jaccard_at_least(values: U32, offsets: I64, first: I64, second: I64, threshold: float) -> F64:
    """:func:`jaccard` for the pairs that can reach ``threshold``; the others get -1.0 (abandoned as
    soon as their sizes or the shingles left to merge rule the threshold out)."""
    out = np.empty(len(first), dtype=np.float64)
    _compiled().jaccard_at_least(
        values, offsets.astype(np.int64), first.astype(np.int64), second.astype(np.int64), threshold, out
    )
    return out


def shingle_sets(data: npt.NDArray[np.uint8], offsets: I64, k: int) -> tuple[I64, U32]:
    """CSR shingle sets (offsets, sorted distinct 32-bit values per text) of the UTF-8 texts
    ``data[offsets[i]:offsets[i + 1]]``, as ``minhash.shingle_sets_numpy`` computes them.

    Two passes: count each text's shingles, then hash, sort and deduplicate each text's shingles
    in place and pack them left (a text's packed start never passes its unpacked start).
    """
    compiled = _compiled()
    n = len(offsets) - 1
    counts = np.empty(n, dtype=np.int64)
    compiled.shingle_counts(data, offsets, k, counts)
    starts = np.zeros(n, dtype=np.int64)
    if n > 1:
        np.cumsum(counts[:-1], out=starts[1:])
    values = np.empty(int(counts.sum()), dtype=np.uint32)
    out_offsets = np.zeros(n + 1, dtype=np.int64)
    compiled.shingles(data, offsets, k, starts, values, out_offsets)
    return out_offsets, values[: out_offsets[-1]].copy()


def join_leaders(
    later: I64,
    earlier: I64,
    sim: F64,
    labels: I64,
    is_leader: npt.NDArray[np.bool_],
    score: F64,
) -> None:
    """The leader pass over one batch of pairs sorted by (later node, distance, earlier node), in
    place: a node joins its first candidate still a leader (``labels``, ``is_leader`` and the
    pair's similarity in ``score``), or stays a leader. A node's pairs must not span two calls."""
    _compiled().join_leaders(
        later.astype(np.int64, copy=False),
        earlier.astype(np.int64, copy=False),
        sim.astype(np.float64, copy=False),
        labels,
        is_leader,
        score,
    )


def band_pairs(tagged: U64, key: U64, low: np.uint64, fresh_from: int) -> U64 | None:
    """The pairs of one LSH band (see ``minhash.lsh_pairs``) from its keys sorted with positions in
    their ``low`` bits, or None when two different keys share their high bits (group by argsort)."""
    out = np.empty(len(tagged), dtype=np.uint64)
    count = _compiled().band_pairs(tagged, key, np.uint64(low), int(fresh_from), out)
    if count < 0:
        return None
    return out[:count]
