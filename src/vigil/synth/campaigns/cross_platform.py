"""cross_platform: one operation running accounts on two platforms that post the same links and
texts on both within minutes to an hour."""

from __future__ import annotations

import numpy as np

from vigil.synth.banks import LANGS
from vigil.synth.campaigns.base import Draft, PlanContext


class CrossPlatform:
    name = "cross_platform"
    summary = "the same links and texts posted by members on two platforms"

    def plan(self, draft: Draft, ctx: PlanContext, rng: np.random.Generator, budget: int) -> None:
        n_members, pushes = ctx.size(rng, budget)
        n_members = max(n_members, 4)
        lang = ("ar", "fr", "en")[int(rng.integers(0, 3))]
        locales = ctx.locales_for(rng, (lang,))
        pair = rng.choice(len(ctx.config.platforms), size=2, replace=False)
        half = n_members // 2
        members = draft.add_members(half, int(pair[0]), locales, 0.5, rng)
        members += draft.add_members(n_members - half, int(pair[1]), locales, 0.5, rng)
        # Alternate platforms so that every push has members on both.
        members = [m for ab in zip(members[:half], members[half:], strict=False) for m in ab] + members[
            2 * half :
        ]
        domain = ctx.new_domain(rng)
        bank = [ctx.take_message(rng) for _ in range(int(rng.integers(1, 3)))]
        for message in bank:
            draft.record("message_ids", message.id)
        for push, start in enumerate(ctx.push_times(rng, pushes, locales[0], 2 * 3600 * 1_000_000)):
            link = ctx.new_article(rng, domain)
            draft.record("urls", ctx.canonical(link))
            text = bank[push % len(bank)].text[lang]
            joined = ctx.participants(rng, members, push, pushes)
            delays = ctx.delays(rng, len(joined), ctx.profile.jitter_s * 4)
            for member, delay in zip(joined, delays, strict=True):
                draft.post(
                    ctx.clamp(int(start) + int(delay)),
                    member,
                    LANGS.index(lang),
                    text=ctx.edited(rng, text),
                    urls=[ctx.spelling(rng, link)],
                )
        platforms = ctx.config.platforms
        draft.params.update(pushes=pushes, platforms=[platforms[int(p)] for p in pair], lang=lang)
