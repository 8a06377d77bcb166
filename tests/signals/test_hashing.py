"""The hashing kernel shared by detection and matching (vigil.signals.hashing)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vigil.signals.hashing import (
    chunk_radii,
    counter_permutations,
    hamming,
    hamming_sums,
    masks_within,
    seeded_permutations,
    splitmix64,
)

MASK = (1 << 64) - 1


def splitmix64_reference(x: int) -> int:
    """The published splitmix64 finalizer on Python integers (Steele, Lea and Flood 2014)."""
    z = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & MASK
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB & MASK
    return z ^ (z >> 31)


def test_splitmix64_matches_the_reference_on_random_words() -> None:
    words = np.random.default_rng(7).integers(0, 2**63, size=1000, dtype=np.uint64) * np.uint64(
        2
    ) + np.uint64(1)
    got = splitmix64(words)
    assert [int(v) for v in got] == [splitmix64_reference(int(w)) for w in words]


def test_counter_permutations_are_odd_and_fixed() -> None:
    a, b = counter_permutations(128)
    assert a.shape == b.shape == (128,)
    assert np.all(a & np.uint64(1) == 1)  # odd: x -> a x + b is a bijection of 64-bit words
    assert len(set(a.tolist())) == 128
    # Counter-derived: the first multiplier is splitmix64(1 * golden) | 1, whatever numpy does.
    assert int(a[0]) == splitmix64_reference(0x9E3779B97F4A7C15) | 1
    again, _ = counter_permutations(128)
    assert np.array_equal(a, again)


def test_seeded_permutations_depend_on_the_seed_only() -> None:
    a1, b1 = seeded_permutations(64, seed=1)
    a2, b2 = seeded_permutations(64, seed=1)
    a3, _ = seeded_permutations(64, seed=2)
    assert np.array_equal(a1, a2) and np.array_equal(b1, b2) and not np.array_equal(a1, a3)
    assert np.all(a1 & np.uint64(1) == 1)


def test_hamming_and_hamming_sums_agree_with_bit_counts() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, size=(500, 32), dtype=np.uint8)
    b = rng.integers(0, 256, size=(500, 32), dtype=np.uint8)
    expected = [
        sum(bin(x ^ y).count("1") for x, y in zip(ra, rb, strict=True)) for ra, rb in zip(a, b, strict=True)
    ]
    assert hamming(a, b).tolist() == expected
    xors = (a.view(np.uint64) ^ b.view(np.uint64)).reshape(-1, 4)
    sums = hamming_sums(xors).astype(np.int64)
    assert sums.tolist() == [e % 256 for e in expected]  # 256 reads 0, documented


@pytest.mark.parametrize(("bits", "radius"), [(16, -1), (16, 0), (16, 1), (16, 2), (8, 3), (4, 9)])
def test_masks_within_lists_every_mask_once(bits: int, radius: int) -> None:
    masks = masks_within(bits, radius)
    expected = sum(math.comb(bits, k) for k in range(min(radius, bits) + 1)) if radius >= 0 else 0
    assert len(masks) == len(set(masks.tolist())) == expected
    weights = [bin(int(m)).count("1") for m in masks]
    assert all(w <= radius for w in weights) and weights == sorted(weights)  # fewest bits first
    assert all(0 <= int(m) < 1 << bits for m in masks)
    with pytest.raises(ValueError):
        masks[:1] = 5  # cached and shared: read-only


@pytest.mark.parametrize(("radius", "chunks"), [(31, 16), (31, 8), (3, 16), (0, 4), (64, 16)])
def test_chunk_radii_follow_the_pigeonhole_rule(radius: int, chunks: int) -> None:
    radii = chunk_radii(radius, chunks)
    assert len(radii) == chunks
    # Two codes within `radius` differ in some chunk by at most that chunk's radius: the radii
    # plus one per chunk must exceed the total radius.
    assert sum(r + 1 for r in radii) == radius + 1
    assert max(radii) - min(radii) <= 1
