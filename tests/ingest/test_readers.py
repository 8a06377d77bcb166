"""Streaming readers: formats by extension, batches, row numbers and errors naming file and row."""

from __future__ import annotations

import gzip
import json
import random
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vigil.core.errors import DataError, InputError
from vigil.ingest.readers import format_of, read_batches, read_csv, read_jsonl, zip_members


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("a.csv", "csv"), ("a.CSV.gz", "csv"), ("a.jsonl", "jsonl"), ("a.ndjson.gz", "jsonl"),
     ("a.parquet", "parquet"), ("dir.v2/a.pq", "parquet")],
)  # fmt: skip
def test_format_of(name: str, fmt: str) -> None:
    assert format_of(name) == fmt


def test_format_of_unknown_extension() -> None:
    with pytest.raises(InputError, match=r"tweets\.txt: cannot tell the format from the file name"):
        format_of("tweets.txt")


def test_csv_batches_and_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "posts.csv"
    path.write_text('id,text\n1,"two\nlines"\n2,b\n\n3,c\n4,\n', encoding="utf-8")
    batches = list(read_csv(path, batch_size=2))
    assert [b.num_rows for b in batches] == [2, 2]
    assert batches[0].column("text") == ["two\nlines", "b"]
    assert batches[1].column("text") == ["c", None]  # empty field -> None
    assert batches[1].column("missing") == [None, None]
    # the blank line is row 3: skipped but counted
    assert [batches[0].row_number(i) for i in range(2)] == [1, 2]
    assert [batches[1].row_number(i) for i in range(2)] == [4, 5]


def test_csv_bom_and_gzip(tmp_path: Path) -> None:
    path = tmp_path / "posts.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8-sig") as handle:
        handle.write("id,text\n1,صوتوا\n")
    (batch,) = read_batches(path, "auto")
    assert batch.column_names == ["id", "text"]
    assert batch.column("text") == ["صوتوا"]


@pytest.mark.parametrize("cut", [3, 12, -4])
def test_truncated_gzip_csv_is_a_data_error(tmp_path: Path, cut: int) -> None:
    """A gzip stream cut short (in its header or its data) names the file; the columnar reader too."""
    whole = gzip.compress(b"post_id,text\n" + b"".join(b"%d,hello\n" % i for i in range(200)))
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(whole[:cut])
    for columnar in (True, False):
        with pytest.raises(DataError, match=r"cut\.csv\.gz, row \d+: broken gzip data"):
            list(read_csv(path, 50, columnar=columnar))


def test_corrupt_gzip_csv_is_a_data_error(tmp_path: Path) -> None:
    """Flipped bytes inside the compressed data ("invalid distance too far back": zlib.error, neither
    of gzip's own errors, escaped as it was) name the file and row, whichever reader inflates."""
    whole = bytearray(
        gzip.compress(b"a,b\n" + b"".join(b"%d,hello %d\n" % (i, i * 7) for i in range(100000)))
    )
    rng = random.Random(6)  # a corruption zlib refuses as a bad deflate distance
    for _ in range(5):
        at = rng.randrange(10, len(whole) - 8)
        whole[at] ^= rng.randrange(1, 256)
    path = tmp_path / "bad.csv.gz"
    path.write_bytes(bytes(whole))
    with pytest.raises(zlib.error):  # the corruption is of that kind
        gzip.decompress(bytes(whole))
    for columnar in (True, False):
        with pytest.raises(DataError, match=r"bad\.csv\.gz, row \d+: broken gzip data"):
            list(read_csv(path, 5000, columnar=columnar))


def test_csv_ragged_row(fixtures: Path) -> None:
    path = fixtures / "twitter_io_ragged.csv"
    with pytest.raises(DataError) as info:
        list(read_csv(path))
    assert (
        str(info.value)
        == f"{path}, row 2: has 3 fields, the header has 4; expected one value per header column"
    )
    assert info.value.row == 2


def test_csv_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match=r"empty\.csv: empty file; expected a header row naming the columns"):
        list(read_csv(empty))
    twice = tmp_path / "twice.csv"
    twice.write_text("id,id\n1,2\n")
    with pytest.raises(DataError, match="the header names column 'id' twice"):
        list(read_csv(twice))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("id,text\n1,élection\n".encode("latin-1"))
    with pytest.raises(DataError) as info:
        list(read_csv(latin))
    assert str(info.value).startswith(f"{latin}, row 1: not UTF-8 text")


