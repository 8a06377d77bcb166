"""A slice of a real operation's archive (IRA tweets, 1-4 January 2017) through the
twitter-io layout and default detection, scored against the persona labels: floors, not exact
figures (docs/detection.md, "Real data"; the whole archive is in bench/detect_ira.py)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from vigil.detect.evaluate import evaluate, load_detections, load_label_file
from vigil.detect.params import DetectParams
from vigil.detect.pipeline import detect
from vigil.ingest.duck import sql_string
from vigil.ingest.pipeline import ingest

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "ira-2017"
pytestmark = pytest.mark.skipif(not (DATA / "tweets.csv.gz").is_file(), reason="ira-2017 data not present")


def test_ira_slice_floor(tmp_path: Path) -> None:
    sliced = tmp_path / "tweets.csv"
    duckdb.sql(
        f"""
        COPY (SELECT * FROM read_csv({sql_string(str(DATA / "tweets.csv.gz"))}, all_varchar = true)
              WHERE tweet_time >= '2017-01-01' AND tweet_time < '2017-01-05')
        TO {sql_string(str(sliced))} (HEADER)
        """
    )
    summary = ingest([sliced], layout="twitter-io", out_dir=tmp_path / "in")
    assert summary.posts == 10_786 and not summary.unmapped
    result = detect(tmp_path / "in" / "posts.parquet", tmp_path / "out", DetectParams())
    labels = load_label_file(DATA / "labels.csv", account_column="userid", label_column="account_category")
    evaluation = evaluate(load_detections(tmp_path / "out"), labels)
    agreement = evaluation.agreement
    assert agreement is not None
    assert result.campaign_set.campaigns.num_rows >= 2
    assert evaluation.account_precision == 1.0  # every account of the archive is the operation's
    assert agreement.purity >= FLOOR["purity"], agreement
    assert agreement.nmi >= FLOOR["nmi"], agreement
    assert agreement.covered_accounts >= FLOOR["covered"], agreement


# Measured with the defaults of 7 Dec 2026 (10,786 posts of 197 accounts): NMI 0.883, ARI 0.920,
# purity 1.000, 66 accounts in 5 campaigns (before the shift and inseparable merges, the day-long
# exact-text trace and the 0.2 trimming share: NMI 0.818, ARI 0.824, 62 accounts in 6; the
# yardstick on the same slice: NMI 0.680, ARI 0.495, purity 1.000, 116 accounts in 11 groups).
# Floors a little below, so only a real loss fails.
FLOOR = {"purity": 0.95, "nmi": 0.8, "covered": 60}
