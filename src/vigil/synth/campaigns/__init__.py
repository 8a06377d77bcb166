"""Planted campaign styles: one small module per way of coordinating, registered by name."""

from __future__ import annotations

from vigil.synth.campaigns.base import CampaignStyle, Draft, PlanContext, add_filler
from vigil.synth.campaigns.copy_paste import CopyPaste
from vigil.synth.campaigns.cross_platform import CrossPlatform
from vigil.synth.campaigns.hashtag_push import HashtagPush
from vigil.synth.campaigns.image_reuse import ImageReuse
from vigil.synth.campaigns.link_burst import LinkBurst
from vigil.synth.campaigns.reshare_ring import ReshareRing
from vigil.synth.campaigns.slow_covert import SlowCovert
from vigil.synth.campaigns.translated import Translated


def _registry(styles: list[CampaignStyle]) -> dict[str, CampaignStyle]:
    out: dict[str, CampaignStyle] = {}
    for style in styles:
        if style.name in out:
            raise RuntimeError(f"two campaign styles are named {style.name!r}")
        out[style.name] = style
    return out


STYLES: dict[str, CampaignStyle] = _registry(
    [
        LinkBurst(),
        ReshareRing(),
        CopyPaste(),
        Translated(),
        ImageReuse(),
        HashtagPush(),
        SlowCovert(),
        CrossPlatform(),
    ]
)

__all__ = ["STYLES", "CampaignStyle", "Draft", "PlanContext", "add_filler"]
