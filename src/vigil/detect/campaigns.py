"""From per-trace edges and evidence to ranked, scored campaigns (see docs/detection.md).

``find_campaigns`` combines the traces into one account graph (graph.py), partitions it with Leiden,
keeps communities of at least ``min_campaign_size`` accounts, computes each one's statistics from its
internal edges and evidence, scores them (score.py), and returns Arrow tables: campaigns, member
accounts, the evidence rows inside each campaign, and the supported per-trace edges tagged with the
campaign they fall in. Nothing here reads or writes files.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vigil.core.errors import DataError, SchemaError
from vigil.core.ids import stable_id
from vigil.core.progress import NoProgress, Progress
from vigil.detect import score
from vigil.detect.contract import EVIDENCE
from vigil.detect.duck import PostsSource
from vigil.detect.graph import AccountGraph, combine, dictionary_codes, leiden
from vigil.detect.params import DetectParams
from vigil.detect.shifts import merge_shifts
from vigil.detect.traces.base import item_kinds

TS = pa.timestamp("us", tz="UTC")
DEFAULT_TAU_S = 60.0  # synchrony's time scale when the window is chosen per trace ("auto")
TOP_ITEMS = 10
# find_campaigns' steps reported to a progress: the graph, Leiden and trimming, shifts, scoring,
# merging inseparable campaigns (and scoring again), the campaigns' evidence and tables.
CAMPAIGN_STEPS = 6
EVIDENCE_BATCH = 1 << 17  # evidence rows read from a file at a time

# Evidence as a table, or as the Parquet file the engine wrote (read in batches: it can be GBs).
EvidenceSource: TypeAlias = pa.Table | str | Path

# An item is a signal value; ``kind`` is its signal type (null: the item is no signal, e.g. a
# reshared post), as the trace declares it (vigil.detect.traces.base.TraceSpec.signal_kinds).
TOP_ITEM = pa.struct(
    [
        pa.field("trace", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("item", pa.string()),
        pa.field("n_accounts", pa.int64()),
        pa.field("n_posts", pa.int64()),
    ]
)

CAMPAIGNS = pa.schema(
    [
        pa.field("campaign_id", pa.string(), nullable=False),
        pa.field("rank", pa.int64(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        *[pa.field(f"score_{name}", pa.float64()) for name in score.COMPONENTS],
        pa.field("n_accounts", pa.int64(), nullable=False),
        pa.field("n_edges", pa.int64(), nullable=False),
        pa.field("n_items", pa.int64(), nullable=False),
        pa.field("n_posts", pa.int64(), nullable=False),
        pa.field("n_coactions", pa.int64(), nullable=False),
        pa.field("traces", pa.list_(pa.string()), nullable=False),
        pa.field("platforms", pa.list_(pa.string()), nullable=False),
        pa.field("languages", pa.list_(pa.string())),  # filled from the posts table (evidence.py)
        pa.field("first_seen", TS),
        pa.field("last_seen", TS),
        pa.field("median_lag_s", pa.float64()),
        pa.field("top_items", pa.list_(TOP_ITEM), nullable=False),
    ]
)

CAMPAIGN_ACCOUNTS = pa.schema(
    [
        pa.field("campaign_id", pa.string(), nullable=False),
        pa.field("account", pa.string(), nullable=False),  # platform:account_id
        pa.field("platform", pa.string(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("degree", pa.int64(), nullable=False),  # linked members
        pa.field("strength", pa.float64(), nullable=False),  # summed combined weight to members
        pa.field("n_posts", pa.int64(), nullable=False),  # distinct posts in the campaign's evidence
        pa.field("first_seen", TS),
        pa.field("last_seen", TS),
        pa.field("created_at", TS),
    ]
)

CAMPAIGN_EVIDENCE = pa.schema(
    [
        pa.field("campaign_id", pa.string(), nullable=False),
        pa.field("trace", pa.string(), nullable=False),
        pa.field("kind", pa.string()),  # the item's signal type (null: no signal)
        pa.field("item", pa.string(), nullable=False),
        pa.field("account_a", pa.string(), nullable=False),
        pa.field("post_a", pa.string(), nullable=False),
        pa.field("ts_a", TS, nullable=False),
        pa.field("account_b", pa.string(), nullable=False),
        pa.field("post_b", pa.string(), nullable=False),
        pa.field("ts_b", TS, nullable=False),
    ]
)


@dataclass(frozen=True)
class CampaignSet:
    """The result of campaign finding, as Arrow tables ready to write."""

    campaigns: pa.Table  # CAMPAIGNS, ranked
    accounts: pa.Table  # CAMPAIGN_ACCOUNTS
    evidence: pa.Table  # CAMPAIGN_EVIDENCE
    edges: pa.Table  # supported EDGES rows plus a nullable campaign_id
    graph: dict[str, Any]  # sizes of the combined graph, the score cut and its margin, for the summary
    warnings: tuple[str, ...] = ()


def _seconds_to_ts(values: pa.Array | np.ndarray) -> pa.Array:
    arr = np.asarray(values, dtype=np.float64)
    micros = np.round(arr * 1e6).astype(np.int64)
    return pa.array(micros, pa.int64()).cast(TS)


def _creation_times(accounts: pa.Table | None) -> tuple[dict[str, float], np.ndarray | None]:
    """Account -> creation time (POSIX s) from an ACCOUNTS table, and all creation times sorted."""
    if accounts is None or accounts.num_rows == 0:
        return {}, None
    for name in ("platform", "account_id", "created_at"):
        if name not in accounts.column_names:
            raise SchemaError("missing column of the accounts table", column=name)
    known = accounts.filter(pc.is_valid(accounts.column("created_at")))
    keys = pc.binary_join_element_wise(known.column("platform"), known.column("account_id"), ":")
    micros = known.column("created_at").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
    seconds = micros.astype(np.float64) / 1e6
    return dict(zip(keys.to_pylist(), seconds.tolist(), strict=True)), np.sort(seconds)


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stable sort order of ``keys`` and, per distinct key, its value and [start, end) in that order."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    values, starts = np.unique(sorted_keys, return_index=True)
    ends = np.append(starts[1:], len(sorted_keys)) if len(starts) else starts
    return order, values, np.column_stack([starts, ends])


def _check_evidence(evidence: pa.Table) -> pa.Table:
    for field in EVIDENCE:
        if field.name not in evidence.column_names:
            raise SchemaError("missing column of the EVIDENCE table", file="evidence", column=field.name)
    return evidence.select(EVIDENCE.names).cast(EVIDENCE)


def _evidence_batches(evidence: EvidenceSource) -> Iterator[pa.Table]:
    """The evidence in row order, a bounded slice at a time, with the EVIDENCE columns (from a file,
    the string columns dictionary-encoded: :func:`_inside` gives the rows it keeps EVIDENCE's types)."""
    if isinstance(evidence, pa.Table):
        checked = _check_evidence(evidence)
        for start in range(0, checked.num_rows, EVIDENCE_BATCH):
            yield checked.slice(start, EVIDENCE_BATCH)
        return
    try:
        parquet = pq.ParquetFile(str(evidence))
        schema = parquet.schema_arrow
        for field in EVIDENCE:
            if field.name not in schema.names:
                raise SchemaError(
                    "missing column of the EVIDENCE table", file=str(evidence), column=field.name
                )
        # The string columns are read dictionary-encoded, as the engine's file stores them: decoding
        # gives indices into each row group's distinct values instead of a copy of every string
        # (0.09 against 0.38 s of CPU for the 944k rows of 1M generated posts). _inside picks the
        # rows by the dictionaries and decodes only those it keeps.
        text = [
            f.name
            for f in EVIDENCE
            if pa.types.is_string(f.type)
            and (
                pa.types.is_string(schema.field(f.name).type)
                or pa.types.is_large_string(schema.field(f.name).type)
            )
        ]
        if text:
            parquet = pq.ParquetFile(str(evidence), read_dictionary=text)
        for batch in parquet.iter_batches(batch_size=EVIDENCE_BATCH, columns=EVIDENCE.names):
            yield pa.Table.from_batches([batch])
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"cannot read the evidence: {exc}", file=str(evidence)) from exc


