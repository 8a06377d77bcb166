"""Post texts: organic sentences drawn slot by slot from phrase banks, and near-duplicate edits.

An organic text is ``[opener] subject predicate [comment] tail [emoji]``, each slot drawn
independently in the post's language (about 10^7 combinations per language before emoji, hashtags,
mentions and links), so unrelated accounts rarely write the same text. Campaign copies are edited
with the small changes copy-paste operators make (swaps, dropped words, emoji, punctuation).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from vigil.synth.arrowkit import join_words, take_or_null
from vigil.synth.banks import LANGS, SLOTS, phrases

OPTIONAL = {"opener": 0.55, "comment": 0.6}  # probability that an optional slot is present
EMOJI_RATE = 0.35


class TextComposer:
    """Vectorized composition of organic texts for many posts at once."""

    def __init__(self) -> None:
        bank = phrases()
        self.slots: dict[str, tuple[pa.Array, np.ndarray, np.ndarray]] = {}
        for slot in SLOTS:
            values = [p for lang in LANGS for p in bank[lang][slot]]
            sizes = np.array([len(bank[lang][slot]) for lang in LANGS], dtype=np.int64)
            offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
            self.slots[slot] = (pa.array(values), offsets, sizes)
        self.emoji = pa.array(bank["emoji"])

    def parts(self, rng: np.random.Generator, lang: np.ndarray) -> list[pa.Array]:
        """The sentence slots as string columns (optional ones null where absent)."""
        n = len(lang)
        out = []
        for slot in SLOTS:
            values, offsets, sizes = self.slots[slot]
            idx = offsets[lang] + np.floor(rng.random(n) * sizes[lang]).astype(np.int64)
            if slot in OPTIONAL:
                idx = np.where(rng.random(n) < OPTIONAL[slot], idx, -1)
            out.append(take_or_null(values, idx))
        emoji = np.where(rng.random(n) < EMOJI_RATE, rng.integers(0, len(self.emoji), size=n), -1)
        out.append(take_or_null(self.emoji, emoji))
        return out

    def compose(
        self,
        rng: np.random.Generator,
        lang: np.ndarray,
        before: list[pa.Array] | None = None,
        after: list[pa.Array] | None = None,
    ) -> pa.Array:
        """One text per entry of ``lang`` (indices into LANGS), with optional columns around it
        (mentions before; hashtags and links after)."""
        body = self.parts(rng, lang)
        return join_words([*(before or []), *body, *(after or [])])

    def compose_one(self, rng: np.random.Generator, lang: str) -> str:
        text = self.compose(rng, np.array([LANGS.index(lang)]))[0].as_py()
        assert isinstance(text, str)
        return text


# --- near-duplicate edits (campaign copies: few posts, plain Python) -------------------------------

_PUNCT_SWAPS = ((".", "!"), (".", "..."), ("!", "!!"), ("?", "??"), (".", " !"), ("،", ","))


def edit_text(rng: np.random.Generator, text: str, edits: int, emoji: list[str]) -> str:
    """Apply ``edits`` small random edits: swap two neighbouring words, drop a word, add an emoji,
    change punctuation, upper-case a word, or duplicate a word."""
    words = text.split()
    for _ in range(edits):
        op = int(rng.integers(0, 6))
        if op == 0 and len(words) > 3:
            i = int(rng.integers(0, len(words) - 1))
            words[i], words[i + 1] = words[i + 1], words[i]
        elif op == 1 and len(words) > 5:
            del words[int(rng.integers(0, len(words)))]
        elif op == 2:
            pos = int(rng.integers(0, 2)) * len(words)
            words.insert(pos, emoji[int(rng.integers(0, len(emoji)))])
        elif op == 3:
            joined = " ".join(words)
            for old, new in _PUNCT_SWAPS[int(rng.integers(0, len(_PUNCT_SWAPS))) :]:
                if old in joined:
                    k = joined.rfind(old)
                    joined = joined[:k] + new + joined[k + len(old) :]
                    break
            words = joined.split()
        elif op == 4 and words:
            i = int(rng.integers(0, len(words)))
            words[i] = words[i].upper()
        elif words:
            i = int(rng.integers(0, len(words)))
            words.insert(i, words[i])
    return " ".join(words)
