"""Co-text traces: exact fast path, near duplicates around the Jaccard threshold, buckets, engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from tests.detect._content_posts import connection, posts
from vigil.core.errors import InputError
from vigil.detect.contract import EVENTS
from vigil.detect.engine import EngineParams, run_trace
from vigil.detect.similarity.minhash import MinHashParams, jaccard, near_duplicate_pairs, shingle_sets
from vigil.detect.traces.content import MEMBERS
from vigil.detect.traces.text import TextTraceParams, prepare_texts, text_traces
from vigil.ingest.text import normalize_text
from vigil.signals import get_signal_type

WORDS = [f"mot{i}" for i in range(60)]


def words(start: int, n: int) -> str:
    return " ".join(WORDS[start : start + n])


def python_jaccard(a: str, b: str, k: int = 2) -> float:
    def shingles(text: str) -> set[tuple[str, ...]]:
        toks = normalize_text(text).split(" ")
        return {tuple(toks[i : i + k]) for i in range(len(toks) - k + 1)}

    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb)


def test_exact_jaccard_matches_a_set_computation() -> None:
    texts = [words(0, 14), words(0, 14) + " " + words(30, 7), words(3, 14), words(20, 10), words(0, 14)]
    sets = shingle_sets(pa.array(texts))
    a = np.array([0, 0, 0, 1, 3, 0], dtype=np.int64)
    b = np.array([1, 2, 3, 2, 4, 4], dtype=np.int64)
    got = jaccard(sets, a, b)
    expected = [python_jaccard(texts[i], texts[j]) for i, j in zip(a, b, strict=True)]
    assert got.tolist() == pytest.approx(expected)
    assert got[0] == pytest.approx(13 / 20)
    assert got[5] == 1.0


def test_candidate_probability_is_high_above_and_low_far_below_the_threshold() -> None:
    params = MinHashParams()
    assert params.candidate_probability(0.6) > 0.98
    assert params.candidate_probability(0.2) < 0.05
    with pytest.raises(ValueError):
        MinHashParams(num_perm=100, bands=32)


def test_near_pairs_are_decided_by_exact_jaccard_around_the_threshold() -> None:
    base = words(0, 14)  # 13 bigrams
    above = base + " " + words(30, 7)  # 13 shared of 20: J = 0.65
    below = base + " " + words(40, 11)  # 13 shared of 24: J = 0.54
    sets = shingle_sets(pa.array([base, above, below]))
    a, b, sim = near_duplicate_pairs(sets, MinHashParams(), threshold=0.6)
    assert list(zip(a.tolist(), b.tolist(), strict=True)) == [(0, 1)]
    assert sim.tolist() == pytest.approx([13 / 20])


def _rows(texts: list[tuple[str, str, float]]) -> list[dict[str, Any]]:
    return [{"account": acct, "text": text, "at": at} for acct, text, at in texts]


def test_exact_duplicates_after_normalization_become_one_item(tmp_path: Path) -> None:
    arabic = "تم العثور على آلاف أوراق الاقتراع مرمية خلف مبنى البلدية"
    decorated = "تمّ العثور على آلاف أوراقِ الاقتراعِ مرميةً خلف مبنى البلديــة!! https://t.co/x @someone"
    table = posts(
        _rows(
            [
                ("a1", arabic, 0),
                ("a2", decorated, 30),
                ("a3", arabic, 45),
                ("solo", words(0, 8), 50),  # posted twice by one account: no coordination
                ("solo", words(0, 8), 70),
                ("x", "trop court", 80),  # below min_tokens
                ("y", "trop court", 90),
            ]
        )
    )
    con = connection(table, tmp_path)
    exact, near, prepared = text_traces(con)
    assert prepared["posts_with_text"] == 7
    assert prepared["posts_kept"] == 5  # the two short texts are dropped before any grouping
    assert prepared["distinct_texts"] == 2  # three Arabic copies cost one row in the next steps
    assert exact.events.schema.equals(EVENTS)
    assert exact.members.schema.equals(MEMBERS)
    assert sorted(exact.events.column("account").to_pylist()) == ["x:a1", "x:a2", "x:a3"]
    assert len(set(exact.events.column("item").to_pylist())) == 1
    item = exact.events.column("item")[0].as_py()
    assert item == get_signal_type("text_exact").hash_text(arabic)  # the text_exact signal value
    assert exact.members.column("key")[0].as_py() == normalize_text(arabic)
    # Identical copies only: the near trace has nothing to add, and LSH saw just the 2 distinct texts.
    assert near.events.num_rows == 0
    assert near.stats["distinct_texts"] == 2


class _Calls:
    """A Progress that keeps its calls in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float | None]] = []

    def start(self, description: str, total: float | None = None) -> None:
        self.calls.append(("start " + description, total))

    def advance(self, amount: float = 1) -> None:
        self.calls.append(("advance", amount))

    def finish(self) -> None:
        self.calls.append(("finish", None))


