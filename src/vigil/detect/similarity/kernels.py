"""Compiled loops (numba) of the near-duplicate search: MinHash band keys and exact Jaccard.

The numpy versions in :mod:`vigil.detect.similarity.minhash` build a (shingles x permutations)
matrix and reduce it: five passes over 128 words per shingle through memory, 60% of the
near-duplicate trace's time at 1M posts. These loops compute the same numbers in registers, one
text at a time, and go straight from a text's signature to its band keys (the signature is never
stored). Results are bit for bit those of the numpy path (tests/detect/test_minhash_kernels.py):

* ``(a x + b) >> 32`` is computed from 32-bit halves of ``a`` and ``b`` (one 32 x 32 -> 64-bit
  product and 32-bit arithmetic; see ``_numba_kernels.signature``), which AVX2 vectorizes across
  permutations, and the minimum is taken on 32-bit lanes;
* band keys fold each band's values through splitmix64 in the same order as ``band_keys``;
* Jaccard is ``|A & B| / |A | B|`` on the sorted distinct shingle values, by a merge;
* LSH candidates come from a hash table per band and each text's distinct band leaders
  (``star_pairs``), not from sorting the bands and their pairs.

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


def _halves(a: U64, b: U64) -> tuple[U64, U64, U32, U32]:
    """The permutations' multipliers and offsets split in 32-bit halves, as the kernels take them."""
    mask = np.uint64(0xFFFFFFFF)
    a = a.astype(np.uint64, copy=False)
    b = b.astype(np.uint64, copy=False)
    return (
        a & mask,
        b & mask,
        (a >> np.uint64(32)).astype(np.uint32),
        (b >> np.uint64(32)).astype(np.uint32),
    )


def signatures(values: U32, offsets: I64, a: U64, b: U64) -> U32:
    """MinHash signatures (n_texts, len(a)) of CSR shingle sets; an empty text gets all-ones."""
    out = np.empty((len(offsets) - 1, len(a)), dtype=np.uint32)
    _compiled().signatures(
        values.astype(np.uint32, copy=False), offsets.astype(np.int64), *_halves(a, b), out
    )
    return out


def band_keys(values: U32, offsets: I64, a: U64, b: U64, bands: int) -> U64:
    """LSH band keys (bands, n_texts) of CSR shingle sets, as ``minhash.band_keys(signatures(...))``."""
    out = np.empty((bands, len(offsets) - 1), dtype=np.uint64)
    rows = len(a) // bands
    _compiled().band_keys(
        values.astype(np.uint32, copy=False), offsets.astype(np.int64), *_halves(a, b), rows, out
    )
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
    soon as their sizes, their shingle masks or the shingles left to merge rule the threshold out)."""
    compiled = _compiled()
    offsets = offsets.astype(np.int64)
    n = len(offsets) - 1
    low, high, extra = np.empty(n, np.uint64), np.empty(n, np.uint64), np.empty(n, np.int64)
    compiled.shingle_masks(values, offsets, low, high, extra)
    out = np.empty(len(first), dtype=np.float64)
    compiled.jaccard_at_least(
        values, offsets, low, high, extra, first.astype(np.int64), second.astype(np.int64), threshold, out
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


def star_pairs(blocks: list[U64], fresh_from: int) -> U64:
    """LSH candidates of band keys given as blocks of consecutive texts (each bands x texts), as
    ``minhash.lsh_pairs`` defines them: per band, every text paired with the first text of its key,
    kept when the later one is at or after ``fresh_from``; distinct, sorted, ``first << 32 | member``.
    """
    compiled = _compiled()
    if len(blocks) == 1:
        old, new = blocks[0][:, :0], blocks[0]
    elif len(blocks) == 2:
        old, new = blocks
    else:
        old, new = np.concatenate(blocks[:-1], axis=1), blocks[-1]
    n = old.shape[1] + new.shape[1]
    fresh_from = min(max(int(fresh_from), 0), n)
    firsts = np.empty((new.shape[0], n - fresh_from), dtype=np.int32)
    compiled.band_firsts(
        np.ascontiguousarray(old, dtype=np.uint64),
        np.ascontiguousarray(new, dtype=np.uint64),
        fresh_from,
        firsts,
    )
    result: U64 = compiled.star_pairs(firsts, fresh_from, n)
    return result
