""":func:`vigil.ingest.text.normalize_texts` in one compiled loop, for detection's large batches.

The Arrow passes of :mod:`vigil.ingest.text` read every text a dozen times (URLs, mentions, case,
elisions, Arabic, accents, format characters, breaks), each through RE2 or utf8proc: 9-10 s of
CPU for the 824k texts of 1M generated posts, 71% of them not ASCII. Here each text is decoded
once and every rule is applied in the same order in one loop (``_text_normal_kernels``), with the
character classes and mappings in tables built, at first use, *by the same libraries* the passes
use: RE2 classifies every code point below U+30000 (and the tag block) for ``\\p{L}``, breaks and
format characters; Arrow's ``utf8_lower`` gives the case mapping; Arrow's NFD, mark deletion and
NFC give each character's accent fold. So the loop agrees with the passes character by character,
whatever Unicode version each library carries.

Two rules are not character by character, and are handled so that the result stays exact:

* **NFKC.** Python's ``unicodedata`` decides it in :func:`vigil.ingest.text.normalize_texts`; its
  quick check says "normalized" for any text without a character whose NFKC quick-check property
  is not "yes" and without combining marks. Such characters are flagged in a table (a superset:
  anything that is not NFKC on its own, every combining mark, every character that composes with
  a preceding one, the Hangul jamo), and only texts holding one go through ``unicodedata``.
* **Accent folding** is NFC(strip(NFD(text))) on the texts with a Latin letter or mark. Canonical
  equivalence is preserved by concatenation, so that equals NFC of the characters' folds put end
  to end; and NFC leaves a text unchanged when none of its characters can decompose, compose with
  its neighbour or be reordered. A folded text holding such a character (rare: a combining mark
  outside the Latin block, Hangul jamo) is flagged, as is a text with a code point outside the
  tables, and flagged texts go through the Arrow passes.

``tests/detect/test_text_normal.py`` compares the two on adversarial and random mixed texts; on
all 823,943 texts of 1M generated posts they are equal.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from vigil.ingest.text import (
    _APOSTROPHES,
    _ARABIC_DIGITS,
    _ARABIC_LETTERS,
    _ARABIC_MARKS,
    _BREAKS,
    _FORMAT,
    _LATIN_ACCENTED,
    _LATIN_MARKS,
    TextArray,
    normalize_texts,
)

# Below this many texts the Arrow passes are used as they are: the tables (~0.3 s of CPU) and
# numba's import are paid once per process, worth it for detection's batches, not for a few texts.
MIN_COMPILED_ROWS = 10_000

_SLOTS_BMP = 0x30000
_ELISION_WORDS = ("jusqu", "lorsqu", "puisqu", "quoiqu", "qu", "l", "d", "j", "m", "n", "s", "t", "c")


@cache
def _kernels() -> Any:
    """The compiled loops' module (imports numba; compiles, or loads numba's cache, on first call)."""
    from vigil.detect.traces import _text_normal_kernels

    return _text_normal_kernels


@dataclass(frozen=True)
class _Tables:
    flags: npt.NDArray[np.uint16]
    ccc: npt.NDArray[np.uint8]
    lower: npt.NDArray[np.int32]
    fold: npt.NDArray[np.int32]
    arabic: npt.NDArray[np.int32]
    words: npt.NDArray[np.int32]
    word_offsets: npt.NDArray[np.int64]


def _single_code_points(values: pa.Array) -> npt.NDArray[np.int32]:
    """Each string's code point, -1 for an empty string and -2 for a longer one."""
    data, offsets = _buffers(values)
    chars = np.asarray(pc.utf8_length(values).to_numpy(zero_copy_only=False))
    out = np.full(len(values), -2, dtype=np.int32)
    out[chars == 0] = -1
    one = chars == 1
    start = offsets[:-1][one].astype(np.int64)
    size = np.diff(offsets)[one]
    padded = np.concatenate([data, np.zeros(4, np.uint8)]).astype(np.int32)
    b0, b1, b2, b3 = (padded[start + i] for i in range(4))
    out[one] = np.select(
        [size == 1, size == 2, size == 3],
        [b0, ((b0 & 0x1F) << 6) | (b1 & 0x3F), ((b0 & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (b2 & 0x3F)],
        ((b0 & 0x07) << 18) | ((b1 & 0x3F) << 12) | ((b2 & 0x3F) << 6) | (b3 & 0x3F),
    )
    return out


def _has_slot(cp: npt.NDArray[np.int32]) -> npt.NDArray[np.bool_]:
    return (cp < _SLOTS_BMP) | ((cp >= 0xE0000) & (cp < 0xE0200))


@cache
def _tables() -> _Tables:
    """Every table slot's classes and mappings, from RE2, utf8proc (through Arrow) and unicodedata."""
    k = _kernels()
    cps = np.concatenate([np.arange(_SLOTS_BMP), np.arange(0xE0000, 0xE0200)]).astype(np.int32)
    surrogate = (cps >= 0xD800) & (cps < 0xE000)
    # A surrogate is no character (valid UTF-8 never holds one): it stands in as NUL and is flagged.
    chars_list = [
        "\x00" if bad else chr(cp) for cp, bad in zip(cps.tolist(), surrogate.tolist(), strict=True)
    ]
    chars = pa.array(chars_list, pa.string())

    def matches(pattern: str) -> npt.NDArray[np.bool_]:
        found = pc.match_substring_regex(chars, f"^(?:{pattern})$")
        return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)

    flags = np.zeros(len(cps), dtype=np.uint16)
    for bit, pattern in (
        (k.WORD, r"[\p{L}\p{N}_]"),
        (k.LN, r"[\p{L}\p{N}]"),
        (k.LETTER, r"\p{L}"),
        (k.APOS, _APOSTROPHES),
        (k.LATIN, _LATIN_ACCENTED),
        (k.FORMAT, _FORMAT),
        (k.BREAK, _BREAKS),
    ):
        flags[matches(pattern)] |= bit
    trimmed = pc.utf8_length(pc.utf8_trim_whitespace(chars)).to_numpy(zero_copy_only=False)
    flags[trimmed == 0] |= k.TRIM

    # Python's view of composition: characters that can follow another in a canonical pair, the
    # combining marks, the Hangul jamo, and (for NFKC) any character not in NFKC on its own.
    n = len(chars_list)
    ccc = np.fromiter(map(unicodedata.combining, chars_list), dtype=np.uint8, count=n)
    is_nfkc = np.fromiter(map(partial(unicodedata.is_normalized, "NFKC"), chars_list), dtype=bool, count=n)
    unassigned = np.array(list(map(unicodedata.category, chars_list))) == "Cn"
    second = np.zeros(n, dtype=bool)
    for decomposition in map(unicodedata.decomposition, chars_list):
        if decomposition and decomposition[0] != "<":
            parts = decomposition.split()
            if len(parts) == 2 and int(parts[1], 16) < _SLOTS_BMP:  # (all are; one beyond has no slot)
                second[int(parts[1], 16)] = True
    not_nfkc = ~is_nfkc
    jamo = (
        ((cps >= 0x1100) & (cps < 0x1200))
        | ((cps >= 0xA960) & (cps < 0xA980))
        | ((cps >= 0xD7B0) & (cps < 0xD800))
    )
    flags[not_nfkc | second | jamo | surrogate] |= k.NFKC_UNSAFE
    # utf8proc's view, for the NFC after the accent fold (unassigned in Python may be assigned there).
    nfd_changes = pc.invert(pc.equal(pc.utf8_normalize(chars, form="NFD"), chars))
    nfc_changes = pc.invert(pc.equal(pc.utf8_normalize(chars, form="NFC"), chars))
    by_utf8proc = np.asarray(nfd_changes.to_numpy(zero_copy_only=False), dtype=bool) | np.asarray(
        nfc_changes.to_numpy(zero_copy_only=False), dtype=bool
    )
    flags[(ccc != 0) | second | jamo | unassigned | by_utf8proc | surrogate] |= k.NFC_UNSAFE

    lower = _single_code_points(pc.utf8_lower(chars))
    fold_result = pc.utf8_normalize(
        pc.replace_substring_regex(pc.utf8_normalize(chars, form="NFD"), _LATIN_MARKS, ""), form="NFC"
    )
    fold = _single_code_points(fold_result)
    # -1 deletes the character, -2 (more than one code point, or no slot) makes the text fall back.
    fold[(fold >= 0) & ~_has_slot(fold)] = -2
    bad_lower = (lower < 0) | ~_has_slot(lower)
    flags[bad_lower | surrogate] |= k.FALLBACK
    lower[bad_lower] = cps[bad_lower]

    block = pa.array([chr(cp) for cp in range(0x600, 0x700)], pa.string())
    mapped = pc.replace_substring_regex(block, _ARABIC_MARKS, "")
    for pattern, replacement in _ARABIC_LETTERS:
        mapped = pc.replace_substring_regex(mapped, pattern, replacement)
    for digit, ascii_digit in _ARABIC_DIGITS:
        mapped = pc.replace_substring(mapped, digit, ascii_digit)
    arabic = _single_code_points(mapped)
    # (No rule maps a character to several; were one to, its texts would take the passes.)
    several = np.flatnonzero(arabic == -2)
    flags[0x600 + several] |= k.FALLBACK
    arabic[several] = 0x600 + several

    words = np.array([ord(c) for c in "".join(_ELISION_WORDS)], dtype=np.int32)
    word_offsets = np.cumsum([0] + [len(w) for w in _ELISION_WORDS]).astype(np.int64)
    return _Tables(flags, ccc, lower, fold, arabic, words, word_offsets)


def _buffers(values: pa.Array) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int32]]:
    """The UTF-8 bytes and the offsets (into those bytes) of a string array's rows."""
    buffers = values.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int32)[values.offset : values.offset + len(values) + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    # Always read-only (a buffer's view is read-only or not as Arrow allocated it): the compiled
    # loop reads two texts' arrays into one variable, so both must have one numba type.
    data.flags.writeable = False
    return data, offsets


def normalize_texts_compiled(
    texts: TextArray, *, fold_accents: bool = True, min_rows: int = MIN_COMPILED_ROWS
) -> pa.Array:
    """Exactly :func:`vigil.ingest.text.normalize_texts` (nulls stay null), in one compiled loop.

    Fewer than ``min_rows`` texts go through the Arrow passes.
    """
    values = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    if not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    if len(values) < max(min_rows, 1):
        return normalize_texts(values, fold_accents=fold_accents)
    k = _kernels()
    tables = _tables()
    data, offsets = _buffers(values)
    candidates = np.zeros(len(values), dtype=bool)
    k.nfkc_candidates(data, offsets, tables.flags, tables.ccc, candidates)
    valid = np.asarray(pc.is_valid(values).to_numpy(zero_copy_only=False), dtype=bool)
    candidates &= valid
    # The few texts that need NFKC (379 of 1M generated posts) are read by the loop from their own
    # array: replacing them in ``values`` copied every text (0.30 s of CPU at 1M).
    alt_row = np.full(len(values), -1, dtype=np.int64)
    rows = np.flatnonzero(candidates)
    alt_row[rows] = np.arange(len(rows))
    normal = [unicodedata.normalize("NFKC", text) for text in values.take(pa.array(rows)).to_pylist()]
    alt_data, alt_offsets = _buffers(pa.array(normal, pa.string()))
    out = np.empty(2 * (len(data) + len(alt_data)) + 8, dtype=np.uint8)
    out_offsets = np.empty(len(values) + 1, dtype=np.int32)
    fallback = np.zeros(len(values), dtype=bool)
    written = k.normalize(
        data,
        offsets,
        alt_row,
        alt_data,
        alt_offsets,
        valid,
        tables.flags,
        tables.lower,
        tables.fold,
        tables.arabic,
        tables.words,
        tables.word_offsets,
        fold_accents,
        out,
        out_offsets,
        fallback,
    )
    validity = pc.is_valid(values).buffers()[1] if values.null_count else None
    result = pa.Array.from_buffers(
        pa.string(),
        len(values),
        [validity, pa.py_buffer(out_offsets), pa.py_buffer(out[:written].copy())],
        null_count=values.null_count,
    )
    if fallback.any():
        # The passes apply NFKC first themselves: the texts as given, not their NFKC forms.
        mask = pa.array(fallback)
        result = pc.replace_with_mask(
            result, mask, normalize_texts(values.filter(mask), fold_accents=fold_accents)
        )
    return result
