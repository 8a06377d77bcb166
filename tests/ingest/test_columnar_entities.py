"""Hashtags and mentions of the columnar path (texts split at sigils, Arrow's RE2 and lower-casing)
are those of the Python rules (vigil.ingest.entities) on any text: characters the kernels treat
differently send their text to the Python rules (vigil.ingest.unichars)."""

from __future__ import annotations

import csv
import gzip
import random
import unicodedata
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from vigil.ingest.columnar import ArrowMemo, TextRules, holding
from vigil.ingest.entities import extract_hashtags, extract_mentions
from vigil.ingest.unichars import _STARTER_SECONDS, CharCheck, _composing_seconds

# Sigils, separators, letters of several scripts, digits beyond ASCII, combining marks (decomposed
# accents, Arabic harakat), characters whose lower case differs between Python and Arrow (İ, a final
# Σ), a character Python 3.11 leaves unassigned but RE2 calls a letter (U+11F04), emoji, Hangul jamo.
ALPHABET = (
    "ab1_#@&.  ,!xZ＃＠éÉe\u0301ßİΣσΑ\u0628\u064e\u0627\u0644\u0660٣²Ⅳ①\u200c\u200d\u0915\u093f"
    "\U00011f04\U0001f600\u1100\u1161가中\n\t\u00a0"
)


def _random_texts(seed: int, count: int) -> list[str | None]:
    rng = random.Random(seed)
    texts: list[str | None] = [
        "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(1, 16))) for _ in range(count)
    ]
    texts += [
        "##x", "#a#b", "x#y", "&#39; #1 #1a", "@" + "q" * 70 + "@r", "a@b.c .@x", None, "#été @ü",
        "#ΑΣ #ας", "#İstanbul", "#e\u0301lection", "#الانتخابات و#انتخابات", "@ÉmiLie @émilie", "é#x ＃y",
        "#٣٣ #²", "\U00011f04#x #a\U00011f04",
    ]  # fmt: skip
    return texts


def test_unicode_hashtags_and_mentions_match_the_python_rules() -> None:
    texts = _random_texts(2, 6_000)
    rules = TextRules()
    assert rules.hashtags(pa.array(texts, pa.string())).to_pylist() == [extract_hashtags(t) for t in texts]
    assert rules.mentions(pa.array(texts, pa.string())).to_pylist() == [extract_mentions(t) for t in texts]


def test_hashtags_and_mentions_in_one_pass_match_the_python_rules() -> None:
    """The generic layout reads both from the text in one pass: texts with either sigil, or both."""
    texts = _random_texts(3, 4_000) + ["plain", None, "@a #b", "#only", "@only", "İ @x", "Σ #y"] * 20
    hashtags, mentions = TextRules().hashtags_and_mentions(pa.array(texts, pa.string()))
    assert hashtags.to_pylist() == [extract_hashtags(t) for t in texts]
    assert mentions.to_pylist() == [extract_mentions(t) for t in texts]
    none = TextRules().hashtags_and_mentions(pa.array(["no sigil", None], pa.string()))
    assert [lists.to_pylist() for lists in none] == [[[], []], [[], []]]


def test_a_sliced_array_is_read_at_its_offset() -> None:
    texts = pa.array(["#É ok", "#x İ", "#y", "#Σ", "#é"], pa.string()).slice(1, 3)
    assert TextRules().hashtags(texts).to_pylist() == [extract_hashtags(t) for t in texts.to_pylist()]


def test_characters_the_kernels_treat_otherwise_are_not_safe() -> None:
    check = CharCheck([(str.isalpha, r"\p{L}")], duckdb.connect())
    texts = ["plain ascii", "élection", "İ", "ΑΣ", "e\u0301", "\U00011f04", "\u0628\u064e", "가\u11a8", "😀"]
    assert check.unsafe_rows(pa.array(texts)).tolist() == [
        False, False, True, True, True, True, True, True, False,
    ]  # fmt: skip


def test_arrow_engine_checks_characters_as_duckdb_does() -> None:
    """Without a DuckDB connection the RE2 side of the check runs in Arrow (the engine that extracts)."""
    texts = ["plain ascii", "élection", "İ", "ΑΣ", "e\u0301", "\U00011f04", "\u0628\u064e", "가\u11a8", "😀"]
    tests = [(str.isalpha, r"\p{L}")]
    arrow = CharCheck(tests).unsafe_rows(pa.array(texts)).tolist()
    assert arrow == CharCheck(tests, duckdb.connect()).unsafe_rows(pa.array(texts)).tolist()
    assert arrow == [False, False, True, True, True, True, True, True, False]


# Where splitting at sigils must reproduce the regex's look-behind and its resumption after a match.
EDGES = [
    "@@x", "＠@x", "@＠x", "x@@y", ".@x", "a.@x", "_@x", "(@x) @y, @z.", "@x@y", "@", "@@", "a@", "@ x",
    "##x", "＃#x", "#＃x", "x##y", "&#x", "&##x", "#x#y", "#1 #1a #_ #a_1", "#", "##", "a#", "# x",
    "@" + "w" * 64, "@" + "w" * 65 + "@v", "#" + "é" * 70, "@é" + "x" * 70, "\n@x\t#y", "#x @x #X @X",
    "@a\u00a0@b", "mail@host.org @ok", "#a&#b", "#e\u0301t\u00e9",
]  # fmt: skip


