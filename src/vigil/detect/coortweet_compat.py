"""Coordinated shares and networks exactly as CooRTweet 2.1 computes them, and campaigns from them.

CooRTweet (R, Righetti and Balluff) is the reference for coordinated (re)sharing in much published
work. Its ``detect_groups(time_window, min_participation, remove_loops = TRUE)`` followed by
``generate_coordinated_network(edge_weight)`` differs from Vigil's engine in these ways, all
reproduced here on a *shares* relation (``object_id, account_id, content_id, timestamp``):

1. **pre-filter**: only accounts with at least ``min_participation`` shares in the input take part;
2. **pairs**: every two shares of one object whose times differ by at most ``time_window`` seconds
   (inclusive) are a coordinated share pair, each unordered pair of shares once; no popularity cap,
   no item weights, no minimum of distinct objects per account pair;
3. **loops** removed: pairs of one account, of one content, or where a content is the object itself;
4. **min participation** (post-filter): the shares of the pre-filtered input whose content is in some
   pair are counted per account (a content listed under two objects counts twice, as in CooRTweet);
   a pair stays when *either* share belongs to an account with at least ``min_participation`` of them;
5. **network**: one undirected edge per account pair (``account_id < account_id_y``): ``weight`` =
   its share pairs, ``avg_time_delta``, ``n_content_id`` / ``n_content_id_y`` = distinct older /
   newer contents of its pairs (the earlier share of a pair is the older; ties keep input order),
   ``edge_symmetry_score`` = their min / max, and ``weight_threshold`` = 1 when the weight is
   *strictly* above the ``edge_weight`` quantile of all edge weights (R's type-7 quantile);
6. **groups**: the connected components of that network.

:func:`coortweet_campaigns` turns the groups into Vigil campaigns (scored, ranked, with evidence):
every component of at least ``min_campaign_size`` accounts becomes one, whatever its score, since
the coordination test here is CooRTweet's, not Vigil's scoring.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vigil.core.errors import DataError, InputError
from vigil.core.files import write_atomic
from vigil.detect.campaigns import CampaignSet, find_campaigns
from vigil.detect.contract import EDGES, EVIDENCE
from vigil.detect.duck import connect, register_posts
from vigil.detect.evidence import POST_DETAILS, campaigns_document, write_outputs
from vigil.detect.params import DetectParams, GraphParams
from vigil.detect.report import render_report
from vigil.detect.traces import CO_RESHARE, TraceSpec
from vigil.ingest.duck import sql_string

SHARES_VIEW = "_vg_shares"
TRACE_NAME = "coortweet"

PAIRS = pa.schema(
    [
        pa.field("object_id", pa.string(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),  # the older share's account
        pa.field("account_id_y", pa.string(), nullable=False),  # the newer share's account
        pa.field("content_id", pa.string(), nullable=False),
        pa.field("content_id_y", pa.string(), nullable=False),
        pa.field("timestamp", pa.float64(), nullable=False),  # the older share's time
        pa.field("timestamp_y", pa.float64(), nullable=False),
        pa.field("time_delta", pa.float64(), nullable=False),
    ]
)


@dataclass(frozen=True)
class CoordinatedNetwork:
    """CooRTweet's result: the share pairs, the edges and each account's component."""

    pairs: pa.Table  # PAIRS
    edges: pa.Table  # account_id, account_id_y, weight, avg_time_delta, n_content_id, ...
    accounts: pa.Table  # account_id, component, in_threshold_subgraph
    weight_threshold: float

    @property
    def n_objects(self) -> int:
        return int(pc.count_distinct(self.pairs.column("object_id")).as_py())


def register_shares_csv(con: duckdb.DuckDBPyConnection, path: str | Path) -> None:
    """CooRTweet's input layout (``object_id, account_id, content_id, timestamp`` in POSIX seconds,
    ``timestamp_share`` accepted too) as the shares relation."""
    target = Path(path)
    if not target.is_file():
        raise DataError("shares file not found", file=str(target))
    try:
        names = [
            row[0]
            for row in con.execute(
                f"DESCRIBE SELECT * FROM read_csv({sql_string(str(target))}, all_varchar = true)"
            ).fetchall()
        ]
    except duckdb.Error as exc:
        raise DataError(f"not a readable CSV file: {exc}", file=str(target)) from exc
    time_column = "timestamp" if "timestamp" in names else "timestamp_share"
    for column in ("object_id", "account_id", "content_id", time_column):
        if column not in names:
            raise DataError("missing column of CooRTweet's input", file=str(target), column=column)
    try:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {SHARES_VIEW} AS
            SELECT object_id, account_id, content_id, CAST({time_column} AS DOUBLE) AS ts,
                   row_number() OVER () AS rn
            FROM read_csv({sql_string(str(target))}, all_varchar = true)
            """
        )
    except duckdb.Error as exc:
        raise DataError(f"bad value in CooRTweet's input: {exc}", file=str(target)) from exc


