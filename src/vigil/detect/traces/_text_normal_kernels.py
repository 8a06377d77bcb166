"""Compiled loops (numba) of :mod:`vigil.detect.traces.text_normal`: the normal form in one pass per text.

Each text is decoded to code points once and goes through the rules of :mod:`vigil.ingest.text` in
their order, each step reading the previous step's output (two scratch buffers), so a URL inside a
mention, an elision after a removed URL or a break next to a deleted format character behave
exactly as with the regular-expression passes one after the other. Character classes and case
mappings come from tables that :mod:`vigil.detect.traces.text_normal` builds from the same
libraries as the passes (RE2, utf8proc), so the two cannot disagree on a character's class. What
the loop cannot do exactly (a code point outside the tables, an accent fold whose result would
need Unicode composition) it flags, and the caller sends those texts through the passes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

# Table slots: code points below 0x30000 are their own slot; the tag and variation-selector block
# E0000-E01FF follows; anything else has no slot (the text is flagged).
SLOTS_BMP = 0x30000
SLOTS = SLOTS_BMP + 0x200
# Bits of the flags table.
NFKC_UNSAFE = 1  # NFKC quick check "no" or "maybe" (a superset of those characters)
WORD = 2  # [\p{L}\p{N}_]: a mention's characters
LN = 4  # [\p{L}\p{N}]
LETTER = 8  # \p{L}
APOS = 16  # an apostrophe of the elision rule
LATIN = 32  # a character that makes the accent fold run on the text
FORMAT = 64  # \p{Cf}: deleted
BREAK = 128  # punctuation, symbols, controls...: a word break
NFC_UNSAFE = 256  # may change under NFC (so a folded text holding it needs the real NFC)
TRIM = 512  # whitespace for utf8_trim_whitespace
FALLBACK = 1024  # the loop cannot take a text holding it (its case or fold leaves the tables)


@njit(cache=True, nogil=True, inline="always")
def _slot(cp: Any) -> Any:
    if cp < SLOTS_BMP:
        return cp
    if 0xE0000 <= cp < 0xE0200:
        return cp - 0xE0000 + SLOTS_BMP
    return -1


@njit(cache=True, nogil=True, inline="always")
def _is_re2_space(cp: Any) -> Any:
    """RE2's ``\\s``: tab, newline, form feed, carriage return, space (not vertical tab)."""
    return cp == 9 or cp == 10 or cp == 12 or cp == 13 or cp == 32


@njit(cache=True, nogil=True, inline="always")
def _decode(data: Any, i: int, c: Any) -> Any:
    """The code point of the multi-byte UTF-8 sequence at ``data[i]`` (lead byte ``c``, at least
    0xC0: Arrow's strings are valid UTF-8) and its length in bytes."""
    if c < 0xE0:
        return ((c & 0x1F) << 6) | (np.int32(data[i + 1]) & 0x3F), 2
    if c < 0xF0:
        return (
            ((c & 0x0F) << 12) | ((np.int32(data[i + 1]) & 0x3F) << 6) | (np.int32(data[i + 2]) & 0x3F)
        ), 3
    return (
        ((c & 0x07) << 18)
        | ((np.int32(data[i + 1]) & 0x3F) << 12)
        | ((np.int32(data[i + 2]) & 0x3F) << 6)
        | (np.int32(data[i + 3]) & 0x3F)
    ), 4


@njit(cache=True, nogil=True)
def nfkc_candidates(data: Any, offsets: Any, flags: Any, ccc: Any, out: Any) -> None:
    """``out[d]``: Python's NFKC quick check would not say "yes" for text d, or it holds a code
    point without a table slot.

    The quick check says "yes" unless a character's NFKC quick-check property is "no" or "maybe"
    (``NFKC_UNSAFE`` holds a superset of those) or a combining mark follows one of a higher
    combining class; only the texts it does not clear need ``unicodedata``.
    """
    for d in range(offsets.shape[0] - 1):
        lo, hi = offsets[d], offsets[d + 1]
        i = lo
        hit = False
        previous = 0
        while i < hi:
            c = np.int32(data[i])
            if c < 0x80:
                previous = 0
                i += 1
                continue
            cp, width = _decode(data, i, c)
            i += width
            s = _slot(cp)
            if s < 0 or flags[s] & NFKC_UNSAFE:
                hit = True
                break
            klass = ccc[s]
            if klass != 0 and previous > klass:
                hit = True
                break
            previous = klass
        out[d] = hit


@njit(cache=True, nogil=True, inline="always")
def _lower_ascii(c: Any) -> Any:
    return c + 32 if 65 <= c <= 90 else c


