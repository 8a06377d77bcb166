"""The normal form of ASCII texts in one compiled loop (numba), for :func:`vigil.ingest.text.normalize_texts`.

In ASCII the rules of :mod:`vigil.ingest.text` reduce to byte tests, with nothing left to Unicode
tables: NFKC, case folding beyond A-Z, Arabic and accents do not apply, no format character is
ASCII, and every ASCII character that is not a letter or a digit is a break (punctuation, symbol,
control) or whitespace. So a text's normal form is its words of ``[a-z0-9]`` joined by single
spaces, after the same steps in the same order as the regular expressions:

1. URLs (``(?i)(?:https?://|www\\.)\\S+``, RE2's ``\\S`` being anything but ``[\\t\\n\\f\\r ]``) -> space;
2. mentions (``@[A-Za-z0-9_]+``) -> space;
3. A-Z -> a-z;
4. elisions (``(^|[^a-z0-9])(jusqu|lorsqu|puisqu|quoiqu|qu|l|d|j|m|n|s|t|c)['`]([a-z])`` ->
   ``\\1\\2``, matches taken left to right without overlap as RE2's global replace takes them),
   then every ``'`` and backtick deleted;
5. runs of anything but ``[a-z0-9]`` -> one space, and the ends trimmed.

Each step reads the previous step's output (two scratch buffers), so a URL inside a mention's
text or an elision after a removed URL behaves exactly as with the passes one after the other;
``tests/ingest/test_text.py`` compares the two on adversarial ASCII.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

_SPACE = np.uint8(32)
_ELISION_WORDS = ("jusqu", "lorsqu", "puisqu", "quoiqu", "qu", "l", "d", "j", "m", "n", "s", "t", "c")
# The words' bytes packed one after the other, with their offsets (numba takes arrays, not tuples
# of strings).
ELISION_BYTES = np.frombuffer("".join(_ELISION_WORDS).encode("ascii"), dtype=np.uint8).copy()
ELISION_OFFSETS = np.cumsum([0] + [len(w) for w in _ELISION_WORDS]).astype(np.int64)


@njit(cache=True, nogil=True, inline="always")
def _lower(c: Any) -> Any:
    return c + np.uint8(32) if np.uint8(65) <= c <= np.uint8(90) else c


@njit(cache=True, nogil=True, inline="always")
def _is_lower_alnum(c: Any) -> Any:
    return (np.uint8(97) <= c <= np.uint8(122)) or (np.uint8(48) <= c <= np.uint8(57))


@njit(cache=True, nogil=True, inline="always")
def _is_word(c: Any) -> Any:
    """``[A-Za-z0-9_]``: a mention's characters."""
    return (
        (np.uint8(97) <= c <= np.uint8(122))
        or (np.uint8(65) <= c <= np.uint8(90))
        or (np.uint8(48) <= c <= np.uint8(57))
        or c == np.uint8(95)
    )


@njit(cache=True, nogil=True, inline="always")
def _is_re2_space(c: Any) -> Any:
    """RE2's ``\\s``: tab, newline, form feed, carriage return, space (not vertical tab)."""
    return c == 9 or c == 10 or c == 12 or c == 13 or c == 32


@njit(cache=True, nogil=True, inline="always")
def _is_apostrophe(c: Any) -> Any:
    return c == 39 or c == 96


@njit(cache=True, nogil=True)
def _url_prefix(src: Any, i: int, n: int) -> Any:
    """Length of ``https://``, ``http://`` or ``www.`` (any case) at src[i], else 0."""
    if i + 4 <= n and _lower(src[i]) == 119 and _lower(src[i + 1]) == 119 and _lower(src[i + 2]) == 119:
        return 4 if src[i + 3] == 46 else 0
    if i + 7 > n:
        return 0
    if not (
        _lower(src[i]) == 104
        and _lower(src[i + 1]) == 116
        and _lower(src[i + 2]) == 116
        and _lower(src[i + 3]) == 112
    ):
        return 0
    j = i + 4
    if _lower(src[j]) == 115:
        j += 1
    if j + 3 <= n and src[j] == 58 and src[j + 1] == 47 and src[j + 2] == 47:
        return j + 3 - i
    return 0


