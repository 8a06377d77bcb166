"""What every campaign style works with: a draft to fill, and a planning context with shared helpers.

A style (one small module each) decides a campaign's members and its coordinated posts; the base
adds organic-looking filler afterwards so that members are not trivially separable by what they
post the rest of the time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from vigil.synth.arrowkit import US_PER_S, weighted_pick
from vigil.synth.banks import LANGS, Locale, Message, messages, world
from vigil.synth.config import Difficulty, GeneratorConfig
from vigil.synth.items import Event, canonical_url
from vigil.synth.population import DAY_US
from vigil.synth.text import TextComposer, edit_text

HOUR_US = 3600 * US_PER_S
MINUTE_US = 60 * US_PER_S
MIN_PUSHES = 6  # campaigns shrink (fewer members) rather than push fewer times than this
EMOJI = ("🔥", "❗", "😡", "👇", "⚠️", "📢", "‼️", "🚨")  # emoji copy-pasters add to a message


@dataclass
class Draft:
    """One planted campaign being planned: members, coordinated posts, filler slots, pushed items."""

    index: int
    style: str
    member_platform: list[int] = field(default_factory=list)
    member_locale: list[int] = field(default_factory=list)
    member_botlike: list[bool] = field(default_factory=list)
    # Coordinated posts, one entry per post (text None: compose an organic-looking sentence).
    t_us: list[int] = field(default_factory=list)
    member: list[int] = field(default_factory=list)
    text: list[str | None] = field(default_factory=list)
    lang: list[int] = field(default_factory=list)
    urls: list[list[str]] = field(default_factory=list)
    hashtags: list[list[str]] = field(default_factory=list)  # display form, without '#'
    reshare_of: list[int] = field(default_factory=list)  # index of a post of this draft, or -1
    image_pdq: list[list[str]] = field(default_factory=list)
    image_ids: list[list[str]] = field(default_factory=list)
    filler_t_us: list[int] = field(default_factory=list)
    filler_member: list[int] = field(default_factory=list)
    items: dict[str, list[str]] = field(default_factory=dict)
    params: dict[str, object] = field(default_factory=dict)
    seed_posts: list[int] = field(default_factory=list)  # posts others reshare (reshare_ring)

    @property
    def id(self) -> str:
        return f"campaign-{self.index + 1:03d}"

    def add_members(
        self, count: int, platform: int, locales: list[int], botlike_share: float, rng: np.random.Generator
    ) -> list[int]:
        first = len(self.member_platform)
        for _ in range(count):
            self.member_platform.append(platform)
            self.member_locale.append(locales[int(rng.integers(0, len(locales)))])
            self.member_botlike.append(bool(rng.random() < botlike_share))
        return list(range(first, first + count))

    def post(
        self,
        t_us: int,
        member: int,
        lang: int,
        *,
        text: str | None = None,
        urls: list[str] | None = None,
        hashtags: list[str] | None = None,
        reshare_of: int = -1,
        image_pdq: list[str] | None = None,
        image_ids: list[str] | None = None,
    ) -> int:
        self.t_us.append(int(t_us))
        self.member.append(member)
        self.text.append(text)
        self.lang.append(lang)
        self.urls.append(list(urls or []))
        self.hashtags.append(list(hashtags or []))
        self.reshare_of.append(reshare_of)
        self.image_pdq.append(list(image_pdq or []))
        self.image_ids.append(list(image_ids or []))
        return len(self.t_us) - 1

    coordinated_count: int = 0
    filler_count: int = 0

    def release(self) -> None:
        """Drop the per-post lists once they are materialized (they dominate memory at 10M posts),
        keeping the counts campaigns.json reports."""
        self.coordinated_count = len(self.t_us)
        self.filler_count = len(self.filler_t_us)
        for name in ("t_us", "member", "text", "lang", "urls", "hashtags", "reshare_of", "image_pdq",
                     "image_ids", "filler_t_us", "filler_member"):  # fmt: skip
            setattr(self, name, [])

    def record(self, kind: str, value: str) -> None:
        """Note an item the campaign pushed (kept in first-use order, without repeats)."""
        values = self.items.setdefault(kind, [])
        if value not in values:
            values.append(value)

    def member_lang(self, member: int, locales: tuple[Locale, ...]) -> int:
        return LANGS.index(locales[self.member_locale[member]].lang)


@dataclass
class PlanContext:
    """Shared state and helpers for planning campaigns (deterministic given the seed)."""

    config: GeneratorConfig
    locales: tuple[Locale, ...]
    events: list[Event]
    composer: TextComposer
    start_us: int
    end_us: int
    popular_tags: list[str]  # display forms of the most popular organic hashtags
    used_names: set[str] = field(default_factory=set)
    message_order: list[int] = field(default_factory=list)
    messages_taken: int = 0

    profile: Difficulty = field(init=False)

    def __post_init__(self) -> None:
        self.profile = self.config.profile  # read per post while planning: keep it an attribute

    # --- members and sizes ------------------------------------------------------------------------

    def size(self, rng: np.random.Generator, budget: int, *, cap: int | None = None) -> tuple[int, int]:
        """(members, pushes) so that the coordinated posts come near ``budget``."""
        lo, hi = self.profile.accounts
        hi = min(hi, cap) if cap else hi
        lo = min(lo, hi)
        coordinated = max(12, round(budget * (1 - self.profile.filler_ratio)))
        members = int(rng.integers(lo, hi + 1))
        # Each member should take part in several pushes, or it is not coordination at all.
        members = max(3, min(members, int(coordinated / (MIN_PUSHES * self.profile.participation))))
        pushes = max(3, round(coordinated / (members * self.profile.participation)))
        return members, pushes

    def platform(self, rng: np.random.Generator) -> int:
        from vigil.synth.config import PLATFORM_SHARE

        share = np.array([PLATFORM_SHARE[p] for p in self.config.platforms])
        return int(rng.choice(len(share), p=share / share.sum()))

    def locales_for(self, rng: np.random.Generator, langs: tuple[str, ...] | None = None) -> list[int]:
        """One or two locales for a campaign's members (restricted to ``langs`` if given)."""
        allowed = [i for i, x in enumerate(self.locales) if langs is None or x.lang in langs]
        weights = np.array([self.locales[i].weight for i in allowed])
        first = allowed[int(rng.choice(len(allowed), p=weights / weights.sum()))]
        same_lang = [i for i in allowed if self.locales[i].lang == self.locales[first].lang and i != first]
        if same_lang and rng.random() < 0.3:
            return [first, same_lang[int(rng.integers(0, len(same_lang)))]]
        return [first]

    def participants(self, rng: np.random.Generator, members: list[int], push: int, pushes: int) -> list[int]:
        """Members joining push ``push``: each with the participation probability, and every member
        at least in push ``member % pushes`` so that nobody is a member without posting."""
        joins = rng.random(len(members)) < self.profile.participation
        chosen = [m for i, m in enumerate(members) if i % pushes == push or joins[i]]
        if len(chosen) < 2:
            extra = [m for m in members if m not in chosen]
            chosen += extra[: 2 - len(chosen)]
        return chosen

    # --- timing -----------------------------------------------------------------------------------

    def push_times(self, rng: np.random.Generator, count: int, locale: int, span_us: int) -> np.ndarray:
        """Start times of ``count`` pushes: daytime in the campaign's locale, some inside event bursts."""
        diurnal = np.array(world()["diurnal"])
        tz = self.locales[locale].tz
        days = max(1, (self.end_us - self.start_us) // DAY_US)
        day = rng.integers(0, days, size=count)
        local_hour = weighted_pick(rng, np.cumsum(diurnal), count)
        t = self.start_us + day * DAY_US + ((local_hour - tz) % 24) * HOUR_US
        t = t + rng.integers(0, HOUR_US, size=count)
        if self.events:
            hide = rng.random(count) < self.profile.camouflage
            ev = rng.integers(0, len(self.events), size=count)
            starts = np.array([e.start_us for e in self.events])[ev]
            t = np.where(hide, starts + rng.integers(0, 45 * MINUTE_US, size=count), t)
        latest = self.end_us - span_us - HOUR_US
        return np.sort(np.clip(t, self.start_us + MINUTE_US, max(latest, self.start_us + MINUTE_US)))

    def delays(self, rng: np.random.Generator, count: int, scale_s: float | None = None) -> np.ndarray:
        """Members' delays after a push starts (exponential, in microseconds, at least 1 s)."""
        scale = self.profile.jitter_s if scale_s is None else scale_s
        return (US_PER_S + rng.exponential(scale, size=count) * US_PER_S).astype(np.int64)

    def clamp(self, t_us: int) -> int:
        return int(min(max(t_us, self.start_us), self.end_us - 1))

    # --- items ------------------------------------------------------------------------------------

    def unique_name(self, make: object, rng: np.random.Generator) -> str:
        assert callable(make)
        for attempt in range(1000):
            name = str(make(rng, attempt))
            if name not in self.used_names:
                self.used_names.add(name)
                return name
        raise RuntimeError("could not find an unused campaign item name")

    def new_domain(self, rng: np.random.Generator) -> str:
        parts = world()["campaign_domain_parts"]

        def make(r: np.random.Generator, attempt: int) -> str:
            a = parts["first"][int(r.integers(0, len(parts["first"])))]
            b = parts["second"][int(r.integers(0, len(parts["second"])))]
            tld = parts["tld"][int(r.integers(0, len(parts["tld"])))]
            sep = "-" if r.random() < 0.5 else ""
            suffix = str(int(r.integers(2, 99))) if attempt > 20 else ""
            return f"{a}{sep}{b}{suffix}.{tld}"

        return self.unique_name(make, rng)

    def new_article(self, rng: np.random.Generator, domain: str) -> str:
        words = world()["path_words"]
        slug = "-".join(words[int(i)] for i in rng.choice(len(words), size=3, replace=False))
        return f"https://{domain}/{slug}-{int(rng.integers(10_000, 99_999))}"

    def new_hashtag(self, rng: np.random.Generator, lang: str) -> str:
        table = world()["campaign_hashtag_parts"]
        parts = table.get(lang, table["en"])

        def make(r: np.random.Generator, attempt: int) -> str:
            a = parts["first"][int(r.integers(0, len(parts["first"])))]
            b = parts["second"][int(r.integers(0, len(parts["second"])))]
            sep = "_" if lang == "ar" else ""
            return f"{a}{sep}{b}{int(r.integers(10, 99)) if attempt > 5 or r.random() < 0.5 else ''}"

        return self.unique_name(make, rng)

    def spelling(self, rng: np.random.Generator, url: str) -> str:
        """The campaign's URL as a member posts it: sometimes with tracking parameters or www."""
        if rng.random() >= self.profile.url_variants:
            return url
        if rng.random() < 0.5:
            return f"{url}?utm_source={'abcdefgh'[int(rng.integers(0, 8))]}&utm_medium=social"
        return url.replace("https://", "http://www.", 1)

    def take_message(self, rng: np.random.Generator) -> Message:
        """A message of the bank, each used once before any is reused (campaigns stay distinct)."""
        bank = messages()
        if not self.message_order or self.messages_taken % len(bank) == 0:
            self.message_order = [int(i) for i in rng.permutation(len(bank))]
        message = bank[self.message_order[self.messages_taken % len(bank)]]
        self.messages_taken += 1
        return message

    def edited(self, rng: np.random.Generator, text: str) -> str:
        lo, hi = self.profile.edits
        return edit_text(rng, text, int(rng.integers(lo, hi + 1)), list(EMOJI))

    def canonical(self, url: str) -> str:
        return canonical_url(url).canonical


class CampaignStyle(Protocol):
    """A way of coordinating. ``name`` is also the label written in ``campaign_style``."""

    name: str
    summary: str

    def plan(self, draft: Draft, ctx: PlanContext, rng: np.random.Generator, budget: int) -> None:
        """Add members and coordinated posts to ``draft`` (about ``budget`` posts with filler)."""
        ...


def add_filler(draft: Draft, ctx: PlanContext, rng: np.random.Generator) -> None:
    """Organic-looking posts by the members at ordinary times (filled in like organic posts)."""
    ratio = ctx.profile.filler_ratio
    count = round(len(draft.t_us) * ratio / (1 - ratio))
    if count <= 0 or not draft.member_platform:
        return
    members = rng.integers(0, len(draft.member_platform), size=count)
    span = ctx.end_us - ctx.start_us
    diurnal = np.array(world()["diurnal"])
    local_hour = weighted_pick(rng, np.cumsum(diurnal), count)
    tz = np.array([ctx.locales[draft.member_locale[int(m)]].tz for m in members])
    day = rng.integers(0, max(1, span // DAY_US), size=count)
    t = (
        ctx.start_us
        + day * DAY_US
        + ((local_hour - tz) % 24) * HOUR_US
        + rng.integers(0, HOUR_US, size=count)
    )
    t = np.clip(t, ctx.start_us, ctx.end_us - 1)
    draft.filler_t_us.extend(int(x) for x in t)
    draft.filler_member.extend(int(m) for m in members)
