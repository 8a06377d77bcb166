"""image_reuse: members re-post the same few images, each copy re-encoded (a few PDQ bits flipped,
so exact-hash matching misses them) with varied organic-looking captions."""

from __future__ import annotations

import numpy as np

from vigil.synth.arrowkit import hex_strings
from vigil.synth.campaigns.base import Draft, PlanContext
from vigil.synth.items import flip_bits


class ImageReuse:
    name = "image_reuse"
    summary = "near-identical images (PDQ within a few bits) posted by members within minutes"

    def plan(self, draft: Draft, ctx: PlanContext, rng: np.random.Generator, budget: int) -> None:
        n_members, pushes = ctx.size(rng, budget)
        locales = ctx.locales_for(rng)
        members = draft.add_members(n_members, ctx.platform(rng), locales, 0.5, rng)
        bases = rng.integers(0, 256, size=(int(rng.integers(2, 6)), 32), dtype=np.uint8)
        base_hex = hex_strings(bases).to_pylist()
        base_ids = hex_strings(rng.integers(0, 256, size=(len(bases), 16), dtype=np.uint8)).to_pylist()
        for code in base_hex:
            draft.record("image_pdq", code)
        lo, hi = ctx.profile.pdq_flips
        for push, start in enumerate(ctx.push_times(rng, pushes, locales[0], 2 * 3600 * 1_000_000)):
            which = push % len(bases)
            joined = ctx.participants(rng, members, push, pushes)
            flips = rng.integers(lo, hi + 1, size=len(joined))
            copies = hex_strings(
                flip_bits(rng, np.repeat(bases[which : which + 1], len(joined), axis=0), flips)
            )
            fresh = hex_strings(rng.integers(0, 256, size=(len(joined), 16), dtype=np.uint8)).to_pylist()
            for i, (member, delay) in enumerate(zip(joined, ctx.delays(rng, len(joined)), strict=True)):
                # An unchanged file keeps its id (MD5); a re-encoded one gets a new id.
                image_id = base_ids[which] if flips[i] == 0 else fresh[i]
                draft.post(
                    ctx.clamp(int(start) + int(delay)),
                    member,
                    draft.member_lang(member, ctx.locales),
                    image_pdq=[copies[i].as_py()],
                    image_ids=[image_id],
                )
        draft.params.update(pushes=pushes, pdq_flips=[lo, hi])
