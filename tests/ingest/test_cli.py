"""``vigil ingest`` run as a real process: exit codes, messages on stderr, files written or not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq


def _vigil(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigil.cli.app", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HOME": str(cwd)},
    )


def test_bad_file_exits_2_and_writes_nothing(fixtures: Path, tmp_path: Path) -> None:
    source = fixtures / "twitter_io_bad_time.csv"
    result = _vigil("ingest", source, "--layout", "twitter-io", "--out", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert (
        f"error: {source}, row 3, column 'tweet_time': not a timestamp: 'yesterday'; "
        "expected ISO 8601 or POSIX seconds" in " ".join(result.stderr.split())
    )
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "posts.parquet").exists()
    assert not (tmp_path / "out" / "accounts.parquet").exists()


def test_ingest_with_mapping_prints_json_summary(fixtures: Path, tmp_path: Path) -> None:
    result = _vigil(
        "ingest", fixtures / "generic_posts.jsonl", "--layout", "generic", "--out", tmp_path / "out",
        "--map", "post_id=id", "--map", "account_id=author", "--map", "created_at=time",
        "--map", "text=body", "--map", "platform=network", "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["posts"], summary["accounts"]) == (3, 3)
    assert pq.read_table(tmp_path / "out" / "posts.parquet").num_rows == 3


def test_vigil_layout_as_the_demo_calls_it(fixtures: Path, tmp_path: Path) -> None:
    first = _vigil(
        "ingest", fixtures / "twitter_io_tweets.csv", "-l", "twitter-io", "-o", tmp_path / "a", cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    assert "shortened URLs" in first.stdout
    again = _vigil(
        "ingest", tmp_path / "a" / "posts.parquet", "--format", "parquet", "--layout", "vigil",
        "--out", tmp_path / "b", cwd=tmp_path,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert pq.read_table(tmp_path / "b" / "posts.parquet").equals(
        pq.read_table(tmp_path / "a" / "posts.parquet")
    )


def test_bad_map_option(fixtures: Path, tmp_path: Path) -> None:
    result = _vigil(
        "ingest", fixtures / "generic_posts.jsonl", "--layout", "generic", "--out", tmp_path,
        "--map", "post_id", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--map 'post_id': expected FIELD=COLUMN" in result.stderr
