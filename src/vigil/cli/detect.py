"""Detection commands: ``vigil detect`` (posts -> ranked campaigns with evidence) and ``vigil evaluate``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from vigil.cli.common import split_csv
from vigil.cli.console import VigilConsole

if TYPE_CHECKING:
    from vigil.detect.evaluate import Evaluation
    from vigil.detect.pipeline import DetectResult

console = VigilConsole()

SHOWN_CAMPAIGNS = 15


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def print_detection(result: DetectResult) -> None:
    """The summary of a run: ranked campaigns, then sizes and timings."""
    campaigns = result.campaign_set.campaigns.to_pylist()
    table = Table(title=f"Campaigns ({len(campaigns)}; top {min(len(campaigns), SHOWN_CAMPAIGNS)} shown)")
    for name in (
        "rank",
        "score",
        "accounts",
        "platforms",
        "traces",
        "items",
        "posts",
        "languages",
        "campaign",
    ):
        table.add_column(
            name, justify="right" if name in {"rank", "score", "accounts", "items", "posts"} else "left"
        )
    for c in campaigns[:SHOWN_CAMPAIGNS]:
        table.add_row(
            str(c["rank"]),
            f"{c['score']:.3f}",
            str(c["n_accounts"]),
            ", ".join(c["platforms"]),
            ", ".join(c["traces"]),
            str(c["n_items"]),
            str(c["n_posts"]),
            ", ".join((c["languages"] or [])[:4]),
            c["campaign_id"],
        )
    console.print(table)
    s = result.summary
    run = Table(title="Run", show_header=False)
    run.add_column("what")
    run.add_column("value")
    for key in (
        "n_posts",
        "traces",
        "windows",
        "trace_edges",
        "graph_accounts",
        "graph_edges",
        "communities",
        "campaigns",
        "score_cut",
        "score_cut_method",
        "score_margin",
        "seconds",
        "posts_per_second",
        "peak_rss_mb",
    ):
        run.add_row(key, str(s.get(key)))
    run.add_row("outputs", str(result.out_dir))
    console.print(run)
    for warning in result.campaign_set.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


def print_evaluation(result: Evaluation) -> None:
    """Account- and campaign-level figures, then per style."""
    overall = Table(title="Evaluation", show_header=False)
    overall.add_column("measure")
    overall.add_column("value", justify="right")
    rows: list[tuple[str, str]] = [
        ("account precision", f"{result.account_precision:.3f}"),
        ("account recall", f"{result.account_recall:.3f}"),
        ("account F1", f"{result.account_f1:.3f}"),
        ("campaign-level F1 (mean best-match F1)", f"{result.campaign_f1:.3f}"),
        ("planted / detected campaigns", f"{result.planted_campaigns} / {result.detected_campaigns}"),
        ("detected campaigns matching nothing (F1 < 0.5)", str(result.detected_matching_nothing)),
        ("flagged accounts", str(result.flagged_accounts)),
        (
            "organic accounts flagged",
            f"{result.organic_flagged} of {result.organic_accounts} ({_pct(result.organic_flagged_share)})",
        ),
        ("flagged accounts not in the labels", str(result.unlabelled_flagged)),
    ]
    if (a := result.agreement) is not None:
        rows += [
            ("NMI with the labels (covered accounts)", f"{a.nmi:.3f}"),
            ("ARI with the labels (covered accounts)", f"{a.ari:.3f}"),
            ("purity", f"{a.purity:.3f}"),
            ("coverage", f"{a.covered_accounts} of {a.labelled_accounts} ({_pct(a.coverage)})"),
        ]
    for name, value in rows:
        overall.add_row(name, value)
    console.print(overall)
    styles = Table(title="By campaign style")
    for name in ("style", "campaigns", "accounts", "campaign F1", "account recall"):
        styles.add_column(name, justify="left" if name == "style" else "right")
    for s in result.by_style:
        styles.add_row(
            s.style,
            str(s.planted_campaigns),
            str(s.planted_accounts),
            f"{s.campaign_f1:.3f}",
            f"{s.account_recall:.3f}",
        )
    console.print(styles)


app = typer.Typer()


@app.command("detect")
def detect_command(
    posts: Path = typer.Argument(..., help="Posts table: a Parquet file or a directory of them."),
    out: Path = typer.Option(..., "--out", "-o", help="Directory for the results."),
    window: str | None = typer.Option(
        None, "--window", "-w", help="Co-action window in seconds, or 'auto'. Default: each trace's own."
    ),
    traces: list[str] | None = typer.Option(
        None, "--traces", "-t", help="Traces to run (repeat or comma-separate). Default: all."
    ),
    accounts: Path | None = typer.Option(
        None, "--accounts", help="Accounts table (creation dates feed the creation-clustering score)."
    ),
    min_items: int | None = typer.Option(None, "--min-items", help="Distinct shared items an edge needs."),
    min_repeats: int | None = typer.Option(
        None, "--min-repeats", help="...or this many co-actions on fewer items."
    ),
    min_edge_weight: float | None = typer.Option(
        None, "--min-edge-weight", help="Combined weight a pair needs."
    ),
    resolution: float | None = typer.Option(
        None, "--resolution", help="Leiden resolution. Default: CPM 0.03, modularity 1.0."
    ),
    objective: str | None = typer.Option(None, "--objective", help="Leiden objective: CPM or modularity."),
    min_size: int | None = typer.Option(None, "--min-size", help="Smallest campaign (accounts)."),
    min_score: float | None = typer.Option(
        None, "--min-score", help="Drop campaigns scoring below this. Default: a cut from the data."
    ),
    popularity_cap: int | None = typer.Option(
        None, "--popularity-cap", help="Skip items acted on by more accounts than this."
    ),
    popularity_share: float | None = typer.Option(
        None,
        "--popularity-share",
        help="Skip items acted on by more than this share (0-1] of a trace's accounts.",
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed of Leiden."),
    engine: str = typer.Option(
        "duckdb",
        "--engine",
        help="Engine running the traces: duckdb (embedded) or spark (docs/scale-out.md).",
    ),
    spark_master: str | None = typer.Option(
        None, "--spark-master", help="Spark master URL for --engine spark (default local[2])."
    ),
) -> None:
    """Detect coordinated campaigns in POSTS and write ranked campaigns with evidence to --out."""
    from vigil.cli.progress import RichProgress
    from vigil.detect.engines import engine_name
    from vigil.detect.params import make_params
    from vigil.detect.pipeline import detect

    # Unset options keep DetectParams' defaults (documented in docs/detection.md).
    graph = {
        "min_items": min_items,
        "min_repeats": min_repeats,
        "min_edge_weight": min_edge_weight,
        "resolution": resolution,
        "objective": objective,
        "min_campaign_size": min_size,
        "min_score": min_score,
        "seed": seed,
    }
    values: dict[str, Any] = {
        "traces": split_csv(traces),
        "window": window,
        "popularity_cap": popularity_cap,
        "popularity_share": popularity_share,
        "graph": {k: v for k, v in graph.items() if v is not None},
    }
    values = {k: v for k, v in values.items() if v is not None}
    params = make_params(**values)
    with RichProgress() as progress:
        result = detect(
            posts,
            out,
            params,
            progress,
            accounts_path=accounts,
            engine=engine_name(engine),
            spark_master=spark_master,
        )
    print_detection(result)


@app.command("coortweet")
def coortweet_command(
    source: Path = typer.Argument(
        ...,
        help="CooRTweet's CSV (object_id, account_id, content_id, timestamp) or a posts Parquet file.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Directory for the results."),
    time_window: float = typer.Option(10, "--time-window", help="Seconds (CooRTweet's time_window)."),
    min_participation: int = typer.Option(2, "--min-participation", help="CooRTweet's min_participation."),
    edge_weight: float = typer.Option(
        0.5, "--edge-weight", help="Quantile of edge weights an edge must exceed (strictly)."
    ),
    min_size: int = typer.Option(3, "--min-size", help="Smallest group made a campaign (accounts)."),
    threshold_only: bool = typer.Option(
        False, "--threshold-only", help="Campaigns from the above-threshold subgraph only."
    ),
) -> None:
    """CooRTweet-compatible mode: coordinated share pairs, network and groups as CooRTweet 2.1
    computes them (docs/detection.md), the groups written as campaigns."""
    from vigil.detect.coortweet_compat import run_coortweet

    network, campaign_set = run_coortweet(
        source,
        out,
        time_window=time_window,
        min_participation=min_participation,
        edge_weight=edge_weight,
        min_campaign_size=min_size,
        threshold_only=threshold_only,
    )
    n_components = len(set(network.accounts.column("component").to_pylist()))
    heavy = sum(network.edges.column("weight_threshold").to_pylist())
    console.print(
        f"coordinated share pairs {network.pairs.num_rows:,} on {network.n_objects:,} objects | "
        f"edges {network.edges.num_rows:,} | accounts {network.accounts.num_rows:,} | "
        f"components {n_components:,} | weight threshold {network.weight_threshold:g} "
        f"({heavy:,} edges above) | campaigns {campaign_set.campaigns.num_rows:,} -> {out}",
        highlight=False,
    )


@app.command("evaluate")
def evaluate_command(
    detections: Path = typer.Argument(..., help="A `vigil detect` output directory."),
    labels: Path = typer.Argument(
        ..., help="labels.parquet of the generated data, or any CSV/Parquet of account labels."
    ),
    json_out: Path | None = typer.Option(
        None, "--json", help="Also write the figures as JSON to this file ('-' for stdout)."
    ),
    account_column: str | None = typer.Option(
        None, "--account-column", help="Labels column holding the account id (e.g. userid)."
    ),
    label_column: str | None = typer.Option(
        None, "--label-column", help="Labels column holding the campaign or category."
    ),
    platform: str | None = typer.Option(
        None, "--platform", help="Platform of the labelled accounts (default: the detections' own)."
    ),
    platform_column: str | None = typer.Option(
        None, "--platform-column", help="Labels column holding the platform, if any."
    ),
    organic: list[str] | None = typer.Option(
        None, "--organic", help="Label value meaning 'not part of any operation' (repeatable)."
    ),
) -> None:
    """Compare detected campaigns with labels: precision, recall, F1, organic accounts flagged;
    with category labels (no organic account) also NMI, ARI, purity and coverage."""
    from vigil.detect.evaluate import evaluate, load_detections, load_label_file, load_labels

    detected = load_detections(detections)
    if account_column is None and label_column is None:
        table = load_labels(labels)
    else:
        if account_column is None or label_column is None:
            raise typer.BadParameter("give both --account-column and --label-column")
        platforms = {account.split(":", 1)[0] for members in detected.values() for account in members}
        table = load_label_file(
            labels,
            account_column=account_column,
            label_column=label_column,
            platform=platform or (platforms.pop() if len(platforms) == 1 else None),
            platform_column=platform_column,
            organic_values=tuple(organic or ()),
        )
    result = evaluate(detected, table)
    if json_out is not None and str(json_out) == "-":
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    print_evaluation(result)
    if json_out is not None:
        json_out.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