def test_parquet_named_csv_and_csv_given_as_parquet(tmp_path: Path) -> None:
    fake = tmp_path / "posts.csv"
    pq.write_table(pa.table({"a": [1]}), fake)
    with pytest.raises(DataError) as info:
        list(read_batches(fake, "auto"))
    assert str(info.value) == f"{fake}: this is a Parquet file, not CSV; expected --format parquet"
    text = tmp_path / "posts.parquet"
    text.write_text("id\n1\n")
    with pytest.raises(DataError) as info:
        list(read_batches(text, "auto"))
    assert str(info.value) == (
        f"{text}: not a Parquet file (it does not start with the Parquet magic bytes); "
        "expected a Parquet file, or the right --format"
    )


def test_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"
    path.write_text('{"id": 1, "tags": ["a"]}\n\n{"id": 2, "extra_key": true}\n', encoding="utf-8")
    (batch,) = read_jsonl(path)
    assert batch.column("id") == [1, 2]
    assert batch.column("tags") == [["a"], None]
    assert batch.column("extra_key") == [None, True]
    assert [batch.row_number(0), batch.row_number(1)] == [1, 3]  # line numbers


def test_jsonl_malformed_line(fixtures: Path) -> None:
    path = fixtures / "generic_bad_json.jsonl"
    with pytest.raises(DataError) as info:
        list(read_jsonl(path))
    assert str(info.value) == (
        f"{path}, row 3: not valid JSON: Expecting property name enclosed in double quotes at character 47; "
        "expected one JSON object per line"
    )


def test_jsonl_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"id": 1}) + "\n" + json.dumps([1, 2]) + "\n")
    with pytest.raises(
        DataError, match=r"row 2: a JSON list, not an object; expected one JSON object per line"
    ):
        list(read_jsonl(path))


def test_parquet_batches(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"id": list(range(5))}), path)
    batches = list(read_batches(path, "parquet", batch_size=2))
    assert [b.first_row for b in batches] == [1, 3, 5]
    assert batches[1].column("id") == [2, 3]
    assert batches[1].table is not None


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        list(read_batches(tmp_path / "nope.csv", "csv"))


def test_zip_members_in_name_order_gzip_members_too(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("b.csv.gz", gzip.compress(b"x,y\n3,4\n"))
        zf.writestr("a.csv", "x,y\n1,2\n")
        zf.writestr("notes.txt", "not data")
    assert zip_members(path) == ["a.csv", "b.csv.gz"]
    assert format_of(path) == "csv"
    batches = list(read_batches(path, "auto"))
    assert [b.columns["x"] for b in batches] == [["1"], ["3"]]
    assert [b.file for b in batches] == [f"{path}!a.csv", f"{path}!b.csv.gz"]
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("notes.txt", "nothing")
    with pytest.raises(DataError, match="holds no data file"):
        format_of(empty)
    mixed = tmp_path / "mixed.zip"
    with zipfile.ZipFile(mixed, "w") as zf:
        zf.writestr("a.csv", "x\n1\n")
        zf.writestr("b.jsonl", "{}\n")
    with pytest.raises(InputError, match="mixes formats"):
        format_of(mixed)


@pytest.mark.parametrize("compress", [False, True])
def test_arrow_csv_blocks_regrouped_into_whole_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compress: bool
) -> None:
    """Arrow parses small blocks (bounded read-ahead); batches are still ``batch_size`` rows, with
    true row numbers, and hold what the csv module reads."""
    import vigil.ingest.readers as readers

    monkeypatch.setattr(readers, "_CSV_BLOCK", 4096)  # ~80 rows a block: batches span many blocks
    lines = ["id,text,n"] + [f'{i},"row {i}, quoted ""x""\nsecond line",{i % 7 or ""}' for i in range(2_500)]
    data = ("\n".join(lines) + "\n").encode()
    path = tmp_path / ("rows.csv.gz" if compress else "rows.csv")
    path.write_bytes(gzip.compress(data) if compress else data)
    fast = list(read_csv(path, batch_size=1_000, columnar=True))
    rows = list(read_csv(path, batch_size=1_000, columnar=False))
    assert [b.num_rows for b in fast] == [b.num_rows for b in rows] == [1_000, 1_000, 500]
    assert [b.first_row for b in fast] == [b.first_row for b in rows] == [1, 1_001, 2_001]
    assert all(b.table is not None and b.table.column("id").num_chunks == 1 for b in fast)
    for a, b in zip(fast, rows, strict=True):
        assert a.columns == b.columns
