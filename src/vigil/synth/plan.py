"""Planning a data set: accounts, shared item pools, events, campaigns, and the organic schedule.

Everything decided here is small (a few percent of the posts, plus per-account arrays); the posts
themselves are made chunk by chunk (synth/chunks.py). Random draws come from independent streams
keyed by (seed, stream, index), so the plan does not depend on anything but the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vigil.core.errors import InputError
from vigil.synth.arrowkit import US_PER_S, apportion
from vigil.synth.banks import LANGS, Locale, locales, world
from vigil.synth.campaign_rows import CampaignRows, materialize
from vigil.synth.campaigns import STYLES, Draft, PlanContext, add_filler
from vigil.synth.config import PLATFORM_SHARE, GeneratorConfig
from vigil.synth.items import Event, HashtagPool, LinkPool, MemePool, make_events
from vigil.synth.organic import World
from vigil.synth.population import (
    AccountDraft,
    GroupSampler,
    concat_drafts,
    finish_accounts,
    mentionable,
    organic_draft,
)
from vigil.synth.text import TextComposer

HOUR_US = 3600 * US_PER_S
DAY_US = 24 * HOUR_US
POSTS_PER_ACCOUNT = 10  # organic accounts = posts / this (activity is heavy-tailed around it)
MAX_CAMPAIGN_SHARE = 0.5
# Independent random streams: (seed, stream, index) -> generator.
PLAN, CAMPAIGN, CHUNK, FINISH = 0, 1, 2, 3


def rng_for(seed: int, stream: int, index: int = 0) -> np.random.Generator:
    """The PCG64 generator of one stream (and index within it) of a seed."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(stream, index))))


@dataclass
class Plan:
    """Everything the chunks are made from."""

    config: GeneratorConfig
    world: World
    sampler: GroupSampler
    drafts: list[Draft]
    campaign: CampaignRows
    regular: np.ndarray  # (groups, hours): organic posts of each (platform, locale) group and hour
    event_t: np.ndarray  # organic event-burst posts, by time: when, which group, which event
    event_group: np.ndarray
    event_id: np.ndarray
    filler_t: np.ndarray  # campaign members' filler posts, by time
    filler_acct: np.ndarray
    chunks: list[tuple[int, int]]  # [first hour, end hour) of each chunk
    start_us: int
    end_us: int


