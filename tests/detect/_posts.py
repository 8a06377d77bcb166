"""A small posts table with two planted groups and organic background, for pipeline tests that must
not wait for the data generator."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from vigil.schema.tables import POSTS, conform

START = datetime(2024, 3, 1, tzinfo=UTC)


def _url(u: str) -> list[dict[str, Any]]:
    domain = u.split("/")[2]
    return [{"url": u, "canonical": u, "domain": domain, "is_shortener": False}]


def small_posts(seed: int = 7, organic: int = 150) -> tuple[pa.Table, dict[str, set[str]]]:
    """Posts and the planted groups (name -> accounts)."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    n = 0

    def post(platform: str, account: str, when: datetime, **fields: Any) -> str:
        nonlocal n
        n += 1
        pid = f"p{n}"
        rows.append(
            {
                "platform": platform,
                "post_id": pid,
                "account_id": account,
                "created_at": when,
                "lang": "en",
                **fields,
            }
        )
        return pid

    links = {f"tw:l{i}" for i in range(6)}
    for k in range(5):
        t = START + timedelta(hours=10 * k + 1)
        for i, acct in enumerate(sorted(links)):
            url = f"https://fresh-news{k}.example/story/{k}"
            post(
                "tw",
                acct.split(":")[1],
                t + timedelta(seconds=7 * i),
                text=f"Must read {k} {url}",
                urls=_url(url),
            )
    ring = {f"fb:r{i}" for i in range(5)}
    for k in range(4):
        origin = post("fb", "seed", START + timedelta(hours=7 * k + 3), text=f"Original claim number {k}")
        for i, acct in enumerate(sorted(ring)):
            post(
                "fb",
                acct.split(":")[1],
                START + timedelta(hours=7 * k + 3, seconds=20 + 9 * i),
                text=f"Original claim number {k}",
                lang="de",
                reshare_of=origin,
            )
    popular = [f"https://bignews.example/a/{j}" for j in range(300)]
    for i in range(organic):
        for _ in range(rng.randint(3, 12)):
            when = START + timedelta(seconds=rng.uniform(0, 7 * 86400))
            url = rng.choice(popular)
            post("tw", f"o{i}", when, text=f"reading {url}", urls=_url(url))
    table = conform(pa.Table.from_pylist(rows, schema=POSTS.schema), POSTS)
    return table, {"links": links, "ring": ring}
