"""Co-text traces: accounts posting the same text (``co_text_exact``) or near-duplicates (``co_text_near``).

Pipeline (docs/detection-content.md has the parameters and measured figures):

1. **normalize** (streaming, one batch of posts at a time): :func:`vigil.ingest.text.normalize_texts`
   in one compiled loop (:func:`vigil.detect.traces.text_normal.normalize_texts_compiled`, same output);
   texts with fewer than ``min_tokens`` tokens are dropped (too generic to mean coordination).
2. **exact** (fast path, SQL): posts are grouped by normal form; each distinct text gets an ``xid``
   in first-seen order and the item ``sha256(normal form)``: the ``text_exact`` signal value
   (:mod:`vigil.signals.text_exact`), so an exact-text item can be shared as it is. Identical copies
   cost one row in the next steps, however many accounts posted them.
3. **near** (only distinct texts): per time bucket (with the previous bucket carried over), word
   shingles -> MinHash -> LSH candidates -> exact Jaccard >= ``near_threshold`` -> clusters
   (:mod:`vigil.detect.similarity.clusters`, leader clustering by default: connected components
   chained generic template phrases into one item of 68,243 posts on 1M generated posts, where
   leaders' largest item has 613). A near item is named after its representative (the earliest
   text of the cluster): the representative's ``text_exact`` value.

Events are emitted only for items that at least ``min_accounts`` distinct accounts acted on.
``co_text_near`` only has items with at least two distinct texts: identical copies alone are
``co_text_exact``'s, so the two traces do not repeat each other's single-variant items.

Memory is bounded by one batch of posts, one pair of time buckets and DuckDB's ``memory_limit``,
not by the number of posts: normalized posts are spooled to Parquet and grouped by DuckDB from
disk; per bucket only shingle sets and LSH band keys (never a full signature matrix) are held,
and verified pairs go to a DuckDB table at once; the leader clustering reads the pairs back
sorted, a batch at a time; events and members stay in DuckDB as views, materialized on demand.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vigil.core.errors import InputError
from vigil.core.progress import NoProgress, Progress
from vigil.detect.duck import spool_dir
from vigil.detect.similarity.clusters import ClusterPolicy, leader_clusters_scored
from vigil.detect.similarity.minhash import (
    F64,
    I64,
    U64,
    MinHashParams,
    ShingleSets,
    concat_sets,
    decode_pairs,
    jaccard,
    lsh_pairs,
    shingle_sets,
    sketch,
    subset,
)
from vigil.detect.traces.base import ACCOUNT_SQL, TS_SQL
from vigil.detect.traces.content import (
    DEFAULT_BUCKET_SECONDS,
    DEFAULT_CONTENT_WINDOW,
    PAIR_BATCH,
    ContentTrace,
    Timer,
    check_bucket,
    cluster_pair_relation,
    register_trace_sql,
    stream_to_parquet,
)
from vigil.detect.traces.text_normal import normalize_texts_compiled
from vigil.detect.window import WindowPolicy
from vigil.ingest.duck import sql_string
from vigil.ingest.text import MIN_TOKENS, token_counts

CO_TEXT_EXACT = "co_text_exact"
CO_TEXT_NEAR = "co_text_near"

# Temporary tables on the connection (kept compact: strings once per distinct text or post):
# distinct texts (xid, norm, n_accounts); accounts (aid, account, platform); posts (post_id, aid,
# ts, xid); the bucket size used (one row); every distinct text's near-duplicate group (xid, gid);
# the traces' items (exact: xid, item; near: xid, gid, item, score).
TEXTS_TABLE = "_vg_txt_x"
ACCOUNTS_TABLE = "_vg_txt_accounts"
POSTS_TABLE = "_vg_txt_posts"
META_TABLE = "_vg_txt_meta"
GROUPS_TABLE = "_vg_txt_group"
EXACT_TABLE = "_vg_txt_exact"
NEAR_TABLE = "_vg_txt_near"
BUCKETS_TABLE = "_vg_txt_xb"
# Members scored per slice in the near trace (bounds memory on large groups).
_SCORE_SLICE = 25_000
# LSH candidate pairs verified (exact Jaccard) per chunk.
_CANDIDATE_CHUNK = 1_000_000

_NORMALIZED = pa.schema(
    [
        ("platform", pa.string()),
        ("post_id", pa.string()),
        ("account", pa.string()),
        ("ts", pa.float64()),
        ("norm", pa.string()),
    ]
)
_PAIRS = pa.schema([("a", pa.int64()), ("b", pa.int64()), ("sim", pa.float64())])
# The text_exact signal value of a normal form (vigil.signals.text_exact.text_digest, in SQL).
_ITEM_SQL = "sha256({norm})"


def text_kinds(params: TextTraceParams) -> tuple[str, ...]:
    """The signal kind of the co-text items: ``text_exact`` values, unless accents are kept (then
    the normal form is not the signal's and the digests are no signal values)."""
    return ("text_exact",) if params.fold_accents else ()


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

    Creates ``_vg_txt_x (xid, norm, n_accounts)`` (xid in first-seen order),
    ``_vg_txt_accounts (aid, account, platform)`` and ``_vg_txt_posts (post_id, aid, ts, xid)``
    (accounts and platforms stored once, not once per post); returns counts and timings.
    The normalized posts are spooled to a compressed Parquet file that DuckDB groups and joins
    straight from disk, so neither Python nor DuckDB holds all normalized posts at once.
    """
    params = params or TextTraceParams()
    progress = progress or NoProgress()
    timer = Timer()
    # A reshare carries the original's text: co-resharing is its own trace, so by default reshares
    # are left out here (as the co-link trace leaves out their URLs).
    where = "text IS NOT NULL" if params.include_reshares else "text IS NOT NULL AND reshare_of IS NULL"
    # DuckDB's allocator otherwise keeps the memory its aggregations and joins freed (about 1 GB
    # after grouping 10M posts); background threads hand it back to the system within seconds.
    con.execute("SET allocator_background_threads = true")
    total = _scalar(con, f"SELECT count(*) FROM {posts} WHERE {where}")
    # The stage also covers grouping the normal forms (numbering the distinct texts, the texts,
    # accounts and posts tables): as much CPU again as normalizing at 1M generated posts (3.2 and
    # 3.4 s), so it counts each post twice, and the three grouping steps advance by their shares of
    # it. Otherwise the bar stood full for the whole grouping (27 s at load 18).
    n_posts = int(total or 0)
    first, second = round(_GROUPING_SHARES[0] * n_posts), round(_GROUPING_SHARES[1] * n_posts)
    grouping = (first, second, n_posts - first - second)  # whole posts, adding up to n_posts
    progress.start("normalizing texts", total=float(2 * n_posts))

    def transform(batch: pa.RecordBatch) -> pa.Table:
        norm = normalize_texts_compiled(batch.column("text"), fold_accents=params.fold_accents)
        keep = pc.greater_equal(token_counts(norm), params.min_tokens)
        columns = [batch.column(name) for name in _NORMALIZED.names[:-1]]
        progress.advance(batch.num_rows)
        return pa.Table.from_arrays([*columns, norm], schema=_NORMALIZED).filter(keep)

    query = (
        f"SELECT platform, post_id, {ACCOUNT_SQL} AS account, {TS_SQL} AS ts, text FROM {posts} WHERE {where}"
    )
    with tempfile.TemporaryDirectory(prefix="vigil-text-", dir=params.temp_dir or spool_dir(con)) as tmp:
        spool = Path(tmp) / "normalized.parquet"
        kept = stream_to_parquet(con, query, spool, transform, _NORMALIZED, batch_rows=params.batch_rows)
        # Arrow's allocator keeps the batches' memory for reuse; nothing in Arrow needs it now.
        pa.default_memory_pool().release_unused()
        timer.lap("normalize")
        raw = f"read_parquet({sql_string(spool)})"
        texts = Path(tmp) / "texts.parquet"
        _number_texts(con, raw, texts, batch_rows=params.batch_rows)
        progress.advance(grouping[0])
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {TEXTS_TABLE} AS "
            f"SELECT xid, norm, n_accounts FROM read_parquet({sql_string(texts)}) ORDER BY xid"
        )
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {ACCOUNTS_TABLE} AS
            SELECT (row_number() OVER (ORDER BY account))::INTEGER AS aid, account, platform
            FROM (SELECT DISTINCT account, platform FROM {raw})
            """
        )
        progress.advance(grouping[1])
        # Posts find their text's xid through the 128-bit MD5 of the normal form: the join's hash
        # table then holds 24 bytes a text instead of the text itself. One md5_number() a post
        # (md5_number_upper and _lower each hash the text again, and more slowly: 3.3 s of CPU
        # against 1.3 s for this join at 1M posts).
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {POSTS_TABLE} AS
            SELECT r.post_id, a.aid, r.ts, x.xid
            FROM {raw} AS r
            JOIN (SELECT {_MD5_OF_HALVES} AS h, xid FROM read_parquet({sql_string(texts)})) AS x
              ON md5_number(r.norm) = x.h
            JOIN {ACCOUNTS_TABLE} AS a USING (account)
            """
        )
        progress.advance(grouping[2])
        progress.finish()
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {META_TABLE} AS "
        f"SELECT {float(params.bucket_seconds)!r}::DOUBLE AS bucket_seconds, "
        f"{str(bool(params.fold_accents)).lower()} AS fold_accents"
    )
    timer.lap("exact")
    distinct = _scalar(con, f"SELECT count(*) FROM {TEXTS_TABLE}")
    return {
        "posts_with_text": float(total or 0),
        "posts_kept": float(kept),
        "distinct_texts": float(distinct or 0),
        **timer.seconds,
    }


# Shares of the grouping's CPU (1M generated posts): numbering the distinct texts, the texts and
# accounts tables (the posts table has the rest).
_GROUPING_SHARES = (0.6, 0.15)
# The MD5 of a normal form in two 64-bit halves: h1 = md5_number_upper (md5_number's low 64 bits),
# h2 = md5_number_lower (its high 64 bits); _MD5_OF_HALVES puts md5_number back together.
_LOW64 = (1 << 64) - 1
_MD5_OF_HALVES = "((h2::UHUGEINT << 64) | h1::UHUGEINT)"
_NUMBERED = pa.schema(
    [
        ("xid", pa.int64()),
        ("norm", pa.string()),
        ("n_accounts", pa.int32()),
        ("h1", pa.uint64()),
        ("h2", pa.uint64()),
    ]
)


def _number_texts(con: duckdb.DuckDBPyConnection, raw: str, out: Path, *, batch_rows: int) -> None:
    """Distinct normal forms numbered in first-seen order (ties: by text) into the Parquet ``out``.

    The number is counted here while DuckDB streams the sorted texts: a window ``row_number()`` over
    millions of strings made DuckDB hold the input and its sorted copy at once (3.1 GB at 10M posts
    against 1.8 GB this way). Accounts per text are counted by grouping (text, account) pairs first,
    which takes less memory than ``count(DISTINCT account)``.
    """
    reader = con.sql(
        f"""
        SELECT norm, n_accounts, (h & {_LOW64})::UBIGINT AS h1, (h >> 64)::UBIGINT AS h2
        FROM (SELECT norm, min(first_ts) AS first_ts, count(*)::INTEGER AS n_accounts, md5_number(norm) AS h
              FROM (SELECT norm, account, min(ts) AS first_ts FROM {raw} GROUP BY norm, account)
              GROUP BY norm)
        ORDER BY first_ts, norm
        """
    ).to_arrow_reader(batch_rows)
    xid = 0
    # No dictionary pages: ids, texts and hashes are distinct by construction, so Arrow's
    # dictionary encoder would only hash every text and fall back (0.35 -> 0.25 s of CPU writing
    # 740k texts; the file is read back in the same time).
    with pq.ParquetWriter(str(out), _NUMBERED, use_dictionary=["n_accounts"]) as writer:
        for batch in reader:
            n = batch.num_rows
            ids = pa.array(np.arange(xid, xid + n, dtype=np.int64))
            writer.write_table(pa.Table.from_arrays([ids, *batch.columns], schema=_NUMBERED))
            xid += n


def co_text_exact(con: duckdb.DuckDBPyConnection, params: TextTraceParams | None = None) -> ContentTrace:
    """The exact-duplicate trace from the tables of :func:`prepare_texts`.

    Its items are a small table (one row per distinct text that enough accounts posted); events and
    members are queries over it, materialized only when read.
    """
    params = params or TextTraceParams()
    timer = Timer()
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {EXACT_TABLE} AS
        SELECT xid, {_ITEM_SQL.format(norm="norm")} AS item FROM {TEXTS_TABLE}
        WHERE n_accounts >= {int(params.min_accounts)}
        """
    )
    events_sql = (
        f"SELECT '{CO_TEXT_EXACT}' AS trace, a.account, a.platform, p.post_id, e.item, p.ts "
        f"FROM {POSTS_TABLE} AS p JOIN {EXACT_TABLE} AS e USING (xid) JOIN {ACCOUNTS_TABLE} AS a USING (aid)"
    )
    members_sql = f"""
        SELECT '{CO_TEXT_EXACT}' AS trace, e.item, a.platform, p.post_id, a.account, p.ts,
               x.norm AS key, x.norm AS representative, 'exact' AS measure, 1.0::DOUBLE AS score
        FROM {POSTS_TABLE} AS p JOIN {EXACT_TABLE} AS e USING (xid) JOIN {TEXTS_TABLE} AS x USING (xid)
        JOIN {ACCOUNTS_TABLE} AS a USING (aid)
        ORDER BY e.item, p.ts, a.platform, p.post_id
        """
    items, events = con.execute(
        f"SELECT count(DISTINCT e.item), count(*) FROM {POSTS_TABLE} AS p JOIN {EXACT_TABLE} AS e USING (xid)"
    ).fetchall()[0]
    timer.lap("events")
    stats = {"items": float(items), "events": float(events), **timer.seconds}
    return register_trace_sql(
        con,
        CO_TEXT_EXACT,
        "same normalized text (at least min_tokens tokens) posted within the window",
        events_sql,
        members_sql,
        stats,
        window=params.window,
        signal_kinds=text_kinds(params),
    )


