"""The compiled normal form (vigil.detect.traces.text_normal) against the Arrow passes it replaces."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from vigil.detect.traces.text_normal import normalize_texts_compiled
from vigil.ingest.text import normalize_texts, normalize_texts_stepwise

# Pieces chosen where a per-character loop could go wrong: URL and mention prefixes next to each
# other, RE2's case folding of the prefix (long s), elisions after elisions and after a letter-like
# apostrophe (U+02BC is a letter), accents of other scripts folded only beside a Latin one, marks
# outside the Latin block, a Latin mark between two characters that compose once it is gone (the
# fold then needs a real NFC), Hangul jamo, case mappings that change a character's UTF-8 length,
# NFKC forms, Arabic marks, letters and digits, format characters between breaks, whitespace that
# only the final trim removes, code points beyond the loop's tables (plane 3, plane 15), tags and
# variation selectors.
PIECES = [
    *[
        "http://",
        "https://",
        "HtTpS://",
        "httpſ://",
        "www.",
        "WWW.",
        "http:/",
        "ww.",
        "x.com/a?b=c",
        "@",
        "@@",
    ],
    *["@user_1", "@élan", "＠ｆｕｌｌ", "_", "'", "`", "’", "ʼ", "´", "l'", "L’", "qu'", "jusqu'", "Lorsqu'"],
    *[
        "d'",
        "c'",
        "s'",
        "1'a",
        "'l'a",
        "l'l'a",
        "ʼl'a",
        "aujourd'hui",
        "don't",
        "#tag",
        "-",
        ".",
        "!",
        "ß",
        "ẞ",
    ],
    *[" ", "  ", "\t", "\n", "\x0b", "\x0c", "\r", "\x00", "\x7f", "\x85", "a", "B", "z", "0", "hello"],
    *["é", "É", "e\u0301", "e\u0301\u0316", "a\u20d7", "ά", "Ά", "й", "Ё", "ø", "æ", "×", "÷", "ǅ", "ł", "ḉ"],
    *["İ", "Ⱥ", "ȿ", "K", "Ω", "ﬁ", "①", "Ｆ", "\xa0", "\u1680", "\u2028", "\u2029", "\u3000", "\u200b"],
    *[
        "\u200d",
        "\u200f",
        "\u00ad",
        "\ufeff",
        "👍",
        "👍🏽",
        "1️⃣",
        "🏴\U000e0067\U000e0062\U000e007f",
        "\ufe0f",
    ],
    *["كَتَبَ", "ـ", "أإآٱ", "ىةؤئیک", "٠١٢", "۳۴", "،", "\ufefb", "ٰ", "मेरा", "क़", "\u0915\u093c", "ภาษาไทย"],
    *[
        "\u09c7\u0301\u09be",
        "\u1100\u0301\u1161",
        "\u1100\u1161",
        "\u1161",
        "가",
        "\u11a8",
        "漢字",
        "\U00030000",
        "\U000f0000",
        "\ue000",
        "\U0001d11e",
    ],
]


def _random_rows(seed: int, count: int) -> list[str | None]:
    rng = random.Random(seed)
    rows: list[str | None] = [
        "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 16))) for _ in range(count)
    ]
    return [*rows, None, "", "   ", "plain ascii words only", "Élection à l'instant"]


@pytest.mark.parametrize("seed", [1, 2])
def test_compiled_equals_the_arrow_passes_on_adversarial_rows(seed: int) -> None:
    texts = pa.array(_random_rows(seed, 4_000), pa.string())
    for fold in (True, False):
        compiled = normalize_texts_compiled(texts, fold_accents=fold, min_rows=0).to_pylist()
        assert compiled == normalize_texts(texts, fold_accents=fold).to_pylist()
        assert compiled == normalize_texts_stepwise(texts, fold_accents=fold).to_pylist()


def test_compiled_on_slices_chunks_and_nulls() -> None:
    rows = _random_rows(3, 600)
    texts = pa.array(rows, pa.string())
    expected = normalize_texts(texts).to_pylist()
    sliced = normalize_texts_compiled(texts.slice(17, 400), min_rows=0)
    assert sliced.to_pylist() == expected[17:417]
    chunked = normalize_texts_compiled(pa.chunked_array([rows[:250], rows[250:]], pa.string()), min_rows=0)
    assert chunked.to_pylist() == expected
    assert chunked.null_count == texts.null_count
    large = normalize_texts_compiled(pa.array(rows, pa.large_string()), min_rows=0)
    assert large.to_pylist() == expected


def test_rules_hold_in_the_compiled_loop() -> None:
    # A few rules written out, so a loop that agreed with broken passes would still fail.
    raws = [
        "L'Élection à https://x.co/a?b @Jean_1 a commencé!!",
        "كَتَبَ الطُّلَّابُ ٢٠٢٤",
        "Straße  ＦＵＬＬ ﬁne\u200b word",
        "\u2028 Ελληνικά ά é \u1680",
    ]
    got = normalize_texts_compiled(pa.array(raws), min_rows=0).to_pylist()
    assert got == ["election a a commence", "كتب الطلاب 2024", "strasse full fine word", "ελληνικα α e"]


def test_nfkc_texts_read_from_their_own_array_may_be_the_longest() -> None:
    # U+FDFA's NFKC form is 18 characters; the loop's scratch buffers must fit it although every
    # text as given is shorter. Rows needing NFKC sit between rows that do not, nulls among them.
    rows: list[str | None] = ["ﷺ", "ab", None, "ﷺ ﷺ", "x", "㍻ Ｈｅｌｌｏ", "", "ﬁne ﬁ", "plain text"] * 3
    texts = pa.array(rows, pa.string())
    for fold in (True, False):
        got = normalize_texts_compiled(texts, fold_accents=fold, min_rows=0).to_pylist()
        assert got == normalize_texts(texts, fold_accents=fold).to_pylist()
        assert got == normalize_texts_stepwise(texts, fold_accents=fold).to_pylist()


def test_breaks_whitespace_and_format_characters_squeeze_alike_with_and_without_the_fold() -> None:
    # A run of breaks, spaces and format characters is one space wherever the format characters
    # sit in it; a text that is all run is empty after the trim. "é" makes the fold run.
    parts = [" ", ",", "\u200b", "\t", "!!", "\u2060", "é", "a", "ß"]
    rng = random.Random(11)
    rows = ["".join(rng.choice(parts) for _ in range(rng.randint(0, 12))) for _ in range(2000)]
    texts = pa.array(rows, pa.string())
    for fold in (True, False):
        got = normalize_texts_compiled(texts, fold_accents=fold, min_rows=0).to_pylist()
        assert got == normalize_texts(texts, fold_accents=fold).to_pylist()
