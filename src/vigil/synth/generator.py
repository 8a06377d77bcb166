"""``generate``: plan a labelled data set, then stream it to Parquet chunk by chunk.

Planning (accounts, link/hashtag/meme pools, events, campaigns, how many organic posts each hour
and group gets) is small; posts are then made in chunks of whole hours (about ``chunk_posts``
each), so memory stays bounded whatever the size. Every random draw comes from a generator seeded
by (seed, stream, chunk), so equal parameters give byte-identical files.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.core.errors import InputError
from vigil.core.progress import NoProgress, Progress
from vigil.schema.io import ParquetSink
from vigil.schema.tables import ACCOUNTS, LABELS, POSTS
from vigil.synth.arrowkit import US_PER_S, apportion
from vigil.synth.banks import LANGS, locales, world
from vigil.synth.campaign_rows import CampaignRows, materialize
from vigil.synth.campaigns import STYLES, Draft, PlanContext, add_filler
from vigil.synth.config import PLATFORM_SHARE, GeneratorConfig
from vigil.synth.items import HashtagPool, LinkPool, MemePool, make_events
from vigil.synth.organic import (
    POOL_HOURS,
    REPLY_P,
    RESHARE_P,
    World,
    compose_posts,
    pick_targets,
    reshare_columns,
    viral_rows,
)
from vigil.synth.population import (
    AccountDraft,
    GroupSampler,
    accounts_table,
    concat_drafts,
    finish_accounts,
    labels_table,
    mentionable,
    organic_draft,
)
from vigil.synth.postids import post_ids
from vigil.synth.text import TextComposer

HOUR_US = 3600 * US_PER_S
POSTS_PER_ACCOUNT = 10  # organic accounts = posts / this (activity is heavy-tailed around it)
MAX_CAMPAIGN_SHARE = 0.5
# Independent random streams: (seed, stream, index) -> generator.
_PLAN, _CAMPAIGN, _CHUNK, _FINISH = 0, 1, 2, 3


def _rng(seed: int, stream: int, index: int = 0) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(stream, index))))


@dataclass
class GenerationSummary:
    """What ``generate`` wrote (also printed by the CLI)."""

    out_dir: Path
    posts: int
    accounts: int
    campaign_accounts: int
    campaign_posts: int
    chunks: int
    seconds: float
    posts_by_platform: dict[str, int] = field(default_factory=dict)
    campaigns: list[dict[str, object]] = field(default_factory=list)


@dataclass
class _Plan:
    config: GeneratorConfig
    world: World
    sampler: GroupSampler
    drafts: list[Draft]
    campaign: CampaignRows
    regular: np.ndarray  # (groups, hours) organic post counts
    event_t: np.ndarray
    event_group: np.ndarray
    event_id: np.ndarray
    filler_t: np.ndarray
    filler_acct: np.ndarray
    chunks: list[tuple[int, int]]
    start_us: int
    end_us: int


def _plan(config: GeneratorConfig) -> _Plan:
    rng = _rng(config.seed, _PLAN)
    locs = locales()
    start_us = int(config.start.timestamp() * US_PER_S)
    hours = config.days * 24
    end_us = start_us + hours * HOUR_US
    share = np.array([PLATFORM_SHARE[p] for p in config.platforms])
    n_org_accounts = max(1_000, config.posts // POSTS_PER_ACCOUNT)
    organic = organic_draft(rng, n_org_accounts, share, locs, start_us)

    lang_share = np.zeros(len(LANGS))
    for loc in locs:
        lang_share[LANGS.index(loc.lang)] += loc.weight
    links = LinkPool(rng, int(np.clip(config.posts // 25, 2_000, 400_000)), lang_share, start_us, config.days)
    tags = HashtagPool(rng, 500)
    memes = MemePool(rng, int(np.clip(config.posts // 2_000, 50, 5_000)))
    events = make_events(start_us, config.days, links, tags)
    composer = TextComposer()

    # Campaigns are planned before accounts get ids: members are appended after the organic ones.
    crng = _rng(config.seed, _CAMPAIGN)
    display = tags.display
    popular = [display[int(i)] for i in tags.members[LANGS.index("en")][:5]] + [
        display[int(i)] for i in tags.members[LANGS.index("fr")][:3]
    ]
    ctx = PlanContext(config, locs, events, composer, start_us, end_us, popular)
    count = config.campaign_count
    styles = [config.styles[int(i)] for i in crng.permutation(len(config.styles))]
    total_budget = config.profile.campaign_share * config.posts
    drafts: list[Draft] = []
    for i in range(count):
        style = styles[i % len(styles)]
        draft = Draft(i, style)
        budget = max(40, round(total_budget / max(count, 1) * float(np.exp(crng.normal(0, 0.35)))))
        STYLES[style].plan(draft, ctx, _rng(config.seed, _CAMPAIGN, i + 1), budget)
        add_filler(draft, ctx, _rng(config.seed, _CAMPAIGN, 100_000 + i))
        drafts.append(draft)
    campaign_posts = sum(len(d.t_us) + len(d.filler_t_us) for d in drafts)
    if campaign_posts > MAX_CAMPAIGN_SHARE * config.posts:
        raise InputError(
            f"{count} campaigns need {campaign_posts:,} posts, too many for --posts {config.posts:,}; "
            "use fewer --campaigns or more --posts"
        )

    member_drafts: list[AccountDraft] = [organic]
    first_account: list[int] = []
    next_index = n_org_accounts
    for i, d in enumerate(drafts):
        n = len(d.member_platform)
        burst_start = start_us - int(crng.uniform(20, 700) * 86_400) * US_PER_S
        created = burst_start + (
            crng.random(n) * config.profile.creation_burst_days * 86_400 * US_PER_S
        ).astype(np.int64)
        member_drafts.append(
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
    accounts = finish_accounts(rng, concat_drafts(member_drafts), config.platforms, locs)
    sampler = GroupSampler(accounts, len(locs))
    w = World(accounts, mentionable(accounts), links, tags, memes, events, composer)
    campaign = materialize(drafts, w, first_account, _rng(config.seed, _FINISH))
    filler_t = np.array([x for d in drafts for x in d.filler_t_us], dtype=np.int64)
    filler_acct = np.array(
        [first_account[i] + m for i, d in enumerate(drafts) for m in d.filler_member], dtype=np.int64
    )
    order = np.lexsort((np.arange(len(filler_t)), filler_t))
    filler_t, filler_acct = filler_t[order], filler_acct[order]
    for d in drafts:
        d.release()

    # Organic posts: event bursts first, the rest spread over (group, hour) by each group's size and
    # the daily rhythm in its timezone.
    n_organic = config.posts - campaign_posts
    diurnal = np.array(world()["diurnal"])
    n_groups = len(config.platforms) * len(locs)
    group_w = np.array(
        [float(sampler.cumulative[g][-1]) if sampler.size(g) else 0.0 for g in range(n_groups)]
    )
    group_tz = np.array([locs[g % len(locs)].tz for g in range(n_groups)])
    utc_hour = np.arange(hours) % 24
    expected = group_w[:, None] * diurnal[(utc_hour[None, :] + group_tz[:, None]) % 24]
    ev_counts = [round(e.share * n_organic) for e in events]
    ev_t, ev_g, ev_id = [], [], []
    group_cum = np.cumsum(group_w)
    for e, (event, n) in enumerate(zip(events, ev_counts, strict=True)):
        t = event.start_us + rng.exponential(event.scale_us, size=n).astype(np.int64)
        ev_t.append(np.clip(t, start_us, end_us - 1))
        ev_g.append(
            np.minimum(np.searchsorted(group_cum, rng.random(n) * group_cum[-1], side="right"), n_groups - 1)
        )
        ev_id.append(np.full(n, e, dtype=np.int64))
    event_t = np.concatenate(ev_t) if ev_t else np.zeros(0, dtype=np.int64)
    event_group = np.concatenate(ev_g) if ev_g else np.zeros(0, dtype=np.int64)
    event_id = np.concatenate(ev_id) if ev_id else np.zeros(0, dtype=np.int64)
    order = np.lexsort((np.arange(len(event_t)), event_t))
    event_t, event_group, event_id = event_t[order], event_group[order], event_id[order]
    regular = apportion(expected, n_organic - len(event_t))

    # Chunks: runs of whole hours holding about chunk_posts posts each.
    per_hour = regular.sum(axis=0).astype(np.int64)
    for arr in (event_t, filler_t, campaign.t_us):
        per_hour += np.bincount((arr - start_us) // HOUR_US, minlength=hours)[:hours]
    chunks: list[tuple[int, int]] = []
    lo, acc = 0, 0
    for h in range(hours):
        acc += int(per_hour[h])
        if acc >= config.chunk_posts or h == hours - 1:
            chunks.append((lo, h + 1))
            lo, acc = h + 1, 0
    return _Plan(
        config, w, sampler, drafts, campaign, regular, event_t, event_group, event_id,
        filler_t, filler_acct, chunks, start_us, end_us,
    )  # fmt: skip


_OUT_FIELDS = [f for f in POSTS.schema if f.name != "extra"]
_POOL_SCHEMA = pa.schema(
    [*_OUT_FIELDS, pa.field("_t", pa.int64()), pa.field("_w", pa.float64()), pa.field("_p", pa.int8())]
)


def _piece(columns: dict[str, pa.Array], post_id: pa.Array, rows: np.ndarray) -> pa.Table:
    data = dict(columns)
    data["post_id"] = post_id
    arrays = [data[f.name] for f in _OUT_FIELDS]
    return pa.Table.from_arrays(
        [*arrays, pa.array(rows, type=pa.int64())],
        schema=pa.schema([*_OUT_FIELDS, pa.field("_row", pa.int64())]),
    )


def _slice(sorted_t: np.ndarray, t0: int, t1: int) -> slice:
    return slice(
        int(np.searchsorted(sorted_t, t0, side="left")), int(np.searchsorted(sorted_t, t1, side="left"))
    )


class _ChunkWriter:
    """Makes the posts of each chunk in time order and keeps what must carry over between chunks."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self.pool = _POOL_SCHEMA.empty_table()
        self.campaign_key = np.full(len(plan.campaign), -1, dtype=np.int64)
        self.posted = np.zeros(len(plan.world.accounts), dtype=bool)
        self.next_key = 0
        self.by_platform = np.zeros(len(plan.config.platforms), dtype=np.int64)

    def chunk(self, k: int) -> pa.Table:
        plan, w = self.plan, self.plan.world
        acc = w.accounts
        rng = _rng(plan.config.seed, _CHUNK, k)
        h0, h1 = plan.chunks[k]
        t0 = plan.start_us + h0 * HOUR_US
        t1 = plan.start_us + h1 * HOUR_US if k < len(plan.chunks) - 1 else plan.end_us + 1

        counts = plan.regular[:, h0:h1]
        g_idx, h_idx = np.nonzero(counts)
        reps = counts[g_idx, h_idx]
        reg_g = np.repeat(g_idx, reps)
        reg_t = (
            plan.start_us
            + np.repeat(h0 + h_idx, reps) * HOUR_US
            + rng.integers(0, HOUR_US, size=int(reps.sum()))
        )
        es = _slice(plan.event_t, t0, t1)
        fs = _slice(plan.filler_t, t0, t1)
        cs = _slice(plan.campaign.t_us, t0, t1)
        ev_g = plan.event_group[es]
        groups = np.concatenate([reg_g, ev_g])
        sampled = np.empty(len(groups), dtype=np.int64)
        for g in np.unique(groups):
            sel = groups == g
            sampled[sel] = plan.sampler.sample(rng, int(g), int(sel.sum()))
        n_reg, n_ev = len(reg_g), len(ev_g)
        n_fill, n_camp = fs.stop - fs.start, cs.stop - cs.start
        t = np.concatenate([reg_t, plan.event_t[es], plan.filler_t[fs], plan.campaign.t_us[cs]])
        acct = np.concatenate([sampled, plan.filler_acct[fs], plan.campaign.acct[cs]])
        event = np.concatenate([np.full(n_reg, -1), plan.event_id[es], np.full(n_fill + n_camp, -1)])
        crow = np.concatenate([np.full(n_reg + n_ev + n_fill, -1), np.arange(cs.start, cs.stop)])
        platform = acc.platform[acct]
        names = plan.config.platforms
        u = rng.random(len(t))
        reshare_p = np.array([RESHARE_P[p] for p in names])[platform]
        reply_p = np.array([REPLY_P[p] for p in names])[platform]
        reshare_p = np.where(event >= 0, reshare_p / 2, reshare_p)
        kind = np.where(u < reshare_p, 1, np.where(u < reshare_p + reply_p, 2, 0))
        kind[n_reg + n_ev :] = 0  # filler posts are originals
        kind[crow >= 0] = 3

        order = np.lexsort((np.arange(len(t)), t))
        t, acct, event, crow, kind, platform = (
            t[order],
            acct[order],
            event[order],
            crow[order],
            kind[order],
            platform[order],
        )
        n = len(t)
        keys = self.next_key + np.arange(n, dtype=np.int64)
        self.next_key += n
        pids = post_ids(names, platform, acc.account_id.take(pa.array(acct)), keys)
        camp_rows = np.flatnonzero(kind == 3)
        self.campaign_key[crow[camp_rows]] = keys[camp_rows]
        self.posted[acct] = True
        self.by_platform += np.bincount(platform, minlength=len(names))

        pieces: list[pa.Table] = []
        originals = np.flatnonzero(kind == 0)
        cols = compose_posts(w, rng, acct[originals], t[originals], event[originals])
        pieces.append(_piece(cols, pids.take(pa.array(originals)), originals))
        viral, weight = viral_rows(rng, acc, acct[originals], (min(t1, plan.end_us) - t0) / HOUR_US)
        if viral.any():
            vr = np.flatnonzero(viral)
            viral_table = pieces[-1].take(pa.array(vr)).drop_columns(["_row"])
            viral_table = viral_table.append_column("_t", pa.array(t[originals][vr], type=pa.int64()))
            viral_table = viral_table.append_column("_w", pa.array(weight[vr]))
            viral_table = viral_table.append_column("_p", pa.array(platform[originals][vr].astype(np.int8)))
            self.pool = pa.concat_tables([self.pool, viral_table.select(_POOL_SCHEMA.names)])

        if len(camp_rows):
            pieces.append(self._campaign_piece(crow[camp_rows], pids.take(pa.array(camp_rows)), camp_rows))
            self._amplify(rng, pieces[-1], t[camp_rows], platform[camp_rows], acct[camp_rows])

        shares = np.flatnonzero(kind == 1)
        replies = np.flatnonzero(kind == 2)
        share_target = pick_targets(rng, self.pool, platform[shares], t[shares], len(names))
        reply_target = pick_targets(rng, self.pool, platform[replies], t[replies], len(names))
        ok = share_target >= 0
        if ok.any():
            rows = shares[ok]
            cols = reshare_columns(w, self.pool, share_target[ok], acct[rows], t[rows])
            pieces.append(_piece(cols, pids.take(pa.array(rows)), rows))
        # Replies, and reshares that found nothing recent to reshare (they become originals).
        rest = np.concatenate([replies, shares[~ok]])
        if len(rest):
            target = np.concatenate([reply_target, np.full(int((~ok).sum()), -1)])
            mask = target < 0
            safe = pa.array(np.where(mask, 0, target), mask=mask)
            reply_to = (
                self.pool.column("post_id").combine_chunks().take(safe)
                if self.pool.num_rows
                else pa.nulls(len(rest), pa.string())
            )
            handle = (
                self.pool.column("account_handle").combine_chunks().take(safe)
                if self.pool.num_rows
                else pa.nulls(len(rest), pa.string())
            )
            cols = compose_posts(
                w, rng, acct[rest], t[rest], event[rest], reply_to=reply_to, reply_handle=handle
            )
            pieces.append(_piece(cols, pids.take(pa.array(rest)), rest))

        table = pa.concat_tables(pieces)
        table = table.sort_by("_row").drop_columns(["_row"])
        self.pool = self.pool.filter(pa.array(self.pool.column("_t").to_numpy() >= t1 - POOL_HOURS * HOUR_US))
        return table

    def _amplify(
        self, rng: np.random.Generator, piece: pa.Table, t: np.ndarray, platform: np.ndarray, acct: np.ndarray
    ) -> None:
        """Some campaign originals reach organic accounts, who reshare them like any viral post
        (organic amplification: the resharers are not coordinated, though they share campaign items)."""
        share = self.plan.config.profile.amplification
        original = np.asarray(piece.column("reshare_of").is_null())
        chosen = np.flatnonzero(original & (rng.random(len(t)) < share))
        if not len(chosen):
            return
        followers = self.plan.world.accounts.followers[acct[chosen]]
        weight = (1 + rng.pareto(1.3, size=len(chosen))) * np.log(2 + followers)
        rows = piece.take(pa.array(chosen)).drop_columns(["_row"])
        rows = rows.append_column("_t", pa.array(t[chosen], type=pa.int64()))
        rows = rows.append_column("_w", pa.array(weight))
        rows = rows.append_column("_p", pa.array(platform[chosen].astype(np.int8)))
        pool = pa.concat_tables([self.pool, rows.select(_POOL_SCHEMA.names)])
        self.pool = pool.take(pc.sort_indices(pool, [("_t", "ascending")]))

    def _campaign_piece(self, crow: np.ndarray, pid: pa.Array, rows: np.ndarray) -> pa.Table:
        camp = self.plan.campaign
        acc = self.plan.world.accounts
        cols = {
            name: camp.columns.column(name).combine_chunks().take(pa.array(crow))
            for name in camp.columns.column_names
        }
        target = camp.target[crow]
        has = target >= 0
        reshare = pa.nulls(len(crow), pa.string())
        if has.any():
            tk = self.campaign_key[target[has]]
            if (tk < 0).any():
                raise AssertionError("a campaign reshare was written before its target")
            tacct = camp.acct[target[has]]
            tid = post_ids(acc.platforms, acc.platform[tacct], acc.account_id.take(pa.array(tacct)), tk)
            idx = np.where(has, np.cumsum(has) - 1, 0)
            reshare = tid.take(pa.array(idx, mask=~has))
        cols["reshare_of"] = reshare
        return _piece(cols, pid, rows)


