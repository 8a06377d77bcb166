"""PDQ perceptual hashes: parsing, exact Hamming distances, and exact radius search.

A PDQ hash is 256 bits written as 64 hex characters. Two images are "the same picture" for Vigil
when their hashes differ in at most :data:`PDQ_MATCH_DISTANCE` bits (31, the threshold the PDQ
authors recommend).

:func:`radius_pairs` finds every (query, code) pair within the radius, by one of two exact methods:

* ``"mih"`` (default): multi-index hashing (Norouzi, Punjani & Fleet, 2012). The 256 bits are cut
  into 16 chunks of 16 bits. Write the radius ``r = 16 s + a`` (0 <= a < 16): two codes within
  ``r`` bits differ in at most ``s`` bits on one of the first ``a + 1`` chunks or in at most
  ``s - 1`` on one of the others (otherwise they would differ in at least ``(a + 1)(s + 1) +
  (15 - a) s = r + 1`` bits). At 31 that is "some chunk within 1 bit" (16 x 16-bit chunks cannot
  promise an *equal* chunk beyond 15 bits). The codes are counting-sorted by each chunk's value; a
  query looks up its 16 chunk values and their one-bit neighbours (272 buckets), and every code
  found is checked with an exact popcount. A pair found through several chunks is kept only from
  the first chunk that can find it, so each pair comes out once without a sort. Candidates are
  processed in blocks of bounded size, so memory does not grow with crowded buckets (a meme's
  near-duplicates share most chunk values).
* ``"flat"``: faiss ``IndexBinaryFlat.range_search`` (brute force, the peer). faiss keeps distances
  *strictly below* its radius, so ``max_distance + 1`` is passed and every distance is re-checked
  with a popcount, so the boundary (31 in, 32 out) never depends on a library's convention.

The match layer has its own MIH index (``vigil.match.index.pdq``: a persistent, updatable index
with tombstones and threads); detection sits below it in the layers and needs a one-shot batch
join instead, so this module has its own small numpy version.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any, Literal

import faiss
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from vigil.signals.hashing import chunk_radii, masks_within
from vigil.signals.hashing import hamming as hamming  # re-exported: detection's callers use it here
from vigil.signals.hashing import hamming_sums as hamming_sums

PDQ_BITS = 256
PDQ_BYTES = PDQ_BITS // 8
PDQ_MATCH_DISTANCE = 31

Codes = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
SearchMethod = Literal["mih", "flat"]

CHUNKS = 16
CHUNK_VALUES = 1 << 16
# Above this many buckets per query a scan is as cheap as multi-index hashing (radius >= 51).
MAX_PROBES = 4096
# Candidates checked per step: bounds the temporaries (about 100 bytes per candidate).
BLOCK_CANDIDATES = 1 << 18
QUERY_BLOCK = 4096


def to_codes(hashes: pa.Array | list[str]) -> Codes:
    """(n, 32) uint8 codes from valid 64-hex-character strings."""
    values = pa.array(hashes, pa.string()) if isinstance(hashes, list) else hashes
    if len(values) == 0:
        return np.zeros((0, PDQ_BYTES), dtype=np.uint8)
    joined = "".join(pc.utf8_lower(values).to_pylist())
    return np.frombuffer(bytes.fromhex(joined), dtype=np.uint8).reshape(-1, PDQ_BYTES).copy()


def _empty() -> tuple[I64, I64, I64]:
    empty = np.zeros(0, dtype=np.int64)
    return empty, empty.copy(), empty.copy()


def radius_pairs(
    queries: Codes,
    index_codes: Codes,
    max_distance: int = PDQ_MATCH_DISTANCE,
    *,
    method: SearchMethod = "mih",
) -> tuple[I64, I64, I64]:
    """All (query row, index row, distance) with Hamming distance <= ``max_distance``, exactly.

    Each pair once; the order of the pairs depends on the method."""
    if method == "flat" or probe_plan(max_distance) is None:
        return flat_radius_pairs(queries, index_codes, max_distance)
    return MultiIndex(index_codes, max_distance).search(queries)


def flat_radius_pairs(
    queries: Codes, index_codes: Codes, max_distance: int = PDQ_MATCH_DISTANCE
) -> tuple[I64, I64, I64]:
    """:func:`radius_pairs` by faiss brute force (``IndexBinaryFlat``)."""
    if len(queries) == 0 or len(index_codes) == 0:
        return _empty()
    index = faiss.IndexBinaryFlat(PDQ_BITS)
    index.add(np.ascontiguousarray(index_codes))
    # Strictly-below semantics: radius max_distance + 1 keeps distance == max_distance.
    lims, _, found = index.range_search(np.ascontiguousarray(queries), max_distance + 1)
    query_rows = np.repeat(np.arange(len(queries), dtype=np.int64), np.diff(lims).astype(np.int64))
    found = found.astype(np.int64)
    distance = hamming(queries[query_rows], index_codes[found])
    keep = distance <= max_distance
    return query_rows[keep], found[keep], distance[keep]


@cache
def _kernels() -> Any:
    """The compiled index filling (imports numba; compiles, or loads numba's on-disk cache, once)."""
    from vigil.detect.similarity import _pdq_kernels

    return _pdq_kernels


@cache
def probe_plan(
    radius: int,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.uint16], npt.NDArray[np.int8]] | None:
    """(chunk, mask) of every bucket a query probes at ``radius``, and each chunk's own radius
    (-1: the chunk is not probed); None when so many probes would cost more than a scan."""
    chunk_radius = np.array(chunk_radii(radius, CHUNKS), dtype=np.int8)
    chunks, masks = [], []
    for chunk in range(CHUNKS):
        # In numeric order, the order the probes have always been made in.
        found = np.sort(masks_within(16, int(chunk_radius[chunk]))).astype(np.uint16)
        chunks.append(np.full(len(found), chunk, dtype=np.intp))
        masks.append(found)
    chunk_of = np.concatenate(chunks)
    if len(chunk_of) > MAX_PROBES:
        return None
    return chunk_of, np.concatenate(masks), chunk_radius


