"""slow_covert: a few accounts share the same items (links and edited messages), each one hours or
days after the previous, so only wide time windows connect them."""

from __future__ import annotations

import numpy as np

from vigil.synth.banks import LANGS
from vigil.synth.campaigns.base import HOUR_US, Draft, PlanContext


class SlowCovert:
    name = "slow_covert"
    summary = "few accounts sharing the same items spread over hours to days"

    def plan(self, draft: Draft, ctx: PlanContext, rng: np.random.Generator, budget: int) -> None:
        n_members, pushes = ctx.size(rng, budget, cap=10)
        lang = ("ar", "fr", "en")[int(rng.integers(0, 3))]
        locales = ctx.locales_for(rng, (lang,))
        members = draft.add_members(n_members, ctx.platform(rng), locales, 0.2, rng)
        domain = ctx.new_domain(rng)
        message = ctx.take_message(rng)
        draft.record("message_ids", message.id)
        spread_us = int(ctx.profile.slow_spread_h * HOUR_US)
        for push, start in enumerate(ctx.push_times(rng, pushes, locales[0], spread_us)):
            link = ctx.new_article(rng, domain)
            draft.record("urls", ctx.canonical(link))
            joined = ctx.participants(rng, members, push, pushes)
            offsets = np.sort(rng.integers(0, spread_us, size=len(joined)))
            for member, offset in zip(joined, offsets, strict=True):
                text = ctx.edited(rng, message.text[lang]) if rng.random() < 0.4 else None
                draft.post(
                    ctx.clamp(int(start) + int(offset)),
                    member,
                    LANGS.index(lang),
                    text=text,
                    urls=[ctx.spelling(rng, link)],
                )
        draft.params.update(pushes=pushes, spread_h=ctx.profile.slow_spread_h, lang=lang)