@dataclass
class _Carry:
    """Distinct texts of one bucket with their shingles and LSH band keys (carried to the next bucket)."""

    bucket: int
    xids: I64
    sets: ShingleSets
    keys: U64  # (bands, len(xids))


def _bucket_texts(con: duckdb.DuckDBPyConnection, bucket: int) -> pa.Table:
    return con.sql(
        f"""
        SELECT b.xid, x.norm FROM {BUCKETS_TABLE} AS b JOIN {TEXTS_TABLE} AS x USING (xid)
        WHERE b.bucket = {int(bucket)} ORDER BY b.xid
        """
    ).to_arrow_table()


def near_pairs(
    con: duckdb.DuckDBPyConnection,
    params: TextTraceParams,
    pairs_path: Path,
    *,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Verified near-duplicate pairs of distinct texts (a < b, sim) into the Parquet file ``pairs_path``.

    One time bucket at a time, the previous bucket's texts carried over with their shingle sets and
    band keys (never the whole signature matrix); each bucket's verified pairs are written out
    before the next bucket is read. Returns (LSH candidate pairs checked, similar pairs found).

    ``progress``, when given, gets its stage "near-duplicate texts" started here (its total, the
    texts of every time bucket, is known only once they are bucketed) and advanced bucket by
    bucket; the caller finishes it.
    """
    bucket_seconds = float(params.bucket_seconds)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {BUCKETS_TABLE} AS
        SELECT DISTINCT floor(ts / {bucket_seconds!r})::BIGINT AS bucket, xid FROM {POSTS_TABLE}
        ORDER BY bucket, xid
        """
    )
    # Pairs go to Parquet on disk as they are found: DuckDB sorts them from there for the clustering.
    writer = pq.ParquetWriter(str(pairs_path), _PAIRS)
    sizes = {
        int(bucket): int(n)
        for bucket, n in con.execute(
            f"SELECT bucket, count(*) FROM {BUCKETS_TABLE} GROUP BY bucket ORDER BY bucket"
        ).fetchall()
    }
    buckets = sorted(sizes)
    if progress is not None:
        # A text is signed (or carried) once per bucket it is in: the unit of this stage's work.
        progress.start("near-duplicate texts", total=float(sum(sizes.values())))
    candidates = similar = 0
    prev: _Carry | None = None
    mh = params.minhash
    for bucket in buckets:
        rows = _bucket_texts(con, bucket)
        xids = rows.column("xid").to_numpy().astype(np.int64)
        if prev is not None and prev.bucket != bucket - 1:
            prev = None
        if prev is None:
            new_rows = np.arange(len(xids), dtype=np.int64)
            old_xids = np.zeros(0, dtype=np.int64)
        else:
            new_rows = np.flatnonzero(~np.isin(xids, prev.xids)).astype(np.int64)
            old_xids = prev.xids
        new_sets, new_keys = sketch(rows.column("norm").take(pa.array(new_rows)), mh)
        del rows
        union_xids = np.concatenate([old_xids, xids[new_rows]])
        union_sets = new_sets if prev is None else concat_sets([prev.sets, new_sets])
        # The union's band keys stay in two blocks (carried, new): never copied into one matrix.
        key_blocks = [new_keys] if prev is None else [prev.keys, new_keys]
        del new_sets, new_keys
        # Pairs of two carried-over texts were checked with the previous bucket.
        encoded = lsh_pairs(key_blocks, fresh_from=len(old_xids))
        candidates += len(encoded)
        # Candidates are verified a chunk at a time: a dense day has tens of millions.
        for lo in range(0, len(encoded), _CANDIDATE_CHUNK):
            a, b = decode_pairs(encoded[lo : lo + _CANDIDATE_CHUNK])
            sim = jaccard(union_sets, a, b, at_least=params.near_threshold)
            keep = sim >= params.near_threshold
            xa, xb = union_xids[a[keep]], union_xids[b[keep]]
            found = pa.table(
                {"a": np.minimum(xa, xb), "b": np.maximum(xa, xb), "sim": sim[keep]}, schema=_PAIRS
            )
            similar += found.num_rows
            if found.num_rows:
                writer.write_table(found)
        del encoded
        # Carry this bucket's texts (old ones included) to the next bucket.
        order = np.argsort(union_xids, kind="stable")
        rows_in_union = order[np.searchsorted(union_xids, xids, sorter=order)]
        carry_keys = np.empty((mh.bands, len(xids)), dtype=np.uint64)
        from_old = rows_in_union < len(old_xids)
        if from_old.any():
            carry_keys[:, from_old] = key_blocks[0][:, rows_in_union[from_old]]
        carry_keys[:, ~from_old] = key_blocks[-1][:, rows_in_union[~from_old] - len(old_xids)]
        carry_sets = subset(union_sets, rows_in_union)
        prev = None
        del key_blocks, union_sets
        prev = _Carry(bucket, xids, carry_sets, carry_keys)
        if progress is not None:
            progress.advance(sizes[bucket])
    writer.close()
    con.execute(f"DROP TABLE IF EXISTS {BUCKETS_TABLE}")
    return candidates, similar


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
    scores: F64 | None = None
    with tempfile.TemporaryDirectory(prefix="vigil-text-", dir=params.temp_dir or spool_dir(con)) as tmp:
        pairs_path = Path(tmp) / "pairs.parquet"
        candidates, similar = near_pairs(con, params, pairs_path, progress=progress)
        timer.lap("lsh")
        pairs = f"read_parquet({sql_string(pairs_path)})"
        if params.clustering == "leader":
            labels, scores = _leader_labels(con, pairs, n_texts)
        else:
            labels = cluster_pair_relation(con, pairs, "sim", n_texts, params.clustering)
    con.register("_vg_txt_labels", pa.table({"xid": np.arange(n_texts, dtype=np.int64), "gid": labels}))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {GROUPS_TABLE} AS SELECT * FROM _vg_txt_labels")
    con.unregister("_vg_txt_labels")
    del labels
    timer.lap("cluster")
    # Groups of at least two distinct texts that enough accounts posted: the trace's items. Two
    # accounts (the default) are a smallest and a largest account id that differ, cheaper than
    # counting distinct ids.
    enough = (
        "min(p.aid) < max(p.aid)"
        if params.min_accounts == 2
        else f"count(DISTINCT p.aid) >= {int(params.min_accounts)}"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _vg_txt_near_x AS
        WITH multi AS (SELECT gid FROM {GROUPS_TABLE} GROUP BY gid HAVING count(*) >= 2),
             ok AS (SELECT g.gid FROM {POSTS_TABLE} AS p JOIN {GROUPS_TABLE} AS g USING (xid)
                    WHERE g.gid IN (SELECT gid FROM multi) GROUP BY g.gid HAVING {enough})
        SELECT g.xid, g.gid FROM {GROUPS_TABLE} AS g WHERE g.gid IN (SELECT gid FROM ok)
        """
    )
    scored = _member_scores(con, params) if scores is None else _scores_of_members(con, scores)
    del scores
    con.register("_vg_txt_scores", scored)
    # Each item's digest once per representative, not once per member.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {NEAR_TABLE} AS
        WITH items AS (SELECT r.xid AS gid, {_ITEM_SQL.format(norm="r.norm")} AS item
                       FROM {TEXTS_TABLE} AS r WHERE r.xid IN (SELECT gid FROM _vg_txt_near_x))
        SELECT n.xid, n.gid, i.item, s.score
        FROM _vg_txt_near_x AS n JOIN _vg_txt_scores AS s USING (xid) JOIN items AS i USING (gid)
        """
    )
    con.unregister("_vg_txt_scores")
    con.execute("DROP TABLE IF EXISTS _vg_txt_near_x")
    del scored
    events_sql = (
        f"SELECT '{CO_TEXT_NEAR}' AS trace, a.account, a.platform, p.post_id, m.item, p.ts "
        f"FROM {POSTS_TABLE} AS p JOIN {NEAR_TABLE} AS m USING (xid) JOIN {ACCOUNTS_TABLE} AS a USING (aid)"
    )
    members_sql = f"""
        SELECT '{CO_TEXT_NEAR}' AS trace, m.item, a.platform, p.post_id, a.account, p.ts, x.norm AS key,
               r.norm AS representative, 'jaccard' AS measure, m.score
        FROM {POSTS_TABLE} AS p JOIN {NEAR_TABLE} AS m USING (xid) JOIN {ACCOUNTS_TABLE} AS a USING (aid)
        JOIN {TEXTS_TABLE} AS x ON x.xid = m.xid JOIN {TEXTS_TABLE} AS r ON r.xid = m.gid
        ORDER BY m.item, p.ts, a.platform, p.post_id
        """
    # One item per representative: its distinct gids count the items (no 64-character digests hashed).
    items, events = con.execute(
        f"SELECT count(DISTINCT m.gid), count(*) FROM {POSTS_TABLE} AS p JOIN {NEAR_TABLE} AS m USING (xid)"
    ).fetchall()[0]
    timer.lap("events")
    progress.finish()
    stats = {
        "distinct_texts": float(n_texts),
        "candidate_pairs": float(candidates),
        "similar_pairs": float(similar),
        "items": float(items),
        "events": float(events),
        **timer.seconds,
    }
    return register_trace_sql(
        con,
        CO_TEXT_NEAR,
        f"near-duplicate texts (word {params.minhash.shingle_size}-shingle Jaccard >= "
        f"{params.near_threshold}) posted within the window",
        events_sql,
        members_sql,
        stats,
        window=params.window,
        signal_kinds=text_kinds(params),
    )


