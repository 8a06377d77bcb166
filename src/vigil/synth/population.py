"""Accounts: the organic population and the campaign accounts, with platform-specific ids and handles.

Accounts live in flat numpy arrays indexed by a global account number (organic first, then campaign
accounts); strings (ids, handles, names) are Arrow arrays so that posts can ``take`` them by index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.synth.arrowkit import US_PER_S, int_strings, weighted_pick
from vigil.synth.banks import LANGS, Locale, world

DAY_US = 86_400 * US_PER_S
# Numeric id layout per platform: base + rank * stride + random offset below stride (unique by rank).
_ID_LAYOUT = {
    "twitter": (10_000_000, 1_009),
    "facebook": (100_000_000_000_000, 7_919),
    "telegram": (1_000_000_000, 1_013),
}
MENTIONABLE = 100  # accounts per platform that organic posts mention (the most followed)


@dataclass
class Accounts:
    """Every account of a data set, organic then campaign, addressed by global index."""

    platforms: tuple[str, ...]
    platform: np.ndarray  # int8, index into ``platforms``
    locale: np.ndarray  # int8, index into banks.locales()
    lang: np.ndarray  # int8, index into banks.LANGS
    created_us: np.ndarray  # int64, microseconds since the epoch
    followers: np.ndarray  # int64
    following: np.ndarray  # int64
    activity: np.ndarray  # float64 weight: how often the account posts (organic sampling)
    campaign: np.ndarray  # int32, index of the planted campaign, -1 for organic accounts
    account_id: pa.Array
    handle: pa.Array
    display_name: pa.Array

    def __len__(self) -> int:
        return len(self.platform)

    def platform_names(self) -> pa.Array:
        return pa.array(self.platforms).take(pa.array(self.platform.astype(np.int64)))


@dataclass
class AccountDraft:
    """Attributes chosen before ids are formatted (organic population or a campaign's members)."""

    platform: np.ndarray
    locale: np.ndarray
    created_us: np.ndarray
    followers: np.ndarray
    following: np.ndarray
    activity: np.ndarray
    campaign: np.ndarray
    botlike: np.ndarray  # bool: handle looks generated (name + digits), as many sockpuppets' do


def organic_draft(
    rng: np.random.Generator,
    count: int,
    platform_share: np.ndarray,
    locales: tuple[Locale, ...],
    start_us: int,
) -> AccountDraft:
    """``count`` organic accounts: heavy-tailed activity, creation dates spread over twelve years."""
    platform = rng.choice(len(platform_share), size=count, p=platform_share / platform_share.sum())
    locale_w = np.array([x.weight for x in locales])
    locale = rng.choice(len(locales), size=count, p=locale_w / locale_w.sum())
    log_activity = rng.normal(0.0, 1.5, size=count)
    # Log-uniform account age between one month and twelve years: many young accounts, a long tail.
    age_days = np.exp(rng.uniform(np.log(30), np.log(12 * 365), size=count))
    created = start_us - (age_days * DAY_US).astype(np.int64)
    followers = np.floor(np.exp(rng.normal(4.0 + 0.8 * log_activity, 1.6))).astype(np.int64)
    following = np.floor(np.exp(rng.normal(5.0, 1.0, size=count))).astype(np.int64)
    return AccountDraft(
        platform=platform.astype(np.int8),
        locale=locale.astype(np.int8),
        created_us=created,
        followers=followers,
        following=following,
        activity=np.exp(log_activity),
        campaign=np.full(count, -1, dtype=np.int32),
        botlike=np.zeros(count, dtype=bool),
    )


def concat_drafts(drafts: list[AccountDraft]) -> AccountDraft:
    return AccountDraft(
        **{
            name: np.concatenate([getattr(d, name) for d in drafts])
            for name in AccountDraft.__dataclass_fields__
        }
    )


def _rank_within(groups: np.ndarray) -> np.ndarray:
    """0, 1, 2 ... separately for each value of ``groups``, in array order."""
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(groups)]))
    rank = np.empty(len(groups), dtype=np.int64)
    rank[order] = np.arange(len(groups)) - run_start
    return rank


