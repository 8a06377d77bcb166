"""Near-duplicate text search: word shingles, vectorized MinHash, LSH banding, exact Jaccard check.

Pure-Python MinHash (datasketch's ``MinHash.update`` per token) costs tens of microseconds per
text; here every step is a numpy operation over all texts of a chunk at once:

* tokens are dictionary-encoded by Arrow, each distinct token hashed once (BLAKE2b, 64 bits), and
  word ``k``-shingles are combined arithmetically from token hashes, then reduced to 32 bits;
* MinHash uses multiply-shift hashing ``(a * x + b) >> 32`` over 64-bit words with ``num_perm``
  random odd ``a`` and random ``b`` (fixed seed, so signatures are reproducible); mixing and
  permutations come from the kernel shared with matching (:mod:`vigil.signals.hashing`, which also
  says why this scheme is not the ``text_minhash`` signal's);
* LSH splits a signature into ``bands`` bands of ``rows`` values; texts equal on a band are
  candidates. Within a band bucket every member is paired with the bucket's first text only
  (linear, not quadratic, in the bucket size; the clustering connects the rest);
* each candidate pair's **exact** Jaccard similarity of its shingle sets is computed (vectorized by
  sorting), so a pair is kept iff J >= threshold: MinHash only proposes, it never decides.

The probability that a pair of true Jaccard ``s`` becomes a candidate is ``1 - (1 - s**rows)**bands``
(128 permutations, 32 bands of 4: 0.99 at s = 0.6, 0.87 at s = 0.5, 0.18 at s = 0.3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from vigil.detect.similarity import kernels
from vigil.signals.hashing import GOLDEN, seeded_permutations, splitmix64

U64 = npt.NDArray[np.uint64]
U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]
ScalarT = TypeVar("ScalarT", bound=np.generic)
F64 = npt.NDArray[np.float64]

_MASK32 = np.uint64(0xFFFFFFFF)
# Rows of the (shingles x permutations) work matrix per step: 32k x 128 x 8 bytes = 32 MB.
_BLOCK = 32_768


@dataclass(frozen=True)
class MinHashParams:
    """Shingling, MinHash and LSH parameters (see the module docstring for their effect)."""

    shingle_size: int = 2
    num_perm: int = 128
    bands: int = 32
    seed: int = 20240601

    def __post_init__(self) -> None:
        if self.shingle_size < 1:
            raise ValueError("shingle_size must be >= 1")
        if self.num_perm < 1 or self.bands < 1 or self.num_perm % self.bands:
            raise ValueError("num_perm must be a positive multiple of bands")

    @property
    def rows(self) -> int:
        return self.num_perm // self.bands

    def candidate_probability(self, jaccard: float) -> float:
        """Probability that two texts of true Jaccard similarity ``jaccard`` become candidates."""
        return float(1.0 - (1.0 - jaccard**self.rows) ** self.bands)


@dataclass(frozen=True)
class ShingleSets:
    """Sorted distinct 32-bit shingle hashes per text (CSR): text i has values[offsets[i]:offsets[i+1]]."""

    offsets: I64
    values: U32

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def sizes(self) -> I64:
        sizes: I64 = np.diff(self.offsets)
        return sizes


def sorted_unique(keys: npt.NDArray[ScalarT]) -> npt.NDArray[ScalarT]:
    """Sorted distinct values, ``np.unique``'s answer: numpy 2's np.unique hashes first, several
    times slower here (and about 80 times a sort's time on the engine's pair keys, numpy 2.4)."""
    keys = np.sort(keys)
    if len(keys) == 0:
        return keys
    result: npt.NDArray[ScalarT] = keys[np.r_[True, keys[1:] != keys[:-1]]]
    return result


_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK64 = (1 << 64) - 1


def token_hash(token: bytes) -> int:
    """The 64-bit hash of one token's UTF-8 bytes: FNV-1a, then splitmix64 of it with the length
    mixed in (the compiled shingle kernel's hash, in Python)."""
    h = _FNV_OFFSET
    for byte in token:
        h = ((h ^ byte) * _FNV_PRIME) & _MASK64
    return int(splitmix64(np.array([h ^ len(token)], dtype=np.uint64))[0])


def _token_hashes(tokens: pa.Array) -> U64:
    """:func:`token_hash` of each token, computing each distinct token's hash once."""
    encoded = pc.dictionary_encode(tokens)
    distinct = encoded.dictionary.to_pylist()
    table = np.fromiter(
        (token_hash(t.encode("utf-8")) for t in distinct), dtype=np.uint64, count=len(distinct)
    )
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    result: U64 = table[indices]
    return result


def _utf8_buffers(values: pa.Array) -> tuple[npt.NDArray[np.uint8], I64]:
    """The UTF-8 bytes (zero-copy) and the n + 1 offsets of a string array without nulls."""
    if not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    _, offsets_buffer, data_buffer = values.buffers()
    n = len(values)
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[values.offset : values.offset + n + 1]
    if data_buffer is None:
        return np.zeros(0, dtype=np.uint8), offsets.astype(np.int64)
    return np.frombuffer(data_buffer, dtype=np.uint8), offsets.astype(np.int64)


def shingle_sets(normalized: pa.Array | pa.ChunkedArray, shingle_size: int = 2) -> ShingleSets:
    """Word ``shingle_size``-shingles of each normal form (a shorter text: one shingle of all words).

    Tokens are the pieces between single spaces; a shingle is a 32-bit hash of its tokens'
    :func:`token_hash` values. A compiled loop reads the Arrow UTF-8 bytes directly
    (:func:`shingle_sets_numpy` computes the same in numpy, the reference it is tested against).
    """
    values = normalized.combine_chunks() if isinstance(normalized, pa.ChunkedArray) else normalized
    values = pc.fill_null(values, "")
    data, offsets = _utf8_buffers(values)
    out_offsets, out_values = kernels.shingle_sets(data, offsets, shingle_size)
    return ShingleSets(offsets=out_offsets, values=out_values)


def shingle_sets_numpy(normalized: pa.Array | pa.ChunkedArray, shingle_size: int = 2) -> ShingleSets:
    """:func:`shingle_sets` in numpy over Arrow's token split (the compiled kernel's reference)."""
    values = normalized.combine_chunks() if isinstance(normalized, pa.ChunkedArray) else normalized
    values = pc.fill_null(values, "")
    n = len(values)
    lists = pc.split_pattern(values, " ")
    token_offsets = lists.offsets.to_numpy().astype(np.int64)
    token_offsets = token_offsets - token_offsets[0]
    lengths = np.diff(token_offsets)
    hashes = _token_hashes(lists.flatten()) if token_offsets[-1] else np.zeros(0, np.uint64)
    doc_of_token = np.repeat(np.arange(n, dtype=np.int64), lengths)
    position = np.arange(len(hashes), dtype=np.int64) - token_offsets[doc_of_token]
    k = shingle_size
    remaining = lengths[doc_of_token] - position  # tokens from here to the end of the text
    # A shingle starts at every position with k tokens ahead, or at position 0 of a shorter text.
    starts = np.flatnonzero((remaining >= k) | ((position == 0) & (lengths[doc_of_token] < k)))
    combined = np.zeros(len(starts), dtype=np.uint64)
    for j in range(k):
        # Positions beyond a short text's end contribute nothing.
        idx = starts + j
        inside = j < remaining[starts]
        part = np.where(inside, hashes[np.minimum(idx, max(len(hashes) - 1, 0))], np.uint64(0))
        combined = combined * GOLDEN + part
    shingles = (splitmix64(combined) >> np.uint64(32)).astype(np.uint64)
    docs = doc_of_token[starts].astype(np.uint64)
    keys = sorted_unique((docs << np.uint64(32)) | shingles)
    key_docs = (keys >> np.uint64(32)).astype(np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(key_docs, minlength=n), out=offsets[1:])
    return ShingleSets(offsets=offsets, values=(keys & _MASK32).astype(np.uint32))


def signatures(sets: ShingleSets, params: MinHashParams) -> U32:
    """MinHash signatures, shape (n_texts, num_perm); a text without shingles gets all-ones."""
    a, b = seeded_permutations(params.num_perm, params.seed)
    return kernels.signatures(sets.values, sets.offsets, a, b)


def signatures_numpy(sets: ShingleSets, params: MinHashParams) -> U32:
    """:func:`signatures` in numpy (the reference the compiled kernel is tested against)."""
    a, b = seeded_permutations(params.num_perm, params.seed)
    n = len(sets)
    out = np.full((n, params.num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    sizes = sets.sizes
    nonempty = np.flatnonzero(sizes > 0)
    if len(nonempty) == 0:
        return out
    x = sets.values.astype(np.uint64)
    # Group whole texts into blocks of about _BLOCK shingles so each block's minima reduce in place.
    cumulative = sets.offsets[nonempty + 1]
    block_of = (cumulative - 1) // _BLOCK
    boundaries = np.flatnonzero(np.r_[True, block_of[1:] != block_of[:-1]])
    boundaries = np.r_[boundaries, len(nonempty)]
    with np.errstate(over="ignore"):
        for lo, hi in zip(boundaries[:-1].tolist(), boundaries[1:].tolist(), strict=True):
            docs = nonempty[lo:hi]
            first, last = sets.offsets[docs[0]], sets.offsets[docs[-1] + 1]
            hv = ((x[first:last, None] * a[None, :] + b[None, :]) >> np.uint64(32)).astype(np.uint32)
            out[docs] = np.minimum.reduceat(hv, sets.offsets[docs] - first, axis=0)
    return out


def band_keys(sigs: U32, params: MinHashParams) -> U64:
    """One 64-bit key per band and text, shape (bands, n_texts): texts equal on a band share its key.

    Half the size of the signatures they come from, and all LSH needs: a text's signature can be
    dropped once its band keys exist.
    """
    n = sigs.shape[0]
    keys = np.empty((params.bands, n), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for band in range(params.bands):
            # One band at a time: a 64-bit copy of the whole signature matrix would double memory.
            cols = sigs[:, band * params.rows : (band + 1) * params.rows].astype(np.uint64)
            key = np.full(n, np.uint64(band), dtype=np.uint64)
            for c in range(cols.shape[1]):
                key = splitmix64(key * GOLDEN + cols[:, c])
            keys[band] = key
    return keys


def sketch(
    normalized: pa.Array | pa.ChunkedArray, params: MinHashParams, *, block: int = 50_000
) -> tuple[ShingleSets, U64]:
    """Shingle sets and LSH band keys of normal forms, ``block`` texts at a time.

    Equal to ``shingle_sets`` then ``band_keys(signatures(...))`` on all texts at once; working in
    blocks bounds the temporaries (token arrays, the signature matrix) to one block's.
    """
    values = normalized.combine_chunks() if isinstance(normalized, pa.ChunkedArray) else normalized
    n = len(values)
    a, b = seeded_permutations(params.num_perm, params.seed)
    if n <= block:
        sets = shingle_sets(values, params.shingle_size)
        return sets, kernels.band_keys(sets.values, sets.offsets, a, b, params.bands)
    parts: list[ShingleSets] = []
    keys = np.empty((params.bands, n), dtype=np.uint64)
    for lo in range(0, n, block):
        part = shingle_sets(values.slice(lo, block), params.shingle_size)
        keys[:, lo : lo + len(part)] = kernels.band_keys(part.values, part.offsets, a, b, params.bands)
        parts.append(part)
    return concat_sets(parts), keys


def concat_sets(parts: list[ShingleSets]) -> ShingleSets:
    """The texts of several ShingleSets, one after the other."""
    if not parts:
        return ShingleSets(np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.uint32))
    shifts = np.cumsum([0] + [int(p.offsets[-1]) for p in parts[:-1]])
    offsets = np.concatenate(
        [parts[0].offsets[:1]] + [p.offsets[1:] + shift for p, shift in zip(parts, shifts, strict=True)]
    )
    return ShingleSets(offsets.astype(np.int64), np.concatenate([p.values for p in parts]))


def subset(sets: ShingleSets, rows: I64) -> ShingleSets:
    """The texts ``rows`` of ``sets``, in that order."""
    sizes = sets.sizes[rows]
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    _, values = _gather(sets, rows)
    return ShingleSets(offsets, values)


def lsh_pairs(keys: U64 | Sequence[U64], *, fresh_from: int = 0) -> U64:
    """Candidate pairs of texts sharing a band key, encoded ``first << 32 | second``, sorted, distinct.

    Each key's texts are paired with its first text. ``keys`` has shape (bands, n_texts) (see
    :func:`band_keys`), or is a list of such blocks of consecutive texts (the last block is read in
    place, the earlier ones joined: the caller's carried texts). Only pairs with a text at position
    ``>= fresh_from`` are kept (the others were checked before).

    Compiled (``kernels.star_pairs``): per band a hash table gives each text the first text of its
    key; then each text's distinct firsts over all bands are its pairs, placed by a counting sort on
    the first text. A pair found in several bands is one pair of the text's row, so there is no
    sort of the bands' pairs to de-duplicate them (it was a sort per band and one of all pairs).
    """
    blocks = [keys] if isinstance(keys, np.ndarray) else list(keys)
    return kernels.star_pairs(blocks, fresh_from)


def decode_pairs(pairs: U64) -> tuple[I64, I64]:
    """(a, b) with a < b from pairs encoded by :func:`lsh_pairs`."""
    first = (pairs >> np.uint64(32)).astype(np.int64)
    second = (pairs & _MASK32).astype(np.int64)
    return np.minimum(first, second), np.maximum(first, second)


def lsh_candidates_from_keys(keys: U64 | Sequence[U64]) -> tuple[I64, I64]:
    """Candidate pairs (a < b) of texts sharing a band key (see :func:`lsh_pairs`)."""
    return decode_pairs(lsh_pairs(keys))


def lsh_candidates(sigs: U32, params: MinHashParams) -> tuple[I64, I64]:
    """Candidate pairs (a < b) of texts equal on at least one band; each bucket paired with its first text."""
    return lsh_candidates_from_keys(band_keys(sigs, params))


def _gather(sets: ShingleSets, docs: I64) -> tuple[I64, U32]:
    """The shingles of ``docs`` concatenated, with the position in ``docs`` each came from."""
    sizes = sets.sizes[docs]
    owner = np.repeat(np.arange(len(docs), dtype=np.int64), sizes)
    starts = np.cumsum(sizes) - sizes
    within = np.arange(int(sizes.sum()), dtype=np.int64) - starts[owner]
    return owner, sets.values[sets.offsets[docs][owner] + within]


def jaccard(sets: ShingleSets, a: I64, b: I64, *, at_least: float = 0.0) -> F64:
    """Exact Jaccard similarity of the shingle sets of each pair (a[i], b[i]).

    With ``at_least`` > 0, a pair that cannot reach it (by its set sizes, or once too few shingles
    are left to match) is abandoned and gets a value below ``at_least`` instead of its similarity:
    for a caller that keeps only the pairs >= ``at_least``, the same result, sooner.
    """
    if at_least > 0.0:
        return kernels.jaccard_at_least(sets.values, sets.offsets, a, b, at_least)
    return kernels.jaccard(sets.values, sets.offsets, a, b)


def jaccard_numpy(sets: ShingleSets, a: I64, b: I64, *, batch: int = 50_000) -> F64:
    """:func:`jaccard` in numpy, by sorting (the reference the compiled kernel is tested against)."""
    result = np.zeros(len(a), dtype=np.float64)
    for lo in range(0, len(a), batch):
        pa_, pb_ = a[lo : lo + batch], b[lo : lo + batch]
        owner_a, values_a = _gather(sets, pa_)
        owner_b, values_b = _gather(sets, pb_)
        keys = np.concatenate(
            [
                (owner_a.astype(np.uint64) << np.uint64(32)) | values_a.astype(np.uint64),
                (owner_b.astype(np.uint64) << np.uint64(32)) | values_b.astype(np.uint64),
            ]
        )
        keys.sort()
        dup = keys[1:][keys[1:] == keys[:-1]]
        inter = np.bincount((dup >> np.uint64(32)).astype(np.int64), minlength=len(pa_))
        union = sets.sizes[pa_] + sets.sizes[pb_] - inter
        result[lo : lo + batch] = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    return result


def near_duplicate_pairs(sets: ShingleSets, params: MinHashParams, threshold: float) -> tuple[I64, I64, F64]:
    """Pairs (a < b) whose exact shingle Jaccard is >= ``threshold``, found through MinHash LSH."""
    a, b = lsh_candidates(signatures(sets, params), params)
    sim = jaccard(sets, a, b)
    keep = sim >= threshold
    return a[keep], b[keep], sim[keep]