@njit(cache=True, nogil=True)
def _url_prefix(data: Any, i: int, hi: int) -> int:
    """Bytes of ``https://``, ``http://`` or ``www.`` at data[i] in any case, as RE2's (?i) reads
    them (the s may also be the long s, U+017F: bytes C5 BF), else 0."""
    c = _lower_ascii(np.int32(data[i]))
    if c == 119:
        if (
            i + 4 <= hi
            and _lower_ascii(np.int32(data[i + 1])) == 119
            and _lower_ascii(np.int32(data[i + 2])) == 119
            and data[i + 3] == 46
        ):
            return 4
        return 0
    if c != 104 or i + 7 > hi:
        return 0
    if not (
        _lower_ascii(np.int32(data[i + 1])) == 116
        and _lower_ascii(np.int32(data[i + 2])) == 116
        and _lower_ascii(np.int32(data[i + 3])) == 112
    ):
        return 0
    j = i + 4
    if _lower_ascii(np.int32(data[j])) == 115:
        j += 1
    elif j + 1 < hi and data[j] == 0xC5 and data[j + 1] == 0xBF:
        j += 2
    if j + 3 <= hi and data[j] == 58 and data[j + 1] == 47 and data[j + 2] == 47:
        return j + 3 - i
    return 0


@njit(cache=True, nogil=True)
def _elision_at(src: Any, w: int, n: int, words: Any, word_offsets: Any, flags: Any) -> int:
    """End of ``word + apostrophe + letter`` starting at src[w] (one of the elided words), else -1.

    The words are tried in the pattern's order, as RE2's leftmost-first alternation does.
    """
    for k in range(word_offsets.shape[0] - 1):
        lo, hi = word_offsets[k], word_offsets[k + 1]
        length = hi - lo
        if w + length + 2 > n:
            continue
        same = True
        for j in range(length):
            if src[w + j] != words[lo + j]:
                same = False
                break
        if same and flags[_slot(src[w + length])] & APOS and flags[_slot(src[w + length + 1])] & LETTER:
            return int(w + length + 2)
    return -1


@njit(cache=True, nogil=True)
def _encode(cp: Any, out: Any, w: int) -> int:
    if cp < 0x80:
        out[w] = cp
        return w + 1
    if cp < 0x800:
        out[w] = 0xC0 | (cp >> 6)
        out[w + 1] = 0x80 | (cp & 0x3F)
        return w + 2
    if cp < 0x10000:
        out[w] = 0xE0 | (cp >> 12)
        out[w + 1] = 0x80 | ((cp >> 6) & 0x3F)
        out[w + 2] = 0x80 | (cp & 0x3F)
        return w + 3
    out[w] = 0xF0 | (cp >> 18)
    out[w + 1] = 0x80 | ((cp >> 12) & 0x3F)
    out[w + 2] = 0x80 | ((cp >> 6) & 0x3F)
    out[w + 3] = 0x80 | (cp & 0x3F)
    return w + 4


@njit(cache=True, nogil=True, inline="always")
def _squeeze(dst: Any, m: int, c: Any, f: Any) -> int:
    """Step 9 for one character ``c`` (flags ``f``) written at ``dst[m]``: a format character is
    deleted, a run of breaks and whitespace becomes one space, any other character is kept.
    Returns the new ``m``. A space in ``dst`` only ever comes from a run (a space is whitespace),
    so ``dst[m - 1] == 32`` says the run has its space already."""
    if f & FORMAT:
        return m
    if f & BREAK or _is_re2_space(c):
        if m > 0 and dst[m - 1] == 32:
            return m
        dst[m] = 32
        return m + 1
    dst[m] = c
    return m + 1


