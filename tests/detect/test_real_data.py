"""Detection on the real, anonymized Facebook + Twitter posts of the 2021 German federal election.

There are no labels, so the assertions are on structure and plausibility: multi-account campaigns
exist, every evidence row is a real pair of posts sharing the item, campaigns spanning both
platforms are counted, and minute-rounded timestamps (as public archives publish them) still work.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from vigil.detect.evidence import campaign_platform_counts
from vigil.detect.params import DetectParams
from vigil.detect.pipeline import DetectResult, detect
from vigil.ingest.pipeline import ingest


@pytest.fixture(scope="module")
def real_posts(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archive through the ingest layout ``german-elections``: one post per post id, its
    anonymized objects as URL/domain/hashtag/image keys, platforms facebook and twitter."""
    source = shared_data / "german-elections-2021" / "posts.parquet"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    summary = ingest([source], layout="german-elections", out_dir=tmp_path_factory.mktemp("german"))
    return summary.posts_path


@pytest.fixture(scope="module")
def real_run(real_posts: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DetectResult]:
    out = tmp_path_factory.mktemp("german-run")
    return out, detect(real_posts, out, DetectParams(window=60.0))


def _members(out: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for row in pq.read_table(out / "campaign_accounts.parquet").to_pylist():
        found.setdefault(row["campaign_id"], set()).add(row["account"])
    return found


def test_real_election_data(real_posts: Path, real_run: tuple[Path, DetectResult]) -> None:
    tmp_path, result = real_run
    campaigns = result.campaign_set.campaigns
    assert campaigns.num_rows >= 5
    assert pc.max(campaigns.column("n_accounts")).as_py() >= 5
    members = _members(tmp_path)
    platforms = {a.split(":")[0] for accounts in members.values() for a in accounts}
    assert platforms == {"facebook", "twitter"}  # campaigns are found on both platforms
    counts = campaign_platform_counts(campaigns)
    assert counts["cross_platform"] >= 1  # e.g. accounts on fb and tw pushing the same URLs together
    cross = [c for c in campaigns.to_pylist() if len(c["platforms"]) > 1]
    assert all({"facebook", "twitter"} == {a.split(":")[0] for a in members[c["campaign_id"]]} for c in cross)
    report = (tmp_path / "report.md").read_text()
    assert cross[0]["campaign_id"] in report

    # Every evidence row is two real posts of two members that both carry the shared item.
    objects: dict[tuple[str, str], set[str]] = {}
    for row in pq.read_table(
        real_posts, columns=["platform", "account_id", "post_id", "urls", "hashtags", "image_ids"]
    ).to_pylist():
        keys = {u["canonical"] for u in row["urls"] or []} | {u["domain"] for u in row["urls"] or []}
        keys |= set(row["hashtags"] or []) | set(row["image_ids"] or [])
        objects[(f"{row['platform']}:{row['account_id']}", row["post_id"])] = keys
    evidence = pq.read_table(tmp_path / "campaign_evidence.parquet").to_pylist()
    assert evidence
    for row in evidence[:: max(1, len(evidence) // 500)]:
        assert row["item"] in objects[(row["account_a"], row["post_a"])]
        assert row["item"] in objects[(row["account_b"], row["post_b"])]
        assert {row["account_a"], row["account_b"]} <= members[row["campaign_id"]]
        assert abs((row["ts_a"] - row["ts_b"]).total_seconds()) <= 60


def test_same_input_same_campaigns(
    real_posts: Path, real_run: tuple[Path, DetectResult], tmp_path: Path
) -> None:
    # The engine sums weights in parallel (last bits vary); campaigns must not.
    again = detect(real_posts, tmp_path, DetectParams(window=60.0))
    first = real_run[1].campaign_set
    assert again.campaign_set.campaigns.column("campaign_id").equals(first.campaigns.column("campaign_id"))
    assert again.campaign_set.accounts.equals(first.accounts)


def test_minute_rounded_timestamps_still_find_the_campaigns(
    real_posts: Path, real_run: tuple[Path, DetectResult], tmp_path: Path
) -> None:
    exact = real_run[1]
    table = pq.read_table(real_posts)
    micros = table.column("created_at").cast(pa.int64())
    minute = pc.multiply(pc.divide(micros, 60_000_000), 60_000_000).cast(pa.timestamp("us", tz="UTC"))
    rounded_path = tmp_path / "rounded.parquet"
    pq.write_table(
        table.set_column(table.schema.get_field_index("created_at"), "created_at", minute), rounded_path
    )
    rounded = detect(rounded_path, tmp_path / "rounded", DetectParams(window=60.0))
    assert rounded.campaign_set.campaigns.num_rows >= 5
    flagged_exact = set(exact.campaign_set.accounts.column("account").to_pylist())
    flagged_rounded = set(rounded.campaign_set.accounts.column("account").to_pylist())
    # Rounding moves each post by < 60 s: most flagged accounts stay flagged.
    assert len(flagged_exact & flagged_rounded) >= 0.7 * len(flagged_exact)