def finish_accounts(
    rng: np.random.Generator, draft: AccountDraft, platforms: tuple[str, ...], locales: tuple[Locale, ...]
) -> Accounts:
    """Format ids, handles and display names; unique per platform by construction."""
    n = len(draft.platform)
    lang_of_locale = np.array([LANGS.index(x.lang) for x in locales], dtype=np.int8)
    lang = lang_of_locale[draft.locale]
    rank = _rank_within(draft.platform)
    rank_str = int_strings(rank)
    names = world()["names"]
    firsts = [f for code in LANGS for f in names[code]["first"]]
    lasts = [x for code in LANGS for x in names[code]["last"]]
    first_off = np.cumsum([0] + [len(names[c]["first"]) for c in LANGS])
    last_off = np.cumsum([0] + [len(names[c]["last"]) for c in LANGS])
    first_n = np.diff(first_off)[lang]
    last_n = np.diff(last_off)[lang]
    fi = first_off[lang] + np.floor(rng.random(n) * first_n).astype(np.int64)
    li = last_off[lang] + np.floor(rng.random(n) * last_n).astype(np.int64)
    first = pa.array(firsts).take(pa.array(fi))
    last = pa.array(lasts).take(pa.array(li))
    seps = pa.array(["", "_", "."]).take(pa.array(rng.integers(0, 3, size=n)))
    words = world()["channel_words"]
    word = pa.array(words).take(pa.array(rng.integers(0, len(words), size=n)))
    digits = int_strings(rng.integers(1000, 10000, size=n))
    last3 = pc.utf8_slice_codeunits(last, 0, 3)

    is_channel = np.zeros(n, dtype=bool)
    if "telegram" in platforms:
        is_channel = draft.platform == platforms.index("telegram")
    # Handles end with the per-platform rank, so they are unique; the bot-like pattern has digits
    # before an underscore, which the organic patterns never have, so the two cannot collide.
    organic_handle = pc.binary_join_element_wise(first, seps, last, rank_str, "")
    channel_handle = pc.binary_join_element_wise(word, "_", first, rank_str, "")
    bot_handle = pc.binary_join_element_wise(first, last3, digits, "_", rank_str, "")
    handle = pc.if_else(
        pa.array(draft.botlike), bot_handle, pc.if_else(pa.array(is_channel), channel_handle, organic_handle)
    )
    arabic = world()["arabic_display"]
    display_first = pc.if_else(
        pa.array(lang == LANGS.index("ar")),
        pa.array([arabic.get(f, f) for f in firsts]).take(pa.array(fi)),
        pc.utf8_capitalize(first),
    )
    person = pc.binary_join_element_wise(display_first, pc.utf8_capitalize(last), " ")
    channel = pc.binary_join_element_wise(pc.utf8_capitalize(word), display_first, " ")
    display = pc.if_else(pa.array(is_channel), channel, person)

    numeric = np.zeros(n, dtype=np.int64)
    for p, name in enumerate(platforms):
        base, stride = _ID_LAYOUT[name]
        sel = draft.platform == p
        numeric[sel] = base + rank[sel] * stride + rng.integers(0, stride, size=int(sel.sum()))
    account_id = int_strings(numeric)
    if "telegram" in platforms:
        # Telegram channel ids are written -100<id> by the Bot API.
        account_id = pc.if_else(
            pa.array(is_channel), pc.binary_join_element_wise("-100", account_id, ""), account_id
        )
    return Accounts(
        platforms=platforms,
        platform=draft.platform,
        locale=draft.locale,
        lang=lang,
        created_us=draft.created_us,
        followers=draft.followers,
        following=draft.following,
        activity=draft.activity,
        campaign=draft.campaign,
        account_id=account_id,
        handle=handle,
        display_name=display,
    )


class GroupSampler:
    """Draws organic accounts of one (platform, locale) group in proportion to their activity."""

    def __init__(self, accounts: Accounts, n_locales: int) -> None:
        organic = accounts.campaign < 0
        self.n_locales = n_locales
        self.members: list[np.ndarray] = []
        self.cumulative: list[np.ndarray] = []
        for p in range(len(accounts.platforms)):
            for loc in range(n_locales):
                idx = np.flatnonzero(organic & (accounts.platform == p) & (accounts.locale == loc))
                self.members.append(idx)
                self.cumulative.append(np.cumsum(accounts.activity[idx]))

    def group(self, platform: int, locale: int) -> int:
        return platform * self.n_locales + locale

    def size(self, group: int) -> int:
        return len(self.members[group])

    def sample(self, rng: np.random.Generator, group: int, n: int) -> np.ndarray:
        members = self.members[group]
        if not len(members):
            raise ValueError(f"organic group {group} has no accounts")
        picked: np.ndarray = members[weighted_pick(rng, self.cumulative[group], n)]
        return picked


def mentionable(accounts: Accounts) -> list[np.ndarray]:
    """Per platform, the most followed organic accounts (targets of organic mentions)."""
    out = []
    for p in range(len(accounts.platforms)):
        idx = np.flatnonzero((accounts.campaign < 0) & (accounts.platform == p))
        top = idx[np.argsort(-accounts.followers[idx], kind="stable")[:MENTIONABLE]]
        out.append(top)
    return out


def accounts_table(accounts: Accounts, rows: np.ndarray) -> pa.Table:
    """The ACCOUNTS table rows of the given global account indices."""
    idx = pa.array(rows.astype(np.int64))
    lang_names = pa.array(list(LANGS)).take(pa.array(accounts.lang[rows].astype(np.int64)))
    return pa.table(
        {
            "platform": accounts.platform_names().take(idx),
            "account_id": accounts.account_id.take(idx),
            "handle": accounts.handle.take(idx),
            "display_name": accounts.display_name.take(idx),
            "created_at": pa.array(accounts.created_us[rows], type=pa.timestamp("us", tz="UTC")),
            "followers": pa.array(accounts.followers[rows]),
            "following": pa.array(accounts.following[rows]),
            "lang": lang_names,
        }
    )


def labels_table(
    accounts: Accounts, rows: np.ndarray, campaign_ids: list[str], styles: list[str]
) -> pa.Table:
    """The LABELS table rows (ground truth) of the given global account indices."""
    idx = pa.array(rows.astype(np.int64))
    camp = accounts.campaign[rows].astype(np.int64)
    return pa.table(
        {
            "platform": accounts.platform_names().take(idx),
            "account_id": accounts.account_id.take(idx),
            "campaign_id": pa.array(campaign_ids or [""], type=pa.string()).take(
                pa.array(np.where(camp < 0, 0, camp), mask=camp < 0)
            ),
            "campaign_style": pa.array(styles or [""], type=pa.string()).take(
                pa.array(np.where(camp < 0, 0, camp), mask=camp < 0)
            ),
        }
    )
