"""Cross-lingual co-text trace: the same message posted in different languages (``co_text_crosslingual``).

Embedding is the expensive step (about a few hundred sentences per second per core), so only
candidates are embedded, once each:

1. it starts from the co-text groups (:func:`vigil.detect.traces.text.co_text_near` leaves one group
   per near-duplicate cluster), so every copy and light edit of a message costs one embedding;
2. only groups posted by at least ``min_group_accounts`` (2) distinct accounts *within one burst*
   (``burst_seconds``, 1 hour; buckets offset by half a burst, so any posts within 30 minutes
   share one), i.e. a message being pushed, or by one of ``candidate_accounts`` (for example the
   accounts other traces flagged), and with at least ``min_tokens`` tokens, are candidates. On
   200k generated posts this embeds 3,828 groups instead of 20,379 posted by 2+ accounts at any
   time, or 153,025 distinct texts;
3. per time bucket (previous bucket carried over), the search runs only when the bucket's
   candidates span at least two languages; neighbours are found exactly: for each pair of
   languages, the inner products of one's rows with the other's (L2-normalized vectors, a
   matrix product a slice of rows at a time), each pair of rows once: same-language similarity
   is the near-duplicate trace's business, and generic phrases have tens of thousands of
   same-language neighbours;
4. the texts of the buckets the search runs on are embedded ahead, in large batches in the order
   first needed, since the encoder (:mod:`vigil.detect.similarity.use_dedup`) computes each
   distinct token and n-gram context of a batch once.

Memory stays bounded at any number of posts: two buckets' embeddings plus a cache of recent ones,
one slice of neighbours, and the distinct similar pairs (20 bytes each, de-duplicated as they
accumulate). A member's score is the cosine of its pair with its leader, so no embedding is kept
for the end.

Pairs with cosine >= ``threshold`` are clustered with **leaders** by default: in first-seen order
a group joins the most similar earlier leader, so every member is within the threshold of its
representative. Connected components chain: generic phrases exist in every language, and on
200k generated posts components joined 15,330 accounts into one item where leaders give 510
items of at most 1,580 accounts, with the same recall of the planted translated campaigns
(122 against 124 of their 131 accounts).
The language of a group is its earliest post's ``lang`` or, if missing, py3langid's guess.
An item is named by its representative's ``text_exact`` value (SHA-256 of the normal form).
"""

from __future__ import annotations

import bisect
import heapq
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

from vigil.core.errors import InputError
from vigil.core.progress import NoProgress, Progress
from vigil.detect.duck import spool_dir
from vigil.detect.similarity.clusters import ClusterPolicy
from vigil.detect.similarity.embed import SentenceEmbedder, Vectors, default_embedder
from vigil.detect.similarity.use_dedup import UseMultilingualDedup, admitted_pairs, pair_dots
from vigil.detect.traces.content import (
    DEFAULT_CONTENT_WINDOW,
    ContentTrace,
    Timer,
    cluster_pair_relation,
    register_trace_sql,
)
from vigil.detect.traces.text import ACCOUNTS_TABLE, GROUPS_TABLE, META_TABLE, POSTS_TABLE, TEXTS_TABLE
from vigil.detect.window import WindowPolicy
from vigil.ingest.duck import sql_string
from vigil.ingest.entities import strip_entities
from vigil.ingest.lang import detect_languages
from vigil.ingest.text import MIN_TOKENS

CO_TEXT_CROSSLINGUAL = "co_text_crosslingual"

# Measured on the generator's bank of 42 messages in ar/fr/en (docs/detection-content.md):
# translations score 0.49-0.94 (5th percentile 0.57), different messages at most 0.54.
DEFAULT_THRESHOLD = 0.55

_CANDIDATES = "_vg_xl_cand"
_BUCKETS = "_vg_xl_b"

