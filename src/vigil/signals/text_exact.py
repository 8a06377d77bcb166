"""Exact text signal: the SHA-256 of a text's normal form (``vigil.ingest.text.normalize_text``).

Copies that differ only in case, accents, Arabic diacritics or tatweel, punctuation, emoji, URLs
or mentions have the same normal form and therefore the same hash, so members can share "this
exact message" without sharing the message. Texts shorter than ``MIN_TOKENS`` normalized tokens are
not derived from posts: "vote now!" says nothing about who wrote it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from vigil.core.errors import InputError
from vigil.ingest.text import normalize_text
from vigil.signals.base import Row, SignalType, normalize_hex
from vigil.signals.text_minhash import long_enough_normal_forms


def text_digest(normal_form: str) -> str:
    """The value of an already normalized text."""
    return hashlib.sha256(normal_form.encode("utf-8")).hexdigest()


class TextExactSignal(SignalType):
    name = "text_exact"
    description = "SHA-256 (64 hex characters) of the text's normal form (vigil.ingest.text)."
    examples = (
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    )

    def normalize(self, value: str) -> str:
        return normalize_hex(self.name, value, 64, " (SHA-256 of normalized text)")

    def hash_text(self, text: str) -> str:
        normal = normalize_text(text)
        if not normal:
            raise InputError("text has nothing left to hash once normalized (only URLs, mentions, emoji...)")
        return text_digest(normal)

    def derive_from_texts(self, texts: Sequence[str | None]) -> list[list[str]]:
        return [[] if t is None else [text_digest(t)] for t in long_enough_normal_forms(texts)]

    def derive_from_post(self, post: Row) -> list[str]:
        return self.derive_from_texts([post.get("text")])[0]


SIGNAL_TYPE = TextExactSignal()
