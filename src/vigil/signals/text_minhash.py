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
shingles, which is what deriving signals from a posts table uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from vigil.core.errors import InputError
from vigil.ingest.text import MIN_TOKENS, normalize_text, normalize_texts, token_counts
from vigil.signals.base import DistanceSignalType, Row, normalize_hex
from vigil.signals.hashing import counter_permutations, splitmix64

PERMUTATIONS = 128
SHINGLE = 5
HEX_CHARS = PERMUTATIONS * 8
DEFAULT_THRESHOLD = 0.7

_U64 = np.uint64

# Constants derived from a fixed counter, not from a random generator, so they can never change
# with a numpy release. Odd multipliers make each x -> a x + b a bijection of 64-bit words.
_MULTIPLIERS, _OFFSETS = counter_permutations(PERMUTATIONS)
_BLOCK = 16  # hash functions per step: bounds the (block x shingles) temporary
_TEXTS_PER_STEP = 4096


def _shingle_hashes(points: npt.NDArray[np.uint64], lengths: npt.NDArray[np.intp]) -> npt.NDArray[np.uint64]:
    """Hashes of every shingle of every text (texts concatenated in ``points``), text after text.

    Repeated shingles are kept: a minimum does not care.
    """
    width = np.minimum(lengths, SHINGLE)
    counts = lengths - width + 1  # shingles per text (1 for a text shorter than SHINGLE)
    starts = np.repeat(np.cumsum(lengths) - lengths, counts)
    starts += np.arange(len(starts)) - np.repeat(np.cumsum(counts) - counts, counts)
    widths = np.repeat(width, counts)
    acc = np.zeros(len(starts), dtype=np.uint64)
    padded = np.concatenate([points, np.zeros(SHINGLE, dtype=np.uint64)])
    for offset in range(SHINGLE):
        inside = widths > offset  # a short text's single shingle is the whole text
        acc = np.where(inside, acc * _U64(1_000_003) + padded[starts + offset], acc)
    return splitmix64(acc)


def signatures_of_normal_forms(normal_forms: Sequence[str]) -> npt.NDArray[np.uint32]:
    """(n, 128) uint32 MinHash signatures of already normalized, non-empty texts."""
    out = np.empty((len(normal_forms), PERMUTATIONS), dtype=np.uint32)
    for begin in range(0, len(normal_forms), _TEXTS_PER_STEP):
        part = normal_forms[begin : begin + _TEXTS_PER_STEP]
        lengths = np.fromiter((len(t) for t in part), dtype=np.intp, count=len(part))
        if lengths.min() == 0:
            raise InputError("text has nothing left to hash once normalized (only URLs, mentions, emoji...)")
        points = np.frombuffer("".join(part).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        hashes = _shingle_hashes(points, lengths)
        counts = lengths - np.minimum(lengths, SHINGLE) + 1
        first = np.cumsum(counts) - counts
        for start in range(0, PERMUTATIONS, _BLOCK):
            block = slice(start, start + _BLOCK)
            permuted = _MULTIPLIERS[block, None] * hashes[None, :] + _OFFSETS[block, None]
            mins = np.minimum.reduceat(permuted, first, axis=1)
            out[begin : begin + len(part), block] = (mins >> _U64(32)).astype(np.uint32).T
    return out


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


SIGNAL_TYPE = TextMinhashSignal()