def _inside(
    batch: pa.Table, member_names: pa.Array, member_community: np.ndarray
) -> tuple[pa.Table, np.ndarray]:
    """The rows of ``batch`` whose two accounts are members of one community (with EVIDENCE's
    types), and that community."""
    xa = _member_index(batch.column("account_a"), member_names)
    xb = _member_index(batch.column("account_b"), member_names)
    both = (xa >= 0) & (xb >= 0)
    inside = np.zeros(len(xa), dtype=bool)
    inside[both] = member_community[xa[both]] == member_community[xb[both]]
    return _check_evidence(batch.filter(pa.array(inside))), member_community[xa[inside]].astype(np.int64)


def _member_index(column: pa.ChunkedArray, member_names: pa.Array) -> np.ndarray:
    """Each row's position in ``member_names`` (-1: none); a dictionary-encoded chunk is looked up
    by its dictionary (the distinct accounts), not row by row."""
    parts = []
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type) and chunk.null_count == 0:
            per_value = pc.fill_null(pc.index_in(chunk.dictionary, value_set=member_names), -1)
            parts.append(per_value.to_numpy()[chunk.indices.to_numpy()])
            continue
        if pa.types.is_dictionary(chunk.type):
            chunk = chunk.cast(chunk.type.value_type)
        parts.append(pc.fill_null(pc.index_in(chunk, value_set=member_names), -1).to_numpy())
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)


