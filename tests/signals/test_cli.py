"""``vigil signals ...`` through the real app (and one real process for exit codes)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from vigil.cli.app import app
from vigil.schema.io import ParquetSink
from vigil.schema.tables import POSTS
from vigil.signals import get_signal_type

from .conftest import sample_post

runner = CliRunner()


def test_types_lists_every_type() -> None:
    result = runner.invoke(app, ["signals", "types"])
    assert result.exit_code == 0, result.output
    for name in ("account", "image_pdq", "text_minhash", "technique"):
        assert name in result.output


def test_normalize_and_hash(tmp_path: Path) -> None:
    result = runner.invoke(app, ["signals", "normalize", "url", "http://www.Example.com/a/?utm_source=x"])
    assert result.output.strip() == "https://example.com/a"
    result = runner.invoke(app, ["signals", "hash", "text_exact", "--text", "Bonjour à TOUS !"])
    assert result.output.strip() == get_signal_type("text_exact").hash_text("bonjour a tous")  # type: ignore[attr-defined]
    image = tmp_path / "image.bin"
    image.write_bytes(b"\x89PNG fake image bytes")
    result = runner.invoke(app, ["signals", "hash", "image_md5", "--file", str(image)])
    assert result.output.strip() == hashlib.md5(image.read_bytes()).hexdigest()


def test_invalid_value_exits_2_with_the_reason() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vigil.cli.app", "signals", "normalize", "image_pdq", "abc"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "image_pdq value must be 64 hex characters, got 3" in done.stderr


def test_derive_writes_a_signals_file(tmp_path: Path) -> None:
    posts = tmp_path / "posts.parquet"
    with ParquetSink(posts, POSTS) as sink:
        sink.write(pa.Table.from_pylist([sample_post()]))
    out = tmp_path / "signals.parquet"
    result = runner.invoke(
        app, ["signals", "derive", str(posts), "--out", str(out), "-t", "hashtag", "-t", "url"]
    )
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert sorted(zip(table["signal_type"].to_pylist(), table["value"].to_pylist(), strict=True)) == [
        ("hashtag", "wahl2021"),
        ("url", "https://example.com/news"),
    ]
    assert set(table["post_id"].to_pylist()) == {"1001"}


def test_hash_image_file_with_pdq(tmp_path: Path) -> None:
    from .conftest import png_bytes

    image = tmp_path / "image.png"
    image.write_bytes(png_bytes())
    result = runner.invoke(app, ["signals", "hash", "image_pdq", "--file", str(image)])
    assert result.exit_code == 0, result.output
    value = result.output.strip()
    assert value == get_signal_type("image_pdq").hash_bytes(png_bytes())  # type: ignore[attr-defined]
    assert len(value) == 64
