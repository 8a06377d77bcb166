"""Detection pages: the campaigns an organisation's own detection runs found, with each campaign's
account network, activity over time, top items and sample posts.

Detection results are internal to the organisation that ran them, so they are read from
``data_dir/detections/<org id>/<run name>/`` (the output directory of ``vigil detect``, as
``vigil demo`` places it) and a viewer sees only their own organisation's runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from vigil.core.errors import NotFound
from vigil.core.settings import Settings
from vigil.detect import runs as detect_runs
from vigil.web.pages.common import ViewerDep, render
from vigil.web.pages.svg import Link, Node, bars_svg, network_svg

router = APIRouter(include_in_schema=False)

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
MAX_NODES = 300  # larger campaigns are drawn by their strongest accounts


def detections_dir(settings: Settings, org_id: str) -> Path:
    """Where an organisation's detection runs live (one ``vigil detect`` output directory each)."""
    return Path(settings.data_dir) / "detections" / org_id


def list_runs(settings: Settings, org_id: str) -> list[dict[str, Any]]:
    root = detections_dir(settings, org_id)
    runs = []
    for path in sorted(root.glob("*/campaigns.json")) if root.is_dir() else []:
        doc = _load(path)
        runs.append(
            {"name": path.parent.name, "run": doc.get("run", {}), "campaigns": doc.get("campaigns", [])}
        )
    return runs


def _load(path: Path) -> dict[str, Any]:
    """A run's campaigns.json (read by vigil.detect.runs, the one reader of detect's outputs)."""
    return detect_runs.read_document(path.parent)


def _run_dir(settings: Settings, org_id: str, run: str) -> Path:
    if not _NAME.match(run):
        raise NotFound(f"no detection run {run!r}", run=run)
    path = detections_dir(settings, org_id) / run
    if not (path / "campaigns.json").is_file():
        raise NotFound(f"no detection run {run!r}", run=run)
    return path


def campaign_network(run_dir: Path, campaign_id: str, accounts: list[dict[str, Any]]) -> str:
    """The campaign's account network drawn from the run's edges (all traces merged per pair)."""
    strongest = sorted(accounts, key=lambda a: -float(a.get("strength") or 0))[:MAX_NODES]
    nodes = [
        Node(a["account"], a.get("platform") or a["account"].split(":", 1)[0], a["account"])
        for a in strongest
    ]
    links = [Link(a, b, w) for a, b, w in detect_runs.campaign_edges(run_dir, campaign_id)]
    return network_svg(nodes, links)


def activity_svg(run_dir: Path, campaign_id: str) -> str:
    """Distinct coordinated posts per day (both sides of every evidence pair of the campaign)."""
    return bars_svg(detect_runs.posts_per_day(run_dir, campaign_id), label="coordinated posts per day")


def unique_posts(campaign: dict[str, Any]) -> list[dict[str, Any]]:
    """Sample posts once each (a post can be evidence of several items or traces)."""
    seen: set[str] = set()
    kept = []
    for post in campaign.get("sample_posts", []):
        key = str(post.get("post_id") or post.get("text"))
        if key not in seen:
            seen.add(key)
            kept.append(post)
    return kept


@router.get("/detections", response_class=HTMLResponse)
def detections_page(request: Request, viewer: ViewerDep) -> Response:
    runs = list_runs(request.app.state.settings, viewer.principal.org_id)
    return render(request, "detections.html", viewer, runs=runs)


@router.get("/detections/{run}/{campaign_id}", response_class=HTMLResponse)
def detection_page(request: Request, run: str, campaign_id: str, viewer: ViewerDep) -> Response:
    run_dir = _run_dir(request.app.state.settings, viewer.principal.org_id, run)
    doc = _load(run_dir / "campaigns.json")
    campaign = next((c for c in doc.get("campaigns", []) if c.get("campaign_id") == campaign_id), None)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id!r} in run {run!r}", campaign=campaign_id)
    accounts = list(campaign.get("accounts", []))
    return render(
        request,
        "detection.html",
        viewer,
        run=run,
        campaign=campaign,
        accounts=accounts,
        network=campaign_network(run_dir, campaign_id, accounts),
        activity=activity_svg(run_dir, campaign_id),
        sample_posts=unique_posts(campaign),
    )