def test_normalizing_stage_also_counts_the_grouping(tmp_path: Path) -> None:
    # The grouping of normal forms after the normalizing pass (as much CPU again at 1M posts) is
    # part of the stage: its total is twice the posts, the normalizing batches advance by their
    # posts, the three grouping steps by the other half, and the stage ends after them.
    rows = [(f"a{i}", words(i % 9, 8 + i % 5), float(i * 10)) for i in range(1000)]
    con = connection(posts(_rows(rows)), tmp_path)
    calls = _Calls()
    prepare_texts(con, TextTraceParams(batch_rows=300), progress=calls)
    assert calls.calls[0] == ("start normalizing texts", 2000.0)
    assert calls.calls[-1] == ("finish", None)
    steps = [float(amount or 0) for _, amount in calls.calls[1:-1]]
    assert all(name == "advance" for name, _ in calls.calls[1:-1])
    assert steps[:4] == [300, 300, 300, 100]  # the normalizing batches
    assert len(steps) == 7 and sum(steps[4:]) == 1000 and min(steps[4:]) > 0


def test_near_duplicates_cluster_above_and_not_below_threshold(tmp_path: Path) -> None:
    base = words(0, 14)
    table = posts(
        _rows(
            [
                ("a", base, 0),
                ("b", base + " " + words(30, 7), 60),  # J = 0.65 with base
                ("c", base + " " + words(40, 11), 120),  # J = 0.54 with base, 13/31 with b
                ("d", words(20, 12), 180),
            ]
        )
    )
    con = connection(table, tmp_path)
    params = TextTraceParams(near_threshold=0.6)
    _, near, _ = text_traces(con, params)
    assert near.events.schema.equals(EVENTS)
    assert sorted(near.events.column("account").to_pylist()) == ["x:a", "x:b"]
    members = {row["account"]: row for row in near.members.to_pylist()}
    assert members["x:b"]["score"] == pytest.approx(13 / 20)
    assert members["x:a"]["score"] == 1.0
    assert members["x:b"]["representative"] == normalize_text(base)
    # Lower the threshold under 0.54 and c joins.
    con2 = connection(table, tmp_path)
    _, near2, _ = text_traces(con2, TextTraceParams(near_threshold=0.5))
    assert sorted(near2.events.column("account").to_pylist()) == ["x:a", "x:b", "x:c"]


def test_buckets_compare_neighbours_only(tmp_path: Path) -> None:
    day = 86_400.0
    base = words(0, 14)
    variant = base + " " + words(30, 3)
    other = words(20, 14)
    table = posts(
        _rows(
            [
                ("a", base, day - 30),  # last minute of day 0 ...
                ("b", variant, day + 30),  # ... and first minute of day 1: carried over, found
                ("c", other, 0),
                ("d", other + " " + words(50, 3), 3 * day),  # two days apart: never compared
            ]
        )
    )
    con = connection(table, tmp_path)
    _, near, _ = text_traces(con)
    assert sorted(near.events.column("account").to_pylist()) == ["x:a", "x:b"]


