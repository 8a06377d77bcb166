"""Text normalization shared by detection (co-text traces) and matching (text signals).

Two posts carry "the same text" for Vigil when their *normal forms* are equal. The normal form
removes what operators vary cheaply or what platforms add, and keeps the words:

1. Unicode NFKC (compatibility forms: ligatures, full-width letters, Arabic presentation forms).
2. URLs (``http(s)://...``, ``www....``) and ``@mentions`` are removed; the ``#`` of a hashtag is
   dropped but its word kept (hashtags are often part of the message).
3. Case folding (lower case, then ``ß`` -> ``ss``).
4. French elisions: ``l'``, ``d'``, ``j'``, ``m'``, ``n'``, ``s'``, ``t'``, ``c'``, ``qu'``, ``jusqu'``,
   ``lorsqu'``, ``puisqu'``, ``quoiqu'`` before a letter are dropped (``l'élection`` -> ``election``);
   other apostrophes are deleted (``aujourd'hui`` -> ``aujourdhui``, ``don't`` -> ``dont``).
5. Arabic: harakat and other Quranic marks and the tatweel are deleted; ``أ إ آ ٱ`` -> ``ا``;
   ``ى`` -> ``ي``; ``ة`` -> ``ه``; hamza carriers ``ؤ`` -> ``و`` and ``ئ`` -> ``ي``; the Persian
   letters ``ی`` -> ``ي`` and ``ک`` -> ``ك`` (common on Persian keyboards); Arabic-Indic and
   extended Arabic-Indic digits -> ``0-9``.
6. Optionally (``fold_accents``, on by default) Latin diacritics are removed (``é`` -> ``e``):
   copies typed with and without accents are the same message. Only the combining marks of the
   Latin block are removed, so scripts whose vowel signs are marks (Devanagari...) keep them.
7. Punctuation, symbols (emoji included), control characters and emoji variation selectors become
   spaces; invisible format characters (zero-width joiners, bidi marks) are deleted; runs of
   whitespace collapse to one space.

Everything runs as vectorized Arrow compute kernels (RE2 regular expressions), so millions of texts
normalize in seconds; only NFKC goes through Python's ``unicodedata`` (its quick check skips the
texts already in NFKC, nearly all of them). :func:`normalize_text` runs the same code on one
string, so detection and matching can never disagree. Bump :data:`NORMALIZATION_VERSION` whenever
the output changes: stored hashes of normal forms are only comparable within one version.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NORMALIZATION_VERSION = 1

# Below this many tokens a text is too generic ("yes", "vote now", "thank you!") for two accounts
# posting it to say anything about coordination; the text traces skip such texts.
MIN_TOKENS = 5

_URL = r"(?i)(?:https?://|www\.)\S+"
_MENTION = r"@[\p{L}\p{N}_]+"
_APOSTROPHES = "['\u2019\u02bc`\u00b4]"
_ELISION = r"(^|[^\p{L}\p{N}])(?:jusqu|lorsqu|puisqu|quoiqu|qu|l|d|j|m|n|s|t|c)" + _APOSTROPHES + r"(\p{L})"
# Arabic harakat (U+064B-065F), superscript alef (U+0670), Quranic annotation marks (U+0610-061A,
# U+06D6-06ED) and the tatweel (U+0640), which only stretches a word.
_ARABIC_MARKS = r"[\x{0610}-\x{061A}\x{064B}-\x{065F}\x{0670}\x{06D6}-\x{06ED}\x{0640}]"
_ARABIC_ANY = r"[\x{0600}-\x{06FF}\x{0750}-\x{077F}]"
_ARABIC_LETTERS = (
    ("[\u0623\u0625\u0622\u0671]", "\u0627"),  # alef with hamza above/below, madda, wasla -> alef
    ("\u0649", "\u064a"),  # alef maqsura -> yaa
    ("\u0629", "\u0647"),  # taa marbuta -> haa
    ("\u0624", "\u0648"),  # waw with hamza -> waw
    ("\u0626", "\u064a"),  # yaa with hamza -> yaa
    ("\u06cc", "\u064a"),  # Farsi yeh -> Arabic yaa
    ("\u06a9", "\u0643"),  # keheh -> kaf
)
_ARABIC_DIGITS = tuple((chr(0x0660 + d), str(d)) for d in range(10)) + tuple(
    (chr(0x06F0 + d), str(d)) for d in range(10)
)
_LATIN_ACCENTED = r"[\x{00C0}-\x{024F}\x{1E00}-\x{1EFF}\x{0300}-\x{036F}]"
_LATIN_MARKS = r"[\x{0300}-\x{036F}]"
# Format characters (zero-width joiner/non-joiner, bidi marks, soft hyphen) sit inside words: delete.
_FORMAT = r"[\p{Cf}]"
# Punctuation, symbols (emoji), controls, variation selectors, keycap and tag characters: word breaks.
_BREAKS = r"[\p{P}\p{S}\p{Cc}\p{Co}\x{FE00}-\x{FE0F}\x{20E3}\x{E0020}-\x{E007F}\x{1F3FB}-\x{1F3FF}]"
# Breaks and whitespace (RE2's \s: tab, newline, form feed, carriage return, space): any run of two
# or more, or one that is not a plain space (a lone space is already what the run becomes).
_SEPARATOR_RUNS = "[" + _BREAKS[1:-1] + r"\s]{2,}|[" + _BREAKS[1:-1] + r"\t\n\f\r]"
_ARABIC_LETTERS_ANY = "[" + "".join(p.strip("[]") for p, _ in _ARABIC_LETTERS) + "]"
_ARABIC_DIGITS_ANY = r"[\x{0660}-\x{0669}\x{06F0}-\x{06F9}]"

TextArray: TypeAlias = "pa.Array | pa.ChunkedArray"


@dataclass(frozen=True)
class TextNormalizer:
    """The normal form's one option; see the module docstring for the rules."""

    fold_accents: bool = True

    def normalize(self, texts: TextArray) -> pa.Array:
        """Normal forms of ``texts`` (a string array; nulls stay null)."""
        return normalize_texts(texts, fold_accents=self.fold_accents)


