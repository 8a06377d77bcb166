from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from vigil.schema.io import read_table
from vigil.schema.tables import POSTS


def _vigil(*args: str) -> subprocess.CompletedProcess[str]:
    code = "from vigil.cli.app import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_generate_command_writes_the_files_and_prints_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "data"
    result = _vigil("generate", "--posts", "10000", "--seed", "5", "--out", str(out), "--days", "7",
                    "--start", "2025-03-01", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["posts"] == 10_000
    assert len(summary["campaigns"]) == 8
    posts = read_table(out / "posts.parquet", POSTS)
    assert posts.num_rows == 10_000
    first = posts["created_at"][0].as_py()
    assert (first.year, first.month) == (2025, 3)
    assert json.loads((out / "campaigns.json").read_text())["generator"]["days"] == 7


def test_generate_command_rejects_bad_options_with_a_clear_message(tmp_path: Path) -> None:
    result = _vigil(
        "generate", "--posts", "10000", "--styles", "link_burst,nope", "--out", str(tmp_path / "x")
    )
    assert result.returncode == 2
    assert "unknown campaign style 'nope'" in result.stderr
    assert not (tmp_path / "x").exists()
