"""Co-text traces: accounts posting the same text (``co_text_exact``) or near-duplicates (``co_text_near``).

Pipeline (docs/detection-content.md has the parameters and measured figures):

1. **normalize** (streaming, one batch of posts at a time): :func:`vigil.ingest.text.normalize_texts`;
   texts with fewer than ``min_tokens`` tokens are dropped (too generic to mean coordination).
2. **exact** (fast path, SQL): posts are grouped by normal form; each distinct text gets an ``xid``
   in first-seen order and the item ``txt:<first 16 hex of md5(normal form)>``. Identical copies
   cost one row in the next steps, however many accounts posted them.
3. **near** (only distinct texts): per time bucket (with the previous bucket carried over), word
   shingles -> MinHash -> LSH candidates -> exact Jaccard >= ``near_threshold`` -> clusters
   (:mod:`vigil.detect.similarity.clusters`, leader clustering by default: connected components
   chained generic template phrases into one item of 68,243 posts on 1M generated posts, where
   leaders' largest item has 613). A near item is named after its representative (the earliest
   text of the cluster): ``txt:<md5 of the representative>``.

Events are emitted only for items that at least ``min_accounts`` distinct accounts acted on.
``co_text_near`` only has items with at least two distinct texts: identical copies alone are
``co_text_exact``'s, so the two traces do not repeat each other's single-variant items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.core.errors import InputError
from vigil.core.progress import NoProgress, Progress
from vigil.detect.similarity.clusters import ClusterPolicy, cluster
from vigil.detect.similarity.minhash import (
    MinHashParams,
    ShingleSets,
    jaccard,
    lsh_candidates,
    shingle_sets,
    signatures,
)
from vigil.detect.traces.base import ACCOUNT_SQL, TS_SQL
from vigil.detect.traces.content import (
    DEFAULT_BUCKET_SECONDS,
    DEFAULT_CONTENT_WINDOW,
    ContentTrace,
    Timer,
    check_bucket,
    iter_buckets,
    register_trace,
    stream_to_table,
)
from vigil.detect.window import WindowPolicy
from vigil.ingest.text import MIN_TOKENS, normalize_texts, token_counts

CO_TEXT_EXACT = "co_text_exact"
CO_TEXT_NEAR = "co_text_near"

# Temporary tables: normalized posts, distinct texts, distinct texts per bucket, text -> group.
POSTS_TABLE = "_vg_txt_posts"
TEXTS_TABLE = "_vg_txt_x"
BUCKETS_TABLE = "_vg_txt_xb"
GROUPS_TABLE = "_vg_txt_group"
# Members scored per slice in the near trace (bounds memory on large groups).
_SCORE_SLICE = 200_000

_NORMALIZED = pa.schema(
    [
        ("platform", pa.string()),
        ("post_id", pa.string()),
        ("account", pa.string()),
        ("ts", pa.float64()),
        ("lang", pa.string()),
        ("norm", pa.string()),
    ]
)


@dataclass(frozen=True)
class TextTraceParams:
    """Knobs of the co-text traces (see the module docstring and docs/detection-content.md)."""

    min_tokens: int = MIN_TOKENS
    fold_accents: bool = True
    near_threshold: float = 0.6
    minhash: MinHashParams = field(default_factory=MinHashParams)
    clustering: ClusterPolicy = "leader"
    bucket_seconds: float = DEFAULT_BUCKET_SECONDS
    batch_rows: int = 100_000
    min_accounts: int = 2
    include_reshares: bool = False
    window: WindowPolicy = DEFAULT_CONTENT_WINDOW
    temp_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.min_tokens < 1:
            raise InputError(f"min_tokens must be >= 1, not {self.min_tokens!r}")
        if not 0.0 < self.near_threshold <= 1.0:
            raise InputError(f"near_threshold must be in (0, 1], not {self.near_threshold!r}")
        if self.min_accounts < 2:
            raise InputError(f"min_accounts must be >= 2, not {self.min_accounts!r}")
        if self.batch_rows < 1:
            raise InputError(f"batch_rows must be >= 1, not {self.batch_rows!r}")
        if self.clustering not in ("components", "leader"):
            raise InputError(f"clustering must be 'components' or 'leader', not {self.clustering!r}")
        check_bucket(self.bucket_seconds)


def _scalar(con: duckdb.DuckDBPyConnection, query: str) -> Any:
    rows = con.execute(query).fetchall()
    return rows[0][0] if rows else None


def prepare_texts(
    con: duckdb.DuckDBPyConnection,
    params: TextTraceParams | None = None,
    *,
    posts: str = "posts",
    progress: Progress | None = None,
) -> dict[str, float]:
    """Normalize the posts' texts and group exact duplicates (steps 1-2) into temporary tables.

    Creates ``_vg_txt_x (xid, norm, first_ts, n_posts, n_accounts, item)`` and
    ``_vg_txt_posts (platform, post_id, account, ts, lang, xid, bucket)``; returns counts and timings.
    """
    params = params or TextTraceParams()
    progress = progress or NoProgress()
    timer = Timer()
    # A reshare carries the original's text: co-resharing is its own trace, so by default reshares
    # are left out here (as the co-link trace leaves out their URLs).
    where = "text IS NOT NULL" if params.include_reshares else "text IS NOT NULL AND reshare_of IS NULL"
    total = _scalar(con, f"SELECT count(*) FROM {posts} WHERE {where}")
    progress.start("normalizing texts", total=float(total or 0))

    def transform(batch: pa.RecordBatch) -> pa.Table:
        norm = normalize_texts(batch.column("text"), fold_accents=params.fold_accents)
        keep = pc.greater_equal(token_counts(norm), params.min_tokens)
        columns = [batch.column(name) for name in _NORMALIZED.names[:-1]]
        progress.advance(batch.num_rows)
        return pa.Table.from_arrays([*columns, norm], schema=_NORMALIZED).filter(keep)

    query = (
        f"SELECT platform, post_id, {ACCOUNT_SQL} AS account, {TS_SQL} AS ts, lang, text "
        f"FROM {posts} WHERE {where}"
    )
    kept = stream_to_table(
        con,
        query,
        "_vg_txt_raw",
        transform,
        _NORMALIZED,
        batch_rows=params.batch_rows,
        temp_dir=params.temp_dir,
    )
    progress.finish()
    timer.lap("normalize")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {TEXTS_TABLE} AS
        SELECT (row_number() OVER (ORDER BY first_ts, norm) - 1)::BIGINT AS xid, norm, first_ts,
               n_posts, n_accounts, 'txt:' || substr(md5(norm), 1, 16) AS item
        FROM (SELECT norm, min(ts) AS first_ts, count(*) AS n_posts, count(DISTINCT account) AS n_accounts
              FROM _vg_txt_raw GROUP BY norm)
        ORDER BY xid
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {POSTS_TABLE} AS
        SELECT r.platform, r.post_id, r.account, r.ts, r.lang, x.xid,
               floor(r.ts / {params.bucket_seconds!r})::BIGINT AS bucket
        FROM _vg_txt_raw AS r JOIN {TEXTS_TABLE} AS x USING (norm)
        """
    )
    con.execute("DROP TABLE IF EXISTS _vg_txt_raw")
    timer.lap("exact")
    distinct = _scalar(con, f"SELECT count(*) FROM {TEXTS_TABLE}")
    return {
        "posts_with_text": float(total or 0),
        "posts_kept": float(kept),
        "distinct_texts": float(distinct or 0),
        **timer.seconds,
    }


