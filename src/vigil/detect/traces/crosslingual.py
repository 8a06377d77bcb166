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
   search (faiss) on L2-normalized vectors, and only pairs in *different* languages are kept:
   same-language similarity is the near-duplicate trace's business.

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


def _row_dots(matrix: np.ndarray[Any, Any], q: I64, x: I64, *, chunk: int = 65_536) -> np.ndarray[Any, Any]:
    """``matrix[q[i]] . matrix[x[i]]`` for every i, a chunk of rows at a time: generic phrases give
    hundreds of thousands of neighbours per bucket, and gathering both sides at once took 2 KB each
    (1.7 GB peak at 1M posts)."""
    out = np.empty(len(q), dtype=np.float64)
    for lo in range(0, len(q), chunk):
        hi = lo + chunk
        out[lo:hi] = np.einsum("ij,ij->i", matrix[q[lo:hi]], matrix[x[lo:hi]])
    return out


def crosslingual_pairs(
    con: duckdb.DuckDBPyConnection,
    params: CrossLingualParams,
    texts: dict[int, str],
    langs: dict[int, str | None],
    embedder: SentenceEmbedder,
) -> tuple[I64, I64, np.ndarray[Any, Any], dict[int, Vectors], int]:
    """Different-language pairs of candidate groups with cosine >= threshold, bucket by bucket."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {_BUCKETS} AS
        SELECT DISTINCT floor(p.ts / m.bucket_seconds)::BIGINT AS bucket, g.gid
        FROM {POSTS_TABLE} AS p JOIN {GROUPS_TABLE} AS g USING (xid) CROSS JOIN {META_TABLE} AS m
        WHERE g.gid IN (SELECT gid FROM {_CANDIDATES}) ORDER BY bucket, gid
        """
    )
    vectors: dict[int, Vectors] = {}
    involved: set[int] = set()
    embedded = 0
    found: list[np.ndarray[Any, Any]] = []
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
            for g, vec in zip(missing, embedder.encode([texts[g] for g in missing]), strict=True):
                vectors[g] = vec
            embedded += len(missing)
        matrix = np.vstack([vectors[g] for g in union]).astype(np.float32)
        index = faiss.IndexFlatIP(matrix.shape[1])
        index.add(matrix)
        queries = matrix[len(carried) :]
        # faiss keeps inner products strictly above the radius; re-check >= threshold exactly below.
        lims, _, found_rows = index.range_search(queries, float(np.nextafter(params.threshold, -2.0)))
        q = np.repeat(np.arange(len(new), dtype=np.int64), np.diff(lims).astype(np.int64)) + len(carried)
        x = found_rows.astype(np.int64)
        cos = _row_dots(matrix, q, x)
        union_arr = np.asarray(union, dtype=np.int64)
        lang_arr = np.asarray([langs[g] or "" for g in union], dtype=object)
        keep = (q != x) & (cos >= params.threshold) & (lang_arr[q] != lang_arr[x]) & (lang_arr[q] != "")
        keep &= lang_arr[x] != ""
        a, b = union_arr[q[keep]], union_arr[x[keep]]
        found.append(np.column_stack([np.minimum(a, b), np.maximum(a, b), cos[keep]]))
        involved.update(a.tolist())
        involved.update(b.tolist())
        # Bound memory: keep the vectors of this bucket (the next one's carry-over) and of matched
        # groups (they score the cluster members at the end).
        current = set(gids)
        vectors = {g: v for g, v in vectors.items() if g in current or g in involved}
    con.execute(f"DROP TABLE IF EXISTS {_BUCKETS}")
    # Buckets whose candidates all fall below the threshold append empty arrays: test rows, not list length.
    triples = np.vstack(found) if found else np.zeros((0, 3))
    if not len(triples):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), np.zeros(0), vectors, embedded
    order = np.lexsort((-triples[:, 2], triples[:, 1], triples[:, 0]))
    triples = triples[order]
    first = np.r_[True, (triples[1:, 0] != triples[:-1, 0]) | (triples[1:, 1] != triples[:-1, 1])]
    triples = triples[first]
    return (
        triples[:, 0].astype(np.int64),
        triples[:, 1].astype(np.int64),
        triples[:, 2],
        vectors,
        embedded,
    )


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
    a, b, cos, vectors, embedded = crosslingual_pairs(con, params, texts, langs, embedder)
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
    scores = [
        float(np.dot(vectors[int(g)], vectors[int(r)])) if g != r else 1.0
        for g, r in zip(members_gid.tolist(), members_rep.tolist(), strict=True)
    ]
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
