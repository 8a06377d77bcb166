"""End-to-end detection: posts -> every trace via the engine -> graph -> campaigns -> evidence -> files.

``detect(posts_path, out_dir, params, progress)`` is what ``vigil detect`` runs. The engine writes
the per-trace ``edges.parquet``, ``evidence.parquet`` and ``traces.json`` into ``out_dir``; this
module then builds campaigns from them and writes campaigns.parquet, campaign_accounts.parquet,
campaign_evidence.parquet, campaigns.json, report.md, and rewrites edges.parquet with each edge's
campaign (docs/detection.md, "Evidence and outputs").
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from vigil.core.errors import DataError
from vigil.core.progress import NoProgress, Progress, plan_stages
from vigil.core.settings import Settings, get_settings
from vigil.detect.campaigns import CAMPAIGN_STEPS, CampaignSet, find_campaigns
from vigil.detect.duck import PostsSource, connect, count_rows, register_posts
from vigil.detect.engine import EngineParams, RunResult, TraceStats, run_traces
from vigil.detect.engines import EngineName
from vigil.detect.evidence import POST_DETAILS, campaigns_document, enrich, write_outputs
from vigil.detect.params import DetectParams
from vigil.detect.report import render_report
from vigil.detect.shifts import local_posts
from vigil.detect.traces import STRUCTURAL_TRACES, select_traces
from vigil.detect.traces.base import TraceSpec, trace_kinds
from vigil.detect.traces.crosslingual import CO_TEXT_CROSSLINGUAL, co_text_crosslingual
from vigil.detect.traces.image import CO_IMAGE, co_image
from vigil.detect.traces.links import CO_DOMAIN, LOW_TRAFFIC_DOMAIN_ACCOUNTS
from vigil.detect.traces.reshare import CO_RESHARE
from vigil.detect.traces.text import CO_TEXT_EXACT, CO_TEXT_NEAR, text_traces
from vigil.detect.weights import WEIGHTINGS
from vigil.detect.window import AutoWindow, FixedWindow, WindowPolicy
from vigil.schema.io import read_table
from vigil.schema.tables import ACCOUNTS

# Steps that prepare further traces on the connection (e.g. text or image clusters registered as
# event tables) and return their specs. Each takes the connection with ``posts`` registered.
TraceProvider = Callable[[duckdb.DuckDBPyConnection, DetectParams, Progress], dict[str, TraceSpec]]


# Slow coordination: the same low-traffic domain linked by the same accounts hours apart, again and
# again. A day-long window is affordable only on items few accounts touch (the domain cap), and is
# what finds campaigns that spread each push over hours to stay under minute-scale windows.
CO_DOMAIN_SLOW = TraceSpec(
    name="co_domain_slow",
    description=(
        f"same low-traffic registrable domain (at most {LOW_TRAFFIC_DOMAIN_ACCOUNTS} accounts) "
        "posted within a day"
    ),
    events_sql=CO_DOMAIN.events_sql,
    window=FixedWindow(86_400.0),
    max_item_accounts=LOW_TRAFFIC_DOMAIN_ACCOUNTS,
    signal_kinds=CO_DOMAIN.signal_kinds,
)


# Slow amplification: resharing the same posts hours apart, again and again. Operations schedule
# their amplifiers' retweets over the day (on the IRA 2017 archive the same-minute co_reshare links
# 151 accounts, this trace 267); IDF weights and the two-item support keep chance pairs out.
CO_RESHARE_SLOW = TraceSpec(
    name="co_reshare_slow",
    description="reshared the same posts within a day",
    events_sql=CO_RESHARE.events_sql,
    window=FixedWindow(86_400.0),
    signal_kinds=CO_RESHARE.signal_kinds,
)


def structural_traces(
    con: duckdb.DuckDBPyConnection, params: DetectParams, progress: Progress
) -> dict[str, TraceSpec]:
    """Traces computed from the posts columns alone (links, reshares, replies, hashtags...)."""
    return {**STRUCTURAL_TRACES, CO_DOMAIN_SLOW.name: CO_DOMAIN_SLOW, CO_RESHARE_SLOW.name: CO_RESHARE_SLOW}


def _wanted(params: DetectParams, names: tuple[str, ...]) -> bool:
    return params.traces is None or any(name in params.traces for name in names)


# Slow copy-paste: the same text posted by the same accounts days apart, again and again (on the
# IRA 2017 archive a cohort of 51 accounts posted only texts of another community's, over days).
CO_TEXT_EXACT_SLOW = "co_text_exact_slow"
TEXT_TRACES = (CO_TEXT_EXACT, CO_TEXT_NEAR, CO_TEXT_CROSSLINGUAL, CO_TEXT_EXACT_SLOW)
IMAGE_TRACES = (CO_IMAGE,)


def text_traces_provider(
    con: duckdb.DuckDBPyConnection, params: DetectParams, progress: Progress
) -> dict[str, TraceSpec]:
    """Exact, near-duplicate and cross-lingual text (clusters computed here, registered as event
    tables; the cross-lingual trace starts from the near-duplicate groups)."""
    if not _wanted(params, TEXT_TRACES):
        return {}
    exact, near, _ = text_traces(con, progress=progress)
    crosslingual = co_text_crosslingual(con, progress=progress)
    slow = replace(
        exact.spec,
        name=CO_TEXT_EXACT_SLOW,
        description="same normalized text posted within a day",
        window=FixedWindow(86_400.0),
    )
    return {trace.name: trace.spec for trace in (exact, near, crosslingual)} | {slow.name: slow}


def image_trace_provider(
    con: duckdb.DuckDBPyConnection, params: DetectParams, progress: Progress
) -> dict[str, TraceSpec]:
    """The same picture: PDQ hashes within 31 bits, or equal opaque image ids."""
    if not _wanted(params, IMAGE_TRACES):
        return {}
    trace = co_image(con, progress=progress)
    return {trace.name: trace.spec}


TRACE_PROVIDERS: list[TraceProvider] = [structural_traces, text_traces_provider, image_trace_provider]


@dataclass(frozen=True)
class ProviderPlan:
    """What a provider does to progress: ``stages`` started when one of its ``traces`` is wanted."""

    stages: int
    traces: tuple[str, ...]


# Known before any provider runs, so that ``detect`` can announce "stage k of n" from the first
# stage on (tests/detect/test_detect_progress.py checks them against what the providers start).
PROVIDER_PLANS: dict[TraceProvider, ProviderPlan] = {
    structural_traces: ProviderPlan(0, (*STRUCTURAL_TRACES, CO_DOMAIN_SLOW.name, CO_RESHARE_SLOW.name)),
    # normalizing texts, near-duplicate texts, cross-lingual texts
    text_traces_provider: ProviderPlan(3, TEXT_TRACES),
    # image hashes
    image_trace_provider: ProviderPlan(1, IMAGE_TRACES),
}

# After the engine's one stage per trace: "graph and campaigns", "writing outputs".
_FINAL_STAGES = 2


def planned_stages(params: DetectParams, providers: list[TraceProvider]) -> int | None:
    """How many progress stages ``detect`` runs with these providers; None when one of them is not
    in :data:`PROVIDER_PLANS` (a caller's own provider: its stages are not known in advance)."""
    stages = _FINAL_STAGES
    names: list[str] = []
    for provider in providers:
        plan = PROVIDER_PLANS.get(provider)
        if plan is None:
            return None
        if plan.stages and _wanted(params, plan.traces):
            stages += plan.stages
        names.extend(plan.traces)
    # One engine stage per selected trace (select_traces takes the names as given).
    return stages + (len(names) if params.traces is None else len(params.traces))


@dataclass(frozen=True)
class DetectResult:
    """What a detection run produced and how long it took."""

    out_dir: Path
    paths: dict[str, Path]
    campaign_set: CampaignSet
    trace_stats: list[TraceStats]
    summary: dict[str, Any] = field(default_factory=dict)


def window_policy(window: float | str | None) -> WindowPolicy | None:
    """The engine's window for a run: None keeps each trace's own default."""
    if window is None:
        return None
    if window == "auto":
        return AutoWindow()
    return FixedWindow(float(window))


def engine_params(params: DetectParams) -> EngineParams:
    """The engine's knobs of a detection run."""
    return EngineParams(
        window=window_policy(params.window),
        min_items=1,
        min_coactions=params.engine_min_coactions,
        max_item_accounts=params.popularity_cap,
        max_item_share=params.popularity_share,
        weighting=WEIGHTINGS[params.weighting],
        evidence_per_item=params.evidence_per_item,
        evidence_items_per_edge=params.evidence_items_per_edge,
    )


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _read_accounts(path: str | Path | None) -> pa.Table | None:
    if path is None:
        return None
    if not Path(path).is_file():
        raise DataError("accounts file not found", file=str(path))
    return read_table(path, ACCOUNTS).select(["platform", "account_id", "created_at"])


def _read(path: Path) -> pa.Table:
    try:
        return pq.read_table(str(path))
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"cannot read the engine's output: {exc}", file=str(path)) from exc


