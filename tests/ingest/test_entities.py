"""Hashtags, mentions and URLs extracted from text in several scripts."""

from __future__ import annotations

import unicodedata

import pytest

from vigil.ingest.entities import extract, extract_hashtags, extract_mentions, extract_urls


@pytest.mark.parametrize(
    ("text", "tags"),
    [
        ("Go #Vote today #USA2024 #vote", ["vote", "usa2024"]),
        ("صوّتوا #الانتخابات #مصر_تنتخب الآن", ["الانتخابات", "مصر_تنتخب"]),
        ("Avec harakat #الإِنْتِخَابَات", ["الإِنْتِخَابَات"]),
        ("Votez #Élection2022 et #présidentielle!", ["élection2022", "présidentielle"]),
        (unicodedata.normalize("NFD", "#Présidentielle"), ["présidentielle"]),
        ("full width ＃Wahl2021", ["wahl2021"]),
        ("#1 is not a tag, #2021 neither, but #2021wahl is", ["2021wahl"]),
        ("no&#39;entity and mid#word", []),
        ("#tag,#other.#third", ["tag", "other", "third"]),
        ("", []),
        (None, []),
    ],
)
def test_hashtags(text: str | None, tags: list[str]) -> None:
    assert extract_hashtags(text) == tags


@pytest.mark.parametrize(
    ("text", "handles"),
    [
        ("RT @Alice: hi @bob_2 and @ALICE", ["alice", "bob_2"]),
        ("mail me at someone@example.com", []),
        ("مرحبا @محمد", ["محمد"]),
        ("(@carol)", ["carol"]),
    ],
)
def test_mentions(text: str, handles: list[str]) -> None:
    assert extract_mentions(text) == handles


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("read https://example.com/a?b=1. now", ["https://example.com/a?b=1"]),
        ("(see http://en.wikipedia.org/wiki/Foo_(bar))", ["http://en.wikipedia.org/wiki/Foo_(bar)"]),
        ("two: www.example.org/x, https://t.co/AbC…", ["www.example.org/x", "https://t.co/AbC"]),
        ("«https://lemonde.fr/politique»", ["https://lemonde.fr/politique"]),
        ("اقرأ https://example.com/مقال، الآن", ["https://example.com/مقال"]),
        ("same https://a.com/x twice https://a.com/x", ["https://a.com/x"]),
        ("just https:// nothing", []),
    ],
)
def test_urls(text: str, found: list[str]) -> None:
    assert extract_urls(text) == found


def test_extract_all() -> None:
    entities = extract("RT @Alice: #Vote at https://vote.example.org/fr #vote")
    assert entities.hashtags == ["vote"]
    assert entities.mentions == ["alice"]
    assert entities.urls == ["https://vote.example.org/fr"]
