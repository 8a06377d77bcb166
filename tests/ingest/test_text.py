"""Text normal form: one rule per case, for Arabic, French and English, scalar and vectorized."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from vigil.ingest.text import (
    MIN_TOKENS,
    TextNormalizer,
    normalize_text,
    normalize_texts,
    normalize_texts_stepwise,
    token_counts,
    tokens,
)

ARABIC_RULES = [
    # harakat (fatha, damma, kasra, shadda, sukun, tanwin) are deleted
    ("كَتَبَ الطُّلَّابُ دَرْسًا", "كتب الطلاب درسا"),
    # superscript alef (dagger alef)
    ("هٰذا", "هذا"),
    # tatweel only stretches a word
    ("مــــدرســـة", "مدرسه"),
    # alef forms
    ("أحمد", "احمد"),
    ("إسلام", "اسلام"),
    ("آمن", "امن"),
    ("ٱلله", "الله"),
    # alef maqsura -> yaa
    ("على", "علي"),
    # taa marbuta -> haa
    ("مدينة", "مدينه"),
    # hamza carriers
    ("مؤمن", "مومن"),
    ("سئل", "سيل"),
    # Persian yeh and keheh typed in Arabic text
    ("کتابی", "كتابي"),
    # Arabic-Indic and extended Arabic-Indic digits
    ("٢٠٢٤", "2024"),
    ("۱۲۳", "123"),
    # Arabic punctuation is a word break
    ("نعم، لا؟ ربما؛", "نعم لا ربما"),
    # presentation forms fold through NFKC
    ("\ufefb", "لا"),
]


@pytest.mark.parametrize(("raw", "expected"), ARABIC_RULES)
def test_arabic_rules(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_arabic_variants_of_one_sentence_share_a_normal_form() -> None:
    plain = "ان الانتخابات مزورة في مدينة الرباط"
    decorated = "إِنَّ الانْتِخَابَاتِ مُزَوَّرَةٌ فِي مَـدِيـنَـةِ الرِّبَاطِ!!"
    assert normalize_text(plain) == normalize_text(decorated)


FRENCH_RULES = [
    ("L'Élection", "election"),
    ("d’accord", "accord"),
    ("jusqu'à demain", "a demain"),
    ("lorsqu'il vote qu'elle", "il vote elle"),
    ("aujourd'hui", "aujourdhui"),
    ("ÇA SUFFIT", "ca suffit"),
    ("Œuvre", "œuvre"),  # the ligature is a letter of French, not a compatibility form
    ("« Votez ! »", "votez"),
]


@pytest.mark.parametrize(("raw", "expected"), FRENCH_RULES)
def test_french_rules(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_accents_kept_when_folding_is_off() -> None:
    assert normalize_text("L'Élection truquée", fold_accents=False) == "élection truquée"
    assert TextNormalizer(fold_accents=False).normalize(pa.array(["Été"]))[0].as_py() == "été"


ENGLISH_RULES = [
    ("Hello, WORLD!!", "hello world"),
    ("Don't stop", "dont stop"),
    ("Vote now https://t.co/AbC123 and www.example.org/x?y=1 ok", "vote now and ok"),
    ("thanks @Some_User and @other", "thanks and"),
    ("#Election2024 is #rigged", "election2024 is rigged"),
    ("big 🗳️ news 👍🏽 family 👨\u200d👩\u200d👧 1️⃣", "big news family 1"),
    ("ﬁne ＦＵＬＬ ①", "fine full 1"),  # NFKC: ligature, full-width letters, circled digit
    ("Straße", "strasse"),  # case folding, not only lower case
    ("zero\u200bwidth \u200fmark", "zerowidth mark"),  # format characters deleted, not spaces
    ("  lots \n\t of   space ", "lots of space"),
]


@pytest.mark.parametrize(("raw", "expected"), ENGLISH_RULES)
def test_english_rules(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_other_scripts_keep_their_marks() -> None:
    # Devanagari vowel signs are combining marks: only Latin marks are folded away.
    assert normalize_text("नमस्ते दुनिया") == "नमस्ते दुनिया"
    assert normalize_text("Привет, МИР") == "привет мир"


def test_vectorized_equals_scalar_and_keeps_nulls() -> None:
    raws = [raw for raw, _ in ARABIC_RULES + FRENCH_RULES + ENGLISH_RULES]
    vector = normalize_texts(pa.array([*raws, None, ""])).to_pylist()
    assert vector[:-2] == [normalize_text(raw) for raw in raws]
    assert vector[-2:] == [None, ""]
    chunked = normalize_texts(pa.chunked_array([raws[:3], raws[3:6]]))
    assert chunked.to_pylist() == vector[:6]


def test_fast_paths_equal_every_rule_on_every_row() -> None:
    # normalize_texts skips passes on rows that cannot change (ASCII, no apostrophe, no Arabic...)
    # and merges the break and whitespace passes: on mixed rows, random ones included, it must give
    # what every rule applied to every row gives.
    rng = random.Random(7)
    pool = [*"ab cXY'’\t\n,.!?-_@#/:éÉàçœß", "http://", "www.", "@user", "l'", "qu'", "\u200b", "\u200f"]
    pool += [*"كَتبةىأؤئ٢۳ـ،", "\ufefb", "ﬁ", "Ｆ", "①", "👍🏽", "1️⃣", "е\u0301", "नमस्ते", "\u2028", "\xa0"]
    randoms = ["".join(rng.choice(pool) for _ in range(rng.randint(0, 30))) for _ in range(2_000)]
    raws = [raw for raw, _ in ARABIC_RULES + FRENCH_RULES + ENGLISH_RULES] + randoms
    texts = pa.array([*raws, None, "", "   ", "plain ascii words only"])
    for fold in (True, False):
        fast = normalize_texts(texts, fold_accents=fold)
        assert fast.to_pylist() == normalize_texts_stepwise(texts, fold_accents=fold).to_pylist()
    # All rows ASCII, or all needing NFKC: the paths that skip the masks.
    for rows in (["Hello,  World!!", "a\tb"], ["ﬁne", "ＦＵＬＬ"]):
        array = pa.array(rows)
        assert normalize_texts(array).to_pylist() == normalize_texts_stepwise(array).to_pylist()


ASCII_PIECES = [
    *["http://", "https://", "HTTP://", "HtTpS://", "www.", "WWW.", "http:/", "https:", "ww.", "x.com/a?b=c"],
    *[
        "@",
        "@@",
        "@user_1",
        "_",
        "'",
        "`",
        "''",
        "l'",
        "L'",
        "qu'",
        "jusqu'",
        "Lorsqu'",
        "quoiqu'",
        "puisqu'",
    ],
    *["d'", "c'", "s'", "1'a", "'l'a", "l'l'a", "O'Brien", "aujourd'hui", "don't", "#tag", "-", ".", "!"],
    *[" ", "  ", "\t", "\n", "\x0b", "\x0c", "\r", "\x00", "\x7f", "a", "B", "z", "0", "9", "hello"],
]


@pytest.mark.parametrize("seed", [1, 2])
def test_ascii_edge_cases_equal_every_rule_on_every_row(seed: int) -> None:
    # Adversarial ASCII (URLs next to mentions, elisions after elisions, controls, RE2's whitespace
    # without the vertical tab): the skipping passes must give what the rules give.
    rng = random.Random(seed)
    rows = ["".join(rng.choice(ASCII_PIECES) for _ in range(rng.randint(0, 14))) for _ in range(5_000)]
    texts = pa.array([*rows, None, "", "Élection à l'instant", "plain"])
    assert normalize_texts(texts).to_pylist() == normalize_texts_stepwise(texts).to_pylist()


def test_token_counts_and_tokens() -> None:
    normal = normalize_texts(pa.array(["Un deux, trois!", "", None, "@only https://x.y"]))
    assert token_counts(normal).to_pylist() == [3, 0, 0, 0]
    assert tokens("L'avion, d'accord") == ["avion", "accord"]
    assert MIN_TOKENS >= 3
