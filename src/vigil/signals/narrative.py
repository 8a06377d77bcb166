"""Narrative signal: a short free-text statement of a claim an operation pushes ("the vote was rigged").

The stored value keeps the analyst's wording (whitespace tidied, Unicode NFC) because people read
it; two narratives are the same signal when their normal forms (``vigil.ingest.text``) are equal.
Narratives are written by analysts, never derived from a post; semantic matching of posts against
narratives belongs to the detection layer's cross-lingual embeddings, not to this exact index.
"""

from __future__ import annotations

import re
import unicodedata

from vigil.core.errors import InputError
from vigil.ingest.text import normalize_text
from vigil.signals.base import SignalType

MAX_CHARS = 2000
_SPACE = re.compile(r"\s+")


class NarrativeSignal(SignalType):
    name = "narrative"
    description = f"A claim in free text (at most {MAX_CHARS} characters); same when normal forms are equal."
    examples = ("The postal votes were counted twice", "Le vote par correspondance est truqué")

    def normalize(self, value: str) -> str:
        text = _SPACE.sub(" ", unicodedata.normalize("NFC", value)).strip()
        if not text:
            raise InputError("narrative value must be non-empty text")
        if len(text) > MAX_CHARS:
            raise InputError(f"narrative value must be at most {MAX_CHARS} characters, got {len(text)}")
        if not normalize_text(text):
            raise InputError(f"narrative value must contain words, got {text[:100]!r}")
        return text

    def key(self, value: str) -> str:
        return normalize_text(value)


SIGNAL_TYPE = NarrativeSignal()
