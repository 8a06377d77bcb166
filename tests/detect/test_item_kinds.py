"""Detected items are signal values: traces declare their kind, evidence carries (kind, value), and
a run's outputs are read back through vigil.detect.runs."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.detect._content_posts import connection, posts
from vigil.core.errors import ConfigError, DataError, NotFound
from vigil.detect import runs
from vigil.detect.engine import run_trace
from vigil.detect.pipeline import CO_DOMAIN_SLOW, CO_RESHARE_SLOW
from vigil.detect.traces import STRUCTURAL_TRACES, TraceSpec, posts_events
from vigil.detect.traces.base import item_kinds, trace_kinds
from vigil.detect.traces.text import TextTraceParams, text_traces
from vigil.signals import derive_post_signals, get_signal_type

PDQ = "f" * 64
MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def test_a_trace_naming_an_unknown_signal_kind_is_refused() -> None:
    with pytest.raises(ConfigError, match="co_x: unknown signal type 'pdq'"):
        TraceSpec("co_x", "x", posts_events("x", unnest="urls"), signal_kinds=("pdq",))


def test_structural_traces_declare_the_kinds_of_their_items() -> None:
    kinds = trace_kinds([*STRUCTURAL_TRACES.values(), CO_DOMAIN_SLOW, CO_RESHARE_SLOW])
    assert kinds == {
        "co_link": ("url",),
        "co_domain": ("domain",),
        "co_reshare": (),
        "co_reply": (),
        "co_mention": ("account",),
        "co_hashtag": ("hashtag",),
        "co_hashtag_seq": (),
        "co_domain_slow": ("domain",),
        "co_reshare_slow": (),
    }


def test_item_kinds_per_row() -> None:
    traces = pa.array(["co_link", "co_image", "co_image", "co_image", "co_reshare", "co_unknown"])
    items = pa.array(["https://a.example/x", PDQ, MD5, "phash:12", "x:p1", "v"])
    kinds = {"co_link": ("url",), "co_image": ("image_pdq", "image_md5"), "co_reshare": ()}
    got = item_kinds(traces, items, kinds).to_pylist()
    assert got == ["url", "image_pdq", "image_md5", None, None, None]
    assert item_kinds(pa.chunked_array([traces]), pa.chunked_array([items]), kinds).to_pylist() == got


def test_an_exact_text_item_is_the_text_exact_signal_of_its_posts(tmp_path: Path) -> None:
    text = "Thousands of ballots were found dumped behind the town hall last night"
    copy = "THOUSANDS of ballots were found dumped behind the town hall last night!! https://t.co/x"
    table = posts([{"account": "a1", "text": text, "at": 0}, {"account": "a2", "text": copy, "at": 30}])
    exact, _, _ = text_traces(connection(table, tmp_path))
    assert exact.spec.signal_kinds == ("text_exact",)
    items = set(exact.events.column("item").to_pylist())
    derived = derive_post_signals(table, ["text_exact"])
    # What a member derives from either post is the detected item: it can be shared as it is.
    assert items == set(derived.column("value").to_pylist()) and len(items) == 1
    kept, _, _ = text_traces(connection(table, tmp_path), TextTraceParams(fold_accents=False))
    assert kept.spec.signal_kinds == ()  # another normal form: the digests are no text_exact values


def _run_dir(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    out.mkdir()
    document = {
        "campaigns": [{"campaign_id": "campaign--a", "rank": 1}, {"campaign_id": "campaign--b", "rank": 2}]
    }
    (out / "campaigns.json").write_text(json.dumps(document), "utf-8")
    edges = pa.table(
        {
            "account_a": ["x:2", "x:1", "x:1", "x:3"],
            "account_b": ["x:1", "x:2", "x:3", "x:4"],
            "weight": [1.5, 0.5, 2.0, 9.0],
            "campaign_id": ["campaign--a", "campaign--a", "campaign--a", None],
        }
    )
    pq.write_table(edges, out / "edges.parquet")
    return out


def test_runs_reads_a_detection_directory(tmp_path: Path) -> None:
    out = _run_dir(tmp_path)
    assert runs.is_run(out) and not runs.is_run(tmp_path)
    document = runs.read_document(out)
    assert runs.find_campaign(document, "2")["campaign_id"] == "campaign--b"
    assert runs.find_campaign(document, "campaign--a")["rank"] == 1
    with pytest.raises(NotFound, match=r"no campaign '9'.*1: campaign--a"):
        runs.find_campaign(document, "9")
    # Both directions of a pair and every trace are summed; other campaigns' edges are left out.
    assert runs.campaign_edges(out, "campaign--a") == [("x:1", "x:2", 2.0), ("x:1", "x:3", 2.0)]
    assert runs.campaign_edges(out, "campaign--b") == []
    assert runs.posts_per_day(out, "campaign--a") == []  # no campaign evidence file


def test_runs_names_the_file_it_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"campaigns\.json is missing"):
        runs.read_document(tmp_path)
    (tmp_path / "campaigns.json").write_text("{not json", "utf-8")
    with pytest.raises(DataError, match="invalid JSON"):
        runs.read_document(tmp_path)
    (tmp_path / "campaigns.json").write_text("[]", "utf-8")
    with pytest.raises(DataError, match="not a JSON object"):
        runs.read_document(tmp_path)
    (tmp_path / "x").mkdir()
    out = _run_dir(tmp_path / "x")
    (out / "edges.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match=r"edges\.parquet"):
        runs.campaign_edges(out, "campaign--a")


def test_structural_items_are_normal_forms_of_their_kind(tmp_path: Path) -> None:
    table = posts(
        [
            {"account": "a", "mentions": ["vote_bot_77"], "hashtags": ["stopthecount"]},
            {"account": "b", "platform": "telegram", "mentions": ["someone"], "hashtags": ["قاطعوا"]},
        ]
    )
    con = connection(table, tmp_path)
    for name in ("co_mention", "co_hashtag"):
        spec = STRUCTURAL_TRACES[name]
        (kind,) = spec.signal_kinds
        items = [row[0] for row in con.execute(f"SELECT item FROM ({spec.events_sql})").fetchall()]
        assert items and all(get_signal_type(kind).normalize(i) == i for i in items), (name, items)
    mentions = con.execute(f"SELECT item FROM ({STRUCTURAL_TRACES['co_mention'].events_sql})").fetchall()
    assert sorted(m[0] for m in mentions) == ["telegram:@someone", "x:@vote_bot_77"]
    # The engine's statistics (traces.json) name the kinds, so evidence.parquet reads as (kind, value).
    assert run_trace(con, STRUCTURAL_TRACES["co_mention"]).stats.signal_kinds == ("account",)
