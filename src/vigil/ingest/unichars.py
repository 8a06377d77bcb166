"""Which characters the vectorised kernels (RE2 in Arrow or DuckDB, Arrow's utf8_lower) treat as Python does.

The columnar path finds hashtags and mentions with Arrow's RE2 and lower-cases them with Arrow,
where the reference rules (``vigil.ingest.entities``) use Python's ``re``,
``unicodedata.normalize("NFC")`` and ``str.lower``. On ASCII text they agree by construction; beyond
ASCII the engines carry their own Unicode tables, of other versions (RE2 knows letters that Python
3.11's Unicode 14 leaves unassigned; Arrow lower-cases ``İ`` to ``i``, Python to ``i̇``; Python
lower-cases a final ``Σ`` to ``ς``). So every non-ASCII character met is checked once, against both
sides, and a text goes the vectorised way only if all its characters passed; the others keep the
Python rules.

A character passes when Python assigns it (category not ``Cn``), it is left alone by NFC and cannot
combine with the character before it (NFC quick check "yes" with combining class 0: a text of such
characters is its own NFC, so no normalisation is needed), Arrow lower-cases it as Python does (and
it is not ``Σ``), and each of the ``tests`` given (a Python predicate and an RE2 class) says the same
of it on both sides.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_CODEPOINTS = 0x110000
# Hangul vowel and trailing consonant jamo compose with the syllable before them (algorithmically,
# so they appear in no decomposition mapping).
_HANGUL_VT = (range(0x1161, 0x1176), range(0x11A8, 0x11C3))


@lru_cache(maxsize=1)
def _composing_seconds() -> frozenset[int]:
    """Code points that NFC may compose with the character before them (quick check "maybe")."""
    seconds = {c for block in _HANGUL_VT for c in block}
    for code in range(_CODEPOINTS):
        mapping = unicodedata.decomposition(chr(code))
        if mapping and not mapping.startswith("<"):
            parts = mapping.split()
            if len(parts) == 2:
                seconds.add(int(parts[1], 16))
    return frozenset(seconds)


# The code points of ``_composing_seconds`` with combining class 0 (the others fail the class check
# anyway), written out: computing the set scans all 1.1M code points, over a second of CPU at the
# start of every ingest. tests/ingest/test_columnar_entities.py checks it against the scan.
_STARTER_SECONDS = frozenset(
    {
        *(0x09BE, 0x09D7, 0x0B3E, 0x0B56, 0x0B57, 0x0BBE, 0x0BD7, 0x0CC2, 0x0CD5, 0x0CD6, 0x0D3E),
        *(0x0D57, 0x0DCF, 0x0DDF, 0x0FB5, 0x0FB7, 0x102E, 0x1B35, 0x11127, 0x1133E, 0x11357),
        *(0x114B0, 0x114BA, 0x114BD, 0x115AF, 0x11930),
        *(c for block in _HANGUL_VT for c in block),
    }
)


class CharCheck:
    """Per code point: do the kernels agree with Python on it (see the module docstring)?

    ``tests`` are (Python predicate, RE2 class) pairs that must agree on a character, e.g. a word class
    written both ways; the RE2 side runs in the engine that extracts: DuckDB (``con``) or, without
    one, Arrow (each carries its own RE2). Results are kept for the process (two 1.1 MB arrays).
    """

    def __init__(self, tests: Sequence[tuple[Callable[[str], bool], str]], con: Any = None) -> None:
        self._tests = list(tests)
        self._con = con
        self._known = np.zeros(_CODEPOINTS, dtype=bool)
        self._safe = np.zeros(_CODEPOINTS, dtype=bool)
        self._known[:0x80] = self._safe[:0x80] = True  # ASCII: both sides agree by construction

    def unsafe_rows(self, texts: pa.Array) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Per row of a string array: does the text hold a character not checked safe?"""
        return self.scan(texts)[0]

    def scan(
        self, texts: pa.Array
    ) -> tuple[np.ndarray[Any, np.dtype[np.bool_]], np.ndarray[Any, np.dtype[np.bool_]]]:
        """Per row of a string array: (holds a character not checked safe, holds a non-ASCII one)."""
        bad = np.zeros(len(texts), dtype=bool)
        if len(texts) == 0:
            return bad, np.zeros(0, dtype=bool)
        # Arrow's kernel, not a searchsorted of every multi-byte sequence (a third of the scan).
        ascii_only = pc.fill_null(pc.string_is_ascii(texts), True)
        wide = np.invert(np.asarray(ascii_only.to_numpy(zero_copy_only=False), dtype=bool))
        start = texts.offset
        offsets = np.frombuffer(texts.buffers()[1], dtype=np.int32)[start : start + len(texts) + 1]
        data = np.frombuffer(texts.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
        lead = np.flatnonzero(data >= 0xC0)  # first bytes of multi-byte UTF-8 sequences
        if len(lead) == 0:
            return bad, wide
        codes = _decode(data, lead)
        seen = np.zeros(_CODEPOINTS, dtype=bool)
        seen[codes] = True
        new = np.flatnonzero(seen & ~self._known)
        if len(new):
            self._learn(new)
        unsafe = ~self._safe[codes]
        if unsafe.any():
            bad[np.searchsorted(offsets, lead[unsafe] + offsets[0], side="right") - 1] = True
        return bad, wide

    def _learn(self, codes: np.ndarray[Any, np.dtype[np.intp]]) -> None:
        chars = [chr(int(c)) for c in codes]
        seconds = _STARTER_SECONDS
        ok = np.array(
            [
                unicodedata.category(ch) != "Cn"
                and unicodedata.combining(ch) == 0
                and ord(ch) not in seconds
                and unicodedata.normalize("NFC", ch) == ch
                and ch != "\u03a3"  # Python lower-cases a final capital sigma to ς
                for ch in chars
            ],
            dtype=bool,
        )
        array = pa.array(chars, pa.string())
        ok &= np.array(
            [a == ch.lower() for a, ch in zip(pc.utf8_lower(array).to_pylist(), chars, strict=True)]
        )
        if self._tests and self._con is None:
            for python, re2 in self._tests:
                mine = np.array([bool(python(ch)) for ch in chars], dtype=bool)
                found = pc.fill_null(pc.match_substring_regex(array, f"^(?:{re2})$"), False)
                ok &= np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool) == mine
        elif self._tests:
            self._con.register("vg_chars", pa.table({"c": array}))
            try:
                columns = ", ".join(
                    f"regexp_full_match(c, '{re2}') AS m{i}" for i, (_, re2) in enumerate(self._tests)
                )
                found = self._con.execute(f"SELECT {columns} FROM vg_chars").fetchnumpy()
            finally:
                self._con.unregister("vg_chars")
            for i, (python, _) in enumerate(self._tests):
                mine = np.array([bool(python(ch)) for ch in chars], dtype=bool)
                ok &= np.asarray(found[f"m{i}"], dtype=bool) == mine
        self._known[codes] = True
        self._safe[codes] = ok


def _decode(data: np.ndarray[Any, np.dtype[np.uint8]], lead: np.ndarray[Any, np.dtype[np.intp]]) -> Any:
    """Code points of the UTF-8 sequences starting at ``lead`` (valid UTF-8, as Arrow guarantees)."""
    last = len(data) - 1
    b0 = data[lead].astype(np.int32)
    b1 = data[np.minimum(lead + 1, last)].astype(np.int32) & 0x3F
    b2 = data[np.minimum(lead + 2, last)].astype(np.int32) & 0x3F
    b3 = data[np.minimum(lead + 3, last)].astype(np.int32) & 0x3F
    two = ((b0 & 0x1F) << 6) | b1
    three = ((b0 & 0x0F) << 12) | (b1 << 6) | b2
    four = ((b0 & 0x07) << 18) | (b1 << 12) | (b2 << 6) | b3
    return np.where(b0 < 0xE0, two, np.where(b0 < 0xF0, three, four))


def re2_class(chars: str) -> str:
    """A string of characters and ``a-b`` ranges (a Python class body) written for RE2 (``\\x{...}``)."""
    return "".join(ch if ch == "-" else f"\\x{{{ord(ch):04X}}}" for ch in chars)
