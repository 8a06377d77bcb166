"""Evaluation against real-archive labels: clustering metrics on hand-computed cases, label files."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vigil.core.errors import DataError
from vigil.detect.evaluate import ari, clustering_agreement, evaluate, load_label_file, nmi, purity

# Six accounts: classes a a a b b b, clusters x x y y y y (worked out by hand below).
TRUTH = ["a", "a", "a", "b", "b", "b"]
FOUND = ["x", "x", "y", "y", "y", "y"]


def test_metrics_on_a_hand_computed_case() -> None:
    # H(truth) = ln 2; H(found) = -(1/3 ln 1/3 + 2/3 ln 2/3);
    # MI = 1/3 ln 2 + 1/6 ln(1/2) + 1/2 ln(3/2)
    h_t = math.log(2)
    h_f = -(1 / 3 * math.log(1 / 3) + 2 / 3 * math.log(2 / 3))
    mi = 1 / 3 * math.log(2) + 1 / 6 * math.log(0.5) + 0.5 * math.log(1.5)
    assert nmi(TRUTH, FOUND) == pytest.approx(mi / ((h_t + h_f) / 2))
    assert nmi(TRUTH, FOUND) == pytest.approx(0.478704, abs=1e-6)
    # pairs inside cells 1 + 0 + 3 = 4; rows 3 + 3 = 6; columns 1 + 6 = 7; 15 pairs in all
    expected = 6 * 7 / 15
    assert ari(TRUTH, FOUND) == pytest.approx((4 - expected) / ((6 + 7) / 2 - expected))
    assert purity(TRUTH, FOUND) == pytest.approx(5 / 6)


def test_metrics_at_the_extremes() -> None:
    same = ["p", "p", "q", "q"]
    assert (nmi(["a", "a", "b", "b"], same), ari(["a", "a", "b", "b"], same)) == (1.0, 1.0)
    crossed = ["p", "q", "p", "q"]
    assert nmi(["a", "a", "b", "b"], crossed) == pytest.approx(0.0, abs=1e-12)
    # index 0, expected 2*2/6, max 2: ARI = -(2/3) / (4/3) = -0.5
    assert ari(["a", "a", "b", "b"], crossed) == pytest.approx(-0.5)
    assert purity(["a", "a", "b", "b"], crossed) == 0.5
    # one cluster of everything: no information, purity is the majority share
    assert nmi(["a", "a", "b"], ["x", "x", "x"]) == 0.0
    assert purity(["a", "a", "b"], ["x", "x", "x"]) == pytest.approx(2 / 3)


def test_agreement_counts_coverage_on_labelled_accounts() -> None:
    categories = {f"tw:{i}": c for i, c in enumerate(TRUTH)} | {"tw:9": "b"}
    detected = {"x": {"tw:0", "tw:1", "tw:ghost"}, "y": {"tw:2", "tw:3", "tw:4", "tw:5"}}
    agreement = clustering_agreement(detected, categories)
    assert (agreement.covered_accounts, agreement.labelled_accounts) == (6, 7)
    assert agreement.coverage == pytest.approx(6 / 7)
    assert agreement.nmi == pytest.approx(nmi(TRUTH, FOUND))
    assert (agreement.campaigns, agreement.categories) == (2, 2)


def test_label_file_csv_with_column_mapping(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    # 19-digit ids must stay exact strings
    path.write_text(
        "userid,user_screen_name,account_category\n"
        "1000441990493962287,a,RightTroll\n1000441990493962288,b,RightTroll\n"
        "3,c,LeftTroll\n4,d,LeftTroll\n5,e,NonEnglish\n"
    )
    labels = load_label_file(
        path, account_column="userid", label_column="account_category", organic_values=("NonEnglish",)
    )
    assert labels.column("account_id").to_pylist()[0] == "1000441990493962287"
    assert labels.column("platform").to_pylist() == ["twitter"] * 5
    detected = {
        "c1": {"twitter:1000441990493962287", "twitter:1000441990493962288"},
        "c2": {"twitter:3", "twitter:4", "twitter:5"},
    }
    result = evaluate(detected, labels)
    assert result.organic_flagged == 1 and result.agreement is None  # there are organic labels
    result = evaluate(
        detected, load_label_file(path, account_column="userid", label_column="account_category")
    )
    assert result.agreement is not None
    assert result.agreement.purity == pytest.approx(4 / 5)
    assert result.agreement.coverage == 1.0
    assert result.campaign_f1 == pytest.approx((1.0 + 2 * 2 / 5 + 2 * 1 / 4) / 3)


def test_label_file_parquet_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "labels.parquet"
    pq.write_table(pa.table({"acct": ["1", "2"], "net": ["n1", "n1"], "site": ["fb", "tw"]}), path)
    labels = load_label_file(path, account_column="acct", label_column="net", platform_column="site")
    assert labels.column("platform").to_pylist() == ["fb", "tw"]
    with pytest.raises(DataError, match="no column 'category'"):
        load_label_file(path, account_column="acct", label_column="category")
    with pytest.raises(DataError, match="labels file not found"):
        load_label_file(tmp_path / "none.csv", account_column="a", label_column="b")


def test_cli_evaluate_with_a_labels_csv(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    pq.write_table(
        pa.table(
            {
                "campaign_id": ["c1", "c1", "c2", "c2", "c2"],
                "account": ["twitter:1", "twitter:2", "twitter:3", "twitter:4", "twitter:5"],
            }
        ),
        run / "campaign_accounts.parquet",
    )
    labels = tmp_path / "labels.csv"
    labels.write_text("userid,account_category\n1,Right\n2,Right\n3,Left\n4,Left\n5,Right\n6,Left\n")
    out = tmp_path / "eval.json"
    done = subprocess.run(
        [sys.executable, "-c", "from vigil.cli.app import main; main()", "evaluate", str(run), str(labels),
         "--account-column", "userid", "--label-column", "account_category", "--json", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "NMI with the labels" in done.stdout and "5 of 6 (83.3%)" in done.stdout
    figures = json.loads(out.read_text())["agreement"]
    assert figures["purity"] == pytest.approx(4 / 5) and figures["covered_accounts"] == 5
    missing = subprocess.run(
        [sys.executable, "-c", "from vigil.cli.app import main; main()", "evaluate", str(run), str(labels),
         "--account-column", "userid"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert missing.returncode != 0 and "--label-column" in missing.stderr + missing.stdout