I64 = np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True)
class CrossLingualParams:
    """Knobs of the cross-lingual trace (see the module docstring)."""

    threshold: float = DEFAULT_THRESHOLD
    min_tokens: int = MIN_TOKENS
    min_group_accounts: int = 2
    burst_seconds: float = 3600.0
    candidate_accounts: frozenset[str] | None = None
    clustering: ClusterPolicy = "leader"
    min_accounts: int = 2
    window: WindowPolicy = DEFAULT_CONTENT_WINDOW
    embedder: SentenceEmbedder | None = field(default=None, compare=False)
    temp_dir: Path | None = None  # where the similar pairs are spooled (default: DuckDB's spill directory)

    def __post_init__(self) -> None:
        if not -1.0 < self.threshold <= 1.0:
            raise InputError(f"threshold must be in (-1, 1], not {self.threshold!r}")
        if self.min_group_accounts < 1:
            raise InputError(f"min_group_accounts must be >= 1, not {self.min_group_accounts!r}")
        if self.min_accounts < 2:
            raise InputError(f"min_accounts must be >= 2, not {self.min_accounts!r}")
        if not self.burst_seconds > 0:
            raise InputError(f"burst_seconds must be > 0, not {self.burst_seconds!r}")
        if self.clustering not in ("components", "leader"):
            raise InputError(f"clustering must be 'components' or 'leader', not {self.clustering!r}")


def _candidates(con: duckdb.DuckDBPyConnection, params: CrossLingualParams, posts: str) -> pa.Table:
    """Candidate groups ``(gid, text, lang)``: the earliest post of each group's representative."""
    accounts = sorted(params.candidate_accounts or ())
    con.register("_vg_xl_accounts", pa.table({"account": pa.array(accounts, pa.string())}))
    width = float(params.burst_seconds)
    # Two accounts or more: min < max is the same test as count(DISTINCT aid) >= 2 without a set of
    # accounts per (group, burst) (~0.3 s of CPU at 1M posts).
    pushed = (
        "min(aid) < max(aid)"
        if params.min_group_accounts == 2
        else f"count(DISTINCT aid) >= {int(params.min_group_accounts)}"
    )
    # The token count is taken on the joined candidates only (MATERIALIZED keeps DuckDB from
    # pushing it down into a scan of every distinct text).
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {_CANDIDATES} AS
        WITH gp AS (SELECT g.gid, p.aid, p.ts
                    FROM {POSTS_TABLE} AS p JOIN {GROUPS_TABLE} AS g USING (xid)),
             burst AS (SELECT gid FROM (SELECT gid, aid, floor(ts / {width!r}) AS b FROM gp
                                        UNION ALL
                                        SELECT gid, aid, floor(ts / {width!r} + 0.5) AS b FROM gp)
                       GROUP BY gid, b HAVING {pushed}),
             flagged AS (SELECT gid FROM gp WHERE aid IN (SELECT a.aid FROM {ACCOUNTS_TABLE} AS a
                                                          JOIN _vg_xl_accounts USING (account))),
             joined AS MATERIALIZED (
                 SELECT c.gid, x.norm FROM (SELECT gid FROM burst UNION SELECT gid FROM flagged) AS c
                 JOIN {TEXTS_TABLE} AS x ON x.xid = c.gid)
        SELECT gid FROM joined
        WHERE length(norm) - length(replace(norm, ' ', '')) + 1 >= {int(params.min_tokens)}
        """
    )
    con.unregister("_vg_xl_accounts")
    return con.sql(
        f"""
        WITH first AS (SELECT DISTINCT ON (xid) xid, platform, post_id
                       FROM {POSTS_TABLE} JOIN {ACCOUNTS_TABLE} USING (aid)
                       WHERE xid IN (SELECT gid FROM {_CANDIDATES})
                       ORDER BY xid, ts, platform, post_id)
        SELECT f.xid AS gid, po.text, po.lang
        FROM first AS f JOIN {posts} AS po ON po.platform = f.platform AND po.post_id = f.post_id
        ORDER BY gid
        """
    ).to_arrow_table()


# Rows of one language compared at once with another language's rows: a (QUERY_CHUNK x targets)
# block of inner products, thresholded, then dropped.
QUERY_CHUNK = 1024
# Embeddings kept between buckets beyond the current bucket (512-d float32: 2 KB each) for messages
# posted again in a later bucket, so they are not embedded twice. A vector goes as soon as its
# message has no later bucket; above the cap, those needed furthest ahead go first (Belady's rule).
VECTOR_CACHE = 131_072
# Texts embedded in one call, ahead of the buckets that need them (in the order they are first
# needed): the encoder computes each distinct token and n-gram context of a call once, so large
# calls share more (vigil.detect.similarity.use_dedup). Below VECTOR_CACHE, so a prefetched vector
# is kept until its bucket runs.
EMBED_BATCH = 32_768
# Similar pairs go to Parquet as each bucket finds them (the same pair recurs in consecutive
# buckets; DuckDB de-duplicates them, then sorts them from disk for the leader pass).
_PAIRS_SCHEMA = pa.schema([("a", pa.int64()), ("b", pa.int64()), ("cos", pa.float32())])
_PAIRS = "_vg_xl_pairs"
_MAP = "_vg_xl_map"


# The search's bound: inner products in the SEARCH_DIMS main directions of the first embedded
# batch, plus the product of the rows' norms outside them (Cauchy-Schwarz), bound every inner
# product from above; only pairs whose bound reaches the threshold are computed in full. Exact:
# with BOUND_SLACK (float32 rounding is ~1e-5 here) no pair at or above the threshold is dropped.
SEARCH_DIMS = 128
BOUND_SLACK = 1e-3
# Fewer texts than this in the first batch: no bound (the plain products cost little).
MIN_BASIS_TEXTS = 2048


# Rows of the first batch the main directions are estimated from: any orthonormal basis keeps the
# bound exact, so a sample only has to be good enough to keep it tight (the second-moment matrix of
# all 32,768 rows and its float64 eigendecomposition took ~1.7 s of CPU at 1M posts).
BASIS_SAMPLE = 8192


def search_basis(vectors: np.ndarray[Any, Any], dims: int = SEARCH_DIMS) -> np.ndarray[Any, Any]:
    """An orthonormal (dim x dims) basis of the main directions of ``vectors`` (the top eigenvectors
    of the second-moment matrix of at most :data:`BASIS_SAMPLE` evenly spaced rows): any
    orthonormal basis keeps the bound exact, these make it tight."""
    step = max(1, -(-len(vectors) // BASIS_SAMPLE))
    wide = vectors[::step].astype(np.float64)
    _, eigenvectors = np.linalg.eigh(wide.T @ wide)
    basis: np.ndarray[Any, Any] = np.ascontiguousarray(eigenvectors[:, ::-1][:, :dims]).astype(np.float32)
    return basis


def _language_codes(langs: dict[int, str | None]) -> tuple[I64, I64]:
    """``(gids, codes)``: the groups sorted, and each one's language as its rank among the known
    languages' names (-1 for none), so comparing codes is comparing names, in their order."""
    names = sorted({lang for lang in langs.values() if lang})
    rank = {name: i for i, name in enumerate(names)}
    gids = np.fromiter(langs, dtype=np.int64, count=len(langs))
    codes = np.fromiter((rank.get(langs[g] or "", -1) for g in langs), dtype=np.int64, count=len(langs))
    order = np.argsort(gids, kind="stable")
    return gids[order], codes[order]


