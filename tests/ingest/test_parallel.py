"""Batches mapped in worker threads (``ingest(..., workers=N)``) give the one-thread output, row for row.

Each worker thread maps with its own adapter (its own memos and DuckDB connection); batches are
taken back in reading order. The sources are the columnar tests' generated CSVs (values the
columnar path reads itself mixed with ones it hands to Python), cut into many small batches so
that the threads really interleave, and the real IRA archive's first tweets.
"""

from __future__ import annotations

import csv
import gzip
import threading
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.ingest.test_columnar import TOOLKIT_MAPPING, _toolkit_csv, _twitter_csv
from vigil.core.errors import DataError, InputError
from vigil.ingest.adapters.generic import GenericAdapter
from vigil.ingest.pipeline import ingest

GENERIC: dict[str, Any] = {"layout": "generic", "mapping": TOOLKIT_MAPPING, "platform": "twitter"}
BATCH = 128


def _run(tmp_path: Path, sources: list[Path], workers: int, **options: Any) -> dict[str, Any]:
    out = tmp_path / f"out-{workers}"
    summary = ingest(sources, out_dir=out, workers=workers, batch_size=BATCH, **options).as_dict()
    return {
        "posts": pq.read_table(out / "posts.parquet"),
        "accounts": pq.read_table(out / "accounts.parquet"),
        "summary": {k: v for k, v in summary.items() if k not in ("seconds", "posts_path", "accounts_path")},
        # Byte for byte: the same rows in the same order make the same files.
        "bytes": ((out / "posts.parquet").read_bytes(), (out / "accounts.parquet").read_bytes()),
    }


def _assert_same_across_workers(
    tmp_path: Path, sources: list[Path], counts: tuple[int, ...] = (2,), **options: Any
) -> dict[str, Any]:
    one = _run(tmp_path, sources, 1, **options)
    assert one["posts"].num_rows > BATCH * 6  # several batches per worker
    for workers in counts:
        many = _run(tmp_path, sources, workers, **options)
        for name in one["posts"].column_names:
            assert many["posts"].column(name).to_pylist() == one["posts"].column(name).to_pylist(), name
        assert many["accounts"].equals(one["accounts"])
        assert many["summary"] == one["summary"]
        assert many["bytes"] == one["bytes"]
    return one


def test_generic_layout_same_with_two_and_three_workers(tmp_path: Path) -> None:
    source = tmp_path / "toolkit.csv"
    _toolkit_csv(source, 1_500, seed=21)
    one = _assert_same_across_workers(tmp_path, [source], (2, 3), **GENERIC, detect_language=False)
    assert one["summary"]["urls"] > 0


def test_twitter_io_same_with_two_workers_unmapped_counts_summed(tmp_path: Path) -> None:
    source = tmp_path / "tweets.csv"
    _twitter_csv(source, 1_200, seed=22)
    one = _assert_same_across_workers(tmp_path, [source], layout="twitter-io", detect_language=False)
    # Unknown languages are counted by whichever adapter mapped the batch: the sums must agree.
    assert sum(one["summary"]["unmapped"]["tweet_language"].values()) > 50


def test_language_identification_same_with_two_workers(tmp_path: Path) -> None:
    source = tmp_path / "toolkit.csv"
    _toolkit_csv(source, 900, seed=23)
    one = _assert_same_across_workers(tmp_path, [source], **GENERIC, detect_language=True)
    assert one["summary"]["languages_detected"] > 0


def test_real_archive_same_with_two_workers(tmp_path: Path, shared_data: Path) -> None:
    source = tmp_path / "ira.csv"
    with gzip.open(shared_data / "ira-2017" / "tweets.csv.gz", "rt", encoding="utf-8") as handle:
        source.write_text("".join(line for _, line in zip(range(1_201), handle, strict=False)), "utf-8")
    _assert_same_across_workers(tmp_path, [source], layout="twitter-io", detect_language=False)


def test_batches_are_mapped_in_two_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "toolkit.csv"
    _toolkit_csv(source, 800, seed=24)
    threads: set[str] = set()
    mapping = GenericAdapter.to_posts

    def recording(self: GenericAdapter, batch: Any) -> Any:
        threads.add(threading.current_thread().name)
        return mapping(self, batch)

    monkeypatch.setattr(GenericAdapter, "to_posts", recording)
    ingest([source], out_dir=tmp_path / "out", workers=2, batch_size=100, detect_language=False, **GENERIC)
    assert len(threads) == 2 and all(name.startswith("vigil-ingest-map") for name in threads)


def test_the_first_bad_batch_in_file_order_is_reported(tmp_path: Path) -> None:
    """Two bad cells in different batches: every worker count names the earlier one, as one thread
    does, and an existing output stays as it was."""
    source = tmp_path / "toolkit.csv"
    _toolkit_csv(source, 1_000, seed=25)
    lines = source.read_text("utf-8").splitlines(keepends=True)
    header = next(csv.reader([lines[0]]))
    for line_no in (520, 870):  # the later one may be mapped first by the other thread
        row = next(csv.reader([lines[line_no]]))
        row[header.index("timestamp")] = "not a time"
        buffer = tmp_path / "row.csv"
        with buffer.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerow(row)
        lines[line_no] = buffer.read_text("utf-8")
    source.write_text("".join(lines), "utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "posts.parquet").write_bytes(b"earlier output")
    errors = []
    for workers in (1, 2, 3):
        with pytest.raises(DataError) as caught:
            ingest([source], out_dir=out, workers=workers, batch_size=100, detect_language=False, **GENERIC)
        errors.append(str(caught.value))
        assert caught.value.details.get("row") == 520
    assert errors[0] == errors[1] == errors[2]
    assert (out / "posts.parquet").read_bytes() == b"earlier output"
    assert sorted(p.name for p in out.iterdir()) == ["posts.parquet"]


def test_workers_must_be_positive(tmp_path: Path) -> None:
    source = tmp_path / "toolkit.csv"
    _toolkit_csv(source, 10, seed=26)
    with pytest.raises(InputError, match="workers"):
        ingest([source], out_dir=tmp_path / "out", workers=0, **GENERIC)