@njit(cache=True, nogil=True)
def _elision_at(src: Any, w: int, n: int, words: Any, word_offsets: Any) -> Any:
    """End of ``word + apostrophe + letter`` starting at src[w] (one of the elided words), else -1."""
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
        if same and _is_apostrophe(src[w + length]) and np.uint8(97) <= src[w + length + 1] <= np.uint8(122):
            return w + length + 2
    return -1


@njit(cache=True, nogil=True)
def normalize_ascii(
    data: Any, offsets: Any, words: Any, word_offsets: Any, out: Any, out_offsets: Any
) -> None:
    """The normal forms of the ASCII texts ``data[offsets[d]:offsets[d + 1]]`` into ``out`` (never
    longer than ``data``), text d's at ``out[out_offsets[d]:out_offsets[d + 1]]``."""
    longest = 0
    for d in range(offsets.shape[0] - 1):
        longest = max(longest, offsets[d + 1] - offsets[d])
    a = np.empty(longest, np.uint8)
    b = np.empty(longest, np.uint8)
    written = 0
    out_offsets[0] = 0
    for d in range(offsets.shape[0] - 1):
        lo, hi = offsets[d], offsets[d + 1]
        # 1. URLs -> space (data -> a)
        n = 0
        i = lo
        while i < hi:
            c = data[i]
            # Only h or w can start a URL: the prefix test is skipped for every other byte.
            prefix = _url_prefix(data, i, hi) if c == 104 or c == 119 or c == 72 or c == 87 else 0
            if prefix and i + prefix < hi and not _is_re2_space(data[i + prefix]):
                i += prefix
                while i < hi and not _is_re2_space(data[i]):
                    i += 1
                a[n] = _SPACE
            else:
                a[n] = data[i]
                i += 1
            n += 1
        # 2. mentions -> space, 3. lower case (a -> b)
        m = 0
        i = 0
        apostrophes = False
        while i < n:
            if a[i] == 64 and i + 1 < n and _is_word(a[i + 1]):
                i += 1
                while i < n and _is_word(a[i]):
                    i += 1
                b[m] = _SPACE
            else:
                b[m] = _lower(a[i])
                apostrophes |= _is_apostrophe(a[i])
                i += 1
            m += 1
        if not apostrophes:
            # No elision without an apostrophe (most texts): b goes to step 5 as it is.
            written = out_offsets[d + 1] = _collapse(b, m, out, written)
            continue
        # 4. elisions, then apostrophes deleted (b -> a)
        n = 0
        i = 0  # the first byte not consumed by a match
        s = 0  # where the next match may start
        while s < m:
            end = -1
            if s == 0:
                end = _elision_at(b, 0, m, words, word_offsets)
            if end < 0 and not _is_lower_alnum(b[s]) and s + 1 < m:
                end = _elision_at(b, s + 1, m, words, word_offsets)
                if end >= 0:
                    # \1 (the character before the word) is kept.
                    a[n] = b[s]
                    n += 1
            if end >= 0:
                # \2: the letter after the apostrophe.
                a[n] = b[end - 1]
                n += 1
                s = end
            else:
                a[n] = b[s]
                n += 1
                s += 1
        written = out_offsets[d + 1] = _collapse(a, n, out, written)


@njit(cache=True, nogil=True)
def _collapse(src: Any, n: int, out: Any, written: int) -> int:
    """Step 5 on src[:n] appended to out[written:]: apostrophes deleted, runs of other non-[a-z0-9]
    bytes one space, the ends trimmed. Returns the new end of ``out``."""
    start = written
    gap = False
    for j in range(n):
        c = src[j]
        if _is_apostrophe(c):
            continue
        if _is_lower_alnum(c):
            if gap and written > start:
                out[written] = _SPACE
                written += 1
            gap = False
            out[written] = c
            written += 1
        else:
            gap = True
    return written
