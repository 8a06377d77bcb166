"""An exact Hamming-radius index for PDQ hashes: multi-index hashing (Norouzi, Punjani & Fleet, 2012)
in numpy, with the substring layout chosen from the size of each segment.

**Why it is exact.** Cut a 256-bit code into ``m`` disjoint chunks of ``b`` bits (``m * b <= 256``;
bits outside every chunk are only compared at the end). If two codes are within distance ``r``,
write ``r = m s + a`` (0 <= a < m): then one of the first ``a + 1`` chunks differs in at most ``s``
bits, or one of the others in at most ``s - 1``; otherwise the distance would be at least
``(a + 1)(s + 1) + (m - a - 1) s = r + 1``. So for each chunk the index keeps the rows sorted by that
chunk's value and where each of the ``2**b`` values starts (a counting sort); a query looks up each
of its chunk values and every neighbour within that chunk's radius (the *probes*), gathers the rows
found there (the *candidates*) and keeps those whose true distance, a vectorized popcount over all
256 bits, is within ``r``. Every code within ``r`` is a candidate, so the result is the same set as
a brute-force scan.

**Choosing the layout.** Longer chunks mean fewer candidates per probe (``n / 2**b`` on random
codes) but more probes (the chunk radius is reached by more bit flips). At radius 31:

==========  =============  ======  ==========================  ==========================
rows        layout         probes  candidates/query (random)   tables
==========  =============  ======  ==========================  ==========================
100,000     16 x 16 bits     272     415                        4 MB + 6.4 MB
1M          12 x 21 bits   1,944     927                        100 MB + 48 MB
3M-10M+     11 x 23 bits   2,794   1,000 (3M), 3,330 (10M)      352 MB + 44 bytes/row
==========  =============  ======  ==========================  ==========================

:func:`choose_layout` minimizes ``probes + candidates`` (each costs one random memory access and a
few vector operations, measured within 20% of each other) under a table-memory budget, and picks a
plain scan when that is cheaper (small segments). Clustered banks (many near-duplicates) only add
candidates that are true or near matches; a chunk value shared by very many unrelated codes (a
degenerate image hashed many times) adds candidates to the queries that probe it, never misses.

**Cost.** Queries run in batches: all of a batch's probes, gathers and popcounts are single numpy
calls that release the GIL, split over ``threads`` threads. Memory per segment: the codes (32 bytes
a row), one ``uint32`` row number per row and used chunk, and ``2**b + 1`` bucket starts per chunk.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from vigil.core.errors import DataError, InputError
from vigil.match.index.segmented import Hits, SegmentedIndex, empty_hits
from vigil.signals.base import SignalType
from vigil.signals.hashing import chunk_radii, masks_within
from vigil.signals.hashing import hamming_sums as hamming_sums  # re-exported for its tests
from vigil.signals.image_pdq import BITS, bytes_to_hex, hex_to_bytes

BATCH = 64  # queries per vectorized step: ~1.5 MB of probe keys at 2,800 probes
BRUTE_BLOCK = 1 << 20  # query x row pairs per brute-force step (32 MB of XORs)
# Relative costs per query of one probe, one candidate and one scanned row (measured on 1M-10M
# random codes: a probe and a candidate each cost one random memory access plus a few numpy passes;
# a scanned row is a sequential XOR and popcount).
PROBE_COST, CANDIDATE_COST, SCAN_COST = 1.0, 1.0, 0.04
TABLE_BUDGET = 768 << 20  # bytes of bucket starts a layout may use (tables are memory-mapped)
MAX_PROBES = 50_000


@dataclass(frozen=True)
class Layout:
    """``chunks`` disjoint chunks of ``bits`` bits covering the low ``chunks * bits`` bits."""

    chunks: int
    bits: int
    radius: int

    @property
    def radii(self) -> tuple[int, ...]:
        """Each chunk's search radius (-1: the chunk is not needed at this radius)."""
        return chunk_radii(self.radius, self.chunks)

    @property
    def used(self) -> tuple[int, ...]:
        """Chunks searched at all (with fewer than ``chunks`` bits of radius, only ``radius + 1``)."""
        return tuple(c for c, k in enumerate(self.radii) if k >= 0)

    @property
    def probes(self) -> int:
        return sum(_ball(self.bits, k) for k in self.radii if k >= 0)

    def candidates(self, rows: int) -> float:
        """Expected candidates per query among ``rows`` uniformly random codes."""
        return float(self.probes * rows / (1 << self.bits))

    def cost(self, rows: int) -> float:
        return self.probes * PROBE_COST + self.candidates(rows) * CANDIDATE_COST

    def starts_bytes(self, rows: int) -> int:
        return len(self.used) * ((1 << self.bits) + 1) * _offset_dtype(self, rows).itemsize

    @cached_property
    def plan(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(table slot, XOR mask, bucket base) of every probe, in table order."""
        slots, masks = [], []
        for slot, chunk in enumerate(self.used):
            found = masks_within(self.bits, self.radii[chunk])
            slots.append(np.full(len(found), slot, dtype=np.int64))
            masks.append(found)
        slot_of = np.concatenate(slots)
        return slot_of, np.concatenate(masks), slot_of * ((1 << self.bits) + 1)

    def describe(self) -> str:
        return f"{self.chunks} x {self.bits} bits, {self.probes:,} probes"


def _ball(bits: int, radius: int) -> int:
    return sum(math.comb(bits, i) for i in range(min(radius, bits) + 1))


def _offset_dtype(layout: Layout, rows: int) -> np.dtype[Any]:
    return np.dtype(np.uint32) if len(layout.used) * rows < 2**32 else np.dtype(np.int64)


@cache
def choose_layout(rows: int, radius: int, budget: int = TABLE_BUDGET) -> Layout | None:
    """The cheapest exact layout for ``rows`` codes at ``radius``, or None when a scan is cheaper."""
    best: tuple[float, Layout] | None = None
    # Bucket tables at most ~4x the rows (or 64k buckets): memory stays proportional to the data.
    longest = min(24, max(16, math.ceil(math.log2(max(rows, 2))) + 2))
    for chunks in range(2, 33):
        for bits in range(8, longest + 1):
            if chunks * bits > BITS:
                break
            layout = Layout(chunks, bits, radius)
            if layout.probes > MAX_PROBES or layout.starts_bytes(rows) > budget:
                continue
            cost = layout.cost(rows)
            if best is None or cost < best[0]:
                best = (cost, layout)
    if best is None or best[0] >= rows * SCAN_COST:
        return None
    return best[1]


def chunk_value(words: npt.NDArray[np.uint64], bits: int, chunk: int) -> npt.NDArray[np.int64]:
    """Value of chunk ``chunk`` (bits ``chunk * bits`` onwards) of each (n, 4)-word code."""
    word, shift = divmod(chunk * bits, 64)
    value = words[:, word] >> np.uint64(shift)
    if shift + bits > 64:  # the chunk continues in the next word
        value = value | (words[:, word + 1] << np.uint64(64 - shift))
    return (value & np.uint64((1 << bits) - 1)).view(np.int64)


def chunk_values(words: npt.NDArray[np.uint64], layout: Layout) -> npt.NDArray[np.int64]:
    """(n, used chunks) values of each used chunk of (n, 4)-word codes."""
    out = np.empty((len(words), len(layout.used)), dtype=np.int64)
    for slot, chunk in enumerate(layout.used):
        out[:, slot] = chunk_value(words, layout.bits, chunk)
    return out


@dataclass
class PdqTables:
    """A segment's search tables: per used chunk, the row numbers sorted by chunk value and the
    start of each value's run (offsets into the concatenated ``order``). None layout: scan."""

    layout: Layout | None
    starts: npt.NDArray[Any]
    order: npt.NDArray[Any]

    @property
    def nbytes(self) -> int:
        return int(self.starts.nbytes + self.order.nbytes)


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
        layout: Layout | None = None,
    ) -> None:
        from vigil.signals.registry import get_signal_type

        self.threads = max(1, threads if threads is not None else min(os.cpu_count() or 1, 4))
        super().__init__(signal_type or get_signal_type("image_pdq"), threshold)
        if self.signal_type.name != "image_pdq":
            raise InputError(f"a PDQ index holds image_pdq signals, not {self.signal_type.name}")
        assert self.threshold is not None
        self.radius = int(self.threshold)
        if layout is not None and layout.radius != self.radius:
            raise InputError(f"layout is for radius {layout.radius}, the index searches {self.radius}")
        self.fixed_layout = layout  # tests force a layout; otherwise each segment's size chooses

    def encode(self, values: Sequence[str]) -> npt.NDArray[np.uint8]:
        return hex_to_bytes(list(values))

    def decode(self, rows: npt.NDArray[Any]) -> list[str]:
        return bytes_to_hex(np.asarray(rows))

    # --- tables -----------------------------------------------------------------------------------

    def layout_for(self, rows: int) -> Layout | None:
        return self.fixed_layout or choose_layout(rows, self.radius)

    def _build_tables(self, rows: npt.NDArray[Any]) -> PdqTables:
        n = len(rows)
        layout = self.layout_for(n) if n else None
        if layout is None:
            return PdqTables(None, np.zeros(0, np.uint32), np.zeros(0, np.uint32))
        dtype = _offset_dtype(layout, n)
        size = (1 << layout.bits) + 1
        used = len(layout.used)
        starts = np.empty(used * size, dtype=dtype)
        order = np.empty(used * n, dtype=np.uint32 if n < 2**32 else np.int64)
        words = np.ascontiguousarray(rows).view(np.uint64)

        def build(slot: int) -> None:
            values = chunk_value(words, layout.bits, layout.used[slot])
            # Row order within a bucket is irrelevant: the unstable sort is the fastest.
            order[slot * n : (slot + 1) * n] = np.argsort(values, kind="quicksort")
            run = starts[slot * size : (slot + 1) * size]
            run[0] = slot * n
            np.cumsum(np.bincount(values, minlength=1 << layout.bits), out=run[1:])
            run[1:] += slot * n

        if self.threads > 1 and used > 1:
            with ThreadPoolExecutor(min(self.threads, used)) as pool:
                list(pool.map(build, range(used)))
        else:
            for slot in range(used):
                build(slot)
        return PdqTables(layout, starts, order)

    def _scan_only(self, rows: int) -> bool:
        return self.layout_for(rows) is None

    def _table_arrays(self, tables: PdqTables) -> dict[str, npt.NDArray[Any]]:
        return {} if tables.layout is None else {"starts": tables.starts, "order": tables.order}

    def _table_meta(self, tables: PdqTables) -> dict[str, Any]:
        layout = tables.layout
        if layout is None:
            return {"scan": True}
        return {"chunks": layout.chunks, "bits": layout.bits, "radius": layout.radius}

    def _tables_from_arrays(
        self, rows: npt.NDArray[Any], arrays: dict[str, npt.NDArray[Any]], meta: dict[str, Any]
    ) -> PdqTables:
        if meta.get("scan") or meta.get("radius") != self.radius:
            return self._build_tables(rows)  # saved for another radius (a changed threshold)
        layout = Layout(int(meta["chunks"]), int(meta["bits"]), self.radius)
        starts, order = arrays.get("starts"), arrays.get("order")
        used = len(layout.used)
        if (
            starts is None
            or order is None
            or starts.shape != (used * ((1 << layout.bits) + 1),)
            or order.shape != (used * len(rows),)
        ):
            raise DataError(f"saved search tables do not fit {layout.describe()} over {len(rows)} rows")
        return PdqTables(layout, starts, order)

    @property
    def table_bytes(self) -> int:
        """Bytes held by the codes and search tables (not the entry ids)."""
        return sum(int(np.asarray(seg.rows).nbytes) + seg.tables.nbytes for seg in self._segments)

    @property
    def layouts(self) -> list[str]:
        """Each segment's layout, oldest first (for reports)."""
        return [seg.tables.layout.describe() if seg.tables.layout else "scan" for seg in self._segments]

    # --- searching --------------------------------------------------------------------------------

    def _search_tables(self, tables: PdqTables, rows: npt.NDArray[Any], queries: npt.NDArray[Any]) -> Hits:
        if tables.layout is None:
            return self._search_brute(queries, rows)
        step = BATCH
        blocks = [queries[i : i + step] for i in range(0, len(queries), step)]
        if self.threads > 1 and len(blocks) > 1:
            with ThreadPoolExecutor(min(self.threads, len(blocks))) as pool:
                parts = list(pool.map(lambda b: self._probe(tables, rows, b), blocks))
        else:
            parts = [self._probe(tables, rows, b) for b in blocks]
        q = np.concatenate([p[0] + i * step for i, p in enumerate(parts)])
        return q, np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])

    def _probe(self, tables: PdqTables, rows: npt.NDArray[Any], queries: npt.NDArray[np.uint8]) -> Hits:
        layout = tables.layout
        assert layout is not None
        slot_of, mask_of, base_of = layout.plan
        probes = len(slot_of)
        asked = queries.view(np.uint64)
        # Bucket of each (query, probe): chunk value XOR mask, offset into that chunk's starts.
        keys = chunk_values(asked, layout)[:, slot_of]
        keys ^= mask_of
        keys += base_of
        keys = keys.reshape(-1)
        # Indices are in range by construction; mode="wrap" skips numpy's bounds checks (~10%).
        lo = np.take(tables.starts, keys, mode="wrap")
        keys += 1
        sizes = np.take(tables.starts, keys, mode="wrap") - lo
        hit = np.flatnonzero(sizes)
        if not len(hit):
            return empty_hits()
        lo = lo[hit].astype(np.intp)
        sizes = sizes[hit].astype(np.intp)
        q_of = hit // probes
        total = int(sizes.sum())
        if total == len(hit):  # one row per non-empty bucket: no expansion needed
            pos = lo
        else:
            # Positions lo..lo+size of every bucket, concatenated, without a Python loop.
            pos = np.arange(total, dtype=np.intp)
            pos -= np.repeat(np.cumsum(sizes) - sizes - lo, sizes)
            q_of = np.repeat(q_of, sizes)
        found = np.take(tables.order, pos, mode="wrap").astype(np.intp)
        x = np.take(np.asarray(rows).view(np.uint64), found, axis=0, mode="wrap")
        x ^= np.take(asked, q_of, axis=0, mode="wrap")
        return self._keep_within(q_of, found, x)

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
        stored = np.asarray(rows).view(np.uint64)
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
