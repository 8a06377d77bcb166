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


# The two examples' signatures, stored rather than computed when the module is imported: computing
# them imports numba and loads the compiled loop (about 2 s of CPU and 150 MB), which every process
# that builds the signal registry (the server, most CLI commands) would otherwise pay without ever
# hashing a text. tests/signals/test_signal_types.py recomputes both from EXAMPLE_TEXTS.
EXAMPLE_TEXTS = ("the postal votes were counted twice in berlin", "الانتخابات مزورة والنتائج معروفة مسبقا")
_EXAMPLE_SIGNATURES = (
    (
        "02908cae01a184f20ddba0a201ba66210332db76042aa117085e79eb16e9f99707db42a901fe76cc00f22af000a61999"
        "0aeeb30204b1eee204b43cce07f834e0018a6d7002bf18811589af5c02784f4f0239cd6801f4838c058a07f905de8151"
        "0945e9bb0839ee7105249fd500b1efd6021ebc8900155b1b073e1b6d0364d3ac0c6674500bd723ff0085ed8d0093f1c3"
        "0ec6de30053aeb380a331910011570a20242792511cbcc5b033715f3022d5852013273a20154daf30274ea99018a717d"
        "01428a6f0d8a3a540003f40f047c1e3600a8fcd101b5dce00114b790053903c902b0663601d5714b03e4f58d15221063"
        "01c06b02056abf0201e18afe0155470806a87c4c0453f74308915d8a0ca94e8407e78619090c53a0003b669e064de80a"
        "0814c0d509a5257a12ca978d00ffefd00434172c07d149280c18bb4801e240210baf93fd154337030dc0acf607adb6d2"
        "1536be0207a49c710a9fc8f101422ca405daf0fe12d676f409d88f1e008fd82f0dd7fa1202f6064a026862110a58e5d3"
        "0292a7a300b320be05b43aa208bd02e805fb10430e059f300e909def033f6de400edb11900bb064d07ab37af0181d3da"
        "058c1d8800c1e9e2082aee72004180ca06d7ed4b0609652d023d8c100367161708dc84c901e44cad00aff244079a2acf"
        "028031cb06d2cc980593f307000426d10aa5fa9612d5028d07828bed051becde"
    ),
    (
        "1722f15501aa257912b8decb069da44602371e8920350f5707ec0d510e2c182f180d55910687da230226bec803461c99"
        "0759cd92029ae4f50932463f08a841901385b16d13f14e6f07b82fb9021739290356b7a400605cb001215abc0420d1a9"
        "044592a507c007a10b85eeb30f11bd8506197ee401e259d104f4323108f0a71c06c16a060a23ee3611d97fed001e975e"
        "0325d43600c5b41f02b5be93073990c206d152550299827009f2dace01b72b29011b6ee708a1a22f060020c2000673ef"
        "0adae7d30bf7f6bd01cd679f059f6ef00603b357007173e0034b162901974cfb0687087400b00ff00ee5e36d01ae2979"
        "0031adba02c7947b08eae8dc0243cfaa010e8a000366dce700a8de281357e8110275aeb717e4036a06a49de306331422"
        "060dca83016373ac0230b2a100d99cf405e242290731ef4600075bdc079688170b1a6ed807690391077328ee05f77aaa"
        "0b01d8f20be68bb619e0bf130bb11c9d01465c2e01cb09e409a8739500aaf3c201109c8b040e47990a8e114c05e16487"
        "07802af9002ad6310e9b63a82def4b6a05ce9f3b01bf06e8051f0b0e00ffe2fc02d11e2b0512c35c07608a950b1b480b"
        "09fc7d391f2d4b84052e98651190fa1006bbb76c082dd08e018fd1bb0cdb6e8d0401b9130398a47205dd24b4035d4c48"
        "1197449606a783aa01d75f1901354e740075fcad0b3028b9014e62290b0ec874"
    ),
)


class TextMinhashSignal(DistanceSignalType):
    name = "text_minhash"
    description = (
        "MinHash (128 x uint32, 1,024 hex characters) of the character 5-grams of the text's normal form; "
        "matches when the estimated Jaccard similarity is at least the threshold."
    )
    examples = _EXAMPLE_SIGNATURES
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
