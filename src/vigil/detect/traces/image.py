"""Co-image trace: accounts posting the same picture, by PDQ hash or by opaque image id.

* ``image_pdq``: PDQ hashes within Hamming distance ``max_distance`` (31 by default) are the same
  picture when posted within one time bucket of each other. Distinct hashes are searched exactly
  (multi-index hashing, or faiss brute force with ``search="flat"``), then clustered. With leader
  clustering, hashes are searched against leaders only (:func:`pdq_leaders`): the same labels
  without enumerating the pairs among a meme's many near-duplicates. The default clustering is
  **leader**: in first-seen order a hash joins the closest earlier leader within the distance, or
  leads a new cluster. Every member is then within 31 bits of its representative, so a gradual
  chain of edits (or a meme template under many captions) cannot grow one item without bound;
  the cost is that two hashes within 31 bits of each other but attached to different leaders do
  not share an item. ``clustering="components"`` gives the connected-component alternative.
  An item is the representative's PDQ hash: the ``image_pdq`` signal value.
* ``image_ids``: opaque ids (MD5s, anonymized hash ids) are the same picture only when equal.
  An item is the id itself: an ``image_md5`` signal value when it is an MD5 (32 hex characters),
  else no signal. The trace declares both kinds (``image_pdq``, then ``image_md5``), so evidence
  tells a PDQ item (64 hex characters) from an id; an id that were itself a PDQ hash in hex would
  share that hash's item.

Events are emitted for items at least ``min_accounts`` distinct accounts posted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.core.errors import DataError, InputError
from vigil.core.progress import NoProgress, Progress
from vigil.detect.similarity.clusters import ClusterPolicy, cluster
from vigil.detect.similarity.pdq import (
    PDQ_BITS,
    PDQ_MATCH_DISTANCE,
    MultiIndex,
    SearchMethod,
    chunk_collisions,
    hamming,
    probe_plan,
    radius_pairs,
    to_codes,
)
from vigil.detect.traces.base import ACCOUNT_SQL, TS_SQL
from vigil.detect.traces.content import (
    DEFAULT_BUCKET_SECONDS,
    DEFAULT_CONTENT_WINDOW,
    MEMBERS,
    ContentTrace,
    Timer,
    check_bucket,
    iter_buckets,
    register_trace,
)
from vigil.detect.window import WindowPolicy

CO_IMAGE = "co_image"
LEADER_BATCH = 32_768  # hash ids per step of the leader search (fastest of 8k-64k at 10M posts)
# A group of new hashes is crowded (split in halves) above this many chunk collisions per hash,
# beyond what spread-out hashes have; groups up to SMALL_GROUP are solved directly.
CROWDED_COLLISIONS = 4
SMALL_GROUP = 512

_POSTS_TABLE = "_vg_img_posts"
_CODES_TABLE = "_vg_img_codes"
_BUCKETS_TABLE = "_vg_img_cb"

I64 = np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True)
class ImageTraceParams:
    """Knobs of the co-image trace (see the module docstring)."""

    max_distance: int = PDQ_MATCH_DISTANCE
    clustering: ClusterPolicy = "leader"
    bucket_seconds: float = DEFAULT_BUCKET_SECONDS
    min_accounts: int = 2
    use_image_ids: bool = True
    window: WindowPolicy = DEFAULT_CONTENT_WINDOW
    search: SearchMethod = "mih"
    threads: int = 2  # of the multi-index search (numpy releases the GIL in its gathers)

    def __post_init__(self) -> None:
        if not 0 <= self.max_distance < PDQ_BITS:
            raise InputError(f"max_distance must be in [0, {PDQ_BITS}), not {self.max_distance!r}")
        if self.min_accounts < 2:
            raise InputError(f"min_accounts must be >= 2, not {self.min_accounts!r}")
        if self.clustering not in ("components", "leader"):
            raise InputError(f"clustering must be 'components' or 'leader', not {self.clustering!r}")
        check_bucket(self.bucket_seconds)
        if self.search not in ("mih", "flat"):
            raise InputError(f"search must be 'mih' or 'flat', not {self.search!r}")
        if self.threads < 1:
            raise InputError(f"threads must be >= 1, not {self.threads!r}")


def _check_hashes(con: duckdb.DuckDBPyConnection) -> None:
    """Fail on the first value of the (lower-cased) image posts that is not a PDQ hash, before any
    result is stored; checked on the image posts table, so the posts are read once."""
    rows = con.execute(
        f"""
        SELECT platform, post_id, pdq FROM {_POSTS_TABLE}
        WHERE NOT regexp_full_match(pdq, '[0-9a-f]{{64}}') ORDER BY platform, post_id LIMIT 1
        """
    ).fetchall()
    if rows:
        con.execute(f"DROP TABLE IF EXISTS {_POSTS_TABLE}")
        platform, post_id, value = rows[0]
        raise DataError(
            f"post {platform}:{post_id} has {value!r}, which is not a PDQ hash",
            column="image_pdq",
            expected="64 hexadecimal characters",
        )


def pdq_pairs(
    con: duckdb.DuckDBPyConnection, params: ImageTraceParams, progress: Progress
) -> tuple[I64, I64, I64]:
    """Pairs of distinct hash ids (a < b) within ``max_distance`` bits, found bucket by bucket."""
    found: list[I64] = []
    prev: tuple[int, I64, np.ndarray[Any, np.dtype[np.uint8]]] | None = None
    for bucket, rows in iter_buckets(con, _BUCKETS_TABLE, "cid, pdq", "cid"):
        cids = rows.column("cid").to_numpy().astype(np.int64)
        codes = to_codes(rows.column("pdq").combine_chunks())
        if prev is not None and prev[0] != bucket - 1:
            prev = None
        if prev is None:
            union_cids, union_codes = cids, codes
            fresh = np.ones(len(cids), dtype=bool)
        else:
            fresh = ~np.isin(cids, prev[1])
            union_cids = np.concatenate([prev[1], cids[fresh]])
            union_codes = np.vstack([prev[2], codes[fresh]])
        queries = np.flatnonzero(fresh)
        q, x, d = radius_pairs(codes[queries], union_codes, params.max_distance, method=params.search)
        qa, xb = cids[queries][q], union_cids[x]
        other = qa != xb
        qa, xb, d = qa[other], xb[other], d[other]
        lo, hi = np.minimum(qa, xb), np.maximum(qa, xb)
        found.append(np.column_stack([lo, hi, d]))
        progress.advance(len(queries))
        prev = (bucket, cids, codes)
    if not found:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), empty.copy()
    triples = np.vstack(found)
    # A pair can be found in two windows (both hashes posted again after a gap): keep it once.
    # One int64 key per pair sorts far faster than np.unique(axis=0) on rows.
    n = int(triples[:, 1].max()) + 1
    _, first = np.unique(triples[:, 0] * n + triples[:, 1], return_index=True)
    triples = triples[first]
    return triples[:, 0], triples[:, 1], triples[:, 2]


class BucketSets:
    """The time buckets each hash id was posted in, to tell whether two hashes were ever posted
    within one bucket of each other (the pairs the bucket-by-bucket search compares)."""

    def __init__(self, cids: I64, buckets: I64, n: int) -> None:
        order = np.lexsort((buckets, cids))
        cids, buckets = cids[order], buckets[order]
        self.offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(cids, minlength=n), out=self.offsets[1:])
        self.base = int(buckets.min()) - 1 if len(buckets) else 0
        self.buckets = buckets - self.base  # >= 1, so bucket - 1 stays >= 0
        self.width = int(self.buckets.max()) + 2 if len(buckets) else 2
        self.keys = cids * self.width + self.buckets  # sorted: by hash id, then bucket
        self.first = self.buckets[self.offsets[:-1]] if n else np.zeros(0, dtype=np.int64)
        self.last = self.buckets[self.offsets[1:] - 1] if n else np.zeros(0, dtype=np.int64)

    def near(self, a: I64, b: I64) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """For each pair (a[i], b[i]): was a posted in a bucket within one of a bucket of b's?"""
        counts = self.offsets[a + 1] - self.offsets[a]
        pair = np.repeat(np.arange(len(a), dtype=np.int64), counts)
        pos = np.arange(len(pair), dtype=np.int64) - np.repeat(
            np.cumsum(counts) - counts - self.offsets[a], counts
        )
        bucket = self.buckets[pos]
        other = b[pair] * self.width
        hit = np.zeros(len(pair), dtype=bool)
        for delta in (-1, 0, 1):
            key = other + bucket + delta
            at = np.minimum(np.searchsorted(self.keys, key), len(self.keys) - 1)
            hit |= self.keys[at] == key
        return np.bincount(pair[hit], minlength=len(a)) > 0