def _cross_pairs(
    matrix: np.ndarray[Any, Any],
    langs: np.ndarray[Any, Any],
    n_carried: int,
    threshold: float,
    basis: np.ndarray[Any, Any] | None = None,
) -> tuple[I64, I64, np.ndarray[Any, Any]]:
    """Row pairs ``(i, j)`` of ``matrix`` in different, known languages with inner product
    >= ``threshold``, each unordered pair once, for every pair with a row at or after ``n_carried``
    (pairs of two carried rows were found in the previous bucket).

    For each pair of languages, one block of inner products (a matrix product) per slice of the
    first language's rows: same-language pairs (most neighbours, and the near-duplicate trace's
    business) are never computed, and no pair is computed twice. With a ``basis``, the blocks are
    of upper bounds (see :data:`SEARCH_DIMS`) and only the pairs they admit are computed in full.
    """
    bound: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None = None
    if basis is not None:
        proj = matrix @ basis
        rest = np.einsum("ij,ij->i", matrix, matrix, dtype=np.float64)
        rest -= np.einsum("ij,ij->i", proj, proj, dtype=np.float64)
        bound = (proj, np.sqrt(np.maximum(rest, 0.0)).astype(np.float32))
    qs: list[I64] = []
    xs: list[I64] = []
    cs: list[np.ndarray[Any, Any]] = []
    if langs.dtype == object:
        # Names (tests, callers): as codes in the order of the names, -1 for none.
        names = sorted({str(lang) for lang in langs.tolist() if lang})
        rank = {name: i for i, name in enumerate(names)}
        langs = np.fromiter((rank.get(str(lang), -1) if lang else -1 for lang in langs.tolist()), np.int64)
    known = np.unique(langs[langs >= 0]).tolist()
    rows = {lang: np.flatnonzero(langs == lang) for lang in known}
    for i, first in enumerate(known):
        for second in known[i + 1 :]:
            a, b = rows[first], rows[second]
            # New rows of the first language against every row of the second, and its carried
            # rows against the second's new rows.
            for left, right in ((a[a >= n_carried], b), (a[a < n_carried], b[b >= n_carried])):
                if len(left) and len(right):
                    _block_pairs(matrix, left, right, threshold, bound, qs, xs, cs)
    if not qs:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), np.zeros(0, dtype=np.float32)
    return np.concatenate(qs), np.concatenate(xs), np.concatenate(cs)


