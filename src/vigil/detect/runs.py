"""Reading a ``vigil detect`` output directory: the one reader of detect's files outside detection.

Cases (opening a case from a detection) and the web pages (a run's campaigns, network and activity)
read a run through these functions, so the file names, their columns and the Parquet library stay
detection's business (docs/detection.md, "Evidence and outputs"). Every failure to read is a
``DataError`` naming the file.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vigil.core.errors import DataError, NotFound

CAMPAIGNS_JSON = "campaigns.json"
EDGES = "edges.parquet"
CAMPAIGN_EVIDENCE = "campaign_evidence.parquet"


def is_run(directory: str | Path) -> bool:
    """Whether ``directory`` holds a detection run's output (its campaigns.json)."""
    return (Path(directory) / CAMPAIGNS_JSON).is_file()


def read_document(directory: str | Path) -> dict[str, Any]:
    """The run's campaigns.json as a dict (DataError naming the file if it is missing or invalid)."""
    path = Path(directory) / CAMPAIGNS_JSON
    if not path.is_file():
        raise DataError("not a detection output: campaigns.json is missing", file=str(path))
    try:
        document = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON: {exc.msg}", file=str(path), row=exc.lineno) from exc
    except OSError as exc:
        raise DataError(f"cannot read detection output: {exc}", file=str(path)) from exc
    if not isinstance(document, dict):
        raise DataError("detection output is not a JSON object", file=str(path))
    return document


def find_campaign(
    document: dict[str, Any], campaign_id: str, *, source: str = CAMPAIGNS_JSON
) -> dict[str, Any]:
    """The campaign ``campaign_id`` (or its rank, e.g. "1") of a campaigns.json document."""
    campaigns = document.get("campaigns")
    if not isinstance(campaigns, list):
        raise DataError("no 'campaigns' list", file=source, column="campaigns")
    for campaign in campaigns:
        if campaign.get("campaign_id") == campaign_id or str(campaign.get("rank")) == str(campaign_id):
            return dict(campaign)
    known = ", ".join(f"{c.get('rank')}: {c.get('campaign_id')}" for c in campaigns[:10]) or "none"
    raise NotFound(f"{source} has no campaign {campaign_id!r}; campaigns (rank: id): {known}")


def _read(path: Path, columns: list[str], campaign_id: str) -> pa.Table:
    try:
        table = pq.read_table(str(path), columns=columns)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"cannot read detection output: {exc}", file=str(path)) from exc
    return table.filter(pc.equal(table.column("campaign_id"), campaign_id))


def campaign_edges(directory: str | Path, campaign_id: str) -> list[tuple[str, str, float]]:
    """The campaign's account pairs (a < b) with their weights summed over traces, sorted by pair;
    empty when the run has no edges file."""
    path = Path(directory) / EDGES
    if not path.is_file():
        return []
    table = _read(path, ["account_a", "account_b", "weight", "campaign_id"], campaign_id)
    weights: dict[tuple[str, str], float] = {}
    for a, b, w in zip(
        table.column("account_a").to_pylist(),
        table.column("account_b").to_pylist(),
        table.column("weight").to_pylist(),
        strict=True,
    ):
        key = (a, b) if a < b else (b, a)
        weights[key] = weights.get(key, 0.0) + float(w)
    return sorted((a, b, w) for (a, b), w in weights.items())


def posts_per_day(directory: str | Path, campaign_id: str) -> list[tuple[str, int]]:
    """Distinct coordinated posts per UTC day (both sides of every evidence pair of the campaign),
    in day order; empty when the run has no campaign evidence file."""
    path = Path(directory) / CAMPAIGN_EVIDENCE
    if not path.is_file():
        return []
    table = _read(path, ["campaign_id", "post_a", "ts_a", "post_b", "ts_b"], campaign_id)
    days_of: dict[str, str] = {}
    for side in ("a", "b"):
        days = pc.strftime(table.column(f"ts_{side}"), format="%Y-%m-%d").to_pylist()
        days_of.update(zip(table.column(f"post_{side}").to_pylist(), days, strict=True))
    return sorted(Counter(days_of.values()).items())
