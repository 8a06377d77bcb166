"""CooRTweet-compatible mode: CooRTweet's own example data gives CooRTweet's own result, exactly."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from vigil.core.errors import DataError, InputError
from vigil.detect.coortweet_compat import coordinated_network, coortweet_campaigns, register_shares_csv

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "coortweet-russian"
pytestmark = pytest.mark.skipif(
    not (DATA / "shares.csv").is_file(), reason="CooRTweet example data not present"
)


@pytest.fixture(scope="module")
def network():  # type: ignore[no-untyped-def]
    con = duckdb.connect()
    register_shares_csv(con, DATA / "shares.csv")
    return coordinated_network(con, time_window=10, min_participation=2, edge_weight=0.5)


def test_reproduces_coortweets_counts(network) -> None:  # type: ignore[no-untyped-def]
    summary = json.loads((DATA / "summary.json").read_text())
    assert network.pairs.num_rows == 447 == summary["group_rows(content pairs)"]
    assert network.n_objects == 170 == summary["group_objects"]
    assert network.edges.num_rows == 442 == summary["full_graph"]["edges"]
    assert network.accounts.num_rows == 525 == summary["full_graph"]["accounts"]
    assert len(set(network.accounts.column("component").to_pylist())) == summary["full_graph"]["components"]
    assert network.weight_threshold == summary["weight_threshold_value(q0.5)"]
    assert (
        sum(network.edges.column("weight_threshold").to_pylist())
        == summary["threshold_subgraph(weight>thr)"]["edges"]
    )


def test_edges_equal_the_reference_row_for_row(network) -> None:  # type: ignore[no-untyped-def]
    with (DATA / "ref_edges.csv").open() as handle:
        reference = {
            (r["account_id"], r["account_id_y"]): (
                int(r["weight"]), float(r["avg_time_delta"]), int(r["n_content_id"]),
                int(r["n_content_id_y"]), float(r["edge_symmetry_score"]), int(r["weight_threshold"]),
            )
            for r in csv.DictReader(handle)
        }  # fmt: skip
    ours = {
        (r["account_id"], r["account_id_y"]): (
            r["weight"], r["avg_time_delta"], r["n_content_id"], r["n_content_id_y"],
            r["edge_symmetry_score"], r["weight_threshold"],
        )
        for r in network.edges.to_pylist()
    }  # fmt: skip
    assert ours == reference


def test_components_equal_the_reference(network) -> None:  # type: ignore[no-untyped-def]
    with (DATA / "coordinated_accounts.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    groups: dict[str, set[str]] = {}
    for r in rows:
        groups.setdefault(r["component"], set()).add(r["account_id"])
    ours: dict[int, set[str]] = {}
    for account, component in zip(
        network.accounts.column("account_id").to_pylist(),
        network.accounts.column("component").to_pylist(),
        strict=True,
    ):
        ours.setdefault(component, set()).add(account)
    assert sorted(map(sorted, groups.values())) == sorted(map(sorted, ours.values()))
    heavy = {r["account_id"] for r in rows if r["in_threshold_subgraph"] == "1"}
    flagged = network.accounts.filter(network.accounts.column("in_threshold_subgraph"))
    assert set(flagged.column("account_id").to_pylist()) == heavy


def test_groups_become_campaigns(network) -> None:  # type: ignore[no-untyped-def]
    result = coortweet_campaigns(network, min_campaign_size=3)
    sizes = {}
    for r in network.accounts.to_pylist():
        sizes[r["component"]] = sizes.get(r["component"], 0) + 1
    assert result.campaigns.num_rows == sum(1 for n in sizes.values() if n >= 3)
    assert max(result.campaigns.column("n_accounts").to_pylist()) == 35  # the largest component
    # every campaign's evidence is real share pairs of its members
    assert result.evidence.num_rows > 0


def test_bad_input(tmp_path: Path) -> None:
    con = duckdb.connect()
    bad = tmp_path / "s.csv"
    bad.write_text("object_id,account_id,when\n1,2,3\n")
    with pytest.raises(DataError, match="missing column"):
        register_shares_csv(con, bad)
    with pytest.raises(InputError, match="quantile"):
        coordinated_network(con, edge_weight=2)


def test_cli_writes_the_network_and_campaigns(tmp_path: Path) -> None:
    out = tmp_path / "ct"
    done = subprocess.run(
        [sys.executable, "-c", "from vigil.cli.app import main; main()", "coortweet",
         str(DATA / "shares.csv"), "--out", str(out),
         "--time-window", "10", "--min-participation", "2", "--edge-weight", "0.5"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "coordinated share pairs 447 on 170 objects | edges 442 | accounts 525" in done.stdout
    assert pq.read_table(out / "coortweet_edges.parquet").num_rows == 442
    assert pq.read_table(out / "campaign_accounts.parquet").num_rows > 0
    assert (out / "report.md").is_file()