def _block_pairs(
    matrix: np.ndarray[Any, Any],
    left: I64,
    right: I64,
    threshold: float,
    bound: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None,
    qs: list[I64],
    xs: list[I64],
    cs: list[np.ndarray[Any, Any]],
) -> None:
    """Pairs of ``left`` x ``right`` rows with inner product >= threshold, appended to qs, xs, cs."""
    if bound is None:
        targets = np.ascontiguousarray(matrix[right].T)
        for lo in range(0, len(left), QUERY_CHUNK):
            chunk = left[lo : lo + QUERY_CHUNK]
            sims = matrix[chunk] @ targets
            q, x = np.nonzero(sims >= threshold)
            qs.append(chunk[q])
            xs.append(right[x])
            cs.append(sims[q, x])
        return
    proj, rest = bound
    targets = np.ascontiguousarray(proj[right].T)
    right_rest = rest[right]
    for lo in range(0, len(left), QUERY_CHUNK):
        chunk = left[lo : lo + QUERY_CHUNK]
        upper = proj[chunk] @ targets
        q, x = admitted_pairs(upper, rest[chunk], right_rest, threshold - BOUND_SLACK)
        q, x = chunk[q], right[x]
        cos = pair_dots(matrix, q, x)
        keep = cos >= threshold
        qs.append(q[keep])
        xs.append(x[keep])
        cs.append(cos[keep])


Run = tuple[int, list[int], list[int], int]


def _bucket_runs(
    con: duckdb.DuckDBPyConnection, langs: dict[int, str | None]
) -> tuple[list[Run], dict[int, list[int]]]:
    """Every bucket in order as ``(bucket, union, members, n_carried)`` and every candidate's
    buckets. ``union`` is the previous bucket's groups carried over (the first ``n_carried``), then
    the bucket's own others; it is empty where the search does not run: a bucket runs when it has
    groups not carried and its union spans two known languages.
    """
    table = con.sql(f"SELECT bucket, gid FROM {_BUCKETS} ORDER BY bucket, gid").to_arrow_table()
    buckets = table.column("bucket").to_numpy().astype(np.int64)
    gids = table.column("gid").to_numpy().astype(np.int64)
    appears: dict[int, list[int]] = {}
    for bucket, gid in zip(buckets.tolist(), gids.tolist(), strict=True):
        appears.setdefault(gid, []).append(bucket)
    runs: list[Run] = []
    bounds = np.flatnonzero(np.diff(buckets)) + 1
    prev: tuple[int, list[int]] | None = None
    for part_buckets, part in zip(np.split(buckets, bounds), np.split(gids, bounds), strict=True):
        if not len(part):
            continue
        bucket, members = int(part_buckets[0]), part.tolist()
        carried = prev[1] if prev is not None and prev[0] == bucket - 1 else []
        seen = set(carried)
        new = [g for g in members if g not in seen]
        union = carried + new
        prev = (bucket, members)
        runs_search = bool(new) and len({langs[g] for g in union if langs[g] is not None}) >= 2
        runs.append((bucket, union if runs_search else [], members, len(carried)))
    return runs, appears


