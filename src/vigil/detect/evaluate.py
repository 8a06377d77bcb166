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

Real archives are labelled by *category* (a persona, a network) rather than by planted campaign.
:func:`load_label_file` reads such labels from CSV or Parquet with a column mapping, and
:func:`clustering_agreement` scores the detected partition against them on the accounts both
cover: normalised mutual information (arithmetic mean of the entropies, as scikit-learn's
default), adjusted Rand index (Hubert and Arabie), purity (each campaign counted as its majority
category) and coverage (labelled accounts in some campaign / labelled accounts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from vigil.core.errors import DataError, InputError
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
class Agreement:
    """How a detected partition agrees with category labels, on the accounts both cover."""

    labelled_accounts: int
    covered_accounts: int
    coverage: float
    nmi: float
    ari: float
    purity: float
    campaigns: int
    categories: int


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
    agreement: Agreement | None = None  # with category labels (labels without organic accounts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def contingency(truth: list[str], found: list[str]) -> np.ndarray:
    """Counts of accounts per (true class, found cluster): rows classes, columns clusters."""
    _, t = np.unique(np.asarray(truth, dtype=object).astype(str), return_inverse=True)
    _, f = np.unique(np.asarray(found, dtype=object).astype(str), return_inverse=True)
    table = np.zeros((int(t.max(initial=-1)) + 1, int(f.max(initial=-1)) + 1), dtype=np.int64)
    np.add.at(table, (t, f), 1)
    return table


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def nmi(truth: list[str], found: list[str]) -> float:
    """Normalised mutual information, MI / mean(H(truth), H(found)); 1.0 when both are one class."""
    table = contingency(truth, found)
    n = table.sum()
    if n == 0:
        return 0.0
    h_t, h_f = _entropy(table.sum(axis=1)), _entropy(table.sum(axis=0))
    if h_t == 0.0 and h_f == 0.0:
        return 1.0
    nz = table > 0
    outer = np.outer(table.sum(axis=1), table.sum(axis=0))
    mi = float((table[nz] / n * np.log(table[nz] * n / outer[nz])).sum())
    return max(0.0, mi / ((h_t + h_f) / 2)) if h_t + h_f > 0 else 0.0


def ari(truth: list[str], found: list[str]) -> float:
    """Adjusted Rand index (Hubert and Arabie 1985); 1.0 for identical partitions."""
    table = contingency(truth, found)
    n = int(table.sum())
    if n < 2:
        return 1.0

    def pairs(x: np.ndarray) -> float:
        return float((x * (x - 1) // 2).sum())

    index, rows, cols = pairs(table), pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    expected = rows * cols / (n * (n - 1) / 2)
    maximum = (rows + cols) / 2
    if maximum == expected:
        return 1.0
    return (index - expected) / (maximum - expected)


def purity(truth: list[str], found: list[str]) -> float:
    """Share of accounts in their cluster's majority class."""
    table = contingency(truth, found)
    n = table.sum()
    return float(table.max(axis=0).sum() / n) if n else 0.0


def clustering_agreement(detected: Mapping[str, set[str]], categories: Mapping[str, str]) -> Agreement:
    """Agreement of detected campaigns with per-account categories (account -> category).

    An account in several campaigns counts in the first by campaign id. Accounts outside any
    campaign are not covered; unlabelled campaign members are left out of the scores.
    """
    found_of: dict[str, str] = {}
    for cid in sorted(detected):
        for account in detected[cid]:
            found_of.setdefault(account, cid)
    covered = sorted(a for a in found_of if a in categories)
    truth = [categories[a] for a in covered]
    found = [found_of[a] for a in covered]
    return Agreement(
        labelled_accounts=len(categories),
        covered_accounts=len(covered),
        coverage=len(covered) / len(categories) if categories else 0.0,
        nmi=nmi(truth, found) if covered else 0.0,
        ari=ari(truth, found) if covered else 0.0,
        purity=purity(truth, found) if covered else 0.0,
        campaigns=len(set(found)),
        categories=len(set(truth)),
    )


def evaluate(detected: Mapping[str, set[str]], labels: pa.Table) -> Evaluation:
    """Score detected campaigns (id -> member accounts) against a LABELS table.

    When no account is labelled organic (category labels of a real operation), the result also
    carries the clustering agreement with the labels (``campaign_id`` as the category).
    """
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
        agreement=None
        if organic
        else clustering_agreement(detected, {a: cid for cid, members in planted.items() for a in members}),
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


def load_label_file(
    path: str | Path,
    *,
    account_column: str,
    label_column: str,
    platform: str | None = None,
    platform_column: str | None = None,
    organic_values: tuple[str, ...] = (),
) -> pa.Table:
    """A LABELS table from any CSV or Parquet file of account labels (a real archive's, say).

    ``account_column`` holds the account id (as in the posts' ``account_id``), ``label_column`` the
    campaign or category; rows whose label is empty or one of ``organic_values`` are organic. The
    platform comes from ``platform_column`` or ``platform`` (default ``twitter``).
    """
    target = Path(path)
    if not target.is_file():
        raise DataError("labels file not found", file=str(target))
    name = target.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            table = pq.read_table(str(target))
        elif name.endswith((".csv", ".csv.gz")):
            # Ids as strings: a numeric id must not become a float.
            table = pa_csv.read_csv(
                str(target),
                convert_options=pa_csv.ConvertOptions(
                    strings_can_be_null=True,
                    column_types={account_column: pa.string(), label_column: pa.string()},
                ),
            )
        else:
            raise InputError(f"{target}: labels must be .csv, .csv.gz or .parquet")
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"not a readable labels file: {exc}", file=str(target)) from exc
    for column in (account_column, label_column, platform_column):
        if column is not None and column not in table.column_names:
            raise DataError(
                f"no column {column!r} (columns: {', '.join(table.column_names)})",
                file=str(target), column=column,
            )  # fmt: skip
    accounts = [None if v is None else str(v) for v in table.column(account_column).to_pylist()]
    labels = [None if v is None else str(v) for v in table.column(label_column).to_pylist()]
    platforms = (
        [str(v) for v in table.column(platform_column).to_pylist()]
        if platform_column
        else [platform or "twitter"] * table.num_rows
    )
    organic = set(organic_values)
    rows: dict[tuple[str, str], str | None] = {}
    for row, (account, label, plat) in enumerate(zip(accounts, labels, platforms, strict=True), start=1):
        if account is None or not account.strip():
            raise DataError("missing account id", file=str(target), row=row, column=account_column)
        value = None if label is None or not label.strip() or label in organic else label
        rows[(plat, account.strip())] = value
    keys = list(rows)
    values = list(rows.values())
    return pa.Table.from_arrays(
        [
            pa.array([k[0] for k in keys], pa.string()),
            pa.array([k[1] for k in keys], pa.string()),
            pa.array(values, pa.string()),
            pa.array(values, pa.string()),
        ],
        schema=LABELS.schema,
    )