def _assign_leaders(
    later: I64, earlier: I64, distance: I64, labels: I64, is_leader: np.ndarray[Any, np.dtype[np.bool_]]
) -> None:
    """Leader clustering of nodes ``later`` (in increasing order) given their earlier similar nodes:
    each joins its closest earlier leader (ties: the earlier one) or stays a leader. In place."""
    if len(later) == 0:
        return
    order = np.lexsort((earlier, distance, later))
    later, earlier = later[order], earlier[order]
    starts = np.flatnonzero(np.r_[True, later[1:] != later[:-1]])
    ends = np.r_[starts[1:], len(later)]
    # Nodes are visited in priority order, so every earlier node's status is final when it is read.
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        candidates = earlier[start:end]
        leaders = candidates[is_leader[candidates]]
        if len(leaders):
            node = int(later[start])
            labels[node] = leaders[0]
            is_leader[node] = False


def pdq_leaders(
    codes: np.ndarray[Any, np.dtype[np.uint8]],
    buckets: BucketSets,
    max_distance: int,
    progress: Progress,
    batch: int = LEADER_BATCH,
    threads: int = 1,
) -> tuple[I64, int]:
    """Leader labels of hash ids 0..n-1 (first-seen order), and the number of pairs it checked.

    The same labels as leader clustering of every pair :func:`pdq_pairs` finds, without finding
    them all: only pairs with a *leader* matter, and a meme's near-duplicates are many times more
    numerous than its leaders. Hash ids are taken ``batch`` at a time, in order:

    1. each is searched (exactly, multi-index hashing) among the earlier batches' leaders still
       posted at the batch's time; a match posted within one bucket makes it a member;
    2. the leaders among the batch's remaining hashes (the only possible new leaders) are found
       by :meth:`_LeaderSearch.leaders_among`, which splits them in halves while they are crowded;
    3. the members are searched among the batch's new leaders, and each joins its closest leader
       (ties: the earlier one).
    """
    # The search advances ``progress`` by each group of new hashes it solves (a few hundred to a batch);
    # the batch's members count once they have joined a leader, so the bar moves within a batch.
    search = _LeaderSearch(codes, buckets, max_distance, threads, progress)
    n = len(codes)
    for lo in range(0, n, batch):
        hi = min(n, lo + batch)
        ids = np.arange(lo, hi, dtype=np.int64)
        # Earlier leaders last posted before this batch's first bucket - 1 cannot be near it.
        first = int(buckets.first[lo:hi].min())
        alive = np.flatnonzero(search.is_leader[:lo] & (buckets.last[:lo] >= first - 1))
        a, b, d = search.pairs(ids, alive, expand=False)
        member = np.zeros(hi - lo, dtype=bool)
        member[a - lo] = True
        search.leaders_among(ids[~member])
        members = ids[member]
        new = ids[~member & search.is_leader[ids]]
        a2, b2, d2 = search.pairs(members, new, expand=True, earlier_only=True)
        search.assign(np.concatenate([a, a2]), np.concatenate([b, b2]), np.concatenate([d, d2]))
        progress.advance(len(members))
    return search.labels, search.checked