def internal_evidence_rows(
    batches: Iterable[pa.Table], member_names: pa.Array, member_community: np.ndarray
) -> tuple[pa.Table, np.ndarray]:
    """The evidence rows (in input order) whose two accounts are members of the same community,
    and that community; ``member_names[i]`` belongs to community ``member_community[i]``.

    Only the members of the communities asked about are passed, so each batch shrinks to their
    rows and the whole evidence (11.7M rows, 2 GB of Arrow at 10M posts) is never held at once.
    """
    tables: list[pa.Table] = []
    communities: list[np.ndarray] = []
    for batch in batches:
        rows, community = _inside(batch, member_names, member_community)
        if rows.num_rows:
            tables.append(rows)
            communities.append(community)
    if not tables:
        return EVIDENCE.empty_table(), np.zeros(0, dtype=np.int64)
    return pa.concat_tables(tables).combine_chunks(), np.concatenate(communities)


@dataclass(frozen=True)
class CommunityEvidence:
    """What scoring needs from the evidence inside each community (arrays indexed by community)."""

    n_rows: np.ndarray  # evidence rows (matched post pairs)
    per_trace: np.ndarray  # rows per community and trace, shape (communities, len(trace_names))
    trace_names: list[str]  # in order of first appearance in the evidence inside communities
    n_items: np.ndarray  # distinct (trace, item)
    lags: list[np.ndarray]  # |ts_a - ts_b| of each row
    post_times: list[np.ndarray]  # timestamp of each distinct (account, post) on either side


_COMPACT_ROWS = 1 << 20  # distinct-key rows gathered from batches before they are de-duplicated again


_ITEM_KEYS = ["community", "trace", "item"]
_POST_KEYS = ["community", "account", "post"]
_POST_TS = [("ts", "max")]  # a post has one timestamp; "max" only merges the rows naming it


def _distinct(parts: list[pa.Table], keys: list[str], aggregates: list[tuple[str, str]]) -> pa.Table:
    """``parts`` reduced to one table of distinct keys (aggregates re-applied to merge duplicates)."""
    merged = pa.concat_tables(parts).group_by(keys).aggregate(aggregates)
    # group_by puts the keys last and names aggregates "<column>_<function>": restore the layout.
    return merged.select(keys + [f"{column}_{function}" for column, function in aggregates]).rename_columns(
        keys + [column for column, _ in aggregates]
    )


def community_evidence(
    batches: Iterable[pa.Table], member_names: pa.Array, member_community: np.ndarray, n_communities: int
) -> CommunityEvidence:
    """Per community, scoring's statistics of the evidence rows inside it, a batch at a time.

    At 10M posts 8.4M of the 11.7M evidence rows lie inside communities large enough to become
    campaigns, but they name only 44k items and 239k posts: so each batch keeps its rows' numbers
    (community, trace, lag) and its distinct items and posts, never the rows' strings.
    """
    trace_code: dict[str, int] = {}
    per_trace = np.zeros((n_communities, 0), dtype=np.int64)
    communities: list[np.ndarray] = []
    lags: list[np.ndarray] = []
    items: list[pa.Table] = []
    posts: list[pa.Table] = []
    n_items = n_posts = 0
    for batch in batches:
        rows, community = _inside(batch, member_names, member_community)
        if rows.num_rows == 0:
            continue
        encoded = rows.column("trace").combine_chunks().dictionary_encode()
        for name in encoded.dictionary.to_pylist():
            trace_code.setdefault(name, len(trace_code))
        to_global = np.array([trace_code[name] for name in encoded.dictionary.to_pylist()], dtype=np.int64)
        trace = to_global[encoded.indices.to_numpy()]
        n_traces = len(trace_code)
        if per_trace.shape[1] < n_traces:
            per_trace = np.pad(per_trace, ((0, 0), (0, n_traces - per_trace.shape[1])))
        # Counted as the batches go: only the lags are kept per row (int32 community beside them).
        per_trace += np.bincount(community * n_traces + trace, minlength=n_communities * n_traces).reshape(
            n_communities, n_traces
        )
        communities.append(community.astype(np.int32))
        lags.append(np.abs(rows.column("ts_a").to_numpy() - rows.column("ts_b").to_numpy()))
        comm = pa.array(community)
        items.append(
            _distinct(
                [pa.table({"community": comm, "trace": rows.column("trace"), "item": rows.column("item")})],
                _ITEM_KEYS,
                [],
            )
        )
        sides = [
            pa.table(
                {
                    "community": comm,
                    "account": rows.column(f"account_{s}"),
                    "post": rows.column(f"post_{s}"),
                    "ts": rows.column(f"ts_{s}"),
                }
            )
            for s in ("a", "b")
        ]
        posts.append(_distinct(sides, _POST_KEYS, _POST_TS))
        n_items += items[-1].num_rows
        n_posts += posts[-1].num_rows
        if n_items > _COMPACT_ROWS:
            items = [_distinct(items, _ITEM_KEYS, [])]
            n_items = items[0].num_rows
        if n_posts > _COMPACT_ROWS:
            posts = [_distinct(posts, _POST_KEYS, _POST_TS)]
            n_posts = posts[0].num_rows
    community = np.concatenate(communities) if communities else np.zeros(0, dtype=np.int32)
    lag = np.concatenate(lags) if lags else np.zeros(0, dtype=np.float64)
    del communities, lags
    if items:
        items = [_distinct(items, _ITEM_KEYS, [])]
        posts = [_distinct(posts, _POST_KEYS, _POST_TS)]
    item_comm = items[0].column("community").to_numpy() if items else np.zeros(0, dtype=np.int64)
    post_comm = posts[0].column("community").to_numpy() if posts else np.zeros(0, dtype=np.int64)
    post_ts = posts[0].column("ts").to_numpy() if posts else np.zeros(0, dtype=np.float64)
    return CommunityEvidence(
        n_rows=per_trace.sum(axis=1),
        per_trace=per_trace,
        trace_names=list(trace_code),
        n_items=np.bincount(item_comm, minlength=n_communities),
        lags=_split(lag, community, n_communities),
        post_times=_split(post_ts, post_comm, n_communities),
    )


