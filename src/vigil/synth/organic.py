"""Organic posts of one chunk: content of originals and replies, and reshares of viral posts.

Everything is vectorized over the chunk's rows. Reshares and replies pick their target among
recent viral posts of the same platform, in proportion to virality, so popular posts collect many
reshares within minutes to hours (the pool of viral posts carries over from chunk to chunk).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.schema.tables import POSTS, TIMESTAMP
from vigil.synth.arrowkit import US_PER_S, hex_strings, take_or_null
from vigil.synth.banks import LANGS
from vigil.synth.items import ORGANIC_VARIANT_P, URL_VARIANTS, Event, HashtagPool, LinkPool, MemePool
from vigil.synth.population import Accounts
from vigil.synth.text import TextComposer

HOUR_US = 3600 * US_PER_S
# Per platform: share of posts that reshare / reply, and that carry a link / an image.
RESHARE_P = {"twitter": 0.22, "facebook": 0.12, "telegram": 0.25}
REPLY_P = {"twitter": 0.12, "facebook": 0.15, "telegram": 0.03}
LINK_P = {"twitter": 0.28, "facebook": 0.35, "telegram": 0.4}
IMAGE_P = {"twitter": 0.12, "facebook": 0.22, "telegram": 0.18}
HASHTAG_COUNT_P = np.array([0.7, 0.19, 0.08, 0.03])
MENTION_P = 0.07
SWITCH_TO_EN_P = 0.08  # non-English accounts sometimes post in English
MEME_P = 0.25  # share of organic images that are re-posted memes
EVENT_TAG_P = 0.75
EVENT_LINK_P = 0.35
VIRAL_P = 0.02
VIRAL_PER_HOUR = 6.0
POOL_HOURS = 12
EXTRA = ("_t", "_w", "_p")  # pool bookkeeping columns: time, virality weight, platform


@dataclass
class World:
    """What organic content is drawn from (built once per data set)."""

    accounts: Accounts
    mention_pool: list[np.ndarray]
    links: LinkPool
    tags: HashtagPool
    memes: MemePool
    events: list[Event]
    composer: TextComposer


def _single_list(present: np.ndarray, values: pa.Array) -> pa.ListArray:
    """A list column with one element (from ``values``, in order) where ``present``, else empty."""
    offsets = np.zeros(len(present) + 1, dtype=np.int32)
    np.cumsum(present, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _lists_from_matrix(index: np.ndarray, values: pa.Array) -> pa.ListArray:
    present = index >= 0
    offsets = np.zeros(len(index) + 1, dtype=np.int32)
    np.cumsum(present.sum(axis=1), out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values.take(pa.array(index[present])))


def compose_posts(
    world: World,
    rng: np.random.Generator,
    acct: np.ndarray,
    t_us: np.ndarray,
    event: np.ndarray,
    reply_to: pa.Array | None = None,
    reply_handle: pa.Array | None = None,
) -> dict[str, pa.Array]:
    """Columns (other than ids) of organic originals, or of replies when ``reply_to`` is given."""
    acc = world.accounts
    n = len(acct)
    platform = acc.platform[acct]
    names = acc.platforms
    lang = acc.lang[acct].astype(np.int64)
    switch = (lang != LANGS.index("en")) & (rng.random(n) < SWITCH_TO_EN_P)
    lang = np.where(switch, LANGS.index("en"), lang)
    is_event = event >= 0
    events = world.events

    # Hashtags: 0-3 per post by Zipf popularity in the post's language; event posts lead with the
    # event's tag, which thousands of unrelated accounts use within minutes.
    k = np.searchsorted(np.cumsum(HASHTAG_COUNT_P), rng.random(n), side="right")
    tags = np.full((n, 3), -1, dtype=np.int64)
    for j in range(3):
        sel = np.flatnonzero(k > j)  # draw only the tags posts have
        tags[sel, j] = world.tags.sample(rng, lang[sel])
    if is_event.any():
        ev_tag = np.array([e.hashtag for e in events])  # (events, langs)
        lead = is_event & (rng.random(n) < EVENT_TAG_P)
        tags[lead, 0] = ev_tag[event[lead], lang[lead]]
    # No tag twice in one post: later duplicates are dropped.
    tags[:, 1] = np.where(tags[:, 1] == tags[:, 0], -1, tags[:, 1])
    tags[:, 2] = np.where((tags[:, 2] == tags[:, 0]) | (tags[:, 2] == tags[:, 1]), -1, tags[:, 2])

    # Links: one per post at most, in one of several spellings.
    link_p = np.array([LINK_P[p] for p in names])[platform]
    has_link = rng.random(n) < link_p
    article = np.zeros(n, dtype=np.int64)
    article[has_link] = world.links.sample(rng, lang[has_link])
    if is_event.any():
        ev_article = np.array([e.article for e in events])
        live = is_event & (rng.random(n) < EVENT_LINK_P)
        article = np.where(live, ev_article[np.where(is_event, event, 0), lang], article)
        has_link |= live
    variant = np.searchsorted(np.cumsum(ORGANIC_VARIANT_P), rng.random(n), side="right")
    variant = np.minimum(variant, URL_VARIANTS - 1)
    link_keys = (article * URL_VARIANTS + variant)[has_link]
    link_structs = (
        world.links.structs(link_keys)
        if len(link_keys)
        else pa.array([], type=POSTS.schema.field("urls").type.value_type)
    )
    link_text = take_or_null(link_structs.field("url"), np.where(has_link, np.cumsum(has_link) - 1, -1))

    # Mentions of the most followed accounts of the same platform (or the replied-to author).
    mention = np.full(n, -1, dtype=np.int64)
    has_mention = rng.random(n) < MENTION_P
    for p in range(len(names)):
        pool = world.mention_pool[p]
        sel = has_mention & (platform == p)
        if len(pool) and sel.any():
            mention[sel] = pool[
                np.minimum((rng.pareto(1.2, int(sel.sum())) * 3).astype(np.int64), len(pool) - 1)
            ]
    mention_handle = take_or_null(acc.handle, mention)
    if reply_handle is not None:
        mention_handle = pc.coalesce(reply_handle, mention_handle)
    mention_text = pc.binary_join_element_wise("@", mention_handle, "")

    # Images: fresh photos, and memes that many accounts re-post with small re-encoding noise.
    image_p = np.array([IMAGE_P[p] for p in names])[platform]
    has_image = rng.random(n) < image_p
    m = int(has_image.sum())
    meme = rng.random(m) < MEME_P
    codes = rng.integers(0, 256, size=(m, 32), dtype=np.uint8)
    if meme.any():
        codes[meme] = world.memes.sample(rng, int(meme.sum()), 6)
    pdq = hex_strings(codes)
    image_ids = hex_strings(rng.integers(0, 256, size=(m, 16), dtype=np.uint8))

    display, lower = world.tags.arrays()
    tag_text = [take_or_null(display, tags[:, j]) for j in range(3)]
    text = world.composer.compose(rng, lang, before=[mention_text], after=[*tag_text, link_text])
    mention_list = _single_list(np.asarray(mention_handle.is_valid()), mention_handle.drop_null())
    return {
        "platform": pa.array(names).take(pa.array(platform.astype(np.int64))),
        "account_id": acc.account_id.take(pa.array(acct)),
        "account_handle": acc.handle.take(pa.array(acct)),
        "created_at": pa.array(t_us, type=TIMESTAMP),
        "text": text,
        "lang": pa.array(LANGS).take(pa.array(lang)),
        "lang_detected": pa.array(np.zeros(n, dtype=bool)),
        "urls": _single_list(has_link, link_structs),
        "hashtags": _lists_from_matrix(tags, lower),
        "mentions": mention_list,
        "reshare_of": pa.nulls(n, pa.string()),
        "reply_to": reply_to if reply_to is not None else pa.nulls(n, pa.string()),
        "image_pdq": _single_list(has_image, pdq),
        "image_ids": _single_list(has_image, image_ids),
    }


def pick_targets(
    rng: np.random.Generator, pool: pa.Table, platform: np.ndarray, t_us: np.ndarray, n_platforms: int
) -> np.ndarray:
    """For each row, a pool row (same platform, posted in a recent window before ``t_us``) drawn in
    proportion to virality; -1 where no viral post is recent enough."""
    out = np.full(len(t_us), -1, dtype=np.int64)
    if pool.num_rows == 0:
        return out
    pool_t = pool.column("_t").to_numpy()
    pool_w = pool.column("_w").to_numpy()
    pool_p = pool.column("_p").to_numpy()
    # How far back a reshare looks: mostly the last hour or two, sometimes half a day.
    window = np.clip(rng.exponential(1.5 * HOUR_US, size=len(t_us)), 5 * 60 * US_PER_S, POOL_HOURS * HOUR_US)
    for p in range(n_platforms):
        rows = np.flatnonzero(platform == p)
        members = np.flatnonzero(pool_p == p)
        if not len(rows) or not len(members):
            continue
        tp = pool_t[members]
        cw = np.cumsum(pool_w[members])
        lo = np.searchsorted(tp, t_us[rows] - window[rows].astype(np.int64), side="left")
        hi = np.searchsorted(tp, t_us[rows], side="left")  # strictly earlier posts only
        ok = hi > lo
        base = np.where(lo > 0, cw[np.maximum(lo - 1, 0)], 0.0)
        top = cw[np.maximum(hi - 1, 0)]
        u = base + rng.random(len(rows)) * (top - base)
        pick = np.clip(np.searchsorted(cw, u, side="right"), lo, np.maximum(hi - 1, lo))
        out[rows[ok]] = members[pick[ok]]
    return out


def reshare_columns(
    world: World, pool: pa.Table, target: np.ndarray, acct: np.ndarray, t_us: np.ndarray
) -> dict[str, pa.Array]:
    """Reshares copy the target's text and entities; on twitter the text reads ``RT @author: ...``."""
    acc = world.accounts
    src = pool.take(pa.array(target))
    platform = acc.platform[acct]
    is_twitter = (
        pa.array(np.array([acc.platforms[p] == "twitter" for p in platform], dtype=bool))
        if len(acct)
        else pa.array([], pa.bool_())
    )
    rt_text = pc.binary_join_element_wise(
        "RT @", src.column("account_handle").combine_chunks(), ": ", src.column("text").combine_chunks(), ""
    )
    author = src.column("account_handle").combine_chunks()
    rt_mentions = _single_list(np.ones(len(acct), dtype=bool), author)
    empty = pa.ListArray.from_arrays(
        pa.array(np.zeros(len(acct) + 1, dtype=np.int32)), pa.array([], pa.string())
    )
    return {
        "platform": src.column("platform").combine_chunks(),
        "account_id": acc.account_id.take(pa.array(acct)),
        "account_handle": acc.handle.take(pa.array(acct)),
        "created_at": pa.array(t_us, type=TIMESTAMP),
        "text": pc.if_else(is_twitter, rt_text, src.column("text").combine_chunks()),
        "lang": src.column("lang").combine_chunks(),
        "lang_detected": src.column("lang_detected").combine_chunks(),
        "urls": src.column("urls").combine_chunks(),
        "hashtags": src.column("hashtags").combine_chunks(),
        "mentions": pc.if_else(is_twitter, rt_mentions, empty) if len(acct) else empty,
        "reshare_of": src.column("post_id").combine_chunks(),
        "reply_to": pa.nulls(len(acct), pa.string()),
        "image_pdq": src.column("image_pdq").combine_chunks(),
        "image_ids": src.column("image_ids").combine_chunks(),
    }


def viral_rows(
    rng: np.random.Generator, accounts: Accounts, acct: np.ndarray, hours: float
) -> tuple[np.ndarray, np.ndarray]:
    """Which originals go viral (well-followed authors more often) and their virality weights.

    About VIRAL_P of originals, but at least VIRAL_PER_HOUR per platform and hour, so that small
    data sets still have something recent to reshare."""
    followers = accounts.followers[acct]
    platform = accounts.platform[acct]
    rate = np.bincount(platform, minlength=len(accounts.platforms)) / max(hours, 1.0)
    base = np.minimum(0.5, np.maximum(VIRAL_P, VIRAL_PER_HOUR / np.maximum(rate, 1.0)))[platform]
    p = base * (0.5 + np.minimum(np.log10(1 + followers), 6) / 3)
    viral = (rng.random(len(acct)) < p) & (accounts.campaign[acct] < 0)
    weight = (1 + rng.pareto(1.3, size=len(acct))) * np.log(2 + followers)
    return viral, weight