def generate(
    config: GeneratorConfig, out_dir: str | Path, progress: Progress | None = None
) -> GenerationSummary:
    """Write posts.parquet, accounts.parquet, labels.parquet and campaigns.json into ``out_dir``."""
    progress = progress or NoProgress()
    began = time.monotonic()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a directory")
    progress.start("planning accounts and campaigns", total=None)
    plan = _plan(config)
    progress.finish()
    writer = _ChunkWriter(plan)
    progress.start(f"generating {config.posts:,} posts", total=config.posts)
    with ParquetSink(out / "posts.parquet", POSTS) as sink:
        for k in range(len(plan.chunks)):
            table = writer.chunk(k)
            sink.write(table)
            progress.advance(table.num_rows)
    progress.finish()
    if sink.rows != config.posts:
        raise AssertionError(f"wrote {sink.rows} posts instead of {config.posts}")

    accounts = plan.world.accounts
    rows = np.flatnonzero(writer.posted)
    drafts = plan.drafts
    with ParquetSink(out / "accounts.parquet", ACCOUNTS) as acc_sink:
        acc_sink.write(accounts_table(accounts, rows))
    with ParquetSink(out / "labels.parquet", LABELS) as lab_sink:
        lab_sink.write(labels_table(accounts, rows, [d.id for d in drafts], [d.style for d in drafts]))
    campaigns = _describe_campaigns(plan, writer)
    document = {"generator": config.describe(), "campaigns": campaigns}
    tmp = out / ".campaigns.json.tmp"
    tmp.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out / "campaigns.json")
    return GenerationSummary(
        out_dir=out,
        posts=sink.rows,
        accounts=len(rows),
        campaign_accounts=int((accounts.campaign[rows] >= 0).sum()),
        campaign_posts=sum(int(c["posts"]) for c in campaigns),  # type: ignore[call-overload]
        chunks=len(plan.chunks),
        seconds=time.monotonic() - began,
        posts_by_platform={p: int(n) for p, n in zip(config.platforms, writer.by_platform, strict=True)},
        campaigns=campaigns,
    )