def co_text_exact(con: duckdb.DuckDBPyConnection, params: TextTraceParams | None = None) -> ContentTrace:
    """The exact-duplicate trace from the tables of :func:`prepare_texts`."""
    params = params or TextTraceParams()
    timer = Timer()
    members = con.sql(
        f"""
        SELECT '{CO_TEXT_EXACT}' AS trace, x.item, p.platform, p.post_id, p.account, p.ts,
               x.norm AS key, x.norm AS representative, 'exact' AS measure, 1.0::DOUBLE AS score
        FROM {POSTS_TABLE} AS p JOIN {TEXTS_TABLE} AS x USING (xid)
        WHERE x.n_accounts >= {int(params.min_accounts)}
        ORDER BY x.item, p.ts, p.platform, p.post_id
        """
    ).to_arrow_table()
    events = members.select(["trace", "account", "platform", "post_id", "item", "ts"])
    timer.lap("events")
    stats = {
        "items": float(pc.count_distinct(members.column("item")).as_py()),
        "events": float(members.num_rows),
        **timer.seconds,
    }
    return register_trace(
        con,
        CO_TEXT_EXACT,
        "same normalized text (at least min_tokens tokens) posted within the window",
        events,
        members,
        stats,
        window=params.window,
    )


@dataclass
class _Chunk:
    """Distinct texts of one bucket with their shingles and signatures (carried to the next bucket)."""

    bucket: int
    xids: np.ndarray[Any, np.dtype[np.int64]]
    sets: ShingleSets
    sigs: np.ndarray[Any, np.dtype[np.uint32]]


