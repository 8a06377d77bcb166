"""translated: the same message posted in Arabic, French and English by different members, at
about the same time: only a cross-lingual comparison links the posts."""

from __future__ import annotations

import numpy as np

from vigil.synth.banks import LANGS
from vigil.synth.campaigns.base import Draft, PlanContext

LANGUAGES = ("ar", "fr", "en")


class Translated:
    name = "translated"
    summary = "one message posted in ar/fr/en translations by members within minutes"

    def plan(self, draft: Draft, ctx: PlanContext, rng: np.random.Generator, budget: int) -> None:
        n_members, pushes = ctx.size(rng, budget)
        n_members = max(n_members, 3)
        platform = ctx.platform(rng)
        by_lang: list[list[int]] = []
        for i, lang in enumerate(LANGUAGES):
            share = n_members // 3 + (1 if i < n_members % 3 else 0)
            by_lang.append(draft.add_members(share, platform, ctx.locales_for(rng, (lang,)), 0.4, rng))
        # Interleave languages so that every push (which forces member i % pushes in) mixes them.
        members = [group[i] for i in range(len(by_lang[0])) for group in by_lang if i < len(group)]
        bank = [ctx.take_message(rng) for _ in range(int(rng.integers(1, 4)))]
        for message in bank:
            draft.record("message_ids", message.id)
        home = draft.member_locale[members[0]]
        for push, start in enumerate(ctx.push_times(rng, pushes, home, 2 * 3600 * 1_000_000)):
            message = bank[push % len(bank)]
            joined = ctx.participants(rng, members, push, pushes)
            for member, delay in zip(joined, ctx.delays(rng, len(joined)), strict=True):
                lang = LANGS[draft.member_lang(member, ctx.locales)]
                text = message.text[lang]
                if rng.random() < 0.5:
                    text = ctx.edited(rng, text)
                draft.post(ctx.clamp(int(start) + int(delay)), member, LANGS.index(lang), text=text)
        draft.params.update(pushes=pushes, languages=list(LANGUAGES))
