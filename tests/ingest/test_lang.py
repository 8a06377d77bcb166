"""Offline language identification on Arabic, French, English and too-short text."""

from __future__ import annotations

import pytest

from vigil.ingest.lang import detect_language, detect_languages


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("صوتوا في الانتخابات يوم الأحد من أجل مستقبل بلادنا", "ar"),
        ("Votez dimanche pour l'avenir de la France et de nos enfants", "fr"),
        ("Go vote on Sunday, every single vote counts in this election", "en"),
        ("Am Sonntag ist Bundestagswahl, geht bitte alle wählen", "de"),
        # entities do not decide the language: French text full of English-looking tags and links
        (
            "#Vote #Election https://example.com/news @JohnSmith Allez voter demain matin, c'est important",
            "fr",
        ),
    ],
)
def test_detects_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


@pytest.mark.parametrize(
    "text", ["", None, "ok", "lol", "https://t.co/AbCdEf", "😀😀😀 !!!", "@someone #x 2021"]
)
def test_too_short_or_empty_gives_none(text: str | None) -> None:
    assert detect_language(text) is None


def test_batch_agrees_with_single_texts() -> None:
    texts = [
        "صوتوا في الانتخابات يوم الأحد",
        None,
        "Votez dimanche pour l'avenir de la France",
        "ok",
        "صوتوا في الانتخابات يوم الأحد",
    ]
    assert detect_languages(texts) == [detect_language(t) for t in texts]
    assert detect_languages(texts) == ["ar", None, "fr", None, "ar"]