class _LeaderSearch:
    """State of :func:`pdq_leaders`: labels and leader flags of every hash id, and pairs checked."""

    def __init__(
        self,
        codes: np.ndarray[Any, np.dtype[np.uint8]],
        buckets: BucketSets,
        radius: int,
        threads: int,
        progress: Progress | None = None,
    ) -> None:
        self.codes, self.buckets, self.radius, self.threads = codes, buckets, radius, threads
        self.progress = progress or NoProgress()
        self.labels = np.arange(len(codes), dtype=np.int64)
        self.is_leader = np.ones(len(codes), dtype=bool)
        self.checked = 0

    def pairs(
        self, queries: I64, indexed: I64, *, expand: bool, earlier_only: bool = False
    ) -> tuple[I64, I64, I64]:
        """(query id, indexed id, distance) within the radius and posted within one bucket."""
        if len(queries) == 0 or len(indexed) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.copy(), empty.copy()
        index = MultiIndex(self.codes[indexed], self.radius, threads=self.threads, expand=expand)
        q, x, d = index.search(self.codes[queries])
        a, b = queries[q], indexed[x]
        keep = b < a if earlier_only else np.ones(len(a), dtype=bool)
        a, b, d = a[keep], b[keep], d[keep]
        near = self.buckets.near(a, b)
        return a[near], b[near], d[near]

    def assign(self, later: I64, earlier: I64, distance: I64) -> None:
        self.checked += len(later)
        _assign_leaders(later, earlier, distance, self.labels, self.is_leader)

    def leaders_among(self, ids: I64) -> None:
        """Leader clustering of ``ids`` (in order) by their pairs among themselves alone: right when
        no earlier leader is near any of them. Sets their labels and leader flags.

        A meme first seen in this batch has all its re-encodings here, and their pairs grow with
        the square of their number: while their chunk collisions say they are crowded, the
        first half is solved first, the second half's hashes near one of its leaders are members,
        the rest of the second half is solved the same way, and then the members join their
        closest leader of either half."""
        if len(ids) == 0:
            return
        queries = self.codes[ids]
        n = len(ids)
        # Spread-out hashes share a chunk value in about 16 n^2 / 2^17 pairs; a meme's re-encodings
        # share most of their chunks.
        crowded = chunk_collisions(queries) > 1.25 * 16 * n * n / 2**17 + CROWDED_COLLISIONS * n
        if crowded and n > SMALL_GROUP:
            half = len(ids) // 2
            self.leaders_among(ids[:half])
            second = ids[half:]
            leaders = ids[:half][self.is_leader[ids[:half]]]
            a, b, d = self.pairs(second, leaders, expand=True)
            member = np.isin(second, a)
            self.leaders_among(second[~member])
            # The members join their closest leader, of either half.
            rest = second[~member]
            a2, b2, d2 = self.pairs(
                second[member], rest[self.is_leader[rest]], expand=True, earlier_only=True
            )
            self.assign(np.concatenate([a, a2]), np.concatenate([b, b2]), np.concatenate([d, d2]))
            # The second half's members; the other hashes were counted by the calls that solved them.
            self.progress.advance(int(member.sum()))
            return
        q, x, d = MultiIndex(queries, self.radius, threads=self.threads, expand=True).search(queries)
        a, b = ids[q], ids[x]
        earlier = b < a
        a, b, d = a[earlier], b[earlier], d[earlier]
        near = self.buckets.near(a, b)
        self.assign(a[near], b[near], d[near])
        self.progress.advance(n)