def _split(values: np.ndarray, community: np.ndarray, n_communities: int) -> list[np.ndarray]:
    """``values`` cut into one array per community, each in input order."""
    order = np.argsort(community, kind="stable")
    bounds = np.searchsorted(community[order], np.arange(n_communities + 1))
    ordered = values[order]
    return [ordered[bounds[c] : bounds[c + 1]] for c in range(n_communities)]


@dataclass(frozen=True)
class _Evidence:
    """Evidence rows inside campaigns, with (account, post) codes for per-account statistics."""

    table: pa.Table
    community: np.ndarray
    post_a: np.ndarray  # code of (account, post) of side a
    post_b: np.ndarray


def _campaign_evidence(
    evidence: EvidenceSource, member_names: pa.Array, member_community: np.ndarray
) -> _Evidence:
    table, community = internal_evidence_rows(_evidence_batches(evidence), member_names, member_community)
    keys_a = pc.binary_join_element_wise(table.column("account_a"), table.column("post_a"), "\x1f")
    keys_b = pc.binary_join_element_wise(table.column("account_b"), table.column("post_b"), "\x1f")
    both = pa.chunked_array(keys_a.chunks + keys_b.chunks, type=pa.string()).combine_chunks()
    codes = both.dictionary_encode().indices.to_numpy().astype(np.int64)
    n = table.num_rows
    return _Evidence(table=table, community=community, post_a=codes[:n], post_b=codes[n:])


def _top_items(
    table: pa.Table, community: np.ndarray, kinds: Mapping[str, tuple[str, ...]]
) -> dict[int, list[dict[str, Any]]]:
    """Per community, the items shared by most member accounts (then most posts)."""
    if table.num_rows == 0:
        return {}
    sides = pa.concat_tables(
        [
            pa.table(
                {
                    "community": pa.array(community),
                    "trace": table.column("trace"),
                    "item": table.column("item"),
                    "account": table.column(f"account_{s}"),
                    "post": pc.binary_join_element_wise(
                        table.column(f"account_{s}"), table.column(f"post_{s}"), "\x1f"
                    ),
                }
            )
            for s in ("a", "b")
        ]
    )
    grouped = sides.group_by(["community", "trace", "item"]).aggregate(
        [("account", "count_distinct"), ("post", "count_distinct")]
    )
    grouped = grouped.sort_by(
        [
            ("community", "ascending"),
            ("account_count_distinct", "descending"),
            ("post_count_distinct", "descending"),
            # Ties by name: group_by's order varies between runs (threads), the output must not.
            ("trace", "ascending"),
            ("item", "ascending"),
        ]
    )
    kind = item_kinds(grouped.column("trace"), grouped.column("item"), kinds)
    grouped = grouped.append_column("kind", kind)
    out: dict[int, list[dict[str, Any]]] = {}
    for row in grouped.to_pylist():
        bucket = out.setdefault(int(row["community"]), [])
        if len(bucket) < TOP_ITEMS:
            bucket.append(
                {
                    "trace": row["trace"],
                    "kind": row["kind"],
                    "item": row["item"],
                    "n_accounts": row["account_count_distinct"],
                    "n_posts": row["post_count_distinct"],
                }
            )
    return out


