"""reshare_ring: one to three seed accounts post; the other members reshare each seed post within
seconds to minutes, and now and then reshare each other's reshares' sources as a ring."""

from __future__ import annotations

import numpy as np

from vigil.synth.campaigns.base import Draft, PlanContext


class ReshareRing:
    name = "reshare_ring"
    summary = "members reshare the same seed posts within minutes"

    def plan(self, draft: Draft, ctx: PlanContext, rng: np.random.Generator, budget: int) -> None:
        n_members, pushes = ctx.size(rng, budget)
        n_members = max(n_members, 4)
        locales = ctx.locales_for(rng)
        members = draft.add_members(n_members, ctx.platform(rng), locales, 0.6, rng)
        n_seeds = min(int(rng.integers(1, 4)), n_members - 2)
        seeds, others = members[:n_seeds], members[n_seeds:]
        for push, start in enumerate(ctx.push_times(rng, pushes, locales[0], 3600 * 1_000_000)):
            seed = seeds[push % n_seeds]
            lang = draft.member_lang(seed, ctx.locales)
            original = draft.post(int(start), seed, lang)  # an ordinary-looking post to amplify
            draft.seed_posts.append(original)
            joined = ctx.participants(rng, others, push, pushes)
            for member, delay in zip(joined, ctx.delays(rng, len(joined)), strict=True):
                draft.post(ctx.clamp(int(start) + int(delay)), member, lang, reshare_of=original)
        draft.params.update(pushes=pushes, seeds=n_seeds, jitter_s=ctx.profile.jitter_s)