def crosslingual_pairs(
    con: duckdb.DuckDBPyConnection,
    params: CrossLingualParams,
    texts: dict[int, str],
    langs: dict[int, str | None],
    embedder: SentenceEmbedder,
    pairs_path: Path,
    *,
    progress: Progress | None = None,
) -> int:
    """Write the different-language pairs ``(a < b, cos)`` of candidate groups with cosine >= threshold
    to the Parquet file ``pairs_path``, bucket by bucket (a pair may appear in two consecutive
    buckets); return how many texts were embedded.

    Texts are embedded ahead of their buckets, :data:`EMBED_BATCH` at a time in the order the
    buckets first need them (only groups of buckets the search runs on). Memory: the embeddings of
    the current and previous bucket plus a bounded cache of those a later bucket needs (each
    candidate is embedded once unless the cache overflows), and one slice of inner products. The
    pairs themselves (30 million at 10M generated posts, where generic phrases recur in every
    language) stay on disk.

    ``progress``, when given, gets its stage "cross-lingual texts" started here (its total, the
    candidate groups of every time bucket, is known only once they are bucketed) and advanced
    bucket by bucket; the caller finishes it.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {_BUCKETS} AS
        SELECT DISTINCT floor(p.ts / m.bucket_seconds)::BIGINT AS bucket, g.gid
        FROM {POSTS_TABLE} AS p JOIN {GROUPS_TABLE} AS g USING (xid) CROSS JOIN {META_TABLE} AS m
        WHERE g.gid IN (SELECT gid FROM {_CANDIDATES}) ORDER BY bucket, gid
        """
    )
    runs, appears = _bucket_runs(con, langs)
    con.execute(f"DROP TABLE IF EXISTS {_BUCKETS}")
    # Every group a run needs, in the order first needed: what the embedder is fed, a batch ahead.
    order = list(dict.fromkeys(g for run in runs for g in run[1]))
    if progress is not None:
        # The stage's work: each group embedded the first time (most of its time, in few large
        # calls, told as the encoder goes), and each group looked at once per bucket it is in.
        progress.start("cross-lingual texts", total=float(sum(len(run[2]) for run in runs) + len(order)))
    first_embeds: set[int] = set()  # groups embedded at least once (a re-embedding is not counted)
    # Each candidate's language as a code (-1: unknown), codes in the order of the languages' names,
    # looked up by gid in one vectorized step per bucket.
    code_gids, codes = _language_codes(langs)
    ahead = 0
    basis: np.ndarray[Any, Any] | None = None
    limit = ThreadpoolController().limit
    vectors = VectorCache(embedder.dim, appears)
    embedded = 0
    with pq.ParquetWriter(str(pairs_path), _PAIRS_SCHEMA) as writer:
        for bucket, union, members, n_carried in runs:
            if progress is not None:
                progress.advance(len(members))
            if not union:
                vectors.evict(bucket, set(members))
                continue
            slot = vectors.slot  # (a dict lookup per group, not a method call)
            missing = [g for g in union if g not in slot]
            if missing:
                wanted = set(missing)
                while ahead < len(order) and len(missing) < EMBED_BATCH:
                    g = order[ahead]
                    ahead += 1
                    if g not in vectors and g not in wanted:
                        missing.append(g)
                        wanted.add(g)
                # Groups whose stripped texts are equal (copies that differed only in URLs or
                # mentions) are embedded once.
                distinct = {text: i for i, text in enumerate(dict.fromkeys(texts[g] for g in missing))}
                units = len([g for g in missing if g not in first_embeds])
                first_embeds.update(missing)
                encoded = _encode(embedder, list(distinct), progress, units)
                vectors.put(missing, encoded, [distinct[texts[g]] for g in missing])
                if not embedded and len(missing) >= MIN_BASIS_TEXTS:
                    with limit(limits=1, user_api="blas"):
                        basis = search_basis(encoded)
                embedded += len(distinct)
                del encoded
            matrix = vectors.matrix(union)
            union_arr = np.asarray(union, dtype=np.int64)
            lang_arr = codes[np.searchsorted(code_gids, union_arr)]
            # One BLAS thread: a block of a few thousand rows is too little work to share, and on
            # busy cores a second OpenBLAS thread spins for as much CPU time as the product.
            with limit(limits=1, user_api="blas"):
                q, x, cos = _cross_pairs(matrix, lang_arr, n_carried, params.threshold, basis)
            if len(q):
                a, b = union_arr[q], union_arr[x]
                writer.write_table(
                    pa.table(
                        [np.minimum(a, b), np.maximum(a, b), cos.astype(np.float32)], schema=_PAIRS_SCHEMA
                    )
                )
            del matrix
            vectors.evict(bucket, set(members))
    return embedded