def _iso(t_us: int) -> str:
    return str(np.datetime64(int(t_us), "us").astype("datetime64[ms]")) + "Z"


def _describe_campaigns(plan: _Plan, writer: _ChunkWriter) -> list[dict[str, object]]:
    acc = plan.world.accounts
    out: list[dict[str, object]] = []
    for i, d in enumerate(plan.drafts):
        rows = plan.campaign.draft_rows[i]
        t = plan.campaign.t_us[rows]
        items = {k: list(v) for k, v in d.items.items()}
        if d.seed_posts:
            seed_rows = rows[np.array(d.seed_posts)]
            seed_acct = plan.campaign.acct[seed_rows]
            ids = post_ids(
                acc.platforms,
                acc.platform[seed_acct],
                acc.account_id.take(pa.array(seed_acct)),
                writer.campaign_key[seed_rows],
            )
            items["post_ids"] = ids.to_pylist()
        platforms = sorted({acc.platforms[p] for p in d.member_platform})
        out.append(
            {
                "id": d.id,
                "style": d.style,
                "summary": STYLES[d.style].summary,
                "platforms": platforms,
                "accounts": len(d.member_platform),
                "posts": d.coordinated_count + d.filler_count,
                "coordinated_posts": d.coordinated_count,
                "first_post": _iso(int(t.min())) if len(t) else None,
                "last_post": _iso(int(t.max())) if len(t) else None,
                "items": items,
                "params": d.params,
            }
        )
    return out