def campaigns_from_run(
    run: RunResult,
    posts_path: PostsSource,
    out_dir: Path,
    params: DetectParams,
    *,
    accounts: pa.Table | None,
    settings: Settings,
    progress: Progress,
    run_info: dict[str, Any],
    item_kinds: Mapping[str, tuple[str, ...]] | None = None,
) -> tuple[CampaignSet, dict[str, Path]]:
    """Graph, campaigns, evidence and output files from the engine's tables (``item_kinds``: the
    signal kinds each trace declares, :func:`vigil.detect.traces.base.trace_kinds`)."""
    progress.start("graph and campaigns", total=2 + CAMPAIGN_STEPS)
    edges = _read(run.edges_path)
    progress.advance()
    # The evidence goes by path: find_campaigns reads it in batches and keeps only the rows inside
    # campaign candidates (read whole, it took 2 GB of Arrow and ~4 GB RSS at 10M posts).
    campaign_set = find_campaigns(
        edges,
        run.evidence_path,
        params,
        accounts=accounts,
        item_kinds=item_kinds,
        posts=local_posts(posts_path),
        progress=progress,
    )
    del edges
    # Posts on this machine (a file, a directory of them, or a list) give languages and quoted
    # posts; an Arrow table or a cluster URI (Spark) does not.
    local = None if isinstance(posts_path, pa.Table) else posts_path
    given = [local] if isinstance(local, str | Path) else list(local or [])
    if local is not None and given and all(Path(p).exists() for p in given):
        campaign_set, samples = enrich(campaign_set, local, settings=settings)
    else:
        samples = POST_DETAILS.empty_table()
    progress.advance()
    progress.finish()

    progress.start("writing outputs", total=1)
    params_doc = params.model_dump(mode="json")
    report = render_report(campaign_set, samples, run=run_info, params=params_doc)
    document = campaigns_document(campaign_set, samples, params=params_doc, run=run_info)
    paths = write_outputs(out_dir, campaign_set, document=document, report=report)
    progress.advance()
    progress.finish()
    return campaign_set, paths