def _only_where(values: pa.Array, pattern: str, transform: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """Apply ``transform`` only to the rows matching ``pattern``: most rows need no Arabic or accent pass."""
    mask = pc.fill_null(pc.match_substring_regex(values, pattern), False)
    return _only_mask(values, mask, transform)


def _only_mask(values: pa.Array, mask: pa.Array, transform: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """Apply ``transform`` only to the rows where ``mask`` is true."""
    if not pc.any(mask).as_py():
        return values
    if pc.all(mask).as_py():
        return transform(values)
    changed = transform(values.filter(mask))
    return pc.replace_with_mask(values, mask, changed)


def _nfkc(values: pa.Array) -> pa.Array:
    """NFKC, computed only for the rows not already in NFKC.

    ASCII is always in NFKC, and so are nearly all other texts (0.05% of generated posts are not).
    Python's quick check finds those few several times faster than Arrow's normalization of every
    non-ASCII row, which was a fifth of this module's time.
    """
    non_ascii = np.flatnonzero(~pc.fill_null(pc.string_is_ascii(values), True).to_numpy(zero_copy_only=False))
    if len(non_ascii) == 0:
        return values
    rows = values.take(pa.array(non_ascii)).to_pylist()
    changed = [i for i, text in enumerate(rows) if not unicodedata.is_normalized("NFKC", text)]
    if not changed:
        return values
    mask = np.zeros(len(values), dtype=bool)
    mask[non_ascii[changed]] = True
    normal = pa.array([unicodedata.normalize("NFKC", rows[i]) for i in changed], pa.string())
    return pc.replace_with_mask(values, pa.array(mask), normal)


def _arabic(values: pa.Array) -> pa.Array:
    values = pc.replace_substring_regex(values, _ARABIC_MARKS, "")
    # Each letter or digit pass runs only on the rows that have such a letter or digit (few do):
    # 27 passes over every Arabic row were most of this step's time.
    values = _only_where(values, _ARABIC_LETTERS_ANY, _arabic_letters)
    return _only_where(values, _ARABIC_DIGITS_ANY, _arabic_digits)


def _arabic_letters(values: pa.Array) -> pa.Array:
    for pattern, replacement in _ARABIC_LETTERS:
        values = pc.replace_substring_regex(values, pattern, replacement)
    return values


def _arabic_digits(values: pa.Array) -> pa.Array:
    for digit, ascii_digit in _ARABIC_DIGITS:
        values = pc.replace_substring(values, digit, ascii_digit)
    return values


def _fold_accents(values: pa.Array) -> pa.Array:
    values = pc.utf8_normalize(values, form="NFD")
    values = pc.replace_substring_regex(values, _LATIN_MARKS, "")
    return pc.utf8_normalize(values, form="NFC")


def _elisions(values: pa.Array) -> pa.Array:
    values = pc.replace_substring_regex(values, _ELISION, r"\1\2")
    return pc.replace_substring_regex(values, _APOSTROPHES, "")


def normalize_texts(texts: TextArray, *, fold_accents: bool = True) -> pa.Array:
    """Normal forms of a string array, vectorized (see the module docstring). Nulls stay null.

    Passes that change few rows run only on those rows (NFKC only on non-ASCII rows: it leaves
    ASCII as it is; elisions only where there is an apostrophe; Arabic and accent folding only where
    those scripts occur), and word breaks and whitespace collapse in one pass that leaves single
    spaces alone: the same output as the rules applied one after the other to every row, in about
    half the time (tests/ingest/test_text.py checks both agree).
    """
    values = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    if not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    if len(values) == 0:
        return values
    values = _nfkc(values)
    values = pc.replace_substring_regex(values, _URL, " ")
    values = pc.replace_substring_regex(values, _MENTION, " ")
    values = pc.utf8_lower(values)
    values = pc.replace_substring(values, "ß", "ss")
    values = _only_where(values, _APOSTROPHES, _elisions)
    values = _only_where(values, _ARABIC_ANY, _arabic)
    if fold_accents:
        values = _only_where(values, _LATIN_ACCENTED, _fold_accents)
    values = pc.replace_substring_regex(values, _FORMAT, "")
    # Runs of breaks and whitespace become one space; a lone space is a match RE2 need not rewrite.
    values = pc.replace_substring_regex(values, _SEPARATOR_RUNS, " ")
    return pc.utf8_trim_whitespace(values)


def normalize_texts_stepwise(texts: TextArray, *, fold_accents: bool = True) -> pa.Array:
    """:func:`normalize_texts` as the rules read, every pass on every row (its tests' reference)."""
    values = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    if not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    if len(values) == 0:
        return values
    values = pc.utf8_normalize(values, form="NFKC")
    values = pc.replace_substring_regex(values, _URL, " ")
    values = pc.replace_substring_regex(values, _MENTION, " ")
    values = pc.utf8_lower(values)
    values = pc.replace_substring(values, "ß", "ss")
    values = pc.replace_substring_regex(values, _ELISION, r"\1\2")
    values = pc.replace_substring_regex(values, _APOSTROPHES, "")
    values = pc.replace_substring_regex(values, _ARABIC_MARKS, "")
    values = _arabic_digits(_arabic_letters(values))
    if fold_accents:
        values = _only_where(values, _LATIN_ACCENTED, _fold_accents)
    values = pc.replace_substring_regex(values, _FORMAT, "")
    values = pc.replace_substring_regex(values, _BREAKS, " ")
    values = pc.replace_substring_regex(values, r"\s+", " ")
    return pc.utf8_trim_whitespace(values)


def normalize_text(text: str, *, fold_accents: bool = True) -> str:
    """The normal form of one text: the same kernels as :func:`normalize_texts`, on one row."""
    result = normalize_texts(pa.array([text], pa.string()), fold_accents=fold_accents)[0].as_py()
    return str(result)


def token_counts(normalized: TextArray) -> pa.Array:
    """Number of space-separated tokens of each normal form (0 for empty or null)."""
    values = normalized.combine_chunks() if isinstance(normalized, pa.ChunkedArray) else normalized
    spaces = pc.count_substring(values, " ")
    nonempty = pc.greater(pc.utf8_length(values), 0)
    counts = pc.if_else(nonempty, pc.add(spaces, 1), 0)
    return pc.fill_null(counts, 0)


def tokens(text: str, *, fold_accents: bool = True) -> list[str]:
    """The tokens of one text's normal form."""
    normal = normalize_text(text, fold_accents=fold_accents)
    return normal.split(" ") if normal else []
