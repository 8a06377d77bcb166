"""``vigil match fetch | run | queue | status`` through the real app against a running exchange."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from tests.match._planted import plant_posts, plant_signals
from tests.match.conftest import Coalition
from vigil.cli.app import app
from vigil.core.errors import DataError, InputError
from vigil.match.actioner import ReviewQueue

runner = CliRunner()


def test_fetch_run_queue_status(sqlite_exchange: Coalition, tmp_path: Path) -> None:
    ex = sqlite_exchange
    ids = plant_signals(ex)
    index, out = tmp_path / "index", tmp_path / "out"
    fetch = ["match", "fetch", "--server", ex.base_url, "--key", ex.keys["us"], "--index", str(index)]
    result = runner.invoke(app, fetch)
    assert result.exit_code == 0, result.output
    assert "first fetch" in result.output and "8 new" in result.output  # the hashtag twice
    assert "7 signals indexed" in result.output
    result = runner.invoke(app, fetch)
    assert "incremental fetch" in result.output and "0 objects received" in result.output

    posts, expected = plant_posts(tmp_path / "posts.parquet")
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - name: review-text\n    when: {signal_types: [text_minhash]}\n"
        "    actions: {queue: true}\n"
    )
    result = runner.invoke(
        app,
        [
            *("match", "run", str(posts), "--index", str(index), "--out", str(out), "--rules", str(rules)),
            *("--report", "--server", ex.base_url, "--key", ex.keys["us"]),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "15 posts read, 9 matched 7 signals" in result.output
    assert "sightings reported: 7" in result.output
    assert {
        (r["post_id"], r["signal_type"]) for r in pq.read_table(out / "matches.parquet").to_pylist()
    } == expected
    with ex.api("source") as owner:
        assert owner.get(f"/signals/{ids['pdq']}/sightings").json()[0]["count"] == 1
    # The same run again: matches rewritten, queue and sightings unchanged.
    result = runner.invoke(
        app,
        [
            *("match", "run", str(posts), "--index", str(index), "--out", str(out), "--rules", str(rules)),
            *("--report", "--server", ex.base_url, "--key", ex.keys["us"]),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "sightings reported: 0" in result.output and "7 reported before" in result.output
    with ex.api("source") as owner:
        assert len(owner.get(f"/signals/{ids['pdq']}/sightings").json()) == 1

    result = runner.invoke(app, ["match", "queue", "--index", str(index)])
    assert result.exit_code == 0, result.output
    assert "Review queue (open 2)" in result.output
    with ReviewQueue.of_index(index) as queue:
        assert sorted(item["post_id"] for item in queue.items()) == ["arabic", "french"]
    result = runner.invoke(app, ["match", "status", "--index", str(index)])
    assert result.exit_code == 0, result.output
    assert "coalition" in result.output and "7 signals indexed" in result.output


def test_bad_rule_file_fails_before_any_work(sqlite_exchange: Coalition, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: x\n    when: {min_confidence: high}\n    actions: {queue: true}\n")
    result = runner.invoke(
        app,
        [
            *("match", "run", str(tmp_path / "posts.parquet"), "--index", str(tmp_path / "i")),
            *("--out", str(tmp_path / "o"), "--rules", str(rules)),
        ],
    )
    assert isinstance(result.exception, InputError)
    assert "line 3, field rules[0].when.min_confidence" in result.exception.message
    assert not (tmp_path / "o").exists()
    result = runner.invoke(app, ["match", "status", "--index", str(tmp_path / "i")])
    assert isinstance(result.exception, DataError) and "vigil match fetch" in result.exception.message
