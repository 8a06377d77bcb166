"""Hashtag signal: a hashtag without ``#``, NFC-normalized and lower-cased, as the posts table stores them.

A value is valid when ``vigil.ingest.entities`` would extract exactly it from ``#value``, so the
exchange accepts the same hashtags the ingest finds in posts (any script, at least one letter).
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.core.errors import InputError
from vigil.ingest.entities import extract_hashtags
from vigil.signals.base import Row, SignalType, dedupe
from vigil.signals.columns import column, deduped_lists, flatten, per_distinct


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

    def _value_or_none(self, tag: str) -> str | None:
        try:
            return self.normalize(tag)
        except InputError:
            return None

    def derive_columns(self, posts: pa.Table) -> pa.Array:
        """``derive_from_post`` of every post, each distinct tag normalized once (remembered across
        batches: a stream repeats the same tags)."""
        parents, tags = flatten(column(posts, "hashtags", pa.list_(pa.string())))
        values = per_distinct(tags, self._value_or_none, self._memo)
        valid = np.asarray(pc.is_valid(values).to_numpy(zero_copy_only=False), dtype=bool)
        return deduped_lists(posts.num_rows, parents[valid], values.filter(pa.array(valid)))

    def __init__(self) -> None:
        self._memo: dict[str, str | None] = {}


SIGNAL_TYPE = HashtagSignal()
