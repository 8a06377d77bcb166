"""Offline language identification for posts that arrive without a language.

Uses py3langid (its model ships inside the package, nothing is downloaded) with probabilities
normalized per text. Before classification URLs and mentions are removed and hashtags reduced to
their words, since they say little about the language a post is written in. A text gets no
language (None) when fewer than ``MIN_LETTERS`` letters remain or the best language has a
probability below ``MIN_CONFIDENCE``: guessing on "lol" or "ok" would only add noise.

Results are ISO 639-1 codes. The model's few ISO 639-3 labels are mapped to their macrolanguage
where one exists (Egyptian ``arz`` and Moroccan ``ary`` Arabic -> ``ar``); the others give None.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from py3langid.langid import MODEL_FILE, LanguageIdentifier

from vigil.ingest.entities import strip_entities

MIN_LETTERS = 4
MIN_CONFIDENCE = 0.25
# py3langid labels that are not ISO 639-1: their ISO 639-1 macrolanguage, or None.
_TO_639_1 = {"ary": "ar", "arz": "ar", "uzs": "uz", "gug": "gn", "yue": "zh", "wuu": "zh", "sdh": "ku"}


@lru_cache(maxsize=1)
def _identifier() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _prepare(text: str | None) -> str | None:
    if not text:
        return None
    cleaned = strip_entities(text)
    if sum(map(str.isalpha, cleaned)) < MIN_LETTERS:
        return None
    return " ".join(cleaned.split())


def _label(code: str) -> str | None:
    if len(code) == 2:
        return code
    return _TO_639_1.get(code)


def _classify(cleaned: str) -> str | None:
    code, confidence = _identifier().classify(cleaned)
    if confidence < MIN_CONFIDENCE:
        return None
    return _label(str(code))


def detect_language(text: str | None) -> str | None:
    """The ISO 639-1 language of ``text``, or None for empty, too short or unclear text."""
    if not text:
        return None
    return _detect_cached(text) if len(text) <= _CACHED_LENGTH else _detect(text)


# Reshares and copypasta repeat texts across a whole file: remember recent short texts.
_CACHED_LENGTH = 1000


def _detect(text: str) -> str | None:
    cleaned = _prepare(text)
    return None if cleaned is None else _classify(cleaned)


_detect_cached = lru_cache(maxsize=1 << 15)(_detect)


def detect_languages(texts: Iterable[str | None] | Sequence[str | None]) -> list[str | None]:
    """``detect_language`` for a batch; identical texts (reshares, copypasta) are classified once."""
    return [detect_language(text) for text in texts]
