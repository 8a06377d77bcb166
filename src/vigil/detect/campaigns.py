"""From per-trace edges and evidence to ranked, scored campaigns (see docs/detection.md).

``find_campaigns`` combines the traces into one account graph (graph.py), partitions it with Leiden,
keeps communities of at least ``min_campaign_size`` accounts, computes each one's statistics from its
internal edges and evidence, scores them (score.py), and returns Arrow tables: campaigns, member
accounts, the evidence rows inside each campaign, and the supported per-trace edges tagged with the
campaign they fall in. Nothing here reads or writes files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.core.errors import SchemaError
from vigil.core.ids import stable_id
from vigil.detect import score
from vigil.detect.contract import EVIDENCE
from vigil.detect.graph import AccountGraph, combine, leiden
from vigil.detect.params import DetectParams

TS = pa.timestamp("us", tz="UTC")
DEFAULT_TAU_S = 60.0  # synchrony's time scale when the window is chosen per trace ("auto")
TOP_ITEMS = 10

TOP_ITEM = pa.struct(
    [
        pa.field("trace", pa.string()),
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
    graph: dict[str, int]  # sizes of the combined graph, for the summary


def split_account(account: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """``platform:account_id`` -> (platform, account_id); the id may itself contain ':'."""
    parts = pc.split_pattern(account, ":", max_splits=1)
    return pc.list_element(parts, 0), pc.list_element(parts, 1)


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


@dataclass(frozen=True)
class _Evidence:
    """Evidence rows inside kept communities, with integer codes for fast per-campaign statistics."""

    table: pa.Table
    community: np.ndarray
    item_code: np.ndarray  # code of (trace, item)
    trace_code: np.ndarray
    trace_names: list[str]
    lags: np.ndarray
    post_a: np.ndarray  # code of (account, post) of side a
    post_b: np.ndarray
    post_ts: np.ndarray  # timestamp per post code


def _internal_evidence(
    evidence: pa.Table, graph: AccountGraph, membership: np.ndarray, keep: np.ndarray
) -> _Evidence:
    ia = pc.index_in(evidence.column("account_a"), value_set=graph.accounts)
    ib = pc.index_in(evidence.column("account_b"), value_set=graph.accounts)
    valid = pc.and_(pc.is_valid(ia), pc.is_valid(ib))
    evidence, ia, ib = evidence.filter(valid), ia.filter(valid), ib.filter(valid)
    ca = membership[ia.to_numpy(zero_copy_only=False).astype(np.int64)]
    cb = membership[ib.to_numpy(zero_copy_only=False).astype(np.int64)]
    inside = (ca == cb) & keep[ca] if len(ca) else np.zeros(0, dtype=bool)
    table = evidence.filter(pa.array(inside))
    community = ca[inside]
    items = pc.binary_join_element_wise(table.column("trace"), table.column("item"), "\x1f")
    item_code = items.combine_chunks().dictionary_encode().indices.to_numpy().astype(np.int64)
    traces = table.column("trace").combine_chunks().dictionary_encode()
    keys_a = pc.binary_join_element_wise(table.column("account_a"), table.column("post_a"), "\x1f")
    keys_b = pc.binary_join_element_wise(table.column("account_b"), table.column("post_b"), "\x1f")
    both = pa.chunked_array(keys_a.chunks + keys_b.chunks, type=pa.string()).combine_chunks()
    codes = both.dictionary_encode().indices.to_numpy().astype(np.int64)
    n = table.num_rows
    ts = np.concatenate([table.column("ts_a").to_numpy(), table.column("ts_b").to_numpy()])
    post_ts = np.zeros(int(codes.max()) + 1 if len(codes) else 0, dtype=np.float64)
    post_ts[codes] = ts
    return _Evidence(
        table=table,
        community=community,
        item_code=item_code,
        trace_code=traces.indices.to_numpy().astype(np.int64),
        trace_names=traces.dictionary.to_pylist(),
        lags=np.abs(table.column("ts_a").to_numpy() - table.column("ts_b").to_numpy()),
        post_a=codes[:n],
        post_b=codes[n:],
        post_ts=post_ts,
    )


def _top_items(table: pa.Table, community: np.ndarray) -> dict[int, list[dict[str, Any]]]:
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
    out: dict[int, list[dict[str, Any]]] = {}
    for row in grouped.to_pylist():
        bucket = out.setdefault(int(row["community"]), [])
        if len(bucket) < TOP_ITEMS:
            bucket.append(
                {
                    "trace": row["trace"],
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
    a = graph.edges.column("a").to_numpy().astype(np.int64)
    b = graph.edges.column("b").to_numpy().astype(np.int64)
    membership = membership.copy()
    for _ in range(rounds):
        inside = membership[a] == membership[b]
        degree = np.bincount(np.concatenate([a[inside], b[inside]]), minlength=len(membership))
        sizes = np.bincount(membership)
        # The community's median member degree: a sparse campaign sets a lower bar than a dense one.
        order = np.argsort(membership, kind="stable")
        starts = np.searchsorted(membership[order], np.arange(len(sizes)))
        medians = np.array(
            [np.median(degree[order[s : s + n]]) if n else 0.0 for s, n in zip(starts, sizes, strict=True)]
        )
        needed = np.floor(share * medians[membership])
        weak = np.flatnonzero((degree < needed) & (sizes[membership] > 1))
        if len(weak) == 0:
            break
        membership[weak] = membership.max() + 1 + np.arange(len(weak))
    # Renumber densely so community ids index arrays of community statistics.
    return np.unique(membership, return_inverse=True)[1].astype(np.int64)


def find_campaigns(
    edges: pa.Table,
    evidence: pa.Table,
    params: DetectParams,
    *,
    accounts: pa.Table | None = None,
) -> CampaignSet:
    """Combine traces, find communities, score and rank them. ``accounts`` (optional) gives creation dates."""
    gp = params.graph
    graph = combine(edges, gp)
    membership = trim_members(graph, leiden(graph, gp), gp.min_member_links)
    sizes = np.bincount(membership) if len(membership) else np.zeros(0, dtype=np.int64)
    keep = sizes >= gp.min_campaign_size
    ev = _internal_evidence(_check_evidence(evidence), graph, membership, keep)
    created_by_account, all_created = _creation_times(accounts)
    # Synchrony's time scale: the run's fixed window, else a minute (windows then vary by trace).
    tau = params.window if isinstance(params.window, float) and params.window > 0 else DEFAULT_TAU_S

    names = graph.accounts.to_pylist()
    platform_of = [name.split(":", 1)[0] for name in names]
    a = graph.edges.column("a").to_numpy().astype(np.int64)
    b = graph.edges.column("b").to_numpy().astype(np.int64)
    w = graph.edges.column("weight").to_numpy()
    ea = membership[a] if len(a) else np.zeros(0, dtype=np.int64)
    internal = (ea == membership[b]) & keep[ea] if len(a) else np.zeros(0, dtype=bool)
    degree = np.bincount(np.concatenate([a[internal], b[internal]]), minlength=len(names))
    strength = np.bincount(
        np.concatenate([a[internal], b[internal]]),
        weights=np.concatenate([w[internal], w[internal]]),
        minlength=len(names),
    )
    edges_per_comm = np.bincount(ea[internal], minlength=len(sizes))
    coactions = graph.edges.column("n_coactions").to_numpy().astype(np.float64)
    coactions_per_comm = np.bincount(ea[internal], weights=coactions[internal], minlength=len(sizes))

    member_order, member_comms, member_bounds = _groups(membership)
    ev_order, ev_comms, ev_bounds = _groups(ev.community)
    ev_slices = {int(c): ev_order[s:e] for c, (s, e) in zip(ev_comms, ev_bounds, strict=True)}
    top = _top_items(ev.table, ev.community)
    # Traces seen inside each community, from its per-trace edges (vectorised: edges can be many).
    edge_comm = _edge_communities(graph, membership)
    inside_edges = edge_comm >= 0
    trace_pairs = (
        pa.table(
            {
                "community": pa.array(edge_comm[inside_edges]),
                "trace": graph.supported.column("trace").filter(pa.array(inside_edges)),
            }
        )
        .group_by(["community", "trace"])
        .aggregate([])
    )
    traces_by_comm: dict[int, set[str]] = {}
    for comm_id, trace in zip(
        trace_pairs.column("community").to_pylist(), trace_pairs.column("trace").to_pylist(), strict=True
    ):
        traces_by_comm.setdefault(int(comm_id), set()).add(trace)

    rows: list[dict[str, Any]] = []
    members: dict[int, np.ndarray] = {}
    for comm, (start, end) in zip(member_comms, member_bounds, strict=True):
        c = int(comm)
        if not keep[c]:
            continue
        verts = member_order[start:end]
        members[c] = verts
        sl = ev_slices.get(c, np.zeros(0, dtype=np.int64))
        posts = np.unique(np.concatenate([ev.post_a[sl], ev.post_b[sl]]))
        per_trace = np.bincount(ev.trace_code[sl], minlength=len(ev.trace_names))
        member_names = [names[v] for v in verts]
        created = np.array([created_by_account[m] for m in member_names if m in created_by_account])
        stats = score.CampaignStats(
            n_accounts=len(verts),
            n_edges=int(edges_per_comm[c]),
            n_items=len(np.unique(ev.item_code[sl])),
            coactions_per_trace={t: int(n) for t, n in zip(ev.trace_names, per_trace, strict=True)},
            coactions_per_pair=float(coactions_per_comm[c]) / max(1, int(edges_per_comm[c])),
            lags=ev.lags[sl],
            post_times=ev.post_ts[posts],
            n_platforms=len({platform_of[v] for v in verts}),
            created=created if len(created) else None,
            all_created=all_created,
        )
        parts = score.components(stats, tau=tau)
        total = score.total(parts)
        if total < gp.min_score:
            continue
        times = ev.post_ts[posts]
        rows.append(
            {
                "community": c,
                "campaign_id": stable_id("campaign", *sorted(member_names)),
                "score": total,
                **{f"score_{k}": v for k, v in parts.items()},
                "n_accounts": len(verts),
                "n_edges": int(edges_per_comm[c]),
                "n_items": stats.n_items,
                "n_posts": len(posts),
                "n_coactions": len(sl),
                "traces": sorted(traces_by_comm.get(c, set())),
                "platforms": sorted({platform_of[v] for v in verts}),
                "languages": None,
                "first_seen": float(times.min()) if len(times) else None,
                "last_seen": float(times.max()) if len(times) else None,
                "median_lag_s": float(np.median(stats.lags)) if len(stats.lags) else None,
                "top_items": top.get(c, []),
            }
        )
    rows.sort(key=lambda r: (-r["score"], -r["n_accounts"], r["campaign_id"]))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    id_of = {int(r["community"]): str(r["campaign_id"]) for r in rows}

    campaigns = _campaigns_table(rows)
    accounts_table = _accounts_table(id_of, members, names, degree, strength, ev, created_by_account)
    evidence_table = _evidence_table(ev, id_of)
    edges_table = _tag_edges(graph, edge_comm, len(sizes), id_of)
    return CampaignSet(
        campaigns=campaigns,
        accounts=accounts_table,
        evidence=evidence_table,
        edges=edges_table,
        graph={
            "trace_edges": edges.num_rows,
            "supported_edges": graph.supported.num_rows,
            "graph_accounts": graph.n_vertices,
            "graph_edges": graph.edges.num_rows,
            "communities": len(sizes),
            "campaigns": len(rows),
        },
    )


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


def _evidence_table(ev: _Evidence, id_of: dict[int, str]) -> pa.Table:
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
    supported = graph.supported
    ia = pc.fill_null(pc.index_in(supported.column("account_a"), value_set=graph.accounts), -1)
    ib = pc.fill_null(pc.index_in(supported.column("account_b"), value_set=graph.accounts), -1)
    xa = ia.to_numpy().astype(np.int64)
    xb = ib.to_numpy().astype(np.int64)
    both = (xa >= 0) & (xb >= 0)
    comm = np.full(len(xa), -1, dtype=np.int64)
    comm[both] = np.where(membership[xa[both]] == membership[xb[both]], membership[xa[both]], -1)
    return comm


def _tag_edges(graph: AccountGraph, comm: np.ndarray, n_communities: int, id_of: dict[int, str]) -> pa.Table:
    """The supported per-trace edges with the campaign both ends belong to (null if none)."""
    # Communities without a campaign (too small, low score) become null like cross-community edges.
    lookup = [id_of.get(c) for c in range(n_communities)]
    codes = np.array([-1 if x is None else i for i, x in enumerate(lookup)], dtype=np.int64)
    idx = np.where(comm >= 0, codes[np.maximum(comm, 0)] if len(codes) else -1, -1)
    dictionary = pa.array([x if x is not None else "" for x in lookup], pa.string())
    tagged = pa.DictionaryArray.from_arrays(pa.array(idx, pa.int64(), mask=idx < 0), dictionary)
    return graph.supported.append_column("campaign_id", tagged.cast(pa.string()))
