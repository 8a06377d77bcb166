"""trim_members: the per-community median by one sort equals np.median per community."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from vigil.detect.campaigns import trim_members


def _reference(a: np.ndarray, b: np.ndarray, membership: np.ndarray, share: float) -> np.ndarray:
    """The rule with a np.median call per community (the implementation it replaced)."""
    membership = membership.copy()
    for _ in range(3):
        inside = membership[a] == membership[b]
        degree = np.bincount(np.concatenate([a[inside], b[inside]]), minlength=len(membership))
        sizes = np.bincount(membership)
        medians = np.array([np.median(degree[membership == c]) if n else 0.0 for c, n in enumerate(sizes)])
        weak = np.flatnonzero((degree < share * medians[membership]) & (sizes[membership] > 1))
        if len(weak) == 0:
            break
        membership[weak] = membership.max() + 1 + np.arange(len(weak))
    return np.unique(membership, return_inverse=True)[1].astype(np.int64)


@pytest.mark.parametrize("seed", range(6))
def test_trim_members_matches_the_per_community_median(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(30, 300))
    # Communities of every size (singletons, even and odd sizes) and some ids left unused.
    membership = rng.integers(0, max(2, n // 6), n) * 2
    m = int(rng.integers(n, 6 * n))
    a = rng.integers(0, n, m)
    b = rng.integers(0, n, m)
    keep = a < b
    # Dense cores inside a few communities, so that some members are well below their median.
    core = np.flatnonzero(membership == membership[0])
    extra = np.array([(i, j) for i in core for j in core if i < j], dtype=np.int64).reshape(-1, 2)
    a = np.concatenate([a[keep], extra[:, 0]])
    b = np.concatenate([b[keep], extra[:, 1]])
    graph: Any = SimpleNamespace(pairs=pa.table({"a": a.astype(np.int32), "b": b.astype(np.int32)}))
    for share in (0.3, 0.5, 0.9):
        got = trim_members(graph, membership, share)
        expected = _reference(a, b, membership, share)
        assert np.array_equal(got, expected)
    assert len(np.unique(trim_members(graph, membership, 0.9))) > len(np.unique(membership))
