"""Near-duplicate text signal: a MinHash signature of the text's normal form.

Scheme (version 1; changing any of it changes every value, so it is fixed here and in the docs):

* the normal form of ``vigil.ingest.text.normalize_text``;
* its character 5-grams (*shingles*; a text shorter than 5 characters is one shingle), each hashed
  to 64 bits by a polynomial over its code points followed by the splitmix64 finalizer;
* ``PERMUTATIONS`` = 128 hash functions ``h_i(x) = splitmix64(x XOR seed_i)``; the signature keeps,
  for each, the top 32 bits of the minimum over the shingles;
* written as 128 big-endian uint32 = 1,024 lower-case hex characters.

The fraction of equal positions of two signatures estimates the Jaccard similarity of the two
shingle sets (standard error about 0.04 at J = 0.7). Two values match when that estimate is at
least the threshold (0.7 by default). Character shingles work the same in any script and survive
the small edits (a word swapped, a hashtag added) that copy-pasta campaigns make.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from vigil.core.errors import InputError
from vigil.ingest.text import MIN_TOKENS, normalize_text
from vigil.signals.base import DistanceSignalType, Row, normalize_hex

PERMUTATIONS = 128
SHINGLE = 5
HEX_CHARS = PERMUTATIONS * 8
DEFAULT_THRESHOLD = 0.7

_U64 = np.uint64


def _splitmix64(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    # uint64 array arithmetic wraps modulo 2**64, which is what the finalizer wants.
    z = values ^ (values >> _U64(30))
    z = z * _U64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> _U64(27))
    z = z * _U64(0x94D049BB133111EB)
    out: npt.NDArray[np.uint64] = z ^ (z >> _U64(31))
    return out


# Seeds derived from a fixed counter, not from a random generator, so they can never change
# with a numpy release.
_SEEDS = _splitmix64(np.arange(1, PERMUTATIONS + 1, dtype=np.uint64) * _U64(0x9E3779B97F4A7C15))


def shingle_hashes(normal_form: str) -> npt.NDArray[np.uint64]:
    """Distinct 64-bit hashes of the character 5-grams of an already normalized text."""
    points = np.frombuffer(normal_form.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(points) == 0:
        return np.zeros(0, dtype=np.uint64)
    width = min(SHINGLE, len(points))
    count = len(points) - width + 1
    acc = np.zeros(count, dtype=np.uint64)
    for offset in range(width):
        acc = acc * _U64(1_000_003) + points[offset : offset + count]
    return np.unique(_splitmix64(acc))


def signature_of_normal(normal_form: str) -> npt.NDArray[np.uint32]:
    """The 128 uint32 MinHash values of an already normalized, non-empty text."""
    hashes = shingle_hashes(normal_form)
    if len(hashes) == 0:
        raise InputError("text has nothing left to hash once normalized (only URLs, mentions, emoji...)")
    mins = np.empty(PERMUTATIONS, dtype=np.uint64)
    # Blocks bound the temporary (block x shingles) matrix for long texts.
    for start in range(0, PERMUTATIONS, 32):
        block = _splitmix64(hashes[None, :] ^ _SEEDS[start : start + 32, None])
        mins[start : start + 32] = block.min(axis=1)
    return (mins >> _U64(32)).astype(np.uint32)


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

    def derive_from_post(self, post: Row) -> list[str]:
        text = post.get("text")
        if not text:
            return []
        normal = normalize_text(text)
        if len(normal.split()) < MIN_TOKENS:
            return []
        return [signature_to_hex(signature_of_normal(normal))]


SIGNAL_TYPE = TextMinhashSignal()
