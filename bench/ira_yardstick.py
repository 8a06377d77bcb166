"""The three-trace yardstick of ``../shared/data/ira-2017/README.md``, written from its description.

Co-hashtag and co-URL within 60 s, plus co-retweet of the same text (any time apart: the archive's
retweets carry no id, so "the same text" is the retweet key `vigil ingest` derives from the text),
account pairs with weight >= 2 (weight: distinct items the pair shares over the three traces),
communities by Leiden with the modularity objective (igraph, seeded). Every community counts: the
yardstick has no score or size filter. Used by bench/detect_ira.py beside Vigil's defaults.
"""

from __future__ import annotations

import random

import duckdb
import igraph as ig

WINDOW_S = 60
MIN_WEIGHT = 2


def yardstick_communities(posts: str, *, seed: int = 42) -> dict[str, set[str]]:
    """Communities (id -> ``platform:account_id`` members) of the yardstick on a posts file."""
    con = duckdb.connect()
    path = posts.replace("'", "''")
    con.execute(
        f"""
        CREATE TEMP TABLE ev AS
        SELECT platform || ':' || account_id AS a, 'h:' || h AS item, epoch(created_at) AS ts, {WINDOW_S} AS w
        FROM (SELECT platform, account_id, unnest(hashtags) AS h, created_at FROM read_parquet('{path}'))
        UNION ALL
        SELECT platform || ':' || account_id, 'u:' || coalesce(u.canonical, u.url),
               epoch(created_at), {WINDOW_S}
        FROM (SELECT platform, account_id, unnest(urls) AS u, created_at FROM read_parquet('{path}'))
        UNION ALL
        SELECT platform || ':' || account_id, 'r:' || reshare_of, epoch(created_at), 1e15
        FROM read_parquet('{path}') WHERE reshare_of IS NOT NULL
        """
    )
    rows = con.execute(
        f"""
        SELECT x.a, y.a, count(DISTINCT x.item) AS weight
        FROM ev AS x JOIN ev AS y ON x.item = y.item AND x.a < y.a AND abs(x.ts - y.ts) <= x.w
        GROUP BY 1, 2 HAVING count(DISTINCT x.item) >= {MIN_WEIGHT}
        ORDER BY 1, 2
        """
    ).fetchall()
    con.close()
    names = sorted({r[0] for r in rows} | {r[1] for r in rows})
    index = {name: i for i, name in enumerate(names)}
    graph = ig.Graph(n=len(names), edges=[(index[a], index[b]) for a, b, _ in rows])
    graph.es["weight"] = [float(w) for _, _, w in rows]
    ig.set_random_number_generator(random.Random(seed))
    try:
        clusters = graph.community_leiden(objective_function="modularity", weights="weight", n_iterations=-1)
    finally:
        ig.set_random_number_generator(random)
    communities: dict[str, set[str]] = {}
    for vertex, community in enumerate(clusters.membership):
        communities.setdefault(f"yardstick-{community}", set()).add(names[vertex])
    return communities