def trim_members(graph: AccountGraph, membership: np.ndarray, share: float, rounds: int = 3) -> np.ndarray:
    """Detach members with fewer links inside their community than ``share`` x its median member's.

    A community optimiser adds an ordinary account to a campaign when it has a few ties to members
    (it used the campaign's hashtag, posted one of its images); a member of the campaign is linked
    about as much as its fellow members. Relative to the median, so sparse campaigns (members who
    each co-act with a few others) keep their members. Detached accounts become communities of
    their own; repeated because the medians move.
    """
    if share <= 0 or len(membership) == 0:
        return membership
    a = graph.pairs.column("a").to_numpy().astype(np.int64)
    b = graph.pairs.column("b").to_numpy().astype(np.int64)
    membership = membership.copy()
    for _ in range(rounds):
        inside = membership[a] == membership[b]
        degree = np.bincount(np.concatenate([a[inside], b[inside]]), minlength=len(membership))
        sizes = np.bincount(membership)
        # The community's median member degree: a sparse campaign sets a lower bar than a dense one.
        # Degrees sorted within each community: the median is the mean of the two middle ones (one
        # sort, not a np.median call per community: 3.5 s of CPU for 23k communities at 1M posts).
        ranked = degree[np.lexsort((degree, membership))].astype(np.float64)
        starts = np.zeros(len(sizes), dtype=np.int64)
        np.cumsum(sizes[:-1], out=starts[1:])
        present = sizes > 0
        medians = np.zeros(len(sizes), dtype=np.float64)
        low = starts[present] + (sizes[present] - 1) // 2
        high = starts[present] + sizes[present] // 2
        medians[present] = (ranked[low] + ranked[high]) / 2
        needed = share * medians[membership]
        weak = np.flatnonzero((degree < needed) & (sizes[membership] > 1))
        if len(weak) == 0:
            break
        membership[weak] = membership.max() + 1 + np.arange(len(weak))
    # Renumber densely so community ids index arrays of community statistics.
    return np.unique(membership, return_inverse=True)[1].astype(np.int64)