def _pdq_members(
    con: duckdb.DuckDBPyConnection, params: ImageTraceParams, posts: str, progress: Progress
) -> tuple[pa.Table, dict[str, float]]:
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {_POSTS_TABLE} AS
        SELECT DISTINCT platform, post_id, {ACCOUNT_SQL} AS account, {TS_SQL} AS ts, lower(h) AS pdq
        FROM (SELECT platform, post_id, account_id, created_at, unnest(image_pdq) AS h
              FROM {posts} WHERE len(image_pdq) > 0)
        WHERE h IS NOT NULL
        """
    )
    _check_hashes(con)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {_CODES_TABLE} AS
        SELECT (row_number() OVER (ORDER BY first_ts, pdq) - 1)::BIGINT AS cid, pdq, first_ts
        FROM (SELECT pdq, min(ts) AS first_ts FROM {_POSTS_TABLE} GROUP BY pdq) ORDER BY cid
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {_BUCKETS_TABLE} AS
        SELECT DISTINCT floor(p.ts / {params.bucket_seconds!r})::BIGINT AS bucket, c.cid, c.pdq
        FROM {_POSTS_TABLE} AS p JOIN {_CODES_TABLE} AS c USING (pdq) ORDER BY bucket, cid
        """
    )
    n_codes = int(con.execute(f"SELECT count(*) FROM {_CODES_TABLE}").fetchall()[0][0])
    # The total is every distinct hash plus the two member queries (PDQ items, image ids) that
    # follow the search, so the bar reaches its end only when the stage is done.
    progress.start("image hashes", total=float(n_codes + 2))
    stats: dict[str, float] = {"distinct_pdq": float(n_codes)}
    if params.clustering == "leader" and params.search == "mih" and probe_plan(params.max_distance):
        codes = to_codes(
            con.sql(f"SELECT pdq FROM {_CODES_TABLE} ORDER BY cid")
            .to_arrow_table()
            .column(0)
            .combine_chunks()
        )
        cb = con.sql(f"SELECT cid, bucket FROM {_BUCKETS_TABLE}").to_arrow_table()
        sets = BucketSets(
            cb.column("cid").to_numpy().astype(np.int64),
            cb.column("bucket").to_numpy().astype(np.int64),
            n_codes,
        )
        labels, checked = pdq_leaders(codes, sets, params.max_distance, progress, threads=params.threads)
        stats["leader_pairs"] = float(checked)
    else:
        a, b, d = pdq_pairs(con, params, progress)
        labels = cluster(n_codes, a, b, d.astype(np.float64), params.clustering)
        stats["similar_pdq_pairs"] = float(len(a))
    cids = np.arange(n_codes, dtype=np.int64)
    con.register("_vg_img_labels", pa.table({"cid": cids, "rep": labels}))
    pairs = con.sql(
        f"""
        SELECT l.cid, c.pdq, r.pdq AS rep_pdq
        FROM _vg_img_labels AS l JOIN {_CODES_TABLE} AS c ON c.cid = l.cid
        JOIN {_CODES_TABLE} AS r ON r.cid = l.rep
        WHERE l.cid <> l.rep ORDER BY l.cid
        """
    ).to_arrow_table()
    distance = hamming(
        to_codes(pairs.column("pdq").combine_chunks()), to_codes(pairs.column("rep_pdq").combine_chunks())
    )
    con.register(
        "_vg_img_dist", pairs.select(["cid"]).append_column("distance", pa.array(distance, pa.int64()))
    )
    members = con.sql(
        f"""
        WITH m AS (SELECT p.*, l.rep, r.pdq AS rep_pdq, coalesce(dd.distance, 0) AS distance
                   FROM {_POSTS_TABLE} AS p JOIN {_CODES_TABLE} AS c USING (pdq)
                   JOIN _vg_img_labels AS l ON l.cid = c.cid
                   JOIN {_CODES_TABLE} AS r ON r.cid = l.rep
                   LEFT JOIN _vg_img_dist AS dd ON dd.cid = c.cid),
             ok AS (SELECT rep FROM m GROUP BY rep
                    HAVING count(DISTINCT account) >= {int(params.min_accounts)})
        SELECT '{CO_IMAGE}' AS trace, rep_pdq AS item, platform, post_id, account, ts,
               pdq AS key, rep_pdq AS representative, 'hamming' AS measure, distance::DOUBLE AS score
        FROM m JOIN ok USING (rep)
        """
    ).to_arrow_table()
    progress.advance(1)
    con.unregister("_vg_img_labels")
    con.unregister("_vg_img_dist")
    for table in (_POSTS_TABLE, _CODES_TABLE, _BUCKETS_TABLE):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return members, stats


