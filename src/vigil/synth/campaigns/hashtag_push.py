"""hashtag_push: members push a rare campaign hashtag, always in the same sequence of two or three
tags, in bursts."""

from __future__ import annotations

import numpy as np

from vigil.synth.banks import LANGS
from vigil.synth.campaigns.base import Draft, PlanContext


class HashtagPush:
    name = "hashtag_push"
    summary = "the same rare sequence of 2-3 hashtags posted by members in bursts"

    def plan(self, draft: Draft, ctx: PlanContext, rng: np.random.Generator, budget: int) -> None:
        n_members, pushes = ctx.size(rng, budget)
        locales = ctx.locales_for(rng)
        lang = ctx.locales[locales[0]].lang
        members = draft.add_members(n_members, ctx.platform(rng), locales, 0.5, rng)
        sequence = [ctx.new_hashtag(rng, lang) for _ in range(int(rng.integers(2, 4)))]
        if rng.random() < 0.5:
            # Riding a popular organic tag hides the campaign among organic posts of that tag.
            sequence[-1] = ctx.popular_tags[int(rng.integers(0, len(ctx.popular_tags)))]
        for tag in sequence:
            draft.record("hashtags", tag.lower())
        for push, start in enumerate(ctx.push_times(rng, pushes, locales[0], 2 * 3600 * 1_000_000)):
            joined = ctx.participants(rng, members, push, pushes)
            for member, delay in zip(joined, ctx.delays(rng, len(joined)), strict=True):
                draft.post(
                    ctx.clamp(int(start) + int(delay)),
                    member,
                    draft.member_lang(member, ctx.locales),
                    hashtags=list(sequence),
                )
        draft.params.update(pushes=pushes, sequence=[t.lower() for t in sequence], lang=LANGS.index(lang))
