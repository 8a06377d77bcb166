"""An exact Hamming-radius index for PDQ hashes: multi-index hashing (Norouzi, Punjani & Fleet, 2012)
in numpy.

Each 256-bit code is cut into 16 chunks of 16 bits. If two codes are within distance ``r``, write
``r = 16 s + a`` (0 <= a < 16): then one of the first ``a + 1`` chunks differs in at most ``s`` bits,
or one of the other chunks in at most ``s - 1`` (otherwise the distance would be at least
``(a + 1)(s + 1) + (15 - a) s = r + 1``). At the default radius 31 that is "some chunk within 1
bit". So for every chunk the index keeps the rows sorted by that chunk's value, with the start of
each of the 65,536 possible values (a counting sort); a query looks up each of its chunk values and
their 16 one-bit neighbours (16 x 17 = 272 probes), gathers the rows found there (about 16 per probe
per million codes on random data) and checks each candidate's true distance with a vectorized
popcount. Every code within the radius is a candidate, so results are exact: the same set as a
brute-force scan, in about 4,200 distance computations per query on a million codes instead of a
million.

Queries run in batches (all of a batch's probes, gathers and popcounts are single numpy calls that
release the GIL), split over ``threads`` threads. Memory is the codes (32 bytes each) plus 16 sorted
row tables (64 bytes per code) plus 8 MB of bucket offsets. Radii whose probe count would approach a
scan (``r >= 51``, far beyond any useful PDQ threshold) fall back to a blocked brute-force scan.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from vigil.core.errors import InputError
from vigil.match.index.segmented import Hits, SegmentedIndex, empty_hits
from vigil.signals.base import SignalType
from vigil.signals.image_pdq import BITS, bytes_to_hex, hex_to_bytes

CHUNKS = 16
CHUNK_VALUES = 1 << 16
# Above this many probes per query, a scan is cheaper than multi-index hashing.
MAX_PROBES = 4096
BATCH = 16  # queries per vectorized step: keeps the ~2 MB of temporaries per thread in cache at 1M codes
BRUTE_BLOCK = 1 << 20  # query x row pairs per brute-force step (32 MB of XORs)


@cache
def masks_within(bits: int) -> npt.NDArray[np.uint16]:
    """Every 16-bit mask with at most ``bits`` bits set (the probe offsets of one chunk)."""
    every = np.arange(CHUNK_VALUES, dtype=np.uint32)
    counts = np.bitwise_count(every)
    order = np.argsort(counts, kind="stable")
    return every[order][counts[order] <= bits].astype(np.uint16)


@cache
def probe_plan(radius: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.uint16]] | None:
    """(chunk, mask) of every probe for ``radius``, or None when a scan is cheaper."""
    s, a = divmod(radius, CHUNKS)
    chunks, masks = [], []
    for chunk in range(CHUNKS):
        chunk_radius = s if chunk <= a else s - 1
        if chunk_radius < 0:
            continue
        found = masks_within(min(chunk_radius, 16))
        chunks.append(np.full(len(found), chunk, dtype=np.intp))
        masks.append(found)
    chunk_of = np.concatenate(chunks)
    if len(chunk_of) > MAX_PROBES:
        return None
    return chunk_of, np.concatenate(masks)


def hamming_sums(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint32]:
    """Popcount of each (n, 4) row, exact for 0-255; 256 (all bits differ) reads as 0."""
    per_word = np.bitwise_count(x)  # (n, 4) uint8
    packed = per_word.view(np.uint32).reshape(-1)
    # Multiplying by 0x01010101 sums the four bytes into the top byte (no lower byte can carry).
    total: npt.NDArray[np.uint32] = (packed * np.uint32(0x01010101)) >> np.uint32(24)
    return total


class PdqIndex(SegmentedIndex):
    """Exact PDQ search within a Hamming radius (the index's threshold, 31 by default)."""

    kind = "pdq-mih"
    dtype = np.dtype(np.uint8)
    width = BITS // 8

    def __init__(
        self,
        signal_type: SignalType | None = None,
        threshold: float | None = None,
        *,
        threads: int | None = None,
    ) -> None:
        from vigil.signals.registry import get_signal_type

        self.threads = max(1, threads if threads is not None else min(os.cpu_count() or 1, 4))
        super().__init__(signal_type or get_signal_type("image_pdq"), threshold)
        if self.signal_type.name != "image_pdq":
            raise InputError(f"a PDQ index holds image_pdq signals, not {self.signal_type.name}")
        assert self.threshold is not None
        self.radius = int(self.threshold)

    def encode(self, values: Sequence[str]) -> npt.NDArray[np.uint8]:
        return hex_to_bytes(list(values))

    def decode(self, rows: npt.NDArray[Any]) -> list[str]:
        return bytes_to_hex(rows)

    def _build_tables(self) -> None:
        n = len(self._main)
        chunks = self._main.view(np.uint16)  # (n, 16)
        self._order = np.empty(CHUNKS * n, dtype=np.uint32 if n < 2**32 else np.uint64)
        self._starts = np.empty(CHUNKS * (CHUNK_VALUES + 1), dtype=np.intp)
        for c in range(CHUNKS):
            values = chunks[:, c]
            # Stable sort of 16-bit keys is a radix sort in numpy: O(n).
            self._order[c * n : (c + 1) * n] = np.argsort(values, kind="stable")
            starts = self._starts[c * (CHUNK_VALUES + 1) : (c + 1) * (CHUNK_VALUES + 1)]
            starts[0] = c * n
            np.cumsum(np.bincount(values, minlength=CHUNK_VALUES), out=starts[1:])
            starts[1:] += c * n

    @property
    def table_bytes(self) -> int:
        """Bytes held by the codes and search tables (not the entry ids)."""
        return int(self._main.nbytes + self._order.nbytes + self._starts.nbytes)

    def _search_main(self, queries: npt.NDArray[Any]) -> Hits:
        plan = probe_plan(self.radius)
        if plan is None:
            return self._search_brute(queries, self._main)
        blocks = [queries[i : i + BATCH] for i in range(0, len(queries), BATCH)]
        offsets = range(0, len(queries), BATCH)
        if self.threads > 1 and len(blocks) > 1:
            with ThreadPoolExecutor(min(self.threads, len(blocks))) as pool:
                parts = list(pool.map(lambda b: self._probe(b, plan), blocks))
        else:
            parts = [self._probe(b, plan) for b in blocks]
        q = np.concatenate([p[0] + start for p, start in zip(parts, offsets, strict=True)])
        return q, np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])

    def _probe(self, queries: npt.NDArray[np.uint8], plan: tuple[npt.NDArray[np.intp], Any]) -> Hits:
        chunk_of, mask_of = plan
        count = len(queries)
        q_chunks = queries.view(np.uint16)  # (Q, 16)
        # Indices below are in range by construction; mode="wrap" skips numpy's bounds checks (~10%).
        # Bucket of each (query, probe): chunk value XOR mask, offset into that chunk's table.
        keys = (q_chunks[:, chunk_of] ^ mask_of).astype(np.intp) + chunk_of * (CHUNK_VALUES + 1)
        lo = np.take(self._starts, keys, mode="wrap").reshape(-1)
        sizes = np.take(self._starts, keys + 1, mode="wrap").reshape(-1) - lo
        total = int(sizes.sum())
        if total == 0:
            return empty_hits()
        # Positions lo..lo+size of every bucket, concatenated, without a Python loop.
        pos = np.arange(total, dtype=np.intp)
        pos -= np.repeat(np.cumsum(sizes) - sizes - lo, sizes)
        rows = np.take(self._order, pos, mode="wrap").astype(np.intp)
        q_of = np.repeat(np.repeat(np.arange(count, dtype=np.intp), len(chunk_of)), sizes)
        x = np.take(self._main.view(np.uint64), rows, axis=0, mode="wrap")
        x ^= np.take(queries.view(np.uint64), q_of, axis=0, mode="wrap")
        return self._keep_within(q_of, rows, x)

    def _keep_within(
        self, q_of: npt.NDArray[np.intp], rows: npt.NDArray[np.intp], x: npt.NDArray[np.uint64]
    ) -> Hits:
        dist = hamming_sums(x)
        keep = np.flatnonzero(dist <= self.radius)
        if self.radius < BITS:
            # hamming_sums reads 256 as 0: a zero that is not an all-zero XOR is a full mismatch.
            zero = keep[dist[keep] == 0]
            bad = zero[x[zero].any(axis=1)]
            if len(bad):
                keep = np.setdiff1d(keep, bad)
        return q_of[keep], rows[keep], dist[keep].astype(np.float64)

    def _search_brute(self, queries: npt.NDArray[Any], rows: npt.NDArray[Any]) -> Hits:
        if not len(rows) or not len(queries):
            return empty_hits()
        stored = rows.view(np.uint64)
        asked = queries.view(np.uint64)
        step = max(1, BRUTE_BLOCK // len(stored))
        parts = []
        for start in range(0, len(asked), step):
            block = asked[start : start + step]
            x = (block[:, None, :] ^ stored[None, :, :]).reshape(-1, 4)
            q_of = np.repeat(np.arange(start, start + len(block), dtype=np.intp), len(stored))
            r_of = np.tile(np.arange(len(stored), dtype=np.intp), len(block))
            parts.append(self._keep_within(q_of, r_of, x))
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]
