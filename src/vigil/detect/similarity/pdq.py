"""PDQ perceptual hashes: parsing, exact Hamming distances, and radius search with faiss.

A PDQ hash is 256 bits written as 64 hex characters. Two images are "the same picture" for Vigil
when their hashes differ in at most :data:`PDQ_MATCH_DISTANCE` bits (31, the threshold the PDQ
authors recommend). faiss ``range_search`` on binary indexes keeps distances *strictly below* its
radius, so :func:`radius_pairs` passes ``max_distance + 1`` and re-checks every distance with an
exact popcount, so the boundary (31 in, 32 out) never depends on a library's convention.
"""

from __future__ import annotations

import faiss
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

PDQ_BITS = 256
PDQ_BYTES = PDQ_BITS // 8
PDQ_MATCH_DISTANCE = 31
_HEX64 = r"^[0-9a-f]{64}$"

Codes = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]


def invalid_hashes(hashes: pa.Array) -> pa.Array:
    """Boolean mask of values that are not 64 hex characters (case-insensitive)."""
    lowered = pc.utf8_lower(hashes)
    return pc.invert(pc.fill_null(pc.match_substring_regex(lowered, _HEX64), False))


def to_codes(hashes: pa.Array | list[str]) -> Codes:
    """(n, 32) uint8 codes from valid 64-hex-character strings (check with :func:`invalid_hashes`)."""
    values = pa.array(hashes, pa.string()) if isinstance(hashes, list) else hashes
    if len(values) == 0:
        return np.zeros((0, PDQ_BYTES), dtype=np.uint8)
    joined = "".join(pc.utf8_lower(values).to_pylist())
    return np.frombuffer(bytes.fromhex(joined), dtype=np.uint8).reshape(-1, PDQ_BYTES).copy()


def hamming(a: Codes, b: Codes) -> I64:
    """Row-wise Hamming distances between equally shaped code arrays."""
    result: I64 = np.bitwise_count(np.bitwise_xor(a, b)).sum(axis=1, dtype=np.int64)
    return result


def radius_pairs(
    queries: Codes, index_codes: Codes, max_distance: int = PDQ_MATCH_DISTANCE
) -> tuple[I64, I64, I64]:
    """All (query row, index row, distance) with Hamming distance <= ``max_distance`` (exact, brute force)."""
    empty = np.zeros(0, dtype=np.int64)
    if len(queries) == 0 or len(index_codes) == 0:
        return empty, empty.copy(), empty.copy()
    index = faiss.IndexBinaryFlat(PDQ_BITS)
    index.add(np.ascontiguousarray(index_codes))
    # Strictly-below semantics: radius max_distance + 1 keeps distance == max_distance.
    lims, _, found = index.range_search(np.ascontiguousarray(queries), max_distance + 1)
    query_rows = np.repeat(np.arange(len(queries), dtype=np.int64), np.diff(lims).astype(np.int64))
    found = found.astype(np.int64)
    distance = hamming(queries[query_rows], index_codes[found])
    keep = distance <= max_distance
    return query_rows[keep], found[keep], distance[keep]
