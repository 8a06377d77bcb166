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
   candidates span at least two languages; neighbours are found with an exact inner-product range
   search (faiss) on L2-normalized vectors, one index per language searched only by the other
   languages' texts, a slice of queries at a time: same-language similarity is the near-duplicate
   trace's business, and generic phrases have tens of thousands of same-language neighbours.

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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb
import faiss
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.core.errors import InputError
from vigil.core.progress import NoProgress, Progress
from vigil.detect.similarity.clusters import ClusterPolicy, cluster
from vigil.detect.similarity.embed import SentenceEmbedder, Vectors, default_embedder
from vigil.detect.traces.content import (
    DEFAULT_CONTENT_WINDOW,
    ContentTrace,
    Timer,
    iter_buckets,
    register_trace,
)
from vigil.detect.traces.text import ACCOUNTS_TABLE, GROUPS_TABLE, META_TABLE, POSTS_TABLE, TEXTS_TABLE
from vigil.detect.window import WindowPolicy
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
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {_CANDIDATES} AS
        WITH gp AS (SELECT g.gid, p.aid, p.ts
                    FROM {POSTS_TABLE} AS p JOIN {GROUPS_TABLE} AS g USING (xid)),
             burst AS (SELECT gid FROM (SELECT gid, aid, floor(ts / {width!r}) AS b FROM gp
                                        UNION ALL
                                        SELECT gid, aid, floor(ts / {width!r} + 0.5) AS b FROM gp)
                       GROUP BY gid, b HAVING count(DISTINCT aid) >= {int(params.min_group_accounts)}),
             flagged AS (SELECT gid FROM gp WHERE aid IN (SELECT a.aid FROM {ACCOUNTS_TABLE} AS a
                                                          JOIN _vg_xl_accounts USING (account)))
        SELECT DISTINCT c.gid FROM (SELECT gid FROM burst UNION SELECT gid FROM flagged) AS c
        JOIN {TEXTS_TABLE} AS x ON x.xid = c.gid
        WHERE length(x.norm) - length(replace(x.norm, ' ', '')) + 1 >= {int(params.min_tokens)}
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


# Queries searched at once: a query's neighbours in a generic-phrase bucket can number tens of
# thousands, so the range search's result is bounded by searching a slice of queries at a time.
QUERY_CHUNK = 512
# Embeddings kept between buckets beyond the carried-over bucket (512-d float32: 2 KB each), so a
# message posted again a few buckets later is not embedded twice; the oldest go first.
VECTOR_CACHE = 65_536
# Similar pairs are de-duplicated (the same pair recurs in consecutive buckets) once this many
# accumulate, so their list grows with the distinct pairs, not with the buckets.
PAIR_COMPACT = 4_000_000


@dataclass
class _Pairs:
    """Different-language similar pairs ``(a < b, cosine)``, accumulated and de-duplicated in place."""

    a: list[I64] = field(default_factory=list)
    b: list[I64] = field(default_factory=list)
    cos: list[np.ndarray[Any, Any]] = field(default_factory=list)
    pending: int = 0

    def add(self, a: I64, b: I64, cos: np.ndarray[Any, Any]) -> None:
        if not len(a):
            return
        self.a.append(np.minimum(a, b))
        self.b.append(np.maximum(a, b))
        self.cos.append(cos.astype(np.float32))
        self.pending += len(a)
        if self.pending >= PAIR_COMPACT:
            self.compact()

    def compact(self) -> tuple[I64, I64, np.ndarray[Any, Any]]:
        """The distinct pairs sorted by ``(a, b)``; a pair found twice has the same cosine both times."""
        if not self.a:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.copy(), np.zeros(0, dtype=np.float32)
        a, b, cos = np.concatenate(self.a), np.concatenate(self.b), np.concatenate(self.cos)
        order = np.lexsort((b, a))
        a, b, cos = a[order], b[order], cos[order]
        first = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])]
        a, b, cos = a[first], b[first], cos[first]
        self.a, self.b, self.cos, self.pending = [a], [b], [cos], 0
        return a, b, cos


