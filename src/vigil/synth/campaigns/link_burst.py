"""link_burst: members post the same low-traffic links, from a few campaign domains, within seconds
to minutes of each other, push after push (some links pushed more than once)."""

from __future__ import annotations

import numpy as np

from vigil.synth.campaigns.base import Draft, PlanContext


class LinkBurst:
    name = "link_burst"
    summary = "same campaign-domain links posted by many members within minutes"

    def plan(self, draft: Draft, ctx: PlanContext, rng: np.random.Generator, budget: int) -> None:
        n_members, pushes = ctx.size(rng, budget)
        locales = ctx.locales_for(rng)
        members = draft.add_members(n_members, ctx.platform(rng), locales, 0.5, rng)
        domains = [ctx.new_domain(rng) for _ in range(int(rng.integers(1, 4)))]
        links: list[str] = []
        for push, start in enumerate(ctx.push_times(rng, pushes, locales[0], 2 * 3600 * 1_000_000)):
            if links and rng.random() < 0.3:
                link = links[int(rng.integers(0, len(links)))]  # the same link pushed again
            else:
                link = ctx.new_article(rng, domains[int(rng.integers(0, len(domains)))])
                links.append(link)
            draft.record("urls", ctx.canonical(link))
            joined = ctx.participants(rng, members, push, pushes)
            for member, delay in zip(joined, ctx.delays(rng, len(joined)), strict=True):
                draft.post(
                    ctx.clamp(int(start) + int(delay)),
                    member,
                    draft.member_lang(member, ctx.locales),
                    urls=[ctx.spelling(rng, link)],
                )
        for domain in domains:
            draft.record("domains", domain)
        draft.params.update(pushes=pushes, jitter_s=ctx.profile.jitter_s)