def merge_inseparable(graph: AccountGraph, membership: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Merge eligible communities (``eligible[c]``) while some pair's union raises modularity.

    CPM keeps apart groups whose ties are sparser than its resolution, whatever the rest of the
    graph looks like; but when the weight ``W_ab`` between two groups exceeds what the configuration
    model expects from their strengths (``K_a K_b / 2m``), nothing in the graph tells them apart:
    the modularity gain of the union, ``W_ab / m - K_a K_b / (2 m^2)``, is positive. Such pairs are
    merged, best gain first, each community at most once per round, until no pair gains. Groups
    without ties never merge (W = 0), so connected components stay apart. find_campaigns makes only
    the campaigns that pass the score cut eligible: a trimmed member, or a group of ordinary
    accounts tied to a campaign (its audience), is no campaign and is not merged into one.
    """
    if len(membership) == 0 or graph.pairs.num_rows == 0:
        return membership
    a = graph.pairs.column("a").to_numpy().astype(np.int64)
    b = graph.pairs.column("b").to_numpy().astype(np.int64)
    w = graph.pairs.column("weight").to_numpy()
    m = float(w.sum())
    if m <= 0:
        return membership
    strength = np.bincount(np.concatenate([a, b]), weights=np.concatenate([w, w]), minlength=len(membership))
    membership = membership.copy()
    eligible = np.asarray(eligible, dtype=bool).copy()
    while True:
        n = int(membership.max()) + 1
        ca, cb = membership[a], membership[b]
        across = (ca != cb) & eligible[ca] & eligible[cb]
        if not across.any():
            break
        lo, hi = np.minimum(ca[across], cb[across]), np.maximum(ca[across], cb[across])
        keys, between = np.unique(lo * n + hi, return_inverse=True)
        weight = np.bincount(between, weights=w[across])
        total = np.bincount(membership, weights=strength, minlength=n)
        left, right = keys // n, keys % n
        gain = weight / m - total[left] * total[right] / (2 * m * m)
        merged = False
        taken = np.zeros(n, dtype=bool)
        for i in np.argsort(-gain, kind="stable"):
            if gain[i] <= 0:
                break
            x, y = int(left[i]), int(right[i])
            if taken[x] or taken[y]:
                continue
            taken[x] = taken[y] = True
            membership[membership == y] = x
            merged = True
        if not merged:
            break
    return np.unique(membership, return_inverse=True)[1].astype(np.int64)


@dataclass(frozen=True)
class _Scored:
    """One partition's candidate communities scored and cut (what find_campaigns writes out)."""

    rows: list[dict[str, Any]]
    cut_report: dict[str, Any]
    sizes: np.ndarray
    members: dict[int, np.ndarray]
    degree: np.ndarray
    strength: np.ndarray
    edge_comm: np.ndarray


def _score_partition(
    graph: AccountGraph,
    membership: np.ndarray,
    evidence: EvidenceSource,
    params: DetectParams,
    created_by_account: dict[str, float],
    all_created: np.ndarray | None,
) -> _Scored:
    """Score every community of at least min_campaign_size accounts and apply the cut."""
    gp = params.graph
    sizes = np.bincount(membership) if len(membership) else np.zeros(0, dtype=np.int64)
    keep = sizes >= gp.min_campaign_size
    # Scoring's statistics of the evidence in every candidate community, then (second reading)
    # the rows themselves only for the communities that become campaigns: few at any scale.
    candidates = np.flatnonzero(keep[membership]) if len(membership) else np.zeros(0, dtype=np.int64)
    stats_of = community_evidence(
        _evidence_batches(evidence),
        graph.accounts.take(pa.array(candidates)),
        membership[candidates],
        len(sizes),
    )
    # Synchrony's time scale: the run's fixed window, else a minute (windows then vary by trace).
    tau = params.window if isinstance(params.window, float) and params.window > 0 else DEFAULT_TAU_S

    names = graph.accounts.to_pylist()
    platform_of = [name.split(":", 1)[0] for name in names]
    a = graph.pairs.column("a").to_numpy().astype(np.int64)
    b = graph.pairs.column("b").to_numpy().astype(np.int64)
    w = graph.pairs.column("weight").to_numpy()
    ea = membership[a] if len(a) else np.zeros(0, dtype=np.int64)
    internal = (ea == membership[b]) & keep[ea] if len(a) else np.zeros(0, dtype=bool)
    degree = np.bincount(np.concatenate([a[internal], b[internal]]), minlength=len(names))
    strength = np.bincount(
        np.concatenate([a[internal], b[internal]]),
        weights=np.concatenate([w[internal], w[internal]]),
        minlength=len(names),
    )
    edges_per_comm = np.bincount(ea[internal], minlength=len(sizes))
    coactions = graph.pairs.column("n_coactions").to_numpy().astype(np.float64)
    coactions_per_comm = np.bincount(ea[internal], weights=coactions[internal], minlength=len(sizes))

    member_order, member_comms, member_bounds = _groups(membership)
    # Traces seen inside each community, from its per-trace edges (vectorised: edges can be many).
    edge_comm = _edge_communities(graph, membership)
    traces_by_comm = _traces_by_community(graph.supported, edge_comm)

    rows: list[dict[str, Any]] = []
    members: dict[int, np.ndarray] = {}
    for comm, (start, end) in zip(member_comms, member_bounds, strict=True):
        c = int(comm)
        if not keep[c]:
            continue
        verts = member_order[start:end]
        members[c] = verts
        times = stats_of.post_times[c]
        member_names = [names[v] for v in verts]
        created = np.array([created_by_account[m] for m in member_names if m in created_by_account])
        stats = score.CampaignStats(
            n_accounts=len(verts),
            n_edges=int(edges_per_comm[c]),
            n_items=int(stats_of.n_items[c]),
            coactions_per_trace={
                t: int(n) for t, n in zip(stats_of.trace_names, stats_of.per_trace[c], strict=True)
            },
            coactions_per_pair=float(coactions_per_comm[c]) / max(1, int(edges_per_comm[c])),
            lags=stats_of.lags[c],
            post_times=times,
            n_platforms=len({platform_of[v] for v in verts}),
            created=created if len(created) else None,
            all_created=all_created,
        )
        parts = score.components(stats, tau=tau)
        total = score.final(parts)
        rows.append(
            {
                "community": c,
                "campaign_id": stable_id("campaign", *sorted(member_names)),
                "score": total,
                **{f"score_{k}": v for k, v in parts.items()},
                "n_accounts": len(verts),
                "n_edges": int(edges_per_comm[c]),
                "n_items": stats.n_items,
                "n_posts": len(times),
                "n_coactions": int(stats_of.n_rows[c]),
                "traces": sorted(traces_by_comm.get(c, set())),
                "platforms": sorted({platform_of[v] for v in verts}),
                "languages": None,
                "first_seen": float(times.min()) if len(times) else None,
                "last_seen": float(times.max()) if len(times) else None,
                "median_lag_s": score.median(stats.lags) if len(stats.lags) else None,
                "top_items": [],
            }
        )
    rows, cut_report = score.cut_and_rank(rows, gp.min_score)
    return _Scored(rows, cut_report, sizes, members, degree, strength, edge_comm)


def find_campaigns(
    edges: pa.Table,
    evidence: EvidenceSource,
    params: DetectParams,
    *,
    accounts: pa.Table | None = None,
    item_kinds: Mapping[str, tuple[str, ...]] | None = None,
    posts: PostsSource | None = None,
    progress: Progress | None = None,
) -> CampaignSet:
    """Combine traces, find communities, score and rank them. ``accounts`` (optional) gives creation dates;
    ``posts`` (optional) lets communities that are shifts of one operation merge (vigil.detect.shifts).

    ``evidence`` is the EVIDENCE table or its Parquet file; a file is read a batch at a time,
    keeping only the rows inside communities large enough to be campaigns. ``item_kinds`` gives
    each trace's signal kinds (:func:`vigil.detect.traces.base.trace_kinds`; none: kinds are null).
    ``progress`` (within a stage the caller started) is advanced :data:`CAMPAIGN_STEPS` times.
    """
    progress = progress or NoProgress()
    kinds = item_kinds or {}
    gp = params.graph
    graph = combine(edges, gp)
    progress.advance()
    membership = trim_members(graph, leiden(graph, gp), gp.min_member_links)
    progress.advance()
    shift_report: dict[str, Any] = {}
    if gp.merge_shifts and posts is not None:
        membership, shifts = merge_shifts(posts, graph.accounts.to_pylist(), membership, gp.min_campaign_size)
        shift_report = shifts.as_dict()
    progress.advance()
    created_by_account, all_created = _creation_times(accounts)
    scored = _score_partition(graph, membership, evidence, params, created_by_account, all_created)
    progress.advance()
    if gp.merge_inseparable:
        # Among the campaigns that pass the cut only: a group of ordinary accounts tied to a
        # campaign (its audience) must not ride into it.
        kept = np.zeros(len(scored.sizes), dtype=bool)
        kept[[int(r["community"]) for r in scored.rows]] = True
        merged = merge_inseparable(graph, membership, kept)
        if len(np.unique(merged)) < len(np.unique(membership)):
            membership = merged
            scored = _score_partition(graph, membership, evidence, params, created_by_account, all_created)
    progress.advance()
    rows, cut_report, sizes, members = scored.rows, scored.cut_report, scored.sizes, scored.members
    degree, strength, edge_comm = scored.degree, scored.strength, scored.edge_comm
    names = graph.accounts.to_pylist()
    id_of = {int(r["community"]): str(r["campaign_id"]) for r in rows}
    in_campaign = (
        np.flatnonzero(np.isin(membership, np.array(list(id_of), dtype=np.int64)))
        if id_of
        else np.zeros(0, dtype=np.int64)
    )
    ev = _campaign_evidence(evidence, graph.accounts.take(pa.array(in_campaign)), membership[in_campaign])
    top = _top_items(ev.table, ev.community, kinds)
    for row in rows:
        row["top_items"] = top.get(row["community"], [])
    warnings = dominance_warnings(rows)
    campaigns = _campaigns_table(rows)
    accounts_table = _accounts_table(id_of, members, names, degree, strength, ev, created_by_account)
    evidence_table = _evidence_table(ev, id_of, kinds)
    edges_table = _tag_edges(graph, edge_comm, len(sizes), id_of)
    progress.advance()
    return CampaignSet(
        campaigns=campaigns,
        accounts=accounts_table,
        evidence=evidence_table,
        edges=edges_table,
        graph={
            "trace_edges": edges.num_rows,
            "supported_edges": graph.supported.num_rows,
            "graph_accounts": graph.n_vertices,
            "graph_edges": graph.pairs.num_rows,
            "communities": len(sizes),
            "campaigns": len(rows),
            **cut_report,
            **shift_report,
        },
        warnings=tuple(warnings),
    )


DOMINANT_SHARE = 0.5  # one campaign holding more of the flagged accounts than this is suspicious
DOMINANT_MIN_ACCOUNTS = 50  # ...when it is that large: one small campaign alone is no sign of merging


def dominance_warnings(rows: list[dict[str, Any]]) -> list[str]:
    """A warning when one campaign holds most flagged accounts: often several operations (or an
    operation and its audience) merged by a resolution too coarse for the data."""
    flagged = sum(int(r["n_accounts"]) for r in rows)
    largest = max(rows, key=lambda r: int(r["n_accounts"]), default=None)
    if largest is None or int(largest["n_accounts"]) < DOMINANT_MIN_ACCOUNTS:
        return []
    if int(largest["n_accounts"]) <= DOMINANT_SHARE * flagged:
        return []
    return [
        f"one campaign ({largest['campaign_id']}, {largest['n_accounts']} accounts) holds "
        f"{100 * int(largest['n_accounts']) / flagged:.0f}% of the {flagged} flagged accounts: "
        "check it is one operation (try --objective CPM or a higher --resolution)"
    ]


def _campaigns_table(rows: list[dict[str, Any]]) -> pa.Table:
    columns: dict[str, Any] = {name: [r.get(name) for r in rows] for name in CAMPAIGNS.names}
    for name in ("first_seen", "last_seen"):
        columns[name] = pa.array(
            [None if v is None else round(v * 1e6) for v in columns[name]], pa.int64()
        ).cast(TS)
    return pa.table(columns, schema=CAMPAIGNS)


def _accounts_table(
    id_of: dict[int, str],
    members: dict[int, np.ndarray],
    names: list[str],
    degree: np.ndarray,
    strength: np.ndarray,
    ev: _Evidence,
    created_by_account: dict[str, float],
) -> pa.Table:
    # Per-account posts and time span inside its campaign's evidence.
    table = ev.table
    sides = pa.concat_tables(
        [
            pa.table(
                {
                    "account": table.column(f"account_{s}"),
                    "post": pa.array(getattr(ev, f"post_{s}")),
                    "ts": table.column(f"ts_{s}"),
                }
            )
            for s in ("a", "b")
        ]
    )
    per_account = {
        row["account"]: row
        for row in sides.group_by("account")
        .aggregate([("post", "count_distinct"), ("ts", "min"), ("ts", "max")])
        .to_pylist()
    }
    rows = []
    for comm, campaign_id in id_of.items():
        for v in members[comm]:
            name = names[v]
            platform, _, account_id = name.partition(":")
            stats = per_account.get(name, {})
            created = created_by_account.get(name)
            rows.append(
                {
                    "campaign_id": campaign_id,
                    "account": name,
                    "platform": platform,
                    "account_id": account_id,
                    "degree": int(degree[v]),
                    "strength": float(strength[v]),
                    "n_posts": int(stats.get("post_count_distinct", 0)),
                    "first_seen": stats.get("ts_min"),
                    "last_seen": stats.get("ts_max"),
                    "created_at": created,
                }
            )
    rows.sort(key=lambda r: (r["campaign_id"], -r["strength"], r["account"]))
    columns: dict[str, Any] = {name: [r[name] for r in rows] for name in CAMPAIGN_ACCOUNTS.names}
    for name in ("first_seen", "last_seen", "created_at"):
        columns[name] = pa.array(
            [None if v is None else round(v * 1e6) for v in columns[name]], pa.int64()
        ).cast(TS)
    return pa.table(columns, schema=CAMPAIGN_ACCOUNTS)


def _evidence_table(ev: _Evidence, id_of: dict[int, str], kinds: Mapping[str, tuple[str, ...]]) -> pa.Table:
    kept = np.array([c in id_of for c in range(int(ev.community.max()) + 1)]) if len(ev.community) else None
    if kept is None:
        return CAMPAIGN_EVIDENCE.empty_table()
    mask = kept[ev.community]
    table = ev.table.filter(pa.array(mask))
    ids = pa.array([id_of[int(c)] for c in ev.community[mask]], pa.string())
    out = pa.table(
        {
            "campaign_id": ids,
            "trace": table.column("trace"),
            "kind": item_kinds(table.column("trace"), table.column("item"), kinds),
            "item": table.column("item"),
            "account_a": table.column("account_a"),
            "post_a": table.column("post_a"),
            "ts_a": _seconds_to_ts(table.column("ts_a").to_numpy()),
            "account_b": table.column("account_b"),
            "post_b": table.column("post_b"),
            "ts_b": _seconds_to_ts(table.column("ts_b").to_numpy()),
        },
        schema=CAMPAIGN_EVIDENCE,
    )
    return out.sort_by(
        [("campaign_id", "ascending"), ("trace", "ascending"), ("item", "ascending"), ("ts_a", "ascending")]
    )


def _edge_communities(graph: AccountGraph, membership: np.ndarray) -> np.ndarray:
    """For each supported per-trace edge, the community holding both its ends (-1: none)."""
    xa = graph.supported_a.astype(np.int64)
    xb = graph.supported_b.astype(np.int64)
    both = (xa >= 0) & (xb >= 0)
    comm = np.full(len(xa), -1, dtype=np.int64)
    comm[both] = np.where(membership[xa[both]] == membership[xb[both]], membership[xa[both]], -1)
    return comm


def _traces_by_community(supported: pa.Table, edge_comm: np.ndarray) -> dict[int, set[str]]:
    """The traces of the per-trace edges inside each community (on trace codes: edges can be many)."""
    inside = np.flatnonzero(edge_comm >= 0)
    out: dict[int, set[str]] = {}
    if len(inside) == 0:
        return out
    dictionary, codes32 = dictionary_codes(supported.column("trace"))
    names = dictionary.to_pylist()
    codes = codes32.astype(np.int64)
    keys = np.unique(edge_comm[inside] * len(names) + codes[inside])
    for comm, code in zip((keys // len(names)).tolist(), (keys % len(names)).tolist(), strict=True):
        out.setdefault(comm, set()).add(names[code])
    return out


def _tag_edges(graph: AccountGraph, comm: np.ndarray, n_communities: int, id_of: dict[int, str]) -> pa.Table:
    """The supported per-trace edges with the campaign both ends belong to (null if none)."""
    # Communities without a campaign (too small, low score) become null like cross-community edges.
    lookup = [id_of.get(c) for c in range(n_communities)]
    codes = np.array([-1 if x is None else i for i, x in enumerate(lookup)], dtype=np.int64)
    idx = np.where(comm >= 0, codes[np.maximum(comm, 0)] if len(codes) else -1, -1)
    dictionary = pa.array([x if x is not None else "" for x in lookup], pa.string())
    tagged = pa.DictionaryArray.from_arrays(pa.array(idx, pa.int64(), mask=idx < 0), dictionary)
    return graph.supported.append_column("campaign_id", tagged.cast(pa.string()))