def _subset(sets: ShingleSets, rows: np.ndarray[Any, np.dtype[np.int64]]) -> ShingleSets:
    sizes = sets.sizes[rows]
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    if len(rows) == 0:
        return ShingleSets(offsets, sets.values[:0])
    pieces = [sets.values[sets.offsets[r] : sets.offsets[r + 1]] for r in rows.tolist()]
    return ShingleSets(offsets, np.concatenate(pieces))


def _concat(first: ShingleSets, second: ShingleSets) -> ShingleSets:
    offsets = np.concatenate([first.offsets, second.offsets[1:] + first.offsets[-1]])
    return ShingleSets(offsets, np.concatenate([first.values, second.values]))


def near_pairs(
    con: duckdb.DuckDBPyConnection, params: TextTraceParams
) -> tuple[
    np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, Any], int
]:
    """Verified near-duplicate pairs of distinct texts (xid_a < xid_b, Jaccard), bucket by bucket.

    Returns the pairs and the number of LSH candidate pairs that were checked.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {BUCKETS_TABLE} AS
        SELECT b.bucket, b.xid, x.norm
        FROM (SELECT DISTINCT bucket, xid FROM {POSTS_TABLE}) AS b JOIN {TEXTS_TABLE} AS x USING (xid)
        ORDER BY b.bucket, b.xid
        """
    )
    found_a: list[np.ndarray[Any, np.dtype[np.int64]]] = []
    found_b: list[np.ndarray[Any, np.dtype[np.int64]]] = []
    found_s: list[np.ndarray[Any, Any]] = []
    candidates = 0
    prev: _Chunk | None = None
    for bucket, rows in iter_buckets(con, BUCKETS_TABLE, "xid, norm", "xid"):
        xids = rows.column("xid").to_numpy().astype(np.int64)
        if prev is not None and prev.bucket != bucket - 1:
            prev = None
        if prev is None:
            new_rows = np.arange(len(xids), dtype=np.int64)
            old_xids = np.zeros(0, dtype=np.int64)
        else:
            new_rows = np.flatnonzero(~np.isin(xids, prev.xids)).astype(np.int64)
            old_xids = prev.xids
        new_sets = shingle_sets(rows.column("norm").take(pa.array(new_rows)), params.minhash.shingle_size)
        new_sigs = signatures(new_sets, params.minhash)
        if prev is None:
            union_xids, union_sets, union_sigs = xids[new_rows], new_sets, new_sigs
        else:
            union_xids = np.concatenate([old_xids, xids[new_rows]])
            union_sets = _concat(prev.sets, new_sets)
            union_sigs = np.vstack([prev.sigs, new_sigs])
        a, b = lsh_candidates(union_sigs, params.minhash)
        # Pairs of two carried-over texts were checked with the previous bucket.
        fresh = b >= len(old_xids)
        a, b = a[fresh], b[fresh]
        candidates += len(a)
        sim = jaccard(union_sets, a, b)
        keep = sim >= params.near_threshold
        xa, xb = union_xids[a[keep]], union_xids[b[keep]]
        found_a.append(np.minimum(xa, xb))
        found_b.append(np.maximum(xa, xb))
        found_s.append(sim[keep])
        # Carry this bucket's texts (old ones included) to the next bucket.
        position = {int(x): i for i, x in enumerate(union_xids.tolist())}
        rows_in_union = np.array([position[int(x)] for x in xids.tolist()], dtype=np.int64)
        prev = _Chunk(bucket, xids, _subset(union_sets, rows_in_union), union_sigs[rows_in_union])
    con.execute(f"DROP TABLE IF EXISTS {BUCKETS_TABLE}")
    if not found_a:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), np.zeros(0), candidates
    return np.concatenate(found_a), np.concatenate(found_b), np.concatenate(found_s), candidates