def _cross_pairs(
    matrix: np.ndarray[Any, Any], langs: np.ndarray[Any, Any], n_carried: int, threshold: float
) -> tuple[I64, I64, np.ndarray[Any, Any]]:
    """Row pairs ``(query, target)`` of ``matrix`` in different, known languages with inner product
    >= ``threshold``, for every query row at or after ``n_carried``.

    One exact index per language, searched only by queries of the *other* languages: same-language
    neighbours (most of them, and the near-duplicate trace's business) are never materialised.
    """
    qs: list[I64] = []
    xs: list[I64] = []
    cs: list[np.ndarray[Any, Any]] = []
    # faiss keeps inner products strictly above the radius; re-check >= threshold exactly below.
    radius = float(np.nextafter(np.float32(threshold), np.float32(-2.0)))
    known = sorted({str(lang) for lang in langs.tolist() if lang})
    for target_lang in known:
        targets = np.flatnonzero(langs == target_lang)
        queries = np.flatnonzero((langs != target_lang) & (langs != ""))
        queries = queries[queries >= n_carried]
        if not len(targets) or not len(queries):
            continue
        index = faiss.IndexFlatIP(matrix.shape[1])
        index.add(np.ascontiguousarray(matrix[targets]))
        for lo in range(0, len(queries), QUERY_CHUNK):
            chunk = queries[lo : lo + QUERY_CHUNK]
            lims, _, found = index.range_search(np.ascontiguousarray(matrix[chunk]), radius)
            q = np.repeat(chunk, np.diff(lims).astype(np.int64))
            x = targets[found.astype(np.int64)]
            # Cosines recomputed (faiss's are approximate near the radius) and tested against the threshold.
            cos = np.einsum("ij,ij->i", matrix[q], matrix[x])
            keep = cos >= threshold
            qs.append(q[keep])
            xs.append(x[keep])
            cs.append(cos[keep])
    if not qs:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), np.zeros(0)
    return np.concatenate(qs), np.concatenate(xs), np.concatenate(cs)


def crosslingual_pairs(
    con: duckdb.DuckDBPyConnection,
    params: CrossLingualParams,
    texts: dict[int, str],
    langs: dict[int, str | None],
    embedder: SentenceEmbedder,
) -> tuple[I64, I64, np.ndarray[Any, Any], int]:
    """Different-language pairs ``(a < b)`` of candidate groups with cosine >= threshold, found bucket
    by bucket, sorted by ``(a, b)``; and how many texts were embedded.

    Memory: the embeddings of the current and previous bucket plus a bounded cache, one slice of
    queries' neighbours, and the distinct pairs found (20 bytes each).
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {_BUCKETS} AS
        SELECT DISTINCT floor(p.ts / m.bucket_seconds)::BIGINT AS bucket, g.gid
        FROM {POSTS_TABLE} AS p JOIN {GROUPS_TABLE} AS g USING (xid) CROSS JOIN {META_TABLE} AS m
        WHERE g.gid IN (SELECT gid FROM {_CANDIDATES}) ORDER BY bucket, gid
        """
    )
    vectors: dict[int, Vectors] = {}
    embedded = 0
    pairs = _Pairs()
    prev: tuple[int, list[int]] | None = None
    for bucket, rows in iter_buckets(con, _BUCKETS, "gid", "gid"):
        gids = [int(g) for g in rows.column("gid").to_pylist()]
        carried = prev[1] if prev is not None and prev[0] == bucket - 1 else []
        seen = set(carried)
        new = [g for g in gids if g not in seen]
        union = carried + new
        prev = (bucket, gids)
        if len({langs[g] for g in union if langs[g] is not None}) < 2 or not new:
            continue
        missing = [g for g in union if g not in vectors]
        if missing:
            encoded = embedder.encode([texts[g] for g in missing])
            # Copies: a row view would keep its whole encoding batch alive as long as the row.
            for g, vec in zip(missing, encoded, strict=True):
                vectors[g] = vec.copy()
            embedded += len(missing)
            del encoded
        matrix = np.vstack([vectors[g] for g in union]).astype(np.float32)
        lang_arr = np.asarray([langs[g] or "" for g in union], dtype=object)
        q, x, cos = _cross_pairs(matrix, lang_arr, len(carried), params.threshold)
        union_arr = np.asarray(union, dtype=np.int64)
        pairs.add(union_arr[q], union_arr[x], cos)
        del matrix
        # Keep this bucket's vectors (the next one's carry-over) and the newest others up to the cap.
        if len(vectors) > VECTOR_CACHE + len(gids):
            current = set(gids)
            surplus = len(vectors) - VECTOR_CACHE - len(gids)
            for g in [g for g in vectors if g not in current][:surplus]:
                del vectors[g]
    con.execute(f"DROP TABLE IF EXISTS {_BUCKETS}")
    a, b, cos = pairs.compact()
    return a, b, cos.astype(np.float64), embedded