@njit(cache=True, nogil=True)
def normalize(
    data: Any,
    offsets: Any,
    alt_row: Any,
    alt_data: Any,
    alt_offsets: Any,
    valid: Any,
    flags: Any,
    lower: Any,
    fold: Any,
    arabic: Any,
    words: Any,
    word_offsets: Any,
    fold_accents: bool,
    out: Any,
    out_offsets: Any,
    fallback: Any,
) -> int:
    """Normal forms of the NFKC texts ``data[offsets[d]:offsets[d + 1]]`` into ``out`` (UTF-8).

    Text d is read from ``alt_data[alt_offsets[k]:alt_offsets[k + 1]]`` instead when ``alt_row[d]``
    is ``k >= 0`` (its NFKC form, which the caller computed for the few texts that need one:
    splicing them into ``data`` would copy every text). Text d's normal form is
    ``out[out_offsets[d]:out_offsets[d + 1]]``; ``fallback[d]`` is set (and the form left empty)
    when the loop cannot compute it exactly. ``out`` holds twice ``data`` and ``alt_data`` (lower
    case can lengthen a character's UTF-8 by half). Returns the bytes written.
    """
    longest = 1
    for d in range(offsets.shape[0] - 1):
        longest = max(longest, offsets[d + 1] - offsets[d])
    for k in range(alt_offsets.shape[0] - 1):
        longest = max(longest, alt_offsets[k + 1] - alt_offsets[k])
    # ß -> ss adds a code point, but a text has at most as many code points as bytes, and ß is 2.
    a = np.empty(longest, np.int32)
    b = np.empty(longest, np.int32)
    written = 0
    out_offsets[0] = 0
    for d in range(offsets.shape[0] - 1):
        out_offsets[d + 1] = written
        if not valid[d]:
            continue
        # 1. URLs -> space, while decoding (a -> b). The URL pattern is ASCII (but for the long s)
        # and a UTF-8 sequence never holds an ASCII byte, so it is matched on the bytes.
        text = data
        lo, hi = offsets[d], offsets[d + 1]
        k = alt_row[d]
        if k >= 0:
            text = alt_data
            lo, hi = alt_offsets[k], alt_offsets[k + 1]
        i = lo
        m = 0
        outside = False
        while i < hi:
            c = np.int32(text[i])
            if c < 0x80:
                if c == 104 or c == 119 or c == 72 or c == 87:
                    prefix = _url_prefix(text, i, hi)
                    if prefix and i + prefix < hi and not _is_re2_space(text[i + prefix]):
                        i += prefix
                        while i < hi and not _is_re2_space(text[i]):
                            i += 1
                        b[m] = 32
                        m += 1
                        continue
                cp = c
                i += 1
            else:
                cp, width = _decode(text, i, c)
                i += width
                s = _slot(cp)
                if s < 0 or flags[s] & FALLBACK:
                    outside = True
                    break
            b[m] = cp
            m += 1
        if outside:
            fallback[d] = True
            continue
        # 2. mentions -> space, 3. lower case, 4. ß -> ss (b -> a). A Latin character here is one
        # after the Arabic step too (elisions, apostrophes and Arabic neither remove nor make one).
        n = 0
        i = 0
        apostrophes = False
        latin = False
        while i < m:
            c = b[i]
            if c == 64 and i + 1 < m and flags[_slot(b[i + 1])] & WORD:
                i += 1
                while i < m and flags[_slot(b[i])] & WORD:
                    i += 1
                a[n] = 32
                n += 1
                continue
            c = lower[_slot(c)]
            i += 1
            if c == 0xDF:
                a[n] = 115
                a[n + 1] = 115
                n += 2
                continue
            a[n] = c
            n += 1
            f = flags[_slot(c)]
            if f & APOS:
                apostrophes = True
            if f & LATIN:
                latin = True
        src = a
        dst = b
        if apostrophes:
            # 5. elisions (a -> b), matches left to right without overlap as RE2's global replace
            m = 0
            s = 0  # where the next match may start
            while s < n:
                end = -1
                if s == 0:
                    end = _elision_at(a, 0, n, words, word_offsets, flags)
                if end < 0 and s + 1 < n and not flags[_slot(a[s])] & LN:
                    end = _elision_at(a, s + 1, n, words, word_offsets, flags)
                    if end >= 0:
                        b[m] = a[s]  # \1: the character before the word
                        m += 1
                if end >= 0:
                    b[m] = a[end - 1]  # \2: the letter after the apostrophe
                    m += 1
                    s = end
                else:
                    b[m] = a[s]
                    m += 1
                    s += 1
            n = m
            src = b
            dst = a
        fold_text = fold_accents and latin
        # 6. apostrophes deleted, 7. Arabic marks deleted, letters and digits mapped; without an
        # accent fold, also 9. format characters deleted, runs of breaks and whitespace -> one
        # space (src -> dst)
        m = 0
        for i in range(n):
            c = src[i]
            f = flags[_slot(c)]
            if f & APOS:
                continue
            if 0x600 <= c < 0x700:
                c = arabic[c - 0x600]
                if c < 0:
                    continue
                f = flags[c]
            if fold_text:
                dst[m] = c
                m += 1
            else:
                m = _squeeze(dst, m, c, f)
        n = m
        if fold_text:
            # 8. accents folded, in place: per character, then the text must need no composition
            m = 0
            bad = False
            for i in range(n):
                c = fold[_slot(dst[i])]
                if c == -1:
                    continue
                if c < 0 or flags[_slot(c)] & NFC_UNSAFE:
                    bad = True
                    break
                dst[m] = c
                m += 1
            if bad:
                fallback[d] = True
                continue
            n = m
            # 9. format characters deleted, runs of breaks and whitespace -> one space (in place)
            m = 0
            for i in range(n):
                c = dst[i]
                m = _squeeze(dst, m, c, flags[_slot(c)])
            n = m
        # 10. whitespace trimmed at both ends, encoded
        start = 0
        while start < n and flags[_slot(dst[start])] & TRIM:
            start += 1
        stop = n
        while stop > start and flags[_slot(dst[stop - 1])] & TRIM:
            stop -= 1
        for i in range(start, stop):
            written = _encode(dst[i], out, written)
        out_offsets[d + 1] = written
    return written