def test_components_chain_but_leaders_do_not(tmp_path: Path) -> None:
    # A ~ B ~ C with J(A, C) below the threshold: a chain.
    a = words(0, 20)
    b = words(4, 20)
    c = words(8, 20)
    assert python_jaccard(a, b) > 0.6 > python_jaccard(a, c)
    table = posts(_rows([("u1", a, 0), ("u2", b, 10), ("u3", c, 20), ("u4", c, 30)]))
    _, chained, _ = text_traces(
        connection(table, tmp_path), TextTraceParams(near_threshold=0.6, clustering="components")
    )
    assert len(set(chained.events.column("item").to_pylist())) == 1
    assert chained.events.num_rows == 4
    _, led, _ = text_traces(
        connection(table, tmp_path), TextTraceParams(near_threshold=0.6, clustering="leader")
    )
    # Leader A takes B; C is not similar to A, so it leads its own (exact-only) cluster.
    assert sorted(led.events.column("account").to_pylist()) == ["x:u1", "x:u2"]
    assert all(row["score"] >= 0.6 for row in led.members.to_pylist())


def test_through_the_engine(tmp_path: Path) -> None:
    base = words(0, 14)
    rows = []
    for k in range(3):  # three messages, each copied with a small edit by three accounts
        msg = words(k * 15, 14)
        for i, acct in enumerate(["r1", "r2", "r3"]):
            text = msg if i == 0 else msg + " " + WORDS[59 - i]
            rows.append((acct, text, k * 5000 + i * 40))
    rows.append(("bystander", base + " mot58", 20_000))
    table = posts(_rows(rows))
    con = connection(table, tmp_path)
    exact, near, _ = text_traces(con)
    result = run_trace(con, near.spec, EngineParams(min_items=2))
    pairs = {(r["account_a"], r["account_b"], r["n_items"]) for r in result.edges.to_pylist()}
    assert pairs == {("x:r1", "x:r2", 3), ("x:r1", "x:r3", 3), ("x:r2", "x:r3", 3)}
    assert set(result.evidence.column("item").to_pylist()) <= set(near.events.column("item").to_pylist())
    assert run_trace(con, exact.spec, EngineParams(min_items=1)).edges.num_rows == 0


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(InputError, match="near_threshold"):
        TextTraceParams(near_threshold=0)
    with pytest.raises(InputError, match="min_accounts"):
        TextTraceParams(min_accounts=1)
    with pytest.raises(InputError, match="bucket_seconds"):
        TextTraceParams(bucket_seconds=0)


def test_no_texts_give_empty_traces(tmp_path: Path) -> None:
    table = posts([{"account": "a", "text": None, "at": 0}, {"account": "b", "text": "trop court", "at": 1}])
    exact, near, prepared = text_traces(connection(table, tmp_path))
    assert prepared["posts_kept"] == 0
    assert exact.events.num_rows == near.events.num_rows == 0
    assert exact.events.schema.equals(EVENTS) and near.members.schema.equals(MEMBERS)


def test_reshares_are_left_out_unless_asked(tmp_path: Path) -> None:
    text = words(0, 10)
    table = posts(
        [
            {"account": "a", "text": text, "at": 0},
            {"account": "b", "text": text, "reshare_of": "p0", "at": 30},
            {"account": "c", "text": text, "reshare_of": "p0", "at": 60},
        ]
    )
    exact, _, prepared = text_traces(connection(table, tmp_path))
    assert prepared["posts_with_text"] == 1 and exact.events.num_rows == 0
    exact, _, _ = text_traces(connection(table, tmp_path), TextTraceParams(include_reshares=True))
    assert sorted(exact.events.column("account").to_pylist()) == ["x:a", "x:b", "x:c"]


def test_member_scores_do_not_depend_on_the_slice_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vigil.detect.traces.text as text_module

    base = words(0, 14)
    rows = [(f"u{i}", base + " " + words(30, i), 10.0 * i) for i in range(5)]
    table = posts(_rows(rows))
    expected = sorted(python_jaccard(base, text) for _, text, _ in rows)
    # Leader clustering scores members from the pass that made them join; components shingles and
    # scores them again, a slice at a time: both give the exact Jaccard with the representative.
    _, led, _ = text_traces(connection(table, tmp_path))
    components = TextTraceParams(clustering="components")
    _, whole, _ = text_traces(connection(table, tmp_path), components)
    monkeypatch.setattr(text_module, "_SCORE_SLICE", 2)
    _, sliced, _ = text_traces(connection(table, tmp_path), components)
    assert whole.members.num_rows == 5
    assert sliced.members.equals(whole.members)
    assert led.members.equals(whole.members)
    assert sorted(whole.members.column("score").to_pylist()) == pytest.approx(expected)
