"""Hashtag signal: a hashtag without ``#``, NFC-normalized and lower-cased, as the posts table stores them.

A value is valid when ``vigil.ingest.entities`` would extract exactly it from ``#value``, so the
exchange accepts the same hashtags the ingest finds in posts (any script, at least one letter).
"""

from __future__ import annotations

import unicodedata

from vigil.core.errors import InputError
from vigil.ingest.entities import extract_hashtags
from vigil.signals.base import Row, SignalType, dedupe


class HashtagSignal(SignalType):
    name = "hashtag"
    description = "A hashtag, lower-case, without '#' (any script)."
    examples = ("wahl2021", "الانتخابات", "élection2022")

    def normalize(self, value: str) -> str:
        text = unicodedata.normalize("NFC", value.strip()).removeprefix("#").removeprefix("＃").lower()
        if extract_hashtags(f"#{text}") != [text]:
            raise InputError(
                "hashtag value must be one hashtag: letters, digits, '_' (at least one letter), "
                f"no spaces or punctuation, got {value[:100]!r}"
            )
        return text

    def derive_from_post(self, post: Row) -> list[str]:
        found = []
        for tag in post.get("hashtags") or []:
            # Platform-supplied tag lists may hold what Vigil does not call a hashtag ("#1"): skip those.
            try:
                found.append(self.normalize(tag))
            except InputError:
                continue
        return dedupe(found)


SIGNAL_TYPE = HashtagSignal()