def _member_scores(
    gids: I64,
    reps: I64,
    a: I64,
    b: I64,
    cos: np.ndarray[Any, Any],
    texts: dict[int, str],
    embedder: SentenceEmbedder,
) -> np.ndarray[Any, Any]:
    """Cosine of every member group with its cluster's representative (1 for the representative).

    Under leader clustering a member joined its leader through a similar pair, so the cosine is
    looked up among the pairs; under components a member may be linked to its representative only
    through others, and those few pairs are embedded again (a slice at a time) rather than keeping
    every matched group's vector for the whole run.
    """
    scores = np.ones(len(gids), dtype=np.float64)
    differs = gids != reps
    missing = np.flatnonzero(differs)
    if len(a) and len(missing):
        # Pairs are sorted by (a, b): as one integer key (group ids are row numbers, far below 2**31)
        # each member's pair with its representative is a binary search away.
        width = int(max(a.max(), b.max(), gids.max(), reps.max())) + 1
        keys = a * width + b
        wanted = np.minimum(gids, reps)[missing] * width + np.maximum(gids, reps)[missing]
        at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        hit = keys[at] == wanted
        scores[missing[hit]] = cos[at[hit]]
        missing = missing[~hit]
    for lo_i in range(0, len(missing), 4096):
        rows = missing[lo_i : lo_i + 4096]
        left = embedder.encode([texts[int(g)] for g in gids[rows].tolist()])
        right = embedder.encode([texts[int(r)] for r in reps[rows].tolist()])
        scores[rows] = np.einsum("ij,ij->i", left, right)
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
    progress.start("cross-lingual texts", total=None)
    embedder = params.embedder or default_embedder()
    a, b, cos, embedded = crosslingual_pairs(con, params, texts, langs, embedder)
    progress.finish()
    timer.lap("embed_search")
    # Cluster in first-seen order (gid order), on compact node numbers.
    nodes = np.asarray(gids, dtype=np.int64)
    labels = cluster(
        len(nodes), np.searchsorted(nodes, a), np.searchsorted(nodes, b), 1.0 - cos, params.clustering
    )
    rep = nodes[labels]
    multi = np.isin(labels, labels[labels != np.arange(len(nodes))])
    members_gid, members_rep = nodes[multi], rep[multi]
    scores = _member_scores(members_gid, members_rep, a, b, cos, texts, embedder)
    con.register(
        "_vg_xl_map",
        pa.table(
            {
                "gid": pa.array(members_gid, pa.int64()),
                "rep": pa.array(members_rep, pa.int64()),
                "score": pa.array(scores, pa.float64()),
            }
        ),
    )
    members = con.sql(
        f"""
        WITH m AS (SELECT a.platform, p.post_id, a.account, p.ts, x.norm, l.rep, l.score
                   FROM {POSTS_TABLE} AS p JOIN {GROUPS_TABLE} AS g USING (xid)
                   JOIN {ACCOUNTS_TABLE} AS a USING (aid)
                   JOIN _vg_xl_map AS l ON l.gid = g.gid JOIN {TEXTS_TABLE} AS x ON x.xid = p.xid),
             ok AS (SELECT rep FROM m GROUP BY rep
                    HAVING count(DISTINCT account) >= {int(params.min_accounts)})
        SELECT '{CO_TEXT_CROSSLINGUAL}' AS trace, 'xl:' || substr(md5(r.norm), 1, 16) AS item,
               m.platform, m.post_id, m.account, m.ts, m.norm AS key, r.norm AS representative,
               'cosine' AS measure, m.score
        FROM m JOIN ok USING (rep) JOIN {TEXTS_TABLE} AS r ON r.xid = m.rep
        ORDER BY item, m.ts, m.platform, m.post_id
        """
    ).to_arrow_table()
    con.unregister("_vg_xl_map")
    con.execute(f"DROP TABLE IF EXISTS {_CANDIDATES}")
    events = members.select(["trace", "account", "platform", "post_id", "item", "ts"])
    timer.lap("events")
    stats = {
        "candidate_groups": float(len(gids)),
        "embedded": float(embedded),
        "similar_pairs": float(len(a)),
        "items": float(pc.count_distinct(members.column("item")).as_py()),
        "events": float(members.num_rows),
        **timer.seconds,
    }
    return register_trace(
        con,
        CO_TEXT_CROSSLINGUAL,
        f"the same message in different languages (multilingual embedding cosine >= {params.threshold}) "
        "posted within the window",
        events,
        members,
        stats,
        window=params.window,
    )
