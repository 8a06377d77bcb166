"""End to end on a small hand-made posts table: engine -> graph -> campaigns -> files; and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.detect._posts import small_posts
from vigil.core.errors import DataError, InputError, SchemaError
from vigil.detect.params import DetectParams, make_params
from vigil.detect.pipeline import detect
from vigil.schema.tables import POSTS


@pytest.fixture(scope="module")
def posts_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, set[str]]]:
    table, groups = small_posts()
    path = tmp_path_factory.mktemp("posts") / "posts.parquet"
    pq.write_table(table.replace_schema_metadata(POSTS.metadata), path)
    return path, groups


def test_detect_finds_the_planted_groups_and_writes_every_output(
    posts_file: tuple[Path, dict[str, set[str]]], tmp_path: Path
) -> None:
    path, groups = posts_file
    result = detect(path, tmp_path, DetectParams(window=60.0))
    found = {}
    for row in result.campaign_set.accounts.to_pylist():
        found.setdefault(row["campaign_id"], set()).add(row["account"])
    assert sorted(map(frozenset, found.values()), key=len) == [
        frozenset(groups["ring"]),
        frozenset(groups["links"]),
    ]

    for name in (
        "campaigns.parquet",
        "campaign_accounts.parquet",
        "campaign_evidence.parquet",
        "edges.parquet",
        "evidence.parquet",
        "traces.json",
        "campaigns.json",
        "report.md",
    ):
        assert (tmp_path / name).is_file(), name
    campaigns = pq.read_table(tmp_path / "campaigns.parquet").to_pylist()
    by_platform = {tuple(c["platforms"]): c for c in campaigns}
    links, ring = by_platform[("tw",)], by_platform[("fb",)]
    assert links["traces"] == ["co_domain", "co_domain_slow", "co_link"] and ring["traces"] == [
        "co_reshare",
        "co_reshare_slow",
    ]
    assert links["languages"] == ["en"] and ring["languages"] == ["de"]
    assert links["n_items"] == 5 + 5 + 5  # five URLs on five fresh domains (also in a day-long window)

    # Evidence: every row names two posts of campaign members, each post really is the member's.
    posts = {(r["platform"] + ":" + r["account_id"], r["post_id"]) for r in pq.read_table(path).to_pylist()}
    evidence = pq.read_table(tmp_path / "campaign_evidence.parquet").to_pylist()
    assert evidence
    for row in evidence:
        assert {row["account_a"], row["account_b"]} <= found[row["campaign_id"]]
        assert (row["account_a"], row["post_a"]) in posts and (row["account_b"], row["post_b"]) in posts
        assert abs((row["ts_a"] - row["ts_b"]).total_seconds()) <= 60

    document = json.loads((tmp_path / "campaigns.json").read_text())
    assert document["params"]["window"] == 60.0
    assert len(document["campaigns"]) == 2
    first = document["campaigns"][0]
    assert set(first["score_components"]) >= {"density", "synchrony", "cross_platform"}
    assert first["accounts"] and first["sample_posts"]
    assert first["sample_posts"][0]["ts"].endswith("Z")

    report = (tmp_path / "report.md").read_text()
    assert "## Ranked campaigns" in report and "Score breakdown" in report
    assert "Original claim number" in report and "fresh-news" in report
    assert result.summary["n_posts"] == len(posts)
    assert result.summary["campaigns"] == 2


def test_default_run_has_the_day_long_exact_text_trace(
    posts_file: tuple[Path, dict[str, set[str]]], tmp_path: Path
) -> None:
    path, _ = posts_file
    detect(path, tmp_path, DetectParams())
    stats = {t["trace"]: t for t in json.loads((tmp_path / "traces.json").read_text())}
    slow, exact = stats["co_text_exact_slow"], stats["co_text_exact"]
    # The same items as co_text_exact (the same events), paired over a day instead of an hour.
    assert slow["window"]["seconds"] == 86_400.0 and exact["window"]["seconds"] == 3_600.0
    assert slow["n_events"] == exact["n_events"] and slow["signal_kinds"] == exact["signal_kinds"]
    document = json.loads((tmp_path / "campaigns.json").read_text())
    assert {"shift_communities", "shift_null_similarity", "shift_merges"} <= set(document["graph"])


def test_bad_inputs_fail_clearly(tmp_path: Path, posts_file: tuple[Path, dict[str, set[str]]]) -> None:
    with pytest.raises(DataError, match="no such file"):
        detect(tmp_path / "missing.parquet", tmp_path / "out")
    with pytest.raises(InputError, match="unknown trace"):
        detect(posts_file[0], tmp_path / "out", DetectParams(traces=("co_nothing",)))
    with pytest.raises(InputError, match="window"):
        make_params(window="soon")
    with pytest.raises(InputError, match="min_campaign_size"):
        make_params(graph={"min_campaign_size": 1})
    with pytest.raises(DataError, match="accounts file not found"):
        detect(posts_file[0], tmp_path / "out", accounts_path=tmp_path / "accounts.parquet")
    # A table that is not a posts table is refused with the missing column named.
    not_posts = tmp_path / "labels.parquet"
    pq.write_table(pq.read_table(posts_file[0]).select(["platform", "account_id"]), not_posts)
    with pytest.raises(SchemaError, match="post_id"):
        detect(not_posts, tmp_path / "out")
    assert not (tmp_path / "out" / "campaigns.parquet").exists()


def _vigil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from vigil.cli.app import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_detect_and_evaluate(posts_file: tuple[Path, dict[str, set[str]]], tmp_path: Path) -> None:
    path, groups = posts_file
    out = tmp_path / "run"
    done = _vigil("detect", str(path), "--out", str(out), "--window", "60", "--traces", "co_link,co_reshare")
    assert done.returncode == 0, done.stderr
    assert "Campaigns (2" in done.stdout and "posts_per_second" in done.stdout
    # Labels for the evaluation: the two groups planted, everyone else organic.
    import pyarrow as pa

    from vigil.schema.tables import LABELS

    accounts = {r["platform"] + ":" + r["account_id"] for r in pq.read_table(path).to_pylist()}
    rows = []
    for account in sorted(accounts):
        platform, _, account_id = account.partition(":")
        planted = next((name for name, members in groups.items() if account in members), None)
        rows.append(
            {
                "platform": platform,
                "account_id": account_id,
                "campaign_id": planted,
                "campaign_style": planted,
            }
        )
    labels = tmp_path / "labels.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=LABELS.schema), labels)
    done = _vigil("evaluate", str(out), str(labels), "--json", "-")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["campaign_f1"] == 1.0 and figures["organic_flagged"] == 0
    done = _vigil("evaluate", str(out), str(labels))
    assert "campaign-level F1" in done.stdout and "reshare_ring" not in done.stdout
    bad = _vigil("detect", str(tmp_path / "nope.parquet"), "--out", str(out))
    assert bad.returncode == 2 and "nope.parquet" in bad.stderr
    bad = _vigil("detect", str(path), "--out", str(out), "--window", "never")
    assert bad.returncode == 2 and "window" in bad.stderr


def test_a_run_without_edges_writes_empty_outputs(
    posts_file: tuple[Path, dict[str, set[str]]], tmp_path: Path
) -> None:
    result = detect(posts_file[0], tmp_path, DetectParams(traces=("co_reply",)))
    assert result.campaign_set.campaigns.num_rows == 0
    assert pq.read_table(tmp_path / "campaigns.parquet").num_rows == 0
    assert json.loads((tmp_path / "campaigns.json").read_text())["campaigns"] == []
    assert "No campaign was found" in (tmp_path / "report.md").read_text()


def test_a_directory_of_posts_files_gets_languages_and_quoted_posts_too(
    posts_file: tuple[Path, dict[str, set[str]]], tmp_path: Path
) -> None:
    """Languages and sample posts come from the posts whatever form they were given in (a directory
    of Parquet files was silently skipped before: campaigns had no languages and no quotes)."""
    path, _ = posts_file
    table = pq.read_table(path)
    half = table.num_rows // 2
    directory = tmp_path / "posts"
    (directory / "part=2").mkdir(parents=True)
    pq.write_table(table.slice(0, half), directory / "a.parquet")
    pq.write_table(table.slice(half), directory / "part=2" / "b.parquet")
    one = detect(path, tmp_path / "one", DetectParams(window=60.0))
    split = detect(directory, tmp_path / "split", DetectParams(window=60.0))
    assert sorted(one.campaign_set.campaigns.column("languages").to_pylist()) == [["de"], ["en"]]
    assert split.campaign_set.campaigns.equals(one.campaign_set.campaigns)
    quoted = json.loads((tmp_path / "split" / "campaigns.json").read_text())["campaigns"]
    assert all(c["sample_posts"] for c in quoted)
    assert [c["sample_posts"] for c in quoted] == [
        c["sample_posts"] for c in json.loads((tmp_path / "one" / "campaigns.json").read_text())["campaigns"]
    ]
