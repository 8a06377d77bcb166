"""``generate``: plan a labelled data set, then stream it to Parquet chunk by chunk.

Planning (synth/plan.py: accounts, link/hashtag/meme pools, events, campaigns, how many organic
posts each hour and group gets) is small; posts are then made in chunks of whole hours (about
``chunk_posts`` each, synth/chunks.py), so memory stays bounded whatever the size. Every random
draw comes from a generator seeded by (seed, stream, index), so equal parameters give
byte-identical files.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from vigil.core.errors import InputError
from vigil.core.progress import NoProgress, Progress
from vigil.schema.io import ParquetSink
from vigil.schema.tables import ACCOUNTS, LABELS, POSTS
from vigil.synth.campaigns import STYLES
from vigil.synth.chunks import ChunkWriter
from vigil.synth.config import GeneratorConfig
from vigil.synth.plan import Plan, make_plan
from vigil.synth.population import accounts_table, labels_table
from vigil.synth.postids import post_ids


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
    plan = make_plan(config)
    progress.finish()
    writer = ChunkWriter(plan)
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


def _describe_campaigns(plan: Plan, writer: ChunkWriter) -> list[dict[str, object]]:
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
