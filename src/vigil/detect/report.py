"""The Markdown report of a detection run: ranked campaigns an analyst can verify by hand.

For each campaign: its score and the breakdown by component, size, platforms, languages, time span,
traces, top shared items, member accounts, and the exact sample posts (with timestamps) behind its
top items. Pure: takes the run's tables, returns text.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pyarrow as pa

from vigil.core.time import isoformat_z
from vigil.detect import score
from vigil.detect.campaigns import CampaignSet

MAX_CAMPAIGNS = 50  # campaigns detailed in the report (all are in campaigns.parquet)
MAX_ACCOUNTS = 25  # member accounts listed per campaign


def _cell(value: Any) -> str:
    """A value as it may appear in a Markdown table cell (no pipes or newlines)."""
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return isoformat_z(value)
    if isinstance(value, float):
        return f"{value:.3f}"
    text = str(value).replace("|", "\\|").replace("\n", " ").replace("\r", " ")
    return text


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def render_report(
    campaign_set: CampaignSet,
    samples: pa.Table,
    *,
    run: Mapping[str, Any],
    params: Mapping[str, Any],
) -> str:
    """Render report.md."""
    campaigns = campaign_set.campaigns.to_pylist()
    accounts: dict[str, list[dict[str, Any]]] = {}
    for row in campaign_set.accounts.to_pylist():
        accounts.setdefault(row["campaign_id"], []).append(row)
    quoted: dict[str, list[dict[str, Any]]] = {}
    for row in samples.to_pylist():
        quoted.setdefault(row["campaign_id"], []).append(row)

    out = ["# Vigil detection report", ""]
    out += [f"- {key}: {_cell(value)}" for key, value in run.items()]
    out += [f"- graph: {', '.join(f'{k} {v}' for k, v in campaign_set.graph.items())}"]
    out += [f"- **warning**: {warning}" for warning in campaign_set.warnings]
    window = params.get("window")
    if window is None:
        shown = "each trace's own (see windows)"
    else:
        shown = f"{window} s" if isinstance(window, int | float) else str(window)
    out += [f"- window: {shown}", ""]
    out += [
        "Scores are weighted means of components in [0, 1] (see docs/detection.md, Scoring). Every edge "
        "below is backed by rows of campaign_evidence.parquet naming the two posts and their timestamps.",
        "",
        "## Ranked campaigns",
        "",
    ]
    out += _table(
        [
            "rank",
            "campaign",
            "score",
            "accounts",
            "platforms",
            "traces",
            "items",
            "posts",
            "languages",
            "span",
        ],
        [
            [
                c["rank"],
                c["campaign_id"],
                c["score"],
                c["n_accounts"],
                ", ".join(c["platforms"]),
                ", ".join(c["traces"]),
                c["n_items"],
                c["n_posts"],
                ", ".join((c["languages"] or [])[:5]),
                f"{_cell(c['first_seen'])} – {_cell(c['last_seen'])}",
            ]
            for c in campaigns
        ],
    )
    if not campaigns:
        out += ["", "No campaign was found with these parameters."]
    for c in campaigns[:MAX_CAMPAIGNS]:
        cid = c["campaign_id"]
        out += ["", f"## {c['rank']}. {cid}", ""]
        out += [
            f"- score **{c['score']:.3f}**; {c['n_accounts']} accounts on {', '.join(c['platforms'])}; "
            f"{c['n_edges']} linked pairs; {c['n_items']} shared items; {c['n_posts']} posts; "
            f"{c['n_coactions']} co-actions",
            f"- time span: {_cell(c['first_seen'])} to {_cell(c['last_seen'])}; median lag between "
            f"co-acting posts {_cell(c['median_lag_s'])} s",
            f"- traces: {', '.join(c['traces'])}; languages: {', '.join(c['languages'] or []) or '–'}",
            "",
            "Score breakdown:",
            "",
        ]
        out += _table(
            ["component", "value", "weight"],
            [[name, c[f"score_{name}"], score.COMPONENT_WEIGHTS[name]] for name in score.COMPONENTS],
        )
        out += ["", "Top shared items:", ""]
        out += _table(
            ["trace", "item", "accounts", "posts"],
            [[t["trace"], t["item"], t["n_accounts"], t["n_posts"]] for t in c["top_items"]],
        )
        members = accounts.get(cid, [])
        out += ["", f"Accounts ({len(members)}, strongest first):", ""]
        out += _table(
            ["account", "linked members", "strength", "posts", "first seen", "last seen", "created"],
            [
                [
                    m["account"],
                    m["degree"],
                    m["strength"],
                    m["n_posts"],
                    m["first_seen"],
                    m["last_seen"],
                    m["created_at"],
                ]
                for m in members[:MAX_ACCOUNTS]
            ],
        )
        if len(members) > MAX_ACCOUNTS:
            out += ["", f"… and {len(members) - MAX_ACCOUNTS} more in campaign_accounts.parquet."]
        posts = quoted.get(cid, [])
        if posts:
            out += ["", "Sample posts behind the top items:", ""]
            out += _table(
                ["trace", "item", "time (UTC)", "account", "post", "lang", "text"],
                [
                    [p["trace"], p["item"], p["ts"], p["account"], p["post_id"], p["lang"], p["text"]]
                    for p in posts
                ],
            )
    if len(campaigns) > MAX_CAMPAIGNS:
        out += ["", f"{len(campaigns) - MAX_CAMPAIGNS} lower-ranked campaigns are in campaigns.parquet."]
    return "\n".join(out) + "\n"
