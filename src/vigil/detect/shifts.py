"""Join communities that are one operation working in shifts (see docs/detection.md, "Shifts").

Every trace pairs accounts that act *at about the same time*, so an operation that runs one cohort
of accounts for months and then a fresh cohort (after suspensions, or by design) falls apart into
one community per cohort: no co-action can tie accounts that were never active together. On the IRA
2017 archive the right-wing persona came out as a January-May and a June-October community with 12
edges between them, fewer than either has with the left-wing persona active in the same months.

What the cohorts keep is their *standing vocabulary*: the hashtags an operation uses all year long,
as opposed to the news of the week. So, over the candidate communities:

1. each community's **active period** is the 10th-90th percentile of its members' post times; two
   communities are *in shifts* when those periods do not overlap (the graph could not have tied them);
2. a hashtag's **persistence** is the share of the run's time bins (``TIME_BINS`` equal slices of
   the whole run) in which anyone uses it; an account's profile is ``log(1 + uses) x persistence``
   per hashtag, L2-normalised, and a community's the normalised sum of its members';
3. the **null** is the highest profile similarity (cosine) between two communities active at the
   same time: the graph saw those together and kept them apart, so that is how alike separate
   groups can be in this data;
4. communities in shifts whose similarity exceeds the null are merged (transitively).

Nothing is merged when no two communities overlap (no null to compare with) or when no profiles
exist (no hashtags); periods that overlap never merge here (that is the graph's job).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from scipy import sparse

from vigil.detect.duck import PostsSource, connect, register_posts

TIME_BINS = 20  # the run's span cut into this many slices to measure a hashtag's persistence
PERIOD_QUANTILES = (0.1, 0.9)  # a community's active period, robust to a few stray posts


@dataclass(frozen=True)
class ShiftReport:
    """What the shift step saw: how many candidate communities, the null, the pairs merged."""

    communities: int
    null_similarity: float | None
    merged_pairs: tuple[tuple[int, int, float], ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "shift_communities": self.communities,
            "shift_null_similarity": None if self.null_similarity is None else round(self.null_similarity, 4),
            "shift_merges": len(self.merged_pairs),
        }


def _profiles(
    con: duckdb.DuckDBPyConnection,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per community: its active period (lo, hi); and the community-pair cosine similarities."""
    # Members are joined on (platform, account_id) rather than on their "platform:account_id"
    # names, so the posts' two columns are not concatenated a million times.
    con.execute(
        """
        CREATE TEMP TABLE _vg_sh_posts AS
        SELECT m.community, m.account, epoch_us(p.created_at) / 1e6 AS ts, p.hashtags
        FROM posts AS p JOIN _vg_sh_members AS m
        ON m.platform = p.platform AND m.account_id = p.account_id
        """
    )
    period = con.sql(
        f"""
        SELECT community, quantile_cont(ts, {PERIOD_QUANTILES[0]}), quantile_cont(ts, {PERIOD_QUANTILES[1]})
        FROM _vg_sh_posts GROUP BY community ORDER BY community
        """
    ).to_arrow_table()
    comm = period.column(0).to_numpy().astype(np.int64)
    lo = period.column(1).to_numpy().astype(np.float64)
    hi = period.column(2).to_numpy().astype(np.float64)
    # Persistence over the whole run (every account's posts: a hashtag's life is not the members' alone).
    profile = con.sql(
        f"""
        WITH tagged AS (
            SELECT epoch_us(created_at) AS t, unnest(hashtags) AS tag
            FROM posts WHERE array_length(hashtags) > 0
        ),
        used AS (
            SELECT tag, least({TIME_BINS - 1}, floor({TIME_BINS} * (t - t0) / greatest(1, t1 - t0))) AS bin
            FROM tagged, (SELECT min(t) AS t0, max(t) AS t1 FROM tagged)
        ),
        persistence AS (SELECT tag, count(DISTINCT bin) / {TIME_BINS}.0 AS w FROM used GROUP BY tag),
        uses AS (
            SELECT community, account, tag, count(*) AS n
            FROM (SELECT community, account, unnest(hashtags) AS tag FROM _vg_sh_posts
                  WHERE array_length(hashtags) > 0)
            GROUP BY ALL
        ),
        raw AS (SELECT u.community, u.account, u.tag, ln(1 + u.n) * s.w AS v
                FROM uses AS u JOIN persistence AS s USING (tag)),
        account_vec AS (
            SELECT community, account, tag, v / sqrt(sum(v * v) OVER (PARTITION BY account)) AS v FROM raw
        ),
        summed AS (SELECT community, tag, sum(v) AS v FROM account_vec GROUP BY ALL),
        profile AS (
            SELECT community, tag, v / sqrt(sum(v * v) OVER (PARTITION BY community)) AS v FROM summed
        )
        SELECT community, dense_rank() OVER (ORDER BY tag) - 1 AS tag, v FROM profile
        """
    ).to_arrow_table()
    # The cosines of every pair of community profiles as one sparse product (communities x
    # hashtags), not a self-join on hashtags whose rows (a popular hashtag pairs every community
    # using it) were fetched into Python one tuple at a time: ~5 s of CPU at 1M generated posts.
    index = np.full(int(comm.max()) + 1 if len(comm) else 0, -1, dtype=np.int64)
    index[comm] = np.arange(len(comm))
    rows = index[profile.column("community").to_numpy().astype(np.int64)]
    tags = profile.column("tag").to_numpy().astype(np.int64)
    n_tags = int(tags.max()) + 1 if len(tags) else 0
    matrix = sparse.csr_matrix(
        (profile.column("v").to_numpy().astype(np.float64), (rows, tags)), shape=(len(comm), n_tags)
    )
    sim = np.asarray((matrix @ matrix.T).todense(), dtype=np.float64)
    np.fill_diagonal(sim, 0.0)
    return comm, lo, hi, sim