def _leader_labels(con: duckdb.DuckDBPyConnection, pairs: str, n_texts: int) -> tuple[I64, F64]:
    """Leader clustering of the similar pairs in ``pairs`` (a < b, sim), read back sorted by DuckDB
    a batch at a time, with each text's exact Jaccard to its leader: the similarity of the pair it
    joined by (the leader's own is 1.0), so members need not be shingled again to be scored."""
    reader = con.sql(f"SELECT b, a, sim FROM {pairs} ORDER BY b, 1.0 - sim, a").to_arrow_reader(PAIR_BATCH)
    batches = (
        (
            batch.column(0).to_numpy().astype(np.int64),
            batch.column(1).to_numpy().astype(np.int64),
            batch.column(2).to_numpy().astype(np.float64),
        )
        for batch in reader
    )
    return leader_clusters_scored(n_texts, batches)


def _scores_of_members(con: duckdb.DuckDBPyConnection, scores: F64) -> pa.Table:
    """(xid, score) of the near items' members, from every text's score against its leader."""
    members = con.sql("SELECT xid FROM _vg_txt_near_x").to_arrow_table()
    xids = members.column("xid").to_numpy().astype(np.int64)
    return pa.table({"xid": pa.array(xids, pa.int64()), "score": pa.array(scores[xids], pa.float64())})


