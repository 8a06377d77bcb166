"""The generator's building blocks: text edits, bit flips, apportioning, URL spellings."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.ingest.urls import canonicalize
from vigil.synth.arrowkit import apportion, hex_strings, join_words
from vigil.synth.banks import LANGS, messages
from vigil.synth.items import URL_VARIANTS, LinkPool, flip_bits
from vigil.synth.text import TextComposer, edit_text


def test_link_structs_equal_canonicalize_of_each_spelling() -> None:
    rng = np.random.default_rng(3)
    pool = LinkPool(rng, 3_000, np.ones(len(LANGS)), 1_727_740_800_000_000, 14)
    special = pool.add_special("https://www.Example.org/live/debate-en")
    keys = np.concatenate([np.arange(0, 3_000 * URL_VARIANTS, 5), [special * URL_VARIANTS + 2]])
    structs = pool.structs(keys).to_pylist()
    for key, got in zip(keys, structs, strict=True):
        want = canonicalize(pool.spelling(int(key)))
        assert got == want.as_dict()
    variants = {int(k) % URL_VARIANTS: s for k, s in zip(keys, structs, strict=True)}
    assert variants[3]["is_shortener"] and not variants[0]["is_shortener"]


def test_flip_bits_flips_exactly_the_requested_number_of_bits() -> None:
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 256, size=(200, 32), dtype=np.uint8)
    flips = rng.integers(0, 13, size=200)
    out = flip_bits(rng, codes, flips)
    distance = np.unpackbits(codes ^ out, axis=1).sum(axis=1)
    assert (distance == flips).all()
    hexes = hex_strings(out).to_pylist()
    assert all(len(h) == 64 for h in hexes) and hexes[0] == out[0].tobytes().hex()


@pytest.mark.parametrize("total", [0, 1, 997, 10_000])
def test_apportion_sums_exactly_and_follows_the_weights(total: int) -> None:
    expected = np.array([[0.5, 0.25], [0.125, 0.125]])
    counts = apportion(expected, total)
    assert counts.sum() == total
    assert (np.abs(counts - expected * total) < 1).all()


def test_join_words_keeps_rows_whose_parts_are_all_null() -> None:
    import pyarrow as pa

    joined = join_words([pa.array(["a", None, None]), pa.array([None, None, "c"])])
    assert joined.to_pylist() == ["a", "", "c"]


def test_composed_texts_are_in_the_requested_language_and_varied() -> None:
    rng = np.random.default_rng(1)
    composer = TextComposer()
    lang = np.repeat(np.arange(len(LANGS)), 2_000)
    texts = composer.compose(rng, lang).to_pylist()
    assert len(set(texts)) > 0.99 * len(texts)
    arabic = texts[LANGS.index("ar") * 2_000 : (LANGS.index("ar") + 1) * 2_000]
    assert all(any("\u0600" <= ch <= "\u06ff" for ch in t) for t in arabic)


def test_edits_make_near_duplicates_not_copies() -> None:
    rng = np.random.default_rng(2)
    base = messages()[0].text["fr"]
    copies = [edit_text(rng, base, 3, ["🔥"]) for _ in range(50)]
    assert sum(c != base for c in copies) >= 45
    words = set(base.split())
    for c in copies:
        assert len(words & set(c.split())) >= 0.6 * len(words)


def test_message_bank_has_forty_real_translation_sets() -> None:
    bank = messages()
    assert len(bank) >= 40
    assert len({m.id for m in bank}) == len(bank)
    for m in bank:
        assert set(m.text) == {"ar", "fr", "en"}
        assert any("\u0600" <= ch <= "\u06ff" for ch in m.text["ar"])
        assert m.text["fr"] != m.text["en"]