def merge_shifts(
    posts: PostsSource, names: list[str], membership: np.ndarray, min_size: int
) -> tuple[np.ndarray, ShiftReport]:
    """Merge communities (of at least ``min_size`` accounts) that are shifts of one operation."""
    sizes = np.bincount(membership) if len(membership) else np.zeros(0, dtype=np.int64)
    chosen = np.flatnonzero(sizes[membership] >= min_size) if len(membership) else np.zeros(0, np.int64)
    n_comms = len(np.unique(membership[chosen]))
    if n_comms < 3:  # two communities cannot give a null from a third pair
        return membership, ShiftReport(n_comms, None, ())
    con = connect()  # the run's memory limit, threads and spill directory
    try:
        register_posts(con, posts)
        # Names are "platform:account_id" (vigil.detect.traces.base.ACCOUNT_SQL). A row per ':' of
        # a name (either part may hold one): only the split at the post's own platform matches it.
        rows: list[tuple[str, str, str, int]] = []
        for i, community in zip(chosen.tolist(), membership[chosen].tolist(), strict=True):
            name = names[i]
            at = name.find(":")
            while at >= 0:
                rows.append((name, name[:at], name[at + 1 :], community))
                at = name.find(":", at + 1)
        account, platform, account_id, community = zip(*rows, strict=True) if rows else ((), (), (), ())
        con.register(
            "_vg_sh_members",
            pa.table(
                {
                    "account": pa.array(account, pa.string()),
                    "platform": pa.array(platform, pa.string()),
                    "account_id": pa.array(account_id, pa.string()),
                    "community": pa.array(community, pa.int64()),
                }
            ),
        )
        comm, lo, hi, sim = _profiles(con)
    finally:
        con.close()
    if len(comm) < 3:
        return membership, ShiftReport(len(comm), None, ())
    apart = (hi[:, None] < lo[None, :]) | (hi[None, :] < lo[:, None])
    upper = np.triu(np.ones_like(apart), k=1)
    together = ~apart & upper
    if not together.any():
        return membership, ShiftReport(len(comm), None, ())
    null = float(sim[together].max())
    parent = list(range(len(comm)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    merged: list[tuple[int, int, float]] = []
    for i, j in zip(*np.nonzero(apart & upper & (sim > null)), strict=True):
        merged.append((int(comm[i]), int(comm[j]), float(sim[i, j])))
        parent[root(int(j))] = root(int(i))
    if not merged:
        return membership, ShiftReport(len(comm), null, ())
    out = membership.copy()
    target = {int(comm[i]): int(comm[root(i)]) for i in range(len(comm))}
    for c, t in target.items():
        if c != t:
            out[membership == c] = t
    dense = np.unique(out, return_inverse=True)[1].astype(np.int64)
    return dense, ShiftReport(len(comm), null, tuple(merged))


def local_posts(source: PostsSource) -> PostsSource | None:
    """``source`` when this machine can read it (an Arrow table, or Parquet paths that exist), else
    None (a cluster URI under Spark): the shift step then does not run."""
    if isinstance(source, pa.Table):
        return source
    given = [source] if isinstance(source, str | Path) else list(source)
    return source if given and all(Path(p).exists() for p in given) else None
