"""The vectorized classifier gives py3langid's own labels and probabilities, on many texts at once."""

from __future__ import annotations

import random

import pytest
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from vigil.ingest import langid_batch
from vigil.ingest.lang import detect_language, detect_languages
from vigil.ingest.langid_batch import BatchIdentifier

SENTENCES = {
    "en": "the vote on sunday every single counts for our future polls open bring your id check station",
    "fr": "votez dimanche pour l'avenir de la france et nos enfants les bureaux ferment à vingt heures",
    "ar": "صوتوا في الانتخابات يوم الأحد من أجل مستقبل بلادنا مراكز الاقتراع تفتح أبوابها",
    "de": "am sonntag ist bundestagswahl geht bitte alle wählen jede stimme zählt",
    "ru": "голосуйте в воскресенье за будущее наших детей каждый голос важен",
}
WORDS = {lang: sentence.split(" ") for lang, sentence in SENTENCES.items()}


def _texts(count: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        words = WORDS[rng.choice(sorted(WORDS))]
        texts.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 20))))
    # edge cases: empty, featureless, upper case, mixed scripts, longer than the vectorized limit
    return [*texts, "", "😀😀", "VOTEZ DIMANCHE POUR LA FRANCE", "vote صوتوا голос", "élection " * 600]


@pytest.fixture(scope="module")
def identifier() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def test_same_labels_and_probabilities_as_py3langid(identifier: LanguageIdentifier) -> None:
    texts = _texts(600)
    assert len("élection " * 600) > langid_batch.MAX_BYTES
    expected = [identifier.classify(text) for text in texts]
    got = BatchIdentifier(identifier).classify(texts)
    assert [label for label, _ in got] == [label for label, _ in expected]
    assert max(abs(p - q) for (_, p), (_, q) in zip(got, expected, strict=True)) < 1e-4


def test_small_chunks_give_the_same_result(
    identifier: LanguageIdentifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = _texts(50, seed=9)
    whole = BatchIdentifier(identifier).classify(texts)
    monkeypatch.setattr(langid_batch, "WALK_CHUNK", 7)
    assert BatchIdentifier(identifier).classify(texts) == whole


def test_detect_languages_agrees_with_detect_language() -> None:
    texts = [*_texts(200, seed=5), None, "ok", "#vote @someone https://t.co/x"]
    batch = detect_languages(texts)
    assert batch == [detect_language(text) for text in texts]
    assert {"en", "fr", "ar", "de", "ru"} <= set(batch)
