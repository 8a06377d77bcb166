"""Near-duplicate text signal: a MinHash signature of the text's normal form.

Scheme (version 1; changing any of it changes every value, so it is fixed here and in the docs):

* the normal form of ``vigil.ingest.text.normalize_text``;
* its character 5-grams (*shingles*; a text shorter than 5 characters is one shingle), each hashed
  to 64 bits by a polynomial over its code points (multiplier 1,000,003, modulo 2**64) followed by
  the splitmix64 finalizer;
* ``PERMUTATIONS`` = 128 multiply-shift hash functions ``h_i(x) = (a_i x + b_i) mod 2**64`` with
  fixed odd ``a_i`` and fixed ``b_i`` derived from a counter by splitmix64; the signature keeps, for
  each, the top 32 bits of the minimum over the shingles;
* written as 128 big-endian uint32 = 1,024 lower-case hex characters.

The fraction of equal positions of two signatures estimates the Jaccard similarity of the two
shingle sets (standard error about 0.04 at J = 0.7). Two values match when that estimate is at
least the threshold (0.7 by default). Character shingles work the same in any script and survive
the small edits (a word swapped, a hashtag added) that copy-pasta campaigns make.

``signatures_of_normal_forms`` computes many signatures at once with no Python loop over texts or
shingles (a compiled loop, ``vigil.signals._minhash_kernel``); ``derive_columns`` does a whole
posts table, texts normalized by Arrow kernels, each distinct text once.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from vigil.core.errors import InputError
from vigil.ingest.text import MIN_TOKENS, normalize_text, normalize_texts, token_counts
from vigil.signals.base import DistanceSignalType, Row, normalize_hex
from vigil.signals.columns import column, to_lists
from vigil.signals.hashing import counter_permutations

PERMUTATIONS = 128
SHINGLE = 5
HEX_CHARS = PERMUTATIONS * 8
DEFAULT_THRESHOLD = 0.7

# Constants derived from a fixed counter, not from a random generator, so they can never change
# with a numpy release. Odd multipliers make each x -> a x + b a bijection of 64-bit words.
_MULTIPLIERS, _OFFSETS = counter_permutations(PERMUTATIONS)


@cache
def _kernel() -> Any:
    """The compiled loop's module (imports numba; compiles, or loads numba's disk cache, on first use)."""
    from vigil.signals import _minhash_kernel

    return _minhash_kernel


def _signatures_of_points(
    points: npt.NDArray[np.uint64], lengths: npt.NDArray[np.int64]
) -> npt.NDArray[np.uint32]:
    """Signatures of texts given as concatenated code points and their lengths (all > 0)."""
    out = np.empty((len(lengths), PERMUTATIONS), dtype=np.uint32)
    if len(lengths):
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        _kernel().signatures(points, offsets, SHINGLE, _MULTIPLIERS, _OFFSETS, out)
    return out


def signatures_of_normal_forms(normal_forms: Sequence[str]) -> npt.NDArray[np.uint32]:
    """(n, 128) uint32 MinHash signatures of already normalized, non-empty texts."""
    lengths = np.fromiter((len(t) for t in normal_forms), dtype=np.int64, count=len(normal_forms))
    if len(lengths) and lengths.min() == 0:
        raise InputError("text has nothing left to hash once normalized (only URLs, mentions, emoji...)")
    points = np.frombuffer("".join(normal_forms).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    return _signatures_of_points(points, lengths)


def signatures_to_hex_array(signatures: npt.NDArray[np.uint32]) -> pa.Array:
    """Each signature's value (``signature_to_hex``) as one Arrow string array, built from a single
    hex conversion of the whole block (no Python string per signature)."""
    raw = signatures.astype(">u4").tobytes().hex().encode("ascii")
    offsets = np.arange(len(signatures) + 1, dtype=np.int64) * HEX_CHARS
    hexes = pa.Array.from_buffers(
        pa.large_string(), len(signatures), [None, pa.py_buffer(offsets), pa.py_buffer(raw)]
    )
    return hexes.cast(pa.string())


def signature_of_normal(normal_form: str) -> npt.NDArray[np.uint32]:
    """The 128 uint32 MinHash values of one already normalized, non-empty text."""
    signature: npt.NDArray[np.uint32] = signatures_of_normal_forms([normal_form])[0]
    return signature


def signature_to_hex(signature: npt.NDArray[np.uint32]) -> str:
    return signature.astype(">u4").tobytes().hex()


def hex_to_signatures(values: Sequence[str]) -> npt.NDArray[np.uint32]:
    """Normalized values as an (n, 128) uint32 array."""
    if not values:
        return np.zeros((0, PERMUTATIONS), dtype=np.uint32)
    raw = np.frombuffer(bytes.fromhex("".join(values)), dtype=">u4")
    return raw.astype(np.uint32).reshape(len(values), PERMUTATIONS)


def jaccard_estimate(a: npt.NDArray[np.uint32], b: npt.NDArray[np.uint32]) -> float:
    return float(np.count_nonzero(a == b)) / PERMUTATIONS


def long_enough_normal_forms(texts: Sequence[str | None]) -> list[str | None]:
    """Each text's normal form, or None when it is missing or shorter than ``MIN_TOKENS`` tokens
    (too generic to say anything about who wrote it). Vectorized over the whole sequence."""
    if not texts:
        return []
    normal = normalize_texts(pa.array(texts, pa.string()))
    counts = token_counts(normal).to_pylist()
    return [
        text if count >= MIN_TOKENS else None for text, count in zip(normal.to_pylist(), counts, strict=True)
    ]


class TextMinhashSignal(DistanceSignalType):
    name = "text_minhash"
    description = (
        "MinHash (128 x uint32, 1,024 hex characters) of the character 5-grams of the text's normal form; "
        "matches when the estimated Jaccard similarity is at least the threshold."
    )
    examples = (
        signature_to_hex(signature_of_normal("the postal votes were counted twice in berlin")),
        signature_to_hex(signature_of_normal("الانتخابات مزورة والنتائج معروفة مسبقا")),
    )
    default_threshold: ClassVar[float | None] = DEFAULT_THRESHOLD
    threshold_meaning = "smallest estimated Jaccard similarity (0-1] that still matches"

    def normalize(self, value: str) -> str:
        return normalize_hex(self.name, value, HEX_CHARS, f" (MinHash: {PERMUTATIONS} x uint32)")

    def check_threshold(self, threshold: float | None) -> float | None:
        limit = super().check_threshold(threshold)
        if limit is None or not 0 < limit <= 1:
            raise InputError(f"text_minhash threshold is a Jaccard similarity in (0, 1], got {limit}")
        return float(limit)

    def distance(self, a: str, b: str) -> float:
        sig = hex_to_signatures([a, b])
        return 1.0 - jaccard_estimate(sig[0], sig[1])

    def within(self, distance: float, threshold: float) -> bool:
        # Compare counts, not floats: 1 - (k / 128) can land a hair off the threshold.
        return round((1.0 - distance) * PERMUTATIONS) >= threshold * PERMUTATIONS - 1e-9

    def hash_text(self, text: str) -> str:
        return signature_to_hex(signature_of_normal(normalize_text(text)))

    def derive_from_texts(self, texts: Sequence[str | None]) -> list[list[str]]:
        normal = long_enough_normal_forms(texts)
        kept = [t for t in normal if t is not None]
        signatures = iter(signatures_of_normal_forms(kept)) if kept else iter(())
        return [[] if t is None else [signature_to_hex(next(signatures))] for t in normal]

    def derive_from_post(self, post: Row) -> list[str]:
        return self.derive_from_texts([post.get("text")])[0]

    def derive_columns(self, posts: pa.Table) -> pa.Array:
        """The signature of each post's text long enough to hash, one per distinct text (reshares
        repeat texts), values built as one Arrow array."""
        texts = column(posts, "text", pa.string())
        encoded = pc.dictionary_encode(texts)
        distinct = encoded.dictionary
        normal = normalize_texts(distinct)
        kept = np.asarray(
            pc.greater_equal(token_counts(normal), MIN_TOKENS).to_numpy(zero_copy_only=False), bool
        )
        kept_normal = normal.filter(pa.array(kept))
        lengths = np.asarray(pc.utf8_length(kept_normal).to_numpy(zero_copy_only=False), dtype=np.int64)
        points = np.frombuffer("".join(kept_normal.to_pylist()).encode("utf-32-le"), dtype=np.uint32)
        values = signatures_to_hex_array(_signatures_of_points(points.astype(np.uint64), lengths))
        # Each distinct text's position among the kept ones (-1: not kept), then each post's.
        slot = np.full(len(distinct), -1, dtype=np.int64)
        slot[kept] = np.arange(int(kept.sum()))
        indices = np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
        per_post = np.where(indices >= 0, slot[np.maximum(indices, 0)], -1) if len(slot) else indices
        rows = np.flatnonzero(per_post >= 0)
        return to_lists(posts.num_rows, rows, values.take(pa.array(per_post[rows])))


SIGNAL_TYPE = TextMinhashSignal()