def detect(
    posts_path: PostsSource,
    out_dir: str | Path,
    params: DetectParams | None = None,
    progress: Progress | None = None,
    *,
    accounts_path: str | Path | None = None,
    settings: Settings | None = None,
    providers: list[TraceProvider] | None = None,
    engine: EngineName = "duckdb",
    spark_master: str | None = None,
    spark_session: Any = None,
) -> DetectResult:
    """Run every enabled trace on ``posts_path`` and write ranked campaigns with evidence to ``out_dir``.

    ``engine="spark"`` runs the same engine SQL on Spark (``spark_master``, or an existing
    ``spark_session``); posts may then be a Hadoop-compatible URI, in which case only the
    structural traces run (the content traces cluster on the driver from local posts).
    """
    params = params or DetectParams()
    progress = progress or NoProgress()
    settings = settings or get_settings()
    out = Path(out_dir)
    accounts = _read_accounts(accounts_path)
    started = time.perf_counter()
    con = connect(settings)
    try:
        if engine == "spark":
            # Imported here: sqlglot and pyspark come with the optional 'spark' extra.
            from vigil.detect.engines.spark import is_local, run_on_spark
        local = engine == "duckdb" or is_local(posts_path)
        chosen = providers if providers is not None else TRACE_PROVIDERS
        if local:
            register_posts(con, posts_path)
            n_posts = count_rows(con, "posts")
        running: list[TraceProvider] = chosen if local else [structural_traces]
        stages = planned_stages(params, running)
        if stages is not None:
            plan_stages(progress, stages)
        available: dict[str, TraceSpec] = {}
        for provider in running:
            available.update(provider(con, params, progress))
        traces = select_traces(params.traces, available)
        if engine == "spark":
            run, n_posts = run_on_spark(
                con,
                traces,
                engine_params(params),
                posts=posts_path,
                out_dir=out,
                progress=progress,
                session=spark_session,
                master=spark_master,
            )
        else:
            run = run_traces(con, traces, engine_params(params), out_dir=out, progress=progress)
    finally:
        con.close()
    engine_seconds = time.perf_counter() - started
    run_info: dict[str, Any] = {
        "posts": str(posts_path) if isinstance(posts_path, str | Path) else "<table>",
        "n_posts": n_posts,
        "traces": ", ".join(t.name for t in traces),
        "windows": ", ".join(f"{s.trace} {s.window.seconds:g}s ({s.window.method})" for s in run.stats),
    }
    campaign_set, paths = campaigns_from_run(
        run,
        posts_path,
        out,
        params,
        accounts=accounts,
        settings=settings,
        progress=progress,
        run_info=run_info,
        item_kinds=trace_kinds(traces),
    )
    seconds = time.perf_counter() - started
    paths.update({"evidence.parquet": run.evidence_path, "traces.json": run.stats_path})
    summary = {
        **run_info,
        **campaign_set.graph,
        "warnings": list(campaign_set.warnings),
        "seconds": round(seconds, 3),
        "engine_seconds": round(engine_seconds, 3),
        "posts_per_second": round(n_posts / seconds, 1) if seconds > 0 else None,
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "trace_stats": [asdict(s) for s in run.stats],
    }
    return DetectResult(out, paths, campaign_set, run.stats, summary)