def co_text_near(
    con: duckdb.DuckDBPyConnection,
    params: TextTraceParams | None = None,
    *,
    progress: Progress | None = None,
) -> ContentTrace:
    """The near-duplicate trace from the tables of :func:`prepare_texts`.

    Also leaves ``_vg_txt_group (xid, gid)`` on ``con``: every distinct text's near-duplicate group
    (``gid`` = the representative's xid), which the cross-lingual trace starts from.
    """
    params = params or TextTraceParams()
    progress = progress or NoProgress()
    timer = Timer()
    n_texts = int(_scalar(con, f"SELECT count(*) FROM {TEXTS_TABLE}") or 0)
    progress.start("near-duplicate texts", total=None)
    a, b, sim, candidates = near_pairs(con, params)
    timer.lap("lsh")
    labels = cluster(n_texts, a, b, 1.0 - sim, params.clustering)
    con.register("_vg_txt_labels", pa.table({"xid": np.arange(n_texts, dtype=np.int64), "gid": labels}))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {GROUPS_TABLE} AS SELECT * FROM _vg_txt_labels")
    con.unregister("_vg_txt_labels")
    # Groups of at least two distinct texts that enough accounts posted: the trace's items.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _vg_txt_near AS
        WITH multi AS (SELECT gid FROM {GROUPS_TABLE} GROUP BY gid HAVING count(*) >= 2),
             ok AS (SELECT g.gid FROM {POSTS_TABLE} AS p JOIN {GROUPS_TABLE} AS g USING (xid)
                    WHERE g.gid IN (SELECT gid FROM multi) GROUP BY g.gid
                    HAVING count(DISTINCT p.account) >= {int(params.min_accounts)})
        SELECT row_number() OVER (ORDER BY g.xid) AS rn, g.xid, g.gid
        FROM {GROUPS_TABLE} AS g WHERE g.gid IN (SELECT gid FROM ok)
        ORDER BY rn
        """
    )
    # Score each member against its representative (exact Jaccard), a slice at a time so that only
    # one slice's texts and shingles are in memory.
    n_members = int(_scalar(con, "SELECT count(*) FROM _vg_txt_near") or 0)
    score_parts: list[pa.Table] = []
    for lo in range(0, n_members, _SCORE_SLICE):
        rows = con.sql(
            f"""
            SELECT n.xid, x.norm, r.norm AS rep_norm FROM _vg_txt_near AS n
            JOIN {TEXTS_TABLE} AS x ON x.xid = n.xid JOIN {TEXTS_TABLE} AS r ON r.xid = n.gid
            WHERE n.rn > {lo} AND n.rn <= {lo + _SCORE_SLICE}
            """
        ).to_arrow_table()
        both = pa.concat_arrays(
            [rows.column("norm").combine_chunks(), rows.column("rep_norm").combine_chunks()]
        )
        sets = shingle_sets(both, params.minhash.shingle_size)
        k = rows.num_rows
        scores = jaccard(sets, np.arange(k, dtype=np.int64), np.arange(k, 2 * k, dtype=np.int64))
        score_parts.append(pa.table({"xid": rows.column("xid"), "score": pa.array(scores, pa.float64())}))
    scored = (
        pa.concat_tables(score_parts)
        if score_parts
        else pa.table({"xid": pa.array([], pa.int64()), "score": pa.array([], pa.float64())})
    )
    con.register("_vg_txt_scores", scored)
    members = con.sql(
        f"""
        SELECT '{CO_TEXT_NEAR}' AS trace, r.item, p.platform, p.post_id, p.account, p.ts, x.norm AS key,
               r.norm AS representative, 'jaccard' AS measure, s.score
        FROM {POSTS_TABLE} AS p JOIN _vg_txt_near AS n USING (xid)
        JOIN _vg_txt_scores AS s ON s.xid = n.xid
        JOIN {TEXTS_TABLE} AS x ON x.xid = n.xid JOIN {TEXTS_TABLE} AS r ON r.xid = n.gid
        ORDER BY r.item, p.ts, p.platform, p.post_id
        """
    ).to_arrow_table()
    con.unregister("_vg_txt_scores")
    con.execute("DROP TABLE IF EXISTS _vg_txt_near")
    events = members.select(["trace", "account", "platform", "post_id", "item", "ts"])
    timer.lap("events")
    progress.finish()
    stats = {
        "distinct_texts": float(n_texts),
        "candidate_pairs": float(candidates),
        "similar_pairs": float(len(a)),
        "items": float(pc.count_distinct(members.column("item")).as_py()),
        "events": float(members.num_rows),
        **timer.seconds,
    }
    return register_trace(
        con,
        CO_TEXT_NEAR,
        f"near-duplicate texts (word {params.minhash.shingle_size}-shingle Jaccard >= "
        f"{params.near_threshold}) posted within the window",
        events,
        members,
        stats,
        window=params.window,
    )


def text_traces(
    con: duckdb.DuckDBPyConnection,
    params: TextTraceParams | None = None,
    *,
    posts: str = "posts",
    progress: Progress | None = None,
) -> tuple[ContentTrace, ContentTrace, dict[str, float]]:
    """Both co-text traces from the ``posts`` view, plus the preparation's counts and timings."""
    params = params or TextTraceParams()
    prepared = prepare_texts(con, params, posts=posts, progress=progress)
    return co_text_exact(con, params), co_text_near(con, params, progress=progress), prepared
