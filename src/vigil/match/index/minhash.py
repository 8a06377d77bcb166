"""A banded LSH index for MinHash signatures (``text_minhash`` values).

The 128 signature positions are cut into ``bands`` bands of ``rows`` positions. Two signatures whose
positions agree with probability J (their Jaccard similarity) share at least one whole band with
probability ``1 - (1 - J**rows)**bands``, an S-curve; ``lsh_parameters`` picks the (bands, rows)
whose curve best separates similarities below the threshold from those above it, counting a missed
match as worse than an extra candidate (each candidate is verified on the full signature, so an
extra one costs time, a missed one costs a match). Unlike the PDQ index this is probabilistic: a
pair just above the threshold is found with the probability the curve gives (see docs/signals.md);
no pair below the threshold is ever returned.

Each band is a sorted array of 64-bit band hashes with the row order beside it; a query does one
binary search per band. Everything is numpy arrays, saved as ``.npy`` (tables rebuild on load).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from vigil.core.errors import InputError
from vigil.match.index.segmented import Hits, SegmentedIndex, empty_hits
from vigil.signals.base import SignalType
from vigil.signals.hashing import splitmix64
from vigil.signals.text_minhash import PERMUTATIONS, hex_to_signatures, signature_to_hex

MISS_WEIGHT = 0.9  # relative cost of a missed match against an extra candidate (0.1)
BRUTE_BLOCK = 1 << 16  # query x row pairs per brute-force step (32 MB of comparisons)


@lru_cache(maxsize=64)
def lsh_parameters(threshold: float, permutations: int = PERMUTATIONS) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= permutations minimizing weighted miss and extra areas."""
    similarity = np.linspace(0.0, 1.0, 2001)
    below, above = similarity < threshold, similarity >= threshold
    step = similarity[1] - similarity[0]
    best: tuple[float, int, int] | None = None
    for rows in range(1, permutations + 1):
        for bands in range(1, permutations // rows + 1):
            caught = 1.0 - (1.0 - similarity**rows) ** bands
            extra = float(caught[below].sum() * step)
            missed = float((1.0 - caught[above]).sum() * step)
            cost = (1 - MISS_WEIGHT) * extra + MISS_WEIGHT * missed
            if best is None or cost < best[0]:
                best = (cost, bands, rows)
    assert best is not None
    return best[1], best[2]


def needed_agreement(threshold: float) -> int:
    """Positions (of 128) that must agree for the estimated Jaccard to reach ``threshold``."""
    return math.ceil(threshold * PERMUTATIONS - 1e-9)


class MinHashLshIndex(SegmentedIndex):
    """Near-duplicate text search: estimated Jaccard >= threshold (0.7 by default)."""

    kind = "minhash-lsh"
    dtype = np.dtype(np.uint32)
    width = PERMUTATIONS

    def __init__(self, signal_type: SignalType | None = None, threshold: float | None = None) -> None:
        from vigil.signals.registry import get_signal_type

        signal_type = signal_type or get_signal_type("text_minhash")
        if signal_type.name != "text_minhash":
            raise InputError(f"a MinHash LSH index holds text_minhash signals, not {signal_type.name}")
        limit = signal_type.check_threshold(threshold)
        assert limit is not None
        self.bands, self.rows = lsh_parameters(float(limit))
        self.need = needed_agreement(float(limit))
        super().__init__(signal_type, limit)

    def encode(self, values: Sequence[str]) -> npt.NDArray[np.uint32]:
        return hex_to_signatures(list(values))

    def decode(self, rows: npt.NDArray[Any]) -> list[str]:
        return [signature_to_hex(row) for row in rows]

    def _band_keys(self, signatures: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint64]:
        """(n, bands) 64-bit hashes of each band of each signature."""
        keys = np.empty((len(signatures), self.bands), dtype=np.uint64)
        for band in range(self.bands):
            acc = np.full(len(signatures), band + 1, dtype=np.uint64)
            for col in range(band * self.rows, (band + 1) * self.rows):
                acc = splitmix64(acc ^ signatures[:, col].astype(np.uint64))
            keys[:, band] = acc
        return keys

    def _build_tables(self, rows: npt.NDArray[Any]) -> tuple[list[Any], list[Any]]:
        """Per band: the band hashes sorted, and the row order beside them."""
        keys = self._band_keys(np.asarray(rows))
        ordered: list[npt.NDArray[np.uint64]] = []
        orders: list[npt.NDArray[np.intp]] = []
        for band in range(self.bands):
            order = np.argsort(keys[:, band], kind="stable")
            orders.append(order)
            ordered.append(keys[order, band])
        return ordered, orders

    def _search_tables(
        self, tables: tuple[list[Any], list[Any]], rows: npt.NDArray[Any], queries: npt.NDArray[Any]
    ) -> Hits:
        ordered, orders = tables
        keys = self._band_keys(queries)
        q_parts, r_parts = [], []
        for band in range(self.bands):
            lo = np.searchsorted(ordered[band], keys[:, band], side="left")
            hi = np.searchsorted(ordered[band], keys[:, band], side="right")
            sizes = hi - lo
            total = int(sizes.sum())
            if not total:
                continue
            pos = np.arange(total, dtype=np.intp) - np.repeat(np.cumsum(sizes) - sizes - lo, sizes)
            r_parts.append(orders[band][pos])
            q_parts.append(np.repeat(np.arange(len(queries), dtype=np.intp), sizes))
        if not r_parts:
            return empty_hits()
        q_of, found = np.concatenate(q_parts), np.concatenate(r_parts)
        # Verify each distinct (query, row) once.
        _, first = np.unique(q_of.astype(np.int64) * max(len(rows), 1) + found, return_index=True)
        q_of, found = q_of[first], found[first]
        return self._verify(q_of, found, queries, np.asarray(rows))

    def _verify(
        self,
        q_of: npt.NDArray[np.intp],
        rows: npt.NDArray[np.intp],
        queries: npt.NDArray[np.uint32],
        stored: npt.NDArray[np.uint32],
    ) -> Hits:
        agree = np.empty(len(rows), dtype=np.intp)
        for start in range(0, len(rows), 1 << 15):
            part = slice(start, start + (1 << 15))
            same = np.take(stored, rows[part], axis=0) == np.take(queries, q_of[part], axis=0)
            agree[part] = np.count_nonzero(same, axis=1)
        keep = np.flatnonzero(agree >= self.need)
        return q_of[keep], rows[keep], 1.0 - agree[keep] / PERMUTATIONS

    def _search_brute(self, queries: npt.NDArray[Any], rows: npt.NDArray[Any]) -> Hits:
        if not len(rows) or not len(queries):
            return empty_hits()
        step = max(1, BRUTE_BLOCK // len(rows))
        parts = []
        for start in range(0, len(queries), step):
            count = min(step, len(queries) - start)
            q_of = np.repeat(np.arange(start, start + count, dtype=np.intp), len(rows))
            r_of = np.tile(np.arange(len(rows), dtype=np.intp), count)
            parts.append(self._verify(q_of, r_of, queries, rows))
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]
