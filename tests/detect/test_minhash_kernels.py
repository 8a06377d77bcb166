"""The compiled near-duplicate kernels give bit for bit the numpy reference's numbers."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from vigil.detect.similarity import kernels
from vigil.detect.similarity.minhash import (
    MinHashParams,
    band_keys,
    decode_pairs,
    jaccard,
    jaccard_numpy,
    lsh_candidates_from_keys,
    lsh_pairs,
    shingle_sets,
    shingle_sets_numpy,
    signatures,
    signatures_numpy,
    sketch,
)
from vigil.signals.hashing import seeded_permutations

WORDS = [
    "vote",
    "sunday",
    "polls",
    "open",
    "early",
    "bring",
    "friends",
    "city",
    "hall",
    "election",
    "rally",
    "tonight",
]


def texts(n: int = 600, seed: int = 5) -> pa.Array:
    """Random texts with many near copies (a word changed), one empty and one single word."""
    rng = random.Random(seed)
    base = [" ".join(rng.choices(WORDS, k=rng.randint(3, 14))) for _ in range(n // 3)]
    out = []
    for text in base:
        out.append(text)
        words = text.split(" ")
        words[rng.randrange(len(words))] = rng.choice(WORDS)
        out.append(" ".join(words))
        out.append(" ".join(rng.choices(WORDS, k=rng.randint(1, 9))))
    return pa.array([*out, "", "alone"], pa.string())


def test_signatures_and_band_keys_equal_numpy() -> None:
    params = MinHashParams()
    sets = shingle_sets(texts())
    reference = signatures_numpy(sets, params)
    assert np.array_equal(signatures(sets, params), reference)
    a, b = seeded_permutations(params.num_perm, params.seed)
    fused = kernels.band_keys(sets.values, sets.offsets, a, b, params.bands)
    assert np.array_equal(fused, band_keys(reference, params))
    # sketch (fused, in blocks) gives the same keys as in one piece.
    _, blocked = sketch(texts(), params, block=97)
    assert np.array_equal(blocked, fused)


def test_jaccard_equals_numpy_and_candidates_unchanged() -> None:
    params = MinHashParams()
    sets = shingle_sets(texts())
    keys = band_keys(signatures_numpy(sets, params), params)
    a, b = lsh_candidates_from_keys(keys)
    assert len(a) > 100
    assert np.array_equal(jaccard(sets, a, b), jaccard_numpy(sets, a, b))
    # The candidates as the full stable sort per band pairs them: each key's first text with the others.
    expected: set[tuple[int, int]] = set()
    for band in keys:
        first: dict[int, int] = {}
        for i, key in enumerate(band.tolist()):
            if key in first:
                expected.add((min(first[key], i), max(first[key], i)))
            else:
                first[key] = i
    assert set(zip(a.tolist(), b.tolist(), strict=True)) == expected


def test_compiled_shingles_equal_numpy_on_any_text() -> None:
    mixed = pa.array(["", "a", "a  b", "é ü ß", "كتب الطلاب درسا", "👍 x", "one two three four", None])
    for sample in (texts(), texts().slice(7, 200), mixed, mixed.slice(1, 5)):
        for k in (1, 2, 3):
            fast, reference = shingle_sets(sample, k), shingle_sets_numpy(sample, k)
            assert np.array_equal(fast.offsets, reference.offsets)
            assert np.array_equal(fast.values, reference.values)
    # A text longer than the kernel's first token buffer (64 tokens) grows it.
    long = pa.array([" ".join(f"w{i}" for i in range(300))])
    assert np.array_equal(shingle_sets(long).values, shingle_sets_numpy(long).values)
    assert len(shingle_sets(long)) == 1 and len(shingle_sets(long).values) == 299


def test_jaccard_at_least_keeps_exactly_the_pairs_at_or_above() -> None:
    sets = shingle_sets(texts())
    rng = np.random.default_rng(3)
    a = rng.integers(0, len(sets), 20_000)
    b = rng.integers(0, len(sets), 20_000)
    exact = jaccard(sets, a, b)
    for threshold in (0.3, 0.5, 0.6, 0.9):
        bounded = jaccard(sets, a, b, at_least=threshold)
        keep = exact >= threshold
        assert keep.any() and (~keep).any()
        assert np.array_equal(bounded >= threshold, keep)
        assert np.array_equal(bounded[keep], exact[keep])
    # Long texts (more shingles than the 128 mask bits, so most bits are shared by several) and
    # their edits: the mask bound must still never drop a pair at or above the threshold.
    rng_words = random.Random(8)
    vocabulary = [f"w{i}" for i in range(400)]
    long_texts = []
    for _ in range(150):
        words = rng_words.choices(vocabulary, k=rng_words.randint(120, 300))
        long_texts.append(" ".join(words))
        for _ in range(2):
            edited = list(words)
            for _ in range(rng_words.randint(1, 40)):
                edited[rng_words.randrange(len(edited))] = rng_words.choice(vocabulary)
            long_texts.append(" ".join(edited))
    long_sets = shingle_sets(pa.array(long_texts))
    la = rng.integers(0, len(long_sets), 5_000)
    lb = np.where(rng.random(5_000) < 0.5, la + 1, rng.integers(0, len(long_sets), 5_000)) % len(long_sets)
    long_exact = jaccard(long_sets, la, lb)
    for threshold in (0.3, 0.6, 0.8):
        kept = long_exact >= threshold
        assert kept.any() and (~kept).any()
        bounded = jaccard(long_sets, la, lb, at_least=threshold)
        assert np.array_equal(bounded >= threshold, kept)
        assert np.array_equal(bounded[kept], long_exact[kept])
    # A pair exactly at the threshold (3 shared of 5 distinct shingles: J = 0.6) is kept.
    words = pa.array(["a b c d", "a b c d e f"])
    pair = shingle_sets(words, 1)
    one, two = np.array([0]), np.array([1])
    assert jaccard(pair, one, two)[0] == pytest.approx(4 / 6)
    assert jaccard(pair, one, two, at_least=4 / 6)[0] == jaccard(pair, one, two)[0]
    at = shingle_sets(pa.array(["a b c d", "a b c e"]), 1)
    assert jaccard(at, one, two, at_least=0.6)[0] == pytest.approx(0.6)


def test_keys_equal_in_their_high_bits_are_still_told_apart() -> None:
    # Keys differing only in their low bits (or in a few bits anywhere) are different keys: the
    # band's hash table compares full keys, whatever slot they hash to.
    keys = np.array([[8, 9, 8, 64, 9, 65], [1, 2, 3, 4, 5, 6]], dtype=np.uint64)
    a, b = lsh_candidates_from_keys(keys)
    assert set(zip(a.tolist(), b.tolist(), strict=True)) == {(0, 2), (1, 4)}
    fresh = lsh_pairs(keys, fresh_from=3)
    assert decode_pairs(fresh)[1].tolist() == [4]


def test_lsh_pairs_are_each_keys_texts_paired_with_its_first() -> None:
    # The definition in plain Python: per band, the texts of each key paired with its first text,
    # kept when one of the two is at or after fresh_from; the compiled pass must give exactly these.
    rng = np.random.default_rng(4)
    keys = rng.integers(0, 40, size=(3, 500)).astype(np.uint64) * np.uint64(1 << 20)
    for fresh_from in (0, 250):
        expected: set[tuple[int, int]] = set()
        for band in keys.tolist():
            first: dict[int, int] = {}
            for position, key in enumerate(band):
                leader = first.setdefault(key, position)
                if leader != position and max(leader, position) >= fresh_from:
                    expected.add((leader, position))
        found = lsh_pairs(keys, fresh_from=fresh_from)
        assert len(found) == len(expected)
        assert set(zip(*(part.tolist() for part in decode_pairs(found)), strict=True)) == expected
