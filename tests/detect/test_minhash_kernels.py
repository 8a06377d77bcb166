"""The compiled near-duplicate kernels give bit for bit the numpy reference's numbers."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa

from vigil.detect.similarity import kernels
from vigil.detect.similarity.minhash import (
    MinHashParams,
    band_keys,
    jaccard,
    jaccard_numpy,
    lsh_candidates_from_keys,
    shingle_sets,
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
