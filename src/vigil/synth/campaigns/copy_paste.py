"""copy_paste: members post the same message with small edits (word swaps, dropped or repeated
words, emoji, punctuation, added hashtags), in Arabic, French or English: near-duplicates, not copies."""

from __future__ import annotations

import numpy as np

from vigil.synth.banks import LANGS
from vigil.synth.campaigns.base import Draft, PlanContext


class CopyPaste:
    name = "copy_paste"
    summary = "near-duplicate texts (small edits) posted by members within minutes"

    def plan(self, draft: Draft, ctx: PlanContext, rng: np.random.Generator, budget: int) -> None:
        n_members, pushes = ctx.size(rng, budget)
        lang = ("ar", "fr", "en")[int(rng.integers(0, 3))]
        locales = ctx.locales_for(rng, (lang,))
        members = draft.add_members(n_members, ctx.platform(rng), locales, 0.5, rng)
        bank = [ctx.take_message(rng) for _ in range(int(rng.integers(1, 4)))]
        for message in bank:
            draft.record("message_ids", message.id)
        for push, start in enumerate(ctx.push_times(rng, pushes, locales[0], 2 * 3600 * 1_000_000)):
            message = bank[push % len(bank)]
            joined = ctx.participants(rng, members, push, pushes)
            for member, delay in zip(joined, ctx.delays(rng, len(joined)), strict=True):
                tags = (
                    [ctx.popular_tags[int(rng.integers(0, len(ctx.popular_tags)))]]
                    if rng.random() < 0.3
                    else []
                )
                draft.post(
                    ctx.clamp(int(start) + int(delay)),
                    member,
                    LANGS.index(lang),
                    text=ctx.edited(rng, message.text[lang]),
                    hashtags=tags,
                )
        draft.params.update(pushes=pushes, lang=lang, edits=list(ctx.profile.edits))