def test_sigil_edges_match_the_python_rules() -> None:
    rules = TextRules()
    texts = pa.array(EDGES, pa.string())
    assert rules.mentions(texts).to_pylist() == [extract_mentions(t) for t in EDGES]
    assert rules.hashtags(texts).to_pylist() == [extract_hashtags(t) for t in EDGES]


def test_real_texts_match_the_python_rules(shared_data: Path) -> None:
    """The first 20,000 tweets of the IRA 2017 archive (English, Russian, German, Arabic...)."""
    with gzip.open(shared_data / "ira-2017" / "tweets.csv.gz", "rt", encoding="utf-8", newline="") as handle:
        texts = [row["tweet_text"] for _, row in zip(range(20_000), csv.DictReader(handle), strict=False)]
    hashtags, mentions = TextRules().hashtags_and_mentions(pa.array(texts, pa.string()))
    assert mentions.to_pylist() == [extract_mentions(t) for t in texts]
    assert hashtags.to_pylist() == [extract_hashtags(t) for t in texts]
    assert sum(map(len, mentions.to_pylist())) > 5_000  # the sample has entities to find


def test_fuzz_fails_when_every_character_passes_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The character check is what keeps the kernels exact beyond ASCII: without it the fuzz differs."""
    texts = _random_texts(2, 6_000)
    monkeypatch.setattr(CharCheck, "scan", lambda self, values: (np.zeros(len(values), bool),) * 2)
    rules = TextRules()
    hashtags, mentions = rules.hashtags_and_mentions(pa.array(texts, pa.string()))
    assert (hashtags.to_pylist(), mentions.to_pylist()) != (
        [extract_hashtags(t) for t in texts],
        [extract_mentions(t) for t in texts],
    )


def test_arrow_memo_computes_each_value_once_and_starts_again_when_full() -> None:
    calls: list[str] = []

    def upper(value: str) -> str:
        calls.append(value)
        return value.upper()

    memo = ArrowMemo(upper, pa.string(), limit=4)
    assert memo.apply(pa.array(["a", "b"])).to_pylist() == ["A", "B"]
    assert memo.apply(pa.array(["b", "c", "a"])).to_pylist() == ["B", "C", "A"]
    assert calls == ["a", "b", "c"]
    assert memo.apply(pa.array(["d", "e"])).to_pylist() == ["D", "E"]  # 3 + 2 > 4: forgets, computes both
    assert calls[3:] == ["d", "e"]
    assert memo.apply(pa.array(["e", "a"])).to_pylist() == ["E", "A"]
    assert calls[5:] == ["a"]


def test_rows_without_a_sigil_get_empty_lists_in_place() -> None:
    """Only texts with a sigil are read; every other row (null too) keeps its place with []."""
    texts = ["plain", None, "@a #b", "plain", "x @c", "@a #b", "", "no sigil here"] * 50
    rules = TextRules()
    assert rules.mentions(pa.array(texts, pa.string())).to_pylist() == [
        extract_mentions(t) if t is not None else [] for t in texts
    ]
    assert rules.hashtags(pa.array(texts, pa.string())).to_pylist() == [
        extract_hashtags(t) if t is not None else [] for t in texts
    ]
    assert rules.mentions(pa.array(["none", None], pa.string())).to_pylist() == [[], []]


def test_written_out_starter_seconds_are_the_scanned_ones() -> None:
    """unichars' written-out set equals the scan of every code point (Python's Unicode version)."""
    scanned = {c for c in _composing_seconds() if unicodedata.combining(chr(c)) == 0}
    assert scanned == _STARTER_SECONDS


def test_holding_finds_a_character_as_python_does() -> None:
    # The byte search over Arrow's buffer (sigils, full-width sigils, other multi-byte characters)
    # against Python's `in`, on random texts with nulls and empties, whole and sliced at offsets.
    texts = [*_random_texts(3, 3000), "", None, "＃", "x＃", "＠＃", "＃＠"]
    array = pa.array(texts, pa.string())
    for part in (array, array.slice(7, 1500), array.slice(2999)):
        values = part.to_pylist()
        for char in ("#", "@", "＃", "＠", "é", "\U0001f600", "\u0628"):
            want = [value is not None and char in value for value in values]
            assert holding(part, char).tolist() == want, char
    assert holding(pa.array([], pa.string()), "#").tolist() == []
    assert holding(pa.array(["#a", None], pa.large_string()), "#").tolist() == [True, False]


def test_holding_ignoring_case_is_match_substring() -> None:
    # How URLs in texts are found ("://", "www." in any case): the byte search against Arrow's RE2
    # on random texts of URL pieces and look-alikes (full-width W, ẘ, a control byte before "."),
    # and every code point before, inside and after "www." (RE2's case folding adds none to w/W).
    rng = random.Random(5)
    pieces = [
        "www.",
        "WWW.",
        "wWw.",
        "ww.",
        "w.w.",
        "://",
        ":/",
        "https",
        "ＷＷＷ.",
        "ẘww.",
        "ww\x0e",
        "é",
        " ",
        "x",
    ]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randrange(0, 6))) for _ in range(3000)]
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    texts += [c + "ww." for c in chars] + ["w" + c + "." for c in chars[::7]] + [None]
    array = pa.array(texts, pa.string())
    for part in (array, array.slice(11, 2500)):
        for needle in ("www.", "://"):
            want = pc.fill_null(pc.match_substring(part, needle, ignore_case=True), False).to_pylist()
            assert holding(part, needle, ignore_case=True).tolist() == want, needle