class MultiIndex:
    """Codes counting-sorted by each of their 16 chunks, for exact radius search (module docstring).

    Memory: the codes (32 bytes each), 16 row orders (64 bytes per code) and 16 tables of 65,537
    bucket starts (4 MB). With ``expand``, each code is also filed under every chunk value within
    its chunk radius (17 per chunk at radius 31: about 1.1 kB per code), so a query looks up its 16
    chunk values only: for small indexes searched by many queries, where the 272 lookups per query
    cost more than the candidates found."""

    def __init__(
        self,
        codes: Codes,
        radius: int = PDQ_MATCH_DISTANCE,
        *,
        threads: int = 1,
        expand: bool = False,
    ) -> None:
        plan = probe_plan(radius)
        if plan is None:
            raise ValueError(f"radius {radius} is beyond multi-index hashing; use the flat search")
        chunk_of, mask_of, self.chunk_radius = plan
        self.radius = radius
        self.threads = max(1, threads)
        self.codes = np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1, PDQ_BYTES)
        n = len(self.codes)
        chunks = self.codes.view(np.uint16)  # (n, 16): the byte order is the same for codes and queries
        zero = np.zeros(1, dtype=np.uint16)
        if expand:
            # The masks move from the query's side to the index's: same pairs, 16 lookups a query.
            self.probe_chunk = np.flatnonzero(self.chunk_radius >= 0).astype(np.intp)
            self.probe_mask = np.zeros(len(self.probe_chunk), dtype=np.uint16)
            filed = [mask_of[chunk_of == c] for c in range(CHUNKS)]
        else:
            self.probe_chunk, self.probe_mask = chunk_of, mask_of
            filed = [zero] * CHUNKS
        # order[base_c + k]: the row of chunk c's k-th entry in key order; starts[c * (V + 1) + v]
        # is where chunk c's key v begins in it (so one flat lookup serves every chunk).
        entries = n * sum(len(masks) for masks in filed)
        # 32-bit tables while they fit: half the memory traffic of the lookups.
        table: type[np.signedinteger[Any]] = np.int32 if entries < 2**31 else np.int64
        self.order: npt.NDArray[np.signedinteger[Any]] = np.empty(entries, dtype=table)
        self.starts: npt.NDArray[np.signedinteger[Any]] = np.empty(CHUNKS * (CHUNK_VALUES + 1), dtype=table)
        base = 0
        file_chunk = _kernels().file_chunk
        for c in range(CHUNKS):
            # A counting sort of the chunk's keys (value XOR each filed mask), rows ascending within
            # a key: what a stable argsort and a bincount gave, in two compiled passes.
            starts = self.starts[c * (CHUNK_VALUES + 1) : (c + 1) * (CHUNK_VALUES + 1)]
            file_chunk(np.ascontiguousarray(chunks[:, c]), filed[c], base, self.order, starts)
            base += n * len(filed[c])
        self._probe_base = (self.probe_chunk * (CHUNK_VALUES + 1)).astype(np.int32)
        self._ends = self.starts[1:]  # where each bucket ends: the next one's start (a view)

    def search(self, queries: Codes) -> tuple[I64, I64, I64]:
        """All (query row, code row, distance) within the radius, each pair once."""
        queries = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, PDQ_BYTES)
        if len(queries) == 0 or len(self.codes) == 0:
            return _empty()
        starts = range(0, len(queries), QUERY_BLOCK)

        def block(start: int) -> list[tuple[I64, I64, I64]]:
            return self._search_block(queries, start, min(len(queries), start + QUERY_BLOCK))

        parts: list[tuple[I64, I64, I64]] = []
        if self.threads > 1 and len(starts) > 1:
            # numpy releases the GIL in its gathers and arithmetic: blocks run side by side.
            with ThreadPoolExecutor(min(self.threads, len(starts))) as pool:
                for found in pool.map(block, starts):
                    parts.extend(found)
        else:
            for start in starts:
                parts.extend(block(start))
        if not parts:
            return _empty()
        q, x, d = (np.concatenate([p[i] for p in parts]) for i in range(3))
        return q, x, d

    def _lookup(self, queries: Codes, start: int, end: int) -> tuple[I64, I64]:
        """Start and size of every probed bucket of queries ``start:end``, (query, probe) flat."""
        # Bucket of each (query, probe): the query's chunk value XOR the probe's mask.
        keys = (queries[start:end].view(np.uint16)[:, self.probe_chunk] ^ self.probe_mask).astype(np.int32)
        keys += self._probe_base
        # Keys are in range by construction: mode="wrap" skips numpy's bounds checks.
        lo = np.take(self.starts, keys, mode="wrap").reshape(-1)
        sizes = np.take(self._ends, keys, mode="wrap").reshape(-1) - lo
        return lo, sizes

    def _search_block(self, queries: Codes, start: int, end: int) -> list[tuple[I64, I64, I64]]:
        lo, sizes = self._lookup(queries, start, end)
        # Most buckets of a sparse index are empty: carry on with the others only.
        probed = np.flatnonzero(sizes)
        lo, sizes = lo[probed], sizes[probed]
        ends = np.cumsum(sizes, dtype=np.int64)
        out: list[tuple[I64, I64, I64]] = []
        # Steps of at most BLOCK_CANDIDATES candidates (one probe of a crowded bucket may exceed it).
        first = 0
        while first < len(probed):
            done = int(ends[first - 1]) if first else 0
            last = max(first + 1, int(np.searchsorted(ends, done + BLOCK_CANDIDATES, side="right")))
            out.append(self._check(queries, start, probed[first:last], lo[first:last], sizes[first:last]))
            first = last
        return out

    def _check(self, queries: Codes, start: int, probed: I64, lo: I64, sizes: I64) -> tuple[I64, I64, I64]:
        n_probes = len(self.probe_chunk)
        ends = np.cumsum(sizes, dtype=np.int64)
        total = int(ends[-1])
        # Positions lo .. lo + size of every probed bucket, concatenated without a Python loop.
        pos = np.arange(total, dtype=np.int64)
        pos += np.repeat(lo.astype(np.int64) - (ends - sizes), sizes)
        rows = np.take(self.order, pos, mode="wrap").astype(np.int64)
        query = np.repeat(probed // n_probes, sizes) + start
        x = np.take(self.codes.view(np.uint64), rows, axis=0, mode="wrap")
        x ^= np.take(queries.view(np.uint64), query, axis=0, mode="wrap")
        distance = hamming_sums(x)
        keep = np.flatnonzero(distance <= self.radius)
        if len(keep) == 0:
            return _empty()
        # hamming_sums reads 256 (every bit differs) as 0: drop those.
        keep = keep[(distance[keep] > 0) | ~x[keep].any(axis=1)]
        # A pair is found through every chunk within its chunk radius: keep it from the first only.
        per_chunk = np.bitwise_count(x[keep].view(np.uint16))  # (kept, 16)
        first_chunk = np.argmax(per_chunk <= self.chunk_radius, axis=1)
        probe = probed[np.searchsorted(ends, keep, side="right")] % n_probes
        keep = keep[first_chunk == self.probe_chunk[probe]]
        return query[keep], rows[keep], distance[keep].astype(np.int64)


def chunk_collisions(codes: Codes) -> int:
    """Pairs of distinct rows of ``codes`` with an equal 16-bit chunk, summed over the 16 chunks.

    Spread-out codes give about ``16 n**2 / 2**17``; near-duplicates share most chunks, so far more
    says the codes are crowded (cheap: one count per chunk, no index)."""
    chunks = np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1, PDQ_BYTES).view(np.uint16)
    total = 0
    for c in range(CHUNKS):
        counts = np.bincount(chunks[:, c], minlength=CHUNK_VALUES).astype(np.int64)
        total += int((counts * (counts - 1)).sum()) // 2
    return total
