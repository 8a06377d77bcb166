"""Compare detected campaigns with planted ones (labels.parquet). Labels are read only here.

Definitions (docs/detection.md, "Evaluation"), with accounts written ``platform:account_id``:

- **flagged** accounts: members of any detected campaign; **planted**: labelled with a campaign;
  **organic**: labelled without one. Account precision = |flagged ∩ planted| / |flagged|, recall =
  |flagged ∩ planted| / |planted|, F1 their harmonic mean. Flagged accounts absent from the labels
  count against precision.
- For planted campaign P and detected D, ``F1(P, D) = 2 |P ∩ D| / (|P| + |D|)``. Each planted campaign
  is matched to the detected campaign of highest F1 (its *best match*); **campaign-level F1** is the
  mean of those best-match F1 values over planted campaigns (0 for a planted campaign nothing overlaps).
- A detected campaign **matches nothing** when its F1 with every planted campaign is below 0.5.
- **organic flagged share** = |flagged ∩ organic| / |organic|.
- Per style: planted campaigns of that style, their mean best-match F1, and the account recall over
  the style's planted accounts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vigil.core.errors import DataError
from vigil.schema.io import read_table
from vigil.schema.tables import LABELS

MATCH_F1 = 0.5  # a detected campaign below this F1 with every planted one "matches nothing"


@dataclass(frozen=True)
class StyleResult:
    style: str
    planted_campaigns: int
    planted_accounts: int
    campaign_f1: float
    account_recall: float


@dataclass(frozen=True)
class CampaignMatch:
    planted_id: str
    style: str | None
    planted_accounts: int
    detected_id: str | None
    detected_accounts: int
    overlap: int
    f1: float
    jaccard: float


@dataclass(frozen=True)
class Evaluation:
    """Every figure `vigil evaluate` prints; ``to_dict`` is its --json output."""

    flagged_accounts: int
    planted_accounts: int
    organic_accounts: int
    unlabelled_flagged: int
    account_precision: float
    account_recall: float
    account_f1: float
    organic_flagged: int
    organic_flagged_share: float
    detected_campaigns: int
    planted_campaigns: int
    campaign_f1: float
    detected_matching_nothing: int
    by_style: list[StyleResult] = field(default_factory=list)
    matches: list[CampaignMatch] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def evaluate(detected: Mapping[str, set[str]], labels: pa.Table) -> Evaluation:
    """Score detected campaigns (id -> member accounts) against a LABELS table."""
    keys = pc.binary_join_element_wise(
        labels.column("platform"), labels.column("account_id"), ":"
    ).to_pylist()
    campaign_ids = labels.column("campaign_id").to_pylist()
    styles = labels.column("campaign_style").to_pylist()
    planted: dict[str, set[str]] = {}
    style_of: dict[str, str | None] = {}
    organic: set[str] = set()
    for key, cid, style in zip(keys, campaign_ids, styles, strict=True):
        if cid is None:
            organic.add(key)
        else:
            planted.setdefault(cid, set()).add(key)
            style_of[cid] = style
    planted_accounts = set().union(*planted.values()) if planted else set()
    flagged = set().union(*detected.values()) if detected else set()
    labelled = planted_accounts | organic

    tp = len(flagged & planted_accounts)
    precision = tp / len(flagged) if flagged else 0.0
    recall = tp / len(planted_accounts) if planted_accounts else 0.0

    # Inverted index: account -> detected campaigns containing it, to compute overlaps sparsely.
    detected_of: dict[str, list[str]] = {}
    for did, members in detected.items():
        for account in members:
            detected_of.setdefault(account, []).append(did)

    best_f1_of_detected = dict.fromkeys(detected, 0.0)
    matches: list[CampaignMatch] = []
    for pid, members in sorted(planted.items()):
        overlaps: dict[str, int] = {}
        for account in members:
            for did in detected_of.get(account, ()):
                overlaps[did] = overlaps.get(did, 0) + 1
        best: tuple[float, str | None, int] = (0.0, None, 0)
        for did, n in overlaps.items():
            f1 = 2 * n / (len(members) + len(detected[did]))
            best_f1_of_detected[did] = max(best_f1_of_detected[did], f1)
            if (f1, did) > (best[0], best[1] or ""):
                best = (f1, did, n)
        best_f1, best_id, n = best
        size = len(detected[best_id]) if best_id else 0
        matches.append(
            CampaignMatch(
                planted_id=pid,
                style=style_of.get(pid),
                planted_accounts=len(members),
                detected_id=best_id,
                detected_accounts=size,
                overlap=n,
                f1=best_f1,
                jaccard=n / (len(members) + size - n) if best_id else 0.0,
            )
        )
    by_style: list[StyleResult] = []
    for style in sorted({m.style or "unknown" for m in matches}):
        group = [m for m in matches if (m.style or "unknown") == style]
        accounts = set().union(*(planted[m.planted_id] for m in group))
        by_style.append(
            StyleResult(
                style=style,
                planted_campaigns=len(group),
                planted_accounts=len(accounts),
                campaign_f1=sum(m.f1 for m in group) / len(group),
                account_recall=len(accounts & flagged) / len(accounts) if accounts else 0.0,
            )
        )
    organic_flagged = len(flagged & organic)
    return Evaluation(
        flagged_accounts=len(flagged),
        planted_accounts=len(planted_accounts),
        organic_accounts=len(organic),
        unlabelled_flagged=len(flagged - labelled),
        account_precision=precision,
        account_recall=recall,
        account_f1=_f1(precision, recall),
        organic_flagged=organic_flagged,
        organic_flagged_share=organic_flagged / len(organic) if organic else 0.0,
        detected_campaigns=len(detected),
        planted_campaigns=len(planted),
        campaign_f1=sum(m.f1 for m in matches) / len(matches) if matches else 0.0,
        detected_matching_nothing=sum(1 for f in best_f1_of_detected.values() if f < MATCH_F1),
        by_style=by_style,
        matches=matches,
    )


def load_detections(path: str | Path) -> dict[str, set[str]]:
    """Detected campaigns from a `vigil detect` output directory or its campaign_accounts.parquet."""
    target = Path(path)
    if target.is_dir():
        target = target / "campaign_accounts.parquet"
    if not target.is_file():
        raise DataError("no campaign_accounts.parquet here (run `vigil detect` first)", file=str(target))
    try:
        table = pq.read_table(str(target), columns=["campaign_id", "account"])
    except (OSError, pa.ArrowInvalid, KeyError) as exc:
        raise DataError(f"not a campaign accounts table: {exc}", file=str(target)) from exc
    detected: dict[str, set[str]] = {}
    for cid, account in zip(
        table.column("campaign_id").to_pylist(), table.column("account").to_pylist(), strict=True
    ):
        detected.setdefault(cid, set()).add(account)
    return detected


def load_labels(path: str | Path) -> pa.Table:
    """A LABELS table from ``path`` (a labels.parquet, or a directory holding one)."""
    target = Path(path)
    if target.is_dir():
        target = target / "labels.parquet"
    if not target.is_file():
        raise DataError("labels file not found", file=str(target))
    try:
        return read_table(target, LABELS)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"not a readable labels table: {exc}", file=str(target)) from exc