def _member_scores(con: duckdb.DuckDBPyConnection, params: TextTraceParams) -> pa.Table:
    """(xid, score) of the near items' members: exact Jaccard against the representative, a slice
    at a time so that only one slice's texts and shingles are in memory (components, whose members
    need not be paired with their representative)."""
    reader = con.sql(
        f"""
        SELECT n.xid, x.norm, r.norm AS rep_norm FROM _vg_txt_near_x AS n
        JOIN {TEXTS_TABLE} AS x ON x.xid = n.xid JOIN {TEXTS_TABLE} AS r ON r.xid = n.gid
        """
    ).to_arrow_reader(_SCORE_SLICE)
    score_xids: list[I64] = []
    score_values: list[F64] = []
    for rows in reader:
        both = pa.concat_arrays([rows.column("norm"), rows.column("rep_norm")])
        sets = shingle_sets(both, params.minhash.shingle_size)
        k = rows.num_rows
        score_values.append(jaccard(sets, np.arange(k, dtype=np.int64), np.arange(k, 2 * k, dtype=np.int64)))
        score_xids.append(rows.column("xid").to_numpy().astype(np.int64))
    return pa.table(
        {
            "xid": pa.array(np.concatenate(score_xids) if score_xids else np.zeros(0, np.int64), pa.int64()),
            "score": pa.array(np.concatenate(score_values) if score_values else np.zeros(0), pa.float64()),
        }
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