def make_plan(config: GeneratorConfig) -> Plan:
    rng = rng_for(config.seed, PLAN)
    locs = locales()
    start_us = int(config.start.timestamp() * US_PER_S)
    hours = config.days * 24
    end_us = start_us + hours * HOUR_US
    share = np.array([PLATFORM_SHARE[p] for p in config.platforms])
    n_org_accounts = max(1_000, config.posts // POSTS_PER_ACCOUNT)
    organic = organic_draft(rng, n_org_accounts, share, locs, start_us)
    links, tags, memes, events = _pools(rng, config, locs, start_us)
    composer = TextComposer()

    # Campaigns are planned before accounts get ids: members are appended after the organic ones.
    crng = rng_for(config.seed, CAMPAIGN)
    ctx = PlanContext(config, locs, events, composer, start_us, end_us, _popular_tags(tags))
    drafts = _plan_campaigns(config, ctx, crng)
    campaign_posts = sum(len(d.t_us) + len(d.filler_t_us) for d in drafts)
    if campaign_posts > MAX_CAMPAIGN_SHARE * config.posts:
        raise InputError(
            f"{len(drafts)} campaigns need {campaign_posts:,} posts, too many for --posts {config.posts:,}; "
            "use fewer --campaigns or more --posts"
        )
    members, first_account = _campaign_members(config, drafts, crng, start_us, n_org_accounts)
    accounts = finish_accounts(rng, concat_drafts([organic, *members]), config.platforms, locs)
    sampler = GroupSampler(accounts, len(locs))
    w = World(accounts, mentionable(accounts), links, tags, memes, events, composer)
    campaign = materialize(drafts, w, first_account, rng_for(config.seed, FINISH))
    filler_t = np.array([x for d in drafts for x in d.filler_t_us], dtype=np.int64)
    filler_acct = np.array(
        [first_account[i] + m for i, d in enumerate(drafts) for m in d.filler_member], dtype=np.int64
    )
    order = np.lexsort((np.arange(len(filler_t)), filler_t))
    filler_t, filler_acct = filler_t[order], filler_acct[order]
    for d in drafts:
        d.release()

    n_organic = config.posts - campaign_posts
    event_t, event_group, event_id = _event_posts(rng, events, sampler, n_organic, start_us, end_us)
    regular = apportion(_hourly_expectation(config, sampler, locs), n_organic - len(event_t))
    chunks = _chunk_layout(config, regular, [event_t, filler_t, campaign.t_us], start_us)
    return Plan(
        config, w, sampler, drafts, campaign, regular, event_t, event_group, event_id,
        filler_t, filler_acct, chunks, start_us, end_us,
    )  # fmt: skip


def _pools(
    rng: np.random.Generator, config: GeneratorConfig, locs: tuple[Locale, ...], start_us: int
) -> tuple[LinkPool, HashtagPool, MemePool, list[Event]]:
    lang_share = np.zeros(len(LANGS))
    for loc in locs:
        lang_share[LANGS.index(loc.lang)] += loc.weight
    links = LinkPool(rng, int(np.clip(config.posts // 25, 2_000, 400_000)), lang_share, start_us, config.days)
    tags = HashtagPool(rng, 500)
    memes = MemePool(rng, int(np.clip(config.posts // 2_000, 50, 5_000)))
    return links, tags, memes, make_events(start_us, config.days, links, tags)


def _popular_tags(tags: HashtagPool) -> list[str]:
    """The head of the English and French hashtag rankings (campaigns sometimes ride them)."""
    display = tags.display
    return [display[int(i)] for i in tags.members[LANGS.index("en")][:5]] + [
        display[int(i)] for i in tags.members[LANGS.index("fr")][:3]
    ]


def _plan_campaigns(config: GeneratorConfig, ctx: PlanContext, crng: np.random.Generator) -> list[Draft]:
    """Styles in a seeded order, round robin (every style present once there are enough campaigns)."""
    count = config.campaign_count
    styles = [config.styles[int(i)] for i in crng.permutation(len(config.styles))]
    total_budget = config.profile.campaign_share * config.posts
    drafts: list[Draft] = []
    for i in range(count):
        style = styles[i % len(styles)]
        draft = Draft(i, style)
        budget = max(40, round(total_budget / max(count, 1) * float(np.exp(crng.normal(0, 0.35)))))
        STYLES[style].plan(draft, ctx, rng_for(config.seed, CAMPAIGN, i + 1), budget)
        add_filler(draft, ctx, rng_for(config.seed, CAMPAIGN, 100_000 + i))
        drafts.append(draft)
    return drafts


def _campaign_members(
    config: GeneratorConfig, drafts: list[Draft], crng: np.random.Generator, start_us: int, first: int
) -> tuple[list[AccountDraft], list[int]]:
    """Members' account attributes (created in a burst, few followers) and each draft's first index."""
    members: list[AccountDraft] = []
    first_account: list[int] = []
    next_index = first
    for i, d in enumerate(drafts):
        n = len(d.member_platform)
        burst_start = start_us - int(crng.uniform(20, 700) * 86_400) * US_PER_S
        created = burst_start + (crng.random(n) * config.profile.creation_burst_days * DAY_US).astype(
            np.int64
        )
        members.append(
            AccountDraft(
                platform=np.array(d.member_platform, dtype=np.int8),
                locale=np.array(d.member_locale, dtype=np.int8),
                created_us=created,
                followers=np.floor(np.exp(crng.normal(3.0, 1.2, size=n))).astype(np.int64),
                following=np.floor(np.exp(crng.normal(5.5, 0.8, size=n))).astype(np.int64),
                activity=np.ones(n),
                campaign=np.full(n, i, dtype=np.int32),
                botlike=np.array(d.member_botlike, dtype=bool),
            )
        )
        first_account.append(next_index)
        next_index += n
    return members, first_account


def _event_posts(
    rng: np.random.Generator,
    events: list[Event],
    sampler: GroupSampler,
    n_organic: int,
    start_us: int,
    end_us: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time, group, event) of each organic event-burst post, in time order."""
    group_w = _group_weights(sampler)
    group_cum = np.cumsum(group_w)
    ev_t, ev_g, ev_id = [], [], []
    for e, event in enumerate(events):
        n = round(event.share * n_organic)
        t = event.start_us + rng.exponential(event.scale_us, size=n).astype(np.int64)
        ev_t.append(np.clip(t, start_us, end_us - 1))
        ev_g.append(
            np.minimum(
                np.searchsorted(group_cum, rng.random(n) * group_cum[-1], side="right"), len(group_w) - 1
            )
        )
        ev_id.append(np.full(n, e, dtype=np.int64))
    empty = np.zeros(0, dtype=np.int64)
    event_t = np.concatenate(ev_t) if ev_t else empty
    event_group = np.concatenate(ev_g) if ev_g else empty
    event_id = np.concatenate(ev_id) if ev_id else empty
    order = np.lexsort((np.arange(len(event_t)), event_t))
    return event_t[order], event_group[order], event_id[order]


def _group_weights(sampler: GroupSampler) -> np.ndarray:
    """Total activity of each (platform, locale) group of organic accounts."""
    n_groups = len(sampler.members)
    return np.array([float(sampler.cumulative[g][-1]) if sampler.size(g) else 0.0 for g in range(n_groups)])


def _hourly_expectation(
    config: GeneratorConfig, sampler: GroupSampler, locs: tuple[Locale, ...]
) -> np.ndarray:
    """(groups, hours) weights: each group's activity along the daily rhythm of its timezone."""
    diurnal = np.array(world()["diurnal"])
    group_w = _group_weights(sampler)
    group_tz = np.array([locs[g % len(locs)].tz for g in range(len(group_w))])
    utc_hour = np.arange(config.days * 24) % 24
    expected: np.ndarray = group_w[:, None] * diurnal[(utc_hour[None, :] + group_tz[:, None]) % 24]
    return expected


def _chunk_layout(
    config: GeneratorConfig, regular: np.ndarray, timed: list[np.ndarray], start_us: int
) -> list[tuple[int, int]]:
    """Runs of whole hours holding about ``chunk_posts`` posts each."""
    hours = config.days * 24
    per_hour = regular.sum(axis=0).astype(np.int64)
    for arr in timed:
        per_hour += np.bincount((arr - start_us) // HOUR_US, minlength=hours)[:hours]
    chunks: list[tuple[int, int]] = []
    lo, acc = 0, 0
    for h in range(hours):
        acc += int(per_hour[h])
        if acc >= config.chunk_posts or h == hours - 1:
            chunks.append((lo, h + 1))
            lo, acc = h + 1, 0
    return chunks
