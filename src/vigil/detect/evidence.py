"""Evidence an analyst can check by hand, and the files a detection run writes.

``post_details`` joins every post named in a campaign's evidence with the posts table (text,
language), so campaigns get their languages and the report can quote the exact posts behind the
top shared items with their timestamps. ``write_outputs`` writes the run's tables atomically:

- campaigns.parquet (CAMPAIGNS), campaign_accounts.parquet (CAMPAIGN_ACCOUNTS),
  campaign_evidence.parquet (CAMPAIGN_EVIDENCE: every post pair behind every edge inside a campaign),
  edges.parquet (the supported per-trace edges, tagged with their campaign);
- campaigns.json (parameters, graph sizes, each campaign with its score breakdown, accounts and
  sample posts) and report.md (report.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from vigil import __version__
from vigil.core.files import write_atomic
from vigil.core.settings import Settings, get_settings
from vigil.core.time import isoformat_z
from vigil.detect.campaigns import CAMPAIGN_ACCOUNTS, CAMPAIGN_EVIDENCE, CAMPAIGNS, CampaignSet
from vigil.detect.contract import EDGES
from vigil.detect.duck import LocalPosts, parquet_files
from vigil.schema.io import ParquetSink
from vigil.schema.tables import TableSpec

SAMPLE_ITEMS = 3  # top items per campaign whose posts are quoted
SAMPLE_POSTS = 6  # posts quoted per item
TEXT_CHARS = 280

EDGES_OUT = EDGES.append(pa.field("campaign_id", pa.string()))
OUTPUT_SPECS = {
    "campaigns.parquet": TableSpec("campaigns", CAMPAIGNS, ("campaign_id",)),
    "campaign_accounts.parquet": TableSpec(
        "campaign_accounts", CAMPAIGN_ACCOUNTS, ("campaign_id", "account")
    ),
    "campaign_evidence.parquet": TableSpec(
        "campaign_evidence", CAMPAIGN_EVIDENCE, ("campaign_id", "trace", "item", "post_a", "post_b")
    ),
    "edges.parquet": TableSpec("edges", EDGES_OUT, ("trace", "account_a", "account_b")),
}

POST_DETAILS = pa.schema(
    [
        pa.field("campaign_id", pa.string()),
        pa.field("trace", pa.string()),
        pa.field("item", pa.string()),
        pa.field("item_rank", pa.int64()),
        pa.field("account", pa.string()),
        pa.field("post_id", pa.string()),
        pa.field("ts", pa.timestamp("us", tz="UTC")),
        pa.field("lang", pa.string()),
        pa.field("text", pa.string()),
    ]
)


def _connect(settings: Settings) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET threads = {int(settings.duckdb_threads)}")
    con.execute("SET memory_limit = ?", [settings.duckdb_memory_limit])
    # No DuckDB progress bar on stdout (see detect.duck.connect).
    con.execute("SET enable_progress_bar = false")
    if settings.temp_dir is not None:
        con.execute("SET temp_directory = ?", [str(settings.temp_dir)])
    return con


def post_details(
    evidence: pa.Table, posts_path: LocalPosts, *, settings: Settings | None = None
) -> tuple[dict[str, list[str]], pa.Table]:
    """Languages per campaign (most posts first) and the quoted posts of each campaign's top items.

    ``posts_path`` is a posts file, a directory of them or a list of either (as ``vigil detect``
    takes them); DataError naming a missing one."""
    settings = settings or get_settings()
    if evidence.num_rows == 0:
        return {}, POST_DETAILS.empty_table()
    files = [str(f) for f in parquet_files(posts_path)]
    con = _connect(settings)
    try:
        con.register("evidence", evidence)
        con.execute(
            """
            CREATE TEMP TABLE ev AS
            SELECT DISTINCT campaign_id, trace, item, account_a AS account, post_a AS post_id, ts_a AS ts
              FROM evidence
            UNION
            SELECT DISTINCT campaign_id, trace, item, account_b, post_b, ts_b FROM evidence
            """
        )
        # Only posts whose id is named in the evidence can match: the filter runs on the post id
        # column first, so the wide text column is decoded and joined for those rows alone (0.83 ->
        # 0.54 s of CPU at 1M generated posts; the same rows).
        con.execute(
            """
            CREATE TEMP TABLE detail AS
            SELECT ev.*, p.lang, p.text
              FROM ev
              LEFT JOIN (SELECT platform || ':' || account_id AS account, post_id, lang, text
                           FROM read_parquet(?) WHERE post_id IN (SELECT post_id FROM ev)) p
                USING (account, post_id)
            """,
            [files],
        )
        langs = con.execute(
            """
            SELECT campaign_id, list(lang ORDER BY n DESC, lang) FROM (
              SELECT campaign_id, lang, count(DISTINCT (account, post_id)) AS n
                FROM detail WHERE lang IS NOT NULL GROUP BY ALL)
             GROUP BY campaign_id
            """
        ).fetchall()
        # Posts ordered by time, account and post id: one account's posts in the same second (IRA's
        # timestamps are to the minute) otherwise tie, and which of them were sampled varied by run.
        samples = con.sql(
            f"""
            WITH ranked AS (
              SELECT campaign_id, trace, item,
                     row_number() OVER (PARTITION BY campaign_id
                                        ORDER BY count(DISTINCT account) DESC, count(*) DESC, trace, item)
                       AS item_rank
                FROM detail GROUP BY campaign_id, trace, item),
            posts AS (
              SELECT d.campaign_id, d.trace, d.item, r.item_rank, d.account, d.post_id, d.ts, d.lang,
                     left(d.text, {TEXT_CHARS}) AS text,
                     row_number() OVER (PARTITION BY d.campaign_id, d.trace, d.item
                                        ORDER BY d.ts, d.account, d.post_id) AS post_rank
                FROM detail d JOIN ranked r USING (campaign_id, trace, item)
               WHERE r.item_rank <= {SAMPLE_ITEMS})
            SELECT campaign_id, trace, item, item_rank, account, post_id, ts, lang, text
              FROM posts WHERE post_rank <= {SAMPLE_POSTS}
             ORDER BY campaign_id, item_rank, ts, account, post_id
            """
        ).to_arrow_table()
    finally:
        con.close()
    return {str(c): [str(x) for x in ls] for c, ls in langs}, samples.cast(POST_DETAILS)


def with_languages(campaigns: pa.Table, languages: Mapping[str, list[str]]) -> pa.Table:
    """The campaigns table with its ``languages`` column filled in."""
    values = [languages.get(cid) for cid in campaigns.column("campaign_id").to_pylist()]
    index = campaigns.schema.get_field_index("languages")
    return campaigns.set_column(index, campaigns.schema.field(index), pa.array(values, pa.list_(pa.string())))


def enrich(
    campaign_set: CampaignSet, posts_path: LocalPosts, *, settings: Settings | None = None
) -> tuple[CampaignSet, pa.Table]:
    """Fill campaign languages from the posts table; also return the sample posts for the report."""
    languages, samples = post_details(campaign_set.evidence, posts_path, settings=settings)
    return replace(campaign_set, campaigns=with_languages(campaign_set.campaigns, languages)), samples


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return isoformat_z(value)
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


def campaigns_document(
    campaign_set: CampaignSet, samples: pa.Table, *, params: Mapping[str, Any], run: Mapping[str, Any]
) -> dict[str, Any]:
    """The campaigns.json document: run metadata and every campaign with accounts and sample posts."""
    accounts: dict[str, list[dict[str, Any]]] = {}
    for row in campaign_set.accounts.to_pylist():
        accounts.setdefault(row.pop("campaign_id"), []).append(row)
    quoted: dict[str, list[dict[str, Any]]] = {}
    for row in samples.to_pylist():
        quoted.setdefault(row.pop("campaign_id"), []).append(row)
    campaigns = []
    for row in campaign_set.campaigns.to_pylist():
        cid = row["campaign_id"]
        scores = {name[len("score_") :]: row.pop(name) for name in list(row) if name.startswith("score_")}
        campaigns.append(
            {
                **row,
                "score_components": scores,
                "accounts": accounts.get(cid, []),
                "sample_posts": quoted.get(cid, []),
            }
        )
    document = {
        "vigil_version": __version__,
        "generated_at": datetime.now(UTC),
        "run": dict(run),
        "params": dict(params),
        "graph": campaign_set.graph,
        "warnings": list(campaign_set.warnings),
        "campaigns": campaigns,
    }
    return dict(_json_value(document))


def write_outputs(
    out_dir: str | Path,
    campaign_set: CampaignSet,
    *,
    document: Mapping[str, Any],
    report: str,
) -> dict[str, Path]:
    """Write the four tables, campaigns.json and report.md into ``out_dir``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = {
        "campaigns.parquet": campaign_set.campaigns,
        "campaign_accounts.parquet": campaign_set.accounts,
        "campaign_evidence.parquet": campaign_set.evidence,
        "edges.parquet": campaign_set.edges,
    }
    paths: dict[str, Path] = {}
    for name, table in tables.items():
        with ParquetSink(out / name, OUTPUT_SPECS[name]) as sink:
            sink.write(table)
        paths[name] = out / name
    write_atomic(out / "campaigns.json", json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    paths["campaigns.json"] = out / "campaigns.json"
    write_atomic(out / "report.md", report)
    paths["report.md"] = out / "report.md"
    return paths


def campaign_platform_counts(campaigns: pa.Table) -> dict[str, int]:
    """How many campaigns span one platform, and how many span several (for summaries)."""
    n_platforms = pc.list_value_length(campaigns.column("platforms")).to_pylist()
    return {
        "single_platform": sum(1 for n in n_platforms if n == 1),
        "cross_platform": sum(1 for n in n_platforms if n and n > 1),
    }