def register_shares_from_posts(con: duckdb.DuckDBPyConnection, trace: TraceSpec = CO_RESHARE) -> None:
    """Shares from the registered ``posts`` view: a trace's events (by default co_reshare: the
    object is the reshared post), the account, the post as content, in post order."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {SHARES_VIEW} AS
        SELECT item AS object_id, account AS account_id, platform || ':' || post_id AS content_id,
               CAST(ts AS DOUBLE) AS ts, row_number() OVER (ORDER BY ts, account, post_id) AS rn
        FROM ({trace.events_sql}) AS e WHERE item IS NOT NULL AND item <> ''
        """
    )


def coordinated_network(
    con: duckdb.DuckDBPyConnection,
    *,
    time_window: float = 10,
    min_participation: int = 2,
    edge_weight: float = 0.5,
) -> CoordinatedNetwork:
    """CooRTweet's detect_groups + generate_coordinated_network on the registered shares."""
    if time_window < 0:
        raise InputError("time_window must be >= 0 seconds")
    if min_participation < 1:
        raise InputError("min_participation must be >= 1")
    if not 0 <= edge_weight <= 1:
        raise InputError("edge_weight is a quantile: it must be in [0, 1]")
    n = int(min_participation)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _vg_ct_x AS
        SELECT * FROM {SHARES_VIEW}
        WHERE account_id IN (SELECT account_id FROM {SHARES_VIEW} GROUP BY account_id HAVING count(*) >= {n})
        """
    )
    # Every unordered pair of shares of one object within the window (rn orders them as CooRTweet's
    # rows are ordered), then the loops removed.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _vg_ct_r AS
        SELECT a.object_id, a.account_id AS acc_1, b.account_id AS acc_2, a.content_id AS c_1,
               b.content_id AS c_2, a.ts AS t_1, b.ts AS t_2
        FROM _vg_ct_x AS a JOIN _vg_ct_x AS b
          ON a.object_id = b.object_id AND a.rn < b.rn AND abs(a.ts - b.ts) <= {float(time_window)!r}
        WHERE a.account_id <> b.account_id AND a.content_id <> b.content_id
          AND a.object_id <> a.content_id AND a.object_id <> b.content_id
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _vg_ct_kept AS
        WITH used AS (SELECT c_1 AS c FROM _vg_ct_r UNION SELECT c_2 FROM _vg_ct_r),
        active AS (
            SELECT account_id FROM _vg_ct_x SEMI JOIN used ON _vg_ct_x.content_id = used.c
            GROUP BY account_id HAVING count(*) >= {n}
        ),
        filt AS (
            SELECT DISTINCT content_id FROM _vg_ct_x
            SEMI JOIN used ON _vg_ct_x.content_id = used.c
            SEMI JOIN active ON _vg_ct_x.account_id = active.account_id
        )
        SELECT object_id,
               CASE WHEN t_1 - t_2 > 0 THEN acc_2 ELSE acc_1 END AS account_id,
               CASE WHEN t_1 - t_2 > 0 THEN acc_1 ELSE acc_2 END AS account_id_y,
               CASE WHEN t_1 - t_2 > 0 THEN c_2 ELSE c_1 END AS content_id,
               CASE WHEN t_1 - t_2 > 0 THEN c_1 ELSE c_2 END AS content_id_y,
               least(t_1, t_2) AS "timestamp", greatest(t_1, t_2) AS timestamp_y,
               abs(t_1 - t_2) AS time_delta
        FROM _vg_ct_r
        WHERE c_1 IN (SELECT content_id FROM filt) OR c_2 IN (SELECT content_id FROM filt)
        """
    )
    pairs = con.sql(
        "SELECT * FROM _vg_ct_kept ORDER BY object_id, account_id, account_id_y, content_id, content_id_y"
    ).to_arrow_table()
    edges = con.sql(
        """
        WITH u AS (
            SELECT least(account_id, account_id_y) AS a, greatest(account_id, account_id_y) AS b,
                   content_id, content_id_y, time_delta
            FROM _vg_ct_kept
        )
        SELECT a AS account_id, b AS account_id_y, count(*) AS weight, avg(time_delta) AS avg_time_delta,
               count(DISTINCT content_id) AS n_content_id, count(DISTINCT content_id_y) AS n_content_id_y,
               least(count(DISTINCT content_id), count(DISTINCT content_id_y))
                 / greatest(count(DISTINCT content_id), count(DISTINCT content_id_y)) AS edge_symmetry_score
        FROM u GROUP BY a, b ORDER BY a, b
        """
    ).to_arrow_table()
    for table in ("_vg_ct_x", "_vg_ct_r", "_vg_ct_kept"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    weights = edges.column("weight").to_numpy().astype(np.float64)
    # R's default quantile (type 7) is NumPy's "linear"; CooRTweet keeps weights strictly above it.
    threshold = float(np.quantile(weights, edge_weight)) if len(weights) else 0.0
    edges = edges.append_column(
        "weight_threshold", pa.array((weights > threshold).astype(np.int64), pa.int64())
    )
    pairs = pairs.cast(PAIRS)
    return CoordinatedNetwork(pairs, edges, _components(edges), threshold)


def _components(edges: pa.Table) -> pa.Table:
    """Each account's connected component (numbered by first appearance in the sorted edges), and
    whether it has an edge above the weight threshold."""
    a = edges.column("account_id").to_pylist()
    b = edges.column("account_id_y").to_pylist()
    heavy = edges.column("weight_threshold").to_pylist()
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for x, y in zip(a, b, strict=True):
        parent.setdefault(x, x)
        parent.setdefault(y, y)
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    number: dict[str, int] = {}
    accounts = list(dict.fromkeys(v for pair in zip(a, b, strict=True) for v in pair))
    in_heavy = {v for x, y, h in zip(a, b, heavy, strict=True) if h for v in (x, y)}
    components = [number.setdefault(find(v), len(number)) for v in accounts]
    return pa.table(
        {
            "account_id": pa.array(accounts, pa.string()),
            "component": pa.array(components, pa.int64()),
            "in_threshold_subgraph": pa.array([v in in_heavy for v in accounts], pa.bool_()),
        }
    )


def network_edges_and_evidence(
    network: CoordinatedNetwork, *, threshold_only: bool = False
) -> tuple[pa.Table, pa.Table]:
    """The network as Vigil's EDGES and EVIDENCE tables (trace ``coortweet``): one edge per account
    pair (weight = share pairs, items = distinct objects), every share pair as evidence."""
    pairs = network.pairs
    a = pc.min_element_wise(pairs.column("account_id"), pairs.column("account_id_y"))
    swapped = pc.not_equal(a, pairs.column("account_id"))
    evidence = pa.table(
        {
            "trace": pa.array([TRACE_NAME] * pairs.num_rows, pa.string()),
            "account_a": a,
            "account_b": pc.max_element_wise(pairs.column("account_id"), pairs.column("account_id_y")),
            "item": pairs.column("object_id"),
            "post_a": pc.if_else(swapped, pairs.column("content_id_y"), pairs.column("content_id")),
            "post_b": pc.if_else(swapped, pairs.column("content_id"), pairs.column("content_id_y")),
            "ts_a": pc.if_else(swapped, pairs.column("timestamp_y"), pairs.column("timestamp")),
            "ts_b": pc.if_else(swapped, pairs.column("timestamp"), pairs.column("timestamp_y")),
        }
    ).cast(EVIDENCE)
    grouped = evidence.group_by(["account_a", "account_b"]).aggregate(
        [
            ("item", "count"),
            ("item", "count_distinct"),
            ("ts_a", "min"),
            ("ts_b", "min"),
            ("ts_a", "max"),
            ("ts_b", "max"),
        ]
    )
    edges = pa.table(
        {
            "trace": pa.array([TRACE_NAME] * grouped.num_rows, pa.string()),
            "account_a": grouped.column("account_a"),
            "account_b": grouped.column("account_b"),
            "weight": grouped.column("item_count").cast(pa.float64()),
            "n_items": grouped.column("item_count_distinct").cast(pa.int64()),
            "n_coactions": grouped.column("item_count").cast(pa.int64()),
            "first_ts": pc.min_element_wise(grouped.column("ts_a_min"), grouped.column("ts_b_min")),
            "last_ts": pc.max_element_wise(grouped.column("ts_a_max"), grouped.column("ts_b_max")),
        }
    ).cast(EDGES)
    if threshold_only:
        heavy = network.edges.filter(pc.equal(network.edges.column("weight_threshold"), 1))
        keys = _pair_keys(heavy, "account_id", "account_id_y")
        mask = pc.is_in(_pair_keys(edges, "account_a", "account_b"), keys)
        emask = pc.is_in(_pair_keys(evidence, "account_a", "account_b"), keys)
        edges, evidence = edges.filter(mask), evidence.filter(emask)
    return edges.sort_by([("account_a", "ascending"), ("account_b", "ascending")]), evidence


def _pair_keys(table: pa.Table, a: str, b: str) -> pa.Array:
    return pc.binary_join_element_wise(table.column(a), table.column(b), "\x00")


def coortweet_campaigns(
    network: CoordinatedNetwork,
    *,
    min_campaign_size: int = 3,
    threshold_only: bool = False,
    accounts: pa.Table | None = None,
) -> CampaignSet:
    """CooRTweet's coordinated groups (connected components of the network, or of its
    above-threshold subgraph) as ranked Vigil campaigns with evidence.

    Vigil's graph step runs with every rule that could cut a group off disabled: edges need one
    item, no weight floor, no member trimming, and a CPM resolution so small that Leiden returns
    the connected components; every group of ``min_campaign_size`` or more accounts is kept
    (``min_score`` 0) and ranked by Vigil's score.
    """
    edges, evidence = network_edges_and_evidence(network, threshold_only=threshold_only)
    params = DetectParams(
        graph=GraphParams(
            min_items=1,
            min_repeats=2,
            min_edge_weight=0.0,
            objective="CPM",
            resolution=1e-9,
            min_member_links=0.0,
            min_campaign_size=min_campaign_size,
            min_score=0.0,
        )
    )
    return find_campaigns(edges, evidence, params, accounts=accounts)


def run_coortweet(
    source: str | Path,
    out_dir: str | Path,
    *,
    time_window: float = 10,
    min_participation: int = 2,
    edge_weight: float = 0.5,
    min_campaign_size: int = 3,
    threshold_only: bool = False,
) -> tuple[CoordinatedNetwork, CampaignSet]:
    """The CooRTweet-compatible mode end to end (``vigil coortweet``).

    ``source`` is CooRTweet's own CSV layout, or a Vigil posts Parquet file (shares = co_reshare
    events). Writes ``coordinated_shares.parquet`` (the pairs), ``coortweet_edges.parquet`` (the
    network, CooRTweet's columns), ``coordinated_accounts.parquet`` (component per account) and
    the usual campaign outputs (campaigns, accounts, evidence, campaigns.json, report.md).
    """
    path = Path(source)
    con = connect()
    try:
        if path.suffix.lower() == ".csv":
            register_shares_csv(con, path)
        else:
            register_posts(con, path)
            register_shares_from_posts(con)
        network = coordinated_network(
            con, time_window=time_window, min_participation=min_participation, edge_weight=edge_weight
        )
    finally:
        con.close()
    campaign_set = coortweet_campaigns(
        network, min_campaign_size=min_campaign_size, threshold_only=threshold_only
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, table in (
        ("coordinated_shares.parquet", network.pairs),
        ("coortweet_edges.parquet", network.edges),
        ("coordinated_accounts.parquet", network.accounts),
    ):
        write_atomic(out / name, _parquet_bytes(table))
    params = {
        "mode": "coortweet",
        "time_window": time_window,
        "min_participation": min_participation,
        "edge_weight": edge_weight,
        "min_campaign_size": min_campaign_size,
        "threshold_only": threshold_only,
    }
    run = {
        "posts": str(path),
        "coordinated_share_pairs": network.pairs.num_rows,
        "objects": network.n_objects,
        "edges": network.edges.num_rows,
        "accounts": network.accounts.num_rows,
        "weight_threshold": network.weight_threshold,
    }
    samples = POST_DETAILS.empty_table()
    write_outputs(
        out,
        campaign_set,
        document=campaigns_document(campaign_set, samples, params=params, run=run),
        report=render_report(campaign_set, samples, run=run, params=params),
    )
    return network, campaign_set


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())
