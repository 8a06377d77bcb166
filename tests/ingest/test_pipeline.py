"""The ingest pipeline: atomic output, formats, account deduplication, bad inputs."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ingest.conftest import read_rows
from vigil.core.errors import DataError, InputError, VigilError
from vigil.ingest.pipeline import ingest
from vigil.schema.io import read_table
from vigil.schema.tables import ACCOUNTS, POSTS


def _posts_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("platform,post_id,account_id,account_handle,created_at,text\n" + "\n".join(rows) + "\n")
    return path


def test_outputs_are_valid_vigil_tables(tmp_path: Path) -> None:
    source = _posts_csv(
        tmp_path / "in.csv", ["x,1,a,Al,2021-01-01,hi", "x,2,a,Alice,2021-01-02,", "y,3,a,,2021-01-03,"]
    )
    summary = ingest([source], layout="generic", out_dir=tmp_path / "out", batch_size=1)
    posts = read_table(summary.posts_path, POSTS)
    accounts = read_table(summary.accounts_path, ACCOUNTS)
    assert posts.num_rows == 3
    # one row per (platform, account_id) across batches; the last handle seen wins
    assert [(r["platform"], r["account_id"], r["handle"]) for r in accounts.to_pylist()] == [
        ("x", "a", "Alice"),
        ("y", "a", None),
    ]
    assert list(tmp_path.joinpath("out").iterdir()) != []
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["accounts.parquet", "posts.parquet"]


def test_failure_leaves_existing_output_untouched(tmp_path: Path) -> None:
    good = _posts_csv(tmp_path / "good.csv", ["x,1,a,,2021-01-01,hi"])
    out = tmp_path / "out"
    ingest([good], layout="generic", out_dir=out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = _posts_csv(tmp_path / "bad.csv", ["x,2,a,,2021-01-01,hi", "x,3,a,,soon,hi"])
    with pytest.raises(DataError, match="row 2, column 'created_at': not a timestamp: 'soon'"):
        # the good file is read completely before the bad one fails
        ingest([good, bad], layout="generic", out_dir=out, batch_size=1)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no staging left behind either


def test_failure_creates_no_output(tmp_path: Path) -> None:
    bad = _posts_csv(tmp_path / "bad.csv", ["x,1,a,,soon,hi"])
    with pytest.raises(DataError):
        ingest([bad], layout="generic", out_dir=tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_several_formats_in_one_run(tmp_path: Path) -> None:
    csv_path = _posts_csv(tmp_path / "a.csv", ["x,1,a,,2021-01-01,hi"])
    jsonl_path = tmp_path / "b.jsonl"
    jsonl_path.write_text('{"platform": "x", "post_id": 2, "account_id": "b", "created_at": 1609459200}\n')
    summary = ingest([csv_path, jsonl_path], layout="generic", out_dir=tmp_path / "out")
    assert [r["post_id"] for r in read_rows(summary.posts_path)] == ["1", "2"]
    assert summary.accounts == 2


def test_duplicate_posts_are_dropped_or_kept(tmp_path: Path) -> None:
    source = _posts_csv(
        tmp_path / "in.csv",
        [
            "x,1,a,,2021-01-01,first",
            "y,1,a,,2021-01-01,other platform",
            "x,2,b,,2021-01-02,",
            "x,1,a,,2021-01-03,again",
        ],
    )
    summary = ingest([source], layout="generic", out_dir=tmp_path / "out", batch_size=2)
    assert (summary.duplicate_posts, summary.posts) == (1, 3)
    rows = read_rows(summary.posts_path)
    assert [(r["platform"], r["post_id"], r["text"]) for r in rows] == [
        ("x", "1", "first"),
        ("y", "1", "other platform"),
        ("x", "2", None),
    ]
    assert read_table(summary.posts_path, POSTS).schema.equals(POSTS.schema, check_metadata=False)
    kept = ingest([source], layout="generic", out_dir=tmp_path / "kept", keep_duplicates=True)
    assert (kept.duplicate_posts, kept.posts) == (1, 4)


def test_one_platform_duplicates_and_the_last_handle_seen(tmp_path: Path) -> None:
    """One platform: duplicates are counted on post ids alone; an account's handle is the last one
    its posts show (a missing handle does not erase it), across batches."""
    source = _posts_csv(
        tmp_path / "in.csv",
        [
            "x,1,a,old,2021-01-01,first",
            "x,2,b,bee,2021-01-02,",
            "x,3,a,new,2021-01-03,",
            "x,1,a,,2021-01-04,again",
            "x,4,a,,2021-01-05,",
        ],
    )
    summary = ingest([source], layout="generic", out_dir=tmp_path / "out", batch_size=2)
    assert (summary.duplicate_posts, summary.posts, summary.accounts) == (1, 4, 2)
    assert [r["post_id"] for r in read_rows(summary.posts_path)] == ["1", "2", "3", "4"]
    accounts = [(r["account_id"], r["handle"]) for r in read_rows(summary.accounts_path)]
    assert accounts == [("a", "new"), ("b", "bee")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"layout": "facebook"},
            "unknown layout 'facebook'; known: twitter-io, generic, vigil, german-elections",
        ),
        ({"layout": "generic", "fmt": "xml"}, "unknown format 'xml'; use auto, csv, jsonl, parquet"),
        ({"layout": "generic", "time_format": "soon"}, "--time-format: unknown time format 'soon'"),
    ],
)
def test_bad_options(tmp_path: Path, kwargs: dict[str, str], message: str) -> None:
    source = _posts_csv(tmp_path / "in.csv", ["x,1,a,,2021-01-01,hi"])
    with pytest.raises(InputError) as info:
        ingest([source], out_dir=tmp_path / "out", **kwargs)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)


def test_missing_input_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.csv: no such file"):
        ingest([tmp_path / "nope.csv"], layout="generic", out_dir=tmp_path / "out")
    with pytest.raises(InputError, match="is a directory"):
        ingest([tmp_path], layout="generic", out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_out_is_a_file(tmp_path: Path) -> None:
    source = _posts_csv(tmp_path / "in.csv", ["x,1,a,,2021-01-01,hi"])
    with pytest.raises(InputError, match="is a file; give a directory"):
        ingest([source], layout="generic", out_dir=source)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    content=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(lambda t: ("post_id,account_id,created_at,platform\n" + t).encode()),
    ),
    suffix=st.sampled_from([".csv", ".jsonl", ".parquet", ".csv.gz"]),
)
def test_garbage_input_gives_a_vigil_error_never_a_crash(tmp_path: Path, content: bytes, suffix: str) -> None:
    here = Path(tempfile.mkdtemp(dir=tmp_path))  # tmp_path is shared by all examples
    path = here / f"in{suffix}"
    path.write_bytes(content)
    out = here / "out"
    try:
        ingest([path], layout="generic", out_dir=out)
    except VigilError:
        assert not (out / "posts.parquet").exists()