def _encode(embedder: SentenceEmbedder, texts: list[str], progress: Progress | None, units: int) -> Vectors:
    """``embedder.encode(texts)``, the progress advanced by ``units`` in all: in step with the
    encoder where it tells how far it is (UseMultilingualDedup), else when the call returns. Whole
    units only, so the stage's advances add up to its total exactly."""
    if progress is None:
        return embedder.encode(texts)
    if not texts or not isinstance(embedder, UseMultilingualDedup):
        encoded = embedder.encode(texts)
        progress.advance(units)
        return encoded
    done, told = 0.0, 0

    def on_done(amount: float) -> None:
        nonlocal done, told
        done += amount
        now = min(units, int(done * units // len(texts)))
        if now > told:
            progress.advance(now - told)
            told = now

    encoded = embedder.encode(texts, on_done=on_done)
    if told < units:
        progress.advance(units - told)
    return encoded


class VectorCache:
    """The embeddings kept between buckets, as rows of one growing float32 matrix (a bucket's
    matrix is one gather, not a stack of thousands of small arrays).

    :meth:`evict` drops the vectors no later bucket needs; above :data:`VECTOR_CACHE`, those needed
    furthest ahead. A group's last bucket is known when it is stored, so the expired ones come off
    a heap ordered by it instead of every cached vector being looked at in every bucket.
    """

    def __init__(self, dim: int, appears: dict[int, list[int]]) -> None:
        self.rows = np.empty((1024, dim), dtype=np.float32)
        self.slot: dict[int, int] = {}
        self.free: list[int] = list(range(len(self.rows) - 1, -1, -1))  # rows not holding a vector
        self.appears = appears
        self.expiry: list[tuple[int, int]] = []  # (last bucket, group), a heap

    def __contains__(self, gid: int) -> bool:
        return gid in self.slot

    def __len__(self) -> int:
        return len(self.slot)

    def put(self, gids: list[int], encoded: Vectors, rows: list[int]) -> None:
        """Store ``encoded[rows[k]]`` as the vector of ``gids[k]``."""
        if len(gids) > len(self.free):
            need = len(self.slot) + len(gids)
            grown = np.empty((max(need, 2 * len(self.rows)), self.rows.shape[1]), dtype=np.float32)
            grown[: len(self.rows)] = self.rows
            self.free.extend(range(len(grown) - 1, len(self.rows) - 1, -1))
            self.rows = grown
        slots = [self.free.pop() for _ in gids]
        self.rows[slots] = encoded[rows]
        for g, slot in zip(gids, slots, strict=True):
            self.slot[g] = slot
            heapq.heappush(self.expiry, (self.appears[g][-1], g))

    def matrix(self, gids: list[int]) -> Vectors:
        """The vectors of ``gids`` (all cached) as a new (len(gids) x dim) matrix."""
        slot = self.slot
        matrix: Vectors = self.rows[np.fromiter((slot[g] for g in gids), dtype=np.int64, count=len(gids))]
        return matrix

    def _drop(self, gid: int) -> None:
        self.free.append(self.slot.pop(gid))

    def evict(self, bucket: int, current: set[int]) -> None:
        """After ``bucket``: the current bucket's vectors stay (the next bucket carries them over)."""
        # A group whose last bucket is this one is in it, so the expired are those before it.
        while self.expiry and self.expiry[0][0] < bucket:
            _, g = heapq.heappop(self.expiry)
            if g in self.slot:
                self._drop(g)
        if len(self.slot) - len(current) <= VECTOR_CACHE:
            return
        upcoming: list[tuple[int, int]] = []
        for g in self.slot:
            if g not in current:
                later = self.appears[g]
                upcoming.append((later[bisect.bisect_right(later, bucket)], g))
        if len(upcoming) > VECTOR_CACHE:
            upcoming.sort(reverse=True)
            for _, g in upcoming[: len(upcoming) - VECTOR_CACHE]:
                self._drop(g)


def _member_scores(
    con: duckdb.DuckDBPyConnection, gids: I64, reps: I64, texts: dict[int, str], embedder: SentenceEmbedder
) -> np.ndarray[Any, Any]:
    """Cosine of every member group with its cluster's representative (1 for the representative).

    Under leader clustering a member joined its leader through a similar pair, so the cosine is
    looked up among the pairs; under components a member may be linked to its representative only
    through others, and those pairs are embedded again (a slice at a time) rather than keeping
    every matched group's vector for the whole run.
    """
    con.register(
        "_vg_xl_want",
        pa.table(
            {
                "i": np.arange(len(gids), dtype=np.int64),
                "lo": np.minimum(gids, reps),
                "hi": np.maximum(gids, reps),
            }
        ),
    )
    found = con.sql(
        f"""
        SELECT w.i, p.cos FROM _vg_xl_want AS w JOIN {_PAIRS} AS p ON p.a = w.lo AND p.b = w.hi
        WHERE w.lo <> w.hi
        """
    ).to_arrow_table()
    con.unregister("_vg_xl_want")
    scores = np.ones(len(gids), dtype=np.float64)
    hit = np.zeros(len(gids), dtype=bool)
    rows = found.column("i").to_numpy().astype(np.int64)
    scores[rows] = found.column("cos").to_numpy().astype(np.float64)
    hit[rows] = True
    missing = np.flatnonzero((gids != reps) & ~hit)
    for lo in range(0, len(missing), 4096):
        part = missing[lo : lo + 4096]
        left = embedder.encode([texts[int(g)] for g in gids[part].tolist()])
        right = embedder.encode([texts[int(r)] for r in reps[part].tolist()])
        scores[part] = np.einsum("ij,ij->i", left, right)
    return scores


def co_text_crosslingual(
    con: duckdb.DuckDBPyConnection,
    params: CrossLingualParams | None = None,
    *,
    posts: str = "posts",
    progress: Progress | None = None,
) -> ContentTrace:
    """The cross-lingual trace; needs the co-text tables (run :func:`.text.text_traces` first)."""
    params = params or CrossLingualParams()
    progress = progress or NoProgress()
    timer = Timer()
    try:
        con.execute(f"SELECT 1 FROM {GROUPS_TABLE} LIMIT 0").fetchall()
    except duckdb.Error as exc:
        raise InputError("the cross-lingual trace needs the co-text traces to run first") from exc
    candidates = _candidates(con, params, posts)
    gids = [int(g) for g in candidates.column("gid").to_pylist()]
    raw = [strip_entities(t or "") for t in candidates.column("text").to_pylist()]
    given = candidates.column("lang").to_pylist()
    detected = detect_languages([t if g is None else None for t, g in zip(raw, given, strict=True)])
    langs = {g: (given[i] or detected[i]) for i, g in enumerate(gids)}
    texts = dict(zip(gids, raw, strict=True))
    timer.lap("candidates")
    embedder = params.embedder or default_embedder()
    # Candidates come ordered by gid (first seen first): node i of the clustering is nodes[i].
    nodes = np.asarray(gids, dtype=np.int64)
    with tempfile.TemporaryDirectory(prefix="vigil-xl-", dir=params.temp_dir or spool_dir(con)) as tmp:
        pairs_path = Path(tmp) / "pairs.parquet"
        embedded = crosslingual_pairs(con, params, texts, langs, embedder, pairs_path, progress=progress)
        # A pair found in two consecutive buckets counts once (its cosine is the same both times,
        # up to the last bit if its texts were embedded twice: keep the larger).
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {_PAIRS} AS
            SELECT a, b, max(cos) AS cos FROM read_parquet({sql_string(pairs_path)}) GROUP BY a, b
            """
        )
    progress.finish()
    timer.lap("embed_search")
    n_pairs = int(con.execute(f"SELECT count(*) FROM {_PAIRS}").fetchall()[0][0])
    labels = cluster_pair_relation(con, _PAIRS, "cos", len(nodes), params.clustering, nodes=nodes)
    rep = nodes[labels]
    multi = np.isin(labels, labels[labels != np.arange(len(nodes))])
    members_gid, members_rep = nodes[multi], rep[multi]
    del labels, rep, multi
    scores = _member_scores(con, members_gid, members_rep, texts, embedder)
    con.execute(f"DROP TABLE IF EXISTS {_PAIRS}")
    del texts
    con.register(
        "_vg_xl_map_in",
        pa.table(
            {
                "gid": pa.array(members_gid, pa.int64()),
                "rep": pa.array(members_rep, pa.int64()),
                "score": pa.array(scores, pa.float64()),
            }
        ),
    )
    enough = (
        "min(aid) < max(aid)"
        if params.min_accounts == 2
        else f"count(DISTINCT aid) >= {int(params.min_accounts)}"
    )
    # Members stay in DuckDB (2.6 million rows with their texts at 10M generated posts): the engine
    # reads the events view, and the members query runs only when a caller reads them.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {_MAP} AS
        WITH m AS (SELECT l.gid, l.rep, l.score, p.aid
                   FROM {POSTS_TABLE} AS p JOIN {GROUPS_TABLE} AS g USING (xid)
                   JOIN _vg_xl_map_in AS l ON l.gid = g.gid),
             ok AS (SELECT rep FROM m GROUP BY rep HAVING {enough})
        SELECT l.gid, l.rep, l.score, sha256(r.norm) AS item
        FROM _vg_xl_map_in AS l JOIN ok USING (rep) JOIN {TEXTS_TABLE} AS r ON r.xid = l.rep
        """
    )
    con.unregister("_vg_xl_map_in")
    con.execute(f"DROP TABLE IF EXISTS {_CANDIDATES}")
    joined = f"""
        FROM {POSTS_TABLE} AS p JOIN {GROUPS_TABLE} AS g USING (xid) JOIN {_MAP} AS l ON l.gid = g.gid
        JOIN {ACCOUNTS_TABLE} AS a USING (aid)
    """
    events_sql = f"""
        SELECT '{CO_TEXT_CROSSLINGUAL}' AS trace, a.account, a.platform, p.post_id, l.item, p.ts {joined}
    """
    members_sql = f"""
        SELECT '{CO_TEXT_CROSSLINGUAL}' AS trace, l.item, a.platform, p.post_id, a.account, p.ts,
               x.norm AS key, r.norm AS representative, 'cosine' AS measure, l.score
        {joined} JOIN {TEXTS_TABLE} AS x ON x.xid = p.xid JOIN {TEXTS_TABLE} AS r ON r.xid = l.rep
        ORDER BY l.item, p.ts, a.platform, p.post_id
    """
    # An item per representative: counting representatives counts items (no digests hashed again).
    items, events = con.execute(f"SELECT count(DISTINCT l.rep), count(*) {joined}").fetchall()[0]
    timer.lap("events")
    stats = {
        "candidate_groups": float(len(gids)),
        "embedded": float(embedded),
        "similar_pairs": float(n_pairs),
        "items": float(items),
        "events": float(events),
        **timer.seconds,
    }
    return register_trace_sql(
        con,
        CO_TEXT_CROSSLINGUAL,
        f"the same message in different languages (multilingual embedding cosine >= {params.threshold}) "
        "posted within the window",
        events_sql,
        members_sql,
        stats,
        window=params.window,
        # Items are the representatives' text_exact values when the texts were normalized as that
        # signal normalizes them (the co-text preparation records whether accents were folded).
        signal_kinds=("text_exact",) if _scalar_bool(con, f"SELECT fold_accents FROM {META_TABLE}") else (),
    )


def _scalar_bool(con: duckdb.DuckDBPyConnection, query: str) -> bool:
    rows = con.execute(query).fetchall()
    return bool(rows and rows[0][0])