def _id_members(con: duckdb.DuckDBPyConnection, params: ImageTraceParams, posts: str) -> pa.Table:
    return con.sql(
        f"""
        WITH m AS (SELECT DISTINCT platform, post_id, {ACCOUNT_SQL} AS account, {TS_SQL} AS ts, x AS image_id
                   FROM (SELECT platform, post_id, account_id, created_at, unnest(image_ids) AS x
                         FROM {posts} WHERE len(image_ids) > 0)
                   WHERE x IS NOT NULL AND x <> ''),
             ok AS (SELECT image_id FROM m GROUP BY image_id
                    HAVING count(DISTINCT account) >= {int(params.min_accounts)})
        SELECT '{CO_IMAGE}' AS trace, image_id AS item, platform, post_id, account, ts,
               image_id AS key, image_id AS representative, 'exact' AS measure, 1.0::DOUBLE AS score
        FROM m JOIN ok USING (image_id)
        """
    ).to_arrow_table()


def co_image(
    con: duckdb.DuckDBPyConnection,
    params: ImageTraceParams | None = None,
    *,
    posts: str = "posts",
    progress: Progress | None = None,
) -> ContentTrace:
    """The co-image trace from the ``posts`` view (PDQ clusters and, optionally, exact image ids)."""
    params = params or ImageTraceParams()
    progress = progress or NoProgress()
    timer = Timer()
    pdq_members, stats = _pdq_members(con, params, posts, progress)
    timer.lap("pdq")
    parts = [pdq_members.cast(MEMBERS)]
    if params.use_image_ids:
        parts.append(_id_members(con, params, posts).cast(MEMBERS))
    progress.advance(1)
    progress.finish()
    timer.lap("image_ids")
    members = pa.concat_tables(parts)
    order = pc.sort_indices(
        members, sort_keys=[("item", "ascending"), ("ts", "ascending"), ("post_id", "ascending")]
    )
    members = members.take(order)
    events = members.select(["trace", "account", "platform", "post_id", "item", "ts"])
    stats.update(
        {
            "items": float(pc.count_distinct(members.column("item")).as_py()),
            "events": float(members.num_rows),
            **timer.seconds,
        }
    )
    return register_trace(
        con,
        CO_IMAGE,
        f"same picture (PDQ within {params.max_distance} bits, or equal image id) posted within the window",
        events,
        members,
        stats,
        window=params.window,
        signal_kinds=("image_pdq", "image_md5"),
    )
