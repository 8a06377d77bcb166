"""The hashing kernel shared by detection (``vigil.detect.similarity``) and matching (``vigil.match.index``).

One place for the bit-level pieces both layers need, so a fix or a speed-up lands in both:

* **mixing**: the splitmix64 finalizer (:func:`splitmix64`), which spreads a 64-bit word over all
  64 bits; MinHash shingles, LSH band keys and derived constants all go through it;
* **permutations**: multiply-shift hash functions ``h(x) = a x + b mod 2**64`` with odd ``a``
  (a bijection of 64-bit words), from a fixed counter (:func:`counter_permutations`: constants that
  can never change with a numpy release, for values that leave the process) or from a seed
  (:func:`seeded_permutations`: detection's own, never shared);
* **popcount**: Hamming distances of packed bit codes (:func:`hamming`, :func:`hamming_sums`);
* **multi-index probe plan**: how a radius splits over disjoint chunks (:func:`chunk_radii`, the
  pigeonhole rule) and every chunk mask within a chunk's radius (:func:`masks_within`).

Two MinHash schemes use these pieces, on purpose, as two named things (docs/signals.md):
``text_minhash`` signals (character 5-grams, 128 counter permutations, 1,024 hex characters) are
what members share, so their constants are fixed forever; detection's near-duplicate search
(word 2-shingles, seeded permutations, :mod:`vigil.detect.similarity.minhash`) only proposes
candidates that exact Jaccard then verifies inside one run, and a text has about a sixth as many
word 2-shingles as character 5-grams (13 against 77 on generated posts). Detection's items are
named by ``text_exact`` values, never by its MinHash, so nothing it emits depends on which scheme
it uses.
"""

from __future__ import annotations

from functools import cache
from itertools import combinations

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]

GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio: splitmix64's counter step
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64(values: U64) -> U64:
    """The splitmix64 finalizer of each word (uint64 arithmetic wraps modulo 2**64, as it should)."""
    z = values ^ (values >> np.uint64(30))
    z = z * _MIX1
    z = z ^ (z >> np.uint64(27))
    z = z * _MIX2
    out: U64 = z ^ (z >> np.uint64(31))
    return out


def counter_permutations(count: int) -> tuple[U64, U64]:
    """``count`` multiply-shift functions (odd multipliers, offsets) derived by splitmix64 from the
    counters 1..2*count: the same constants on every machine and numpy release."""
    multipliers = splitmix64(np.arange(1, count + 1, dtype=np.uint64) * GOLDEN) | np.uint64(1)
    offsets = splitmix64(np.arange(count + 1, 2 * count + 1, dtype=np.uint64) * GOLDEN)
    return multipliers, offsets


def seeded_permutations(count: int, seed: int) -> tuple[U64, U64]:
    """``count`` multiply-shift functions drawn from numpy's generator seeded with ``seed`` (odd
    multipliers); for values that never leave one run."""
    rng = np.random.default_rng(seed)
    multipliers = rng.integers(1, 2**63, size=count, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    offsets = rng.integers(0, 2**63, size=count, dtype=np.uint64)
    return multipliers, offsets


def hamming(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    """Bits that differ between rows of two packed code arrays (n, bytes)."""
    result: npt.NDArray[np.int64] = np.bitwise_count(np.bitwise_xor(a, b)).sum(axis=1, dtype=np.int64)
    return result


def hamming_sums(x: U64) -> npt.NDArray[np.uint32]:
    """Popcount of each (n, 4) row of 64-bit XORs: exact for 0..255, and 256 (every bit differs)
    reads 0, which callers that can meet it must tell apart from an all-zero XOR."""
    per_word = np.bitwise_count(x)  # (n, 4) uint8
    packed = np.ascontiguousarray(per_word).view(np.uint32).reshape(-1)
    # Multiplying by 0x01010101 sums the four bytes into the top byte (no lower byte can carry).
    total: npt.NDArray[np.uint32] = (packed * np.uint32(0x01010101)) >> np.uint32(24)
    return total


def chunk_radii(radius: int, chunks: int) -> tuple[int, ...]:
    """Each chunk's search radius when codes within ``radius`` are split into ``chunks`` disjoint
    chunks (-1: not needed). By pigeonhole, two codes within ``radius`` agree within these radii on
    at least one chunk."""
    s, a = divmod(radius, chunks)
    return tuple(s if c <= a else s - 1 for c in range(chunks))


@cache
def masks_within(bits: int, radius: int) -> npt.NDArray[np.int64]:
    """Every ``bits``-bit mask with at most ``radius`` bits set, fewest bits first (none for a
    negative radius; read-only)."""
    out = [np.zeros(1 if radius >= 0 else 0, dtype=np.int64)]
    for k in range(1, min(radius, bits) + 1):
        positions = np.array(list(combinations(range(bits), k)), dtype=np.int64)
        out.append(np.bitwise_or.reduce(np.left_shift(np.int64(1), positions), axis=1))
    masks = np.concatenate(out)
    masks.flags.writeable = False  # cached: a caller must not change it for the next one
    return masks
