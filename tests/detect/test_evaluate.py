"""Evaluation against planted campaigns: definitions checked on a small hand-computed case."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from vigil.core.errors import DataError
from vigil.detect.evaluate import evaluate, load_detections, load_labels
from vigil.schema.tables import LABELS


def _labels(planted: dict[str, tuple[str, list[str]]], organic: list[str]) -> pa.Table:
    rows = [
        {"platform": "tw", "account_id": a, "campaign_id": cid, "campaign_style": style}
        for cid, (style, members) in planted.items()
        for a in members
    ]
    rows += [
        {"platform": "tw", "account_id": a, "campaign_id": None, "campaign_style": None} for a in organic
    ]
    return pa.Table.from_pylist(rows, schema=LABELS.schema)


PLANTED = {
    "A": ("link_burst", ["a1", "a2", "a3", "a4"]),
    "B": ("reshare_ring", ["b1", "b2", "b3", "b4"]),
    "C": ("reshare_ring", ["c1", "c2", "c3", "c4"]),
}
ORGANIC = [f"o{i}" for i in range(100)]


def tw(*names: str) -> set[str]:
    return {f"tw:{n}" for n in names}


def test_perfect_detection() -> None:
    detected = {cid: tw(*members) for cid, (_, members) in PLANTED.items()}
    result = evaluate(detected, _labels(PLANTED, ORGANIC))
    assert (result.account_precision, result.account_recall, result.account_f1) == (1.0, 1.0, 1.0)
    assert result.campaign_f1 == 1.0 and result.detected_matching_nothing == 0
    assert result.organic_flagged == 0 and result.organic_flagged_share == 0.0
    assert [s.style for s in result.by_style] == ["link_burst", "reshare_ring"]


def test_partial_detection_matches_the_definitions() -> None:
    detected = {
        "X": tw("a1", "a2", "a3", "o1"),  # A minus a4, plus an organic account
        "Y": tw("b1", "b2", "b3", "b4", "c1", "c2", "c3", "c4"),  # B and C merged
        "Z": tw("o2", "o3", "o4"),  # organic only
        "W": tw("ghost"),  # unlabelled account
    }
    result = evaluate(detected, _labels(PLANTED, ORGANIC))
    flagged = 4 + 8 + 3 + 1
    assert result.flagged_accounts == flagged
    assert result.account_precision == pytest.approx(11 / flagged)
    assert result.account_recall == pytest.approx(11 / 12)
    assert result.organic_flagged == 4 and result.organic_flagged_share == pytest.approx(4 / 100)
    assert result.unlabelled_flagged == 1
    f1_a = 2 * 3 / (4 + 4)
    f1_b = f1_c = 2 * 4 / (4 + 8)
    assert result.campaign_f1 == pytest.approx((f1_a + f1_b + f1_c) / 3)
    match = {m.planted_id: m for m in result.matches}
    assert match["A"].detected_id == "X" and match["A"].jaccard == pytest.approx(3 / 5)
    assert match["B"].detected_id == "Y"
    assert result.detected_matching_nothing == 2  # Z and W
    style = {s.style: s for s in result.by_style}
    assert style["reshare_ring"].planted_campaigns == 2
    assert style["reshare_ring"].campaign_f1 == pytest.approx(f1_b)
    assert style["link_burst"].account_recall == pytest.approx(3 / 4)
    assert result.to_dict()["by_style"][0]["style"] == "link_burst"


def test_nothing_detected() -> None:
    result = evaluate({}, _labels(PLANTED, ORGANIC))
    assert result.campaign_f1 == 0.0 and result.account_recall == 0.0 and result.account_precision == 0.0
    assert all(m.detected_id is None for m in result.matches)


def test_loading_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"campaign_accounts\.parquet"):
        load_detections(tmp_path)
    with pytest.raises(DataError, match=r"labels\.parquet"):
        load_labels(tmp_path)
    bad = tmp_path / "labels.parquet"
    bad.write_text("not parquet")
    with pytest.raises(DataError, match=r"labels\.parquet"):
        load_labels(bad)
