"""The cross-lingual stage's bar moves while the encoder works: at 1M posts one encoder call is
most of the stage, and the bar used to sit at a few percent until it returned."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from tests.detect._content_posts import connection, posts
from tests.detect.test_crosslingual import MESSAGES, UNRELATED
from vigil.detect.similarity.embed import Vectors
from vigil.detect.similarity.use_dedup import ORDERS, UseMultilingualDedup
from vigil.detect.traces.crosslingual import CrossLingualParams, co_text_crosslingual
from vigil.detect.traces.text import text_traces

TEXTS = [m[lang] for m in MESSAGES for lang in ("en", "fr", "ar")] + list(UNRELATED.values())


@pytest.mark.parametrize("token_budget", [1 << 20, 64])
def test_encoder_tells_its_work_in_parts_that_add_up_to_the_texts(token_budget: int) -> None:
    embedder = UseMultilingualDedup(token_budget=token_budget)
    told: list[float] = []
    vectors = embedder.encode(TEXTS, on_done=told.append)
    assert sum(told) == len(TEXTS)
    # One part per n-gram order and one for the sentence layers, for each group of texts.
    assert len(told) % (len(ORDERS) + 1) == 0 and len(told) >= len(ORDERS) + 1
    if token_budget == 64:  # a small budget splits the texts into several groups
        assert len(told) > len(ORDERS) + 1
    np.testing.assert_array_equal(vectors, embedder.encode(TEXTS))


class _Spy(UseMultilingualDedup):
    """The default encoder, noting when it is inside a call."""

    inside = False

    def encode(self, texts: Sequence[str], on_done: Callable[[float], None] | None = None) -> Vectors:
        self.inside = True
        try:
            return super().encode(texts, on_done)
        finally:
            self.inside = False


class _Recorder:
    def __init__(self, spy: _Spy) -> None:
        self.spy = spy
        self.stages: list[tuple[str, float | None, list[tuple[float, bool]]]] = []

    def start(self, description: str, total: float | None = None) -> None:
        self.stages.append((description, total, []))

    def advance(self, amount: float = 1) -> None:
        self.stages[-1][2].append((amount, self.spy.inside))

    def finish(self) -> None:
        return None


def test_the_stage_advances_during_the_encoder_call_and_adds_up_to_its_total(tmp_path: Path) -> None:
    m = MESSAGES[1]
    rows = [
        {"account": a, "text": t, "lang": lang, "at": at}
        for a, t, lang, at in [
            ("en1", m["en"], "en", 0),
            ("en2", m["en"], "en", 30),
            ("fr1", m["fr"], "fr", 60),
            ("fr2", m["fr"], "fr", 90),
            ("ar1", m["ar"], "ar", 120),
            ("ar2", m["ar"], "ar", 150),
            ("u1", UNRELATED["en"], "en", 180),
            ("u2", UNRELATED["en"], "en", 210),
        ]
    ]
    con = connection(posts(rows), tmp_path)
    text_traces(con)
    spy = _Spy()
    recorder = _Recorder(spy)
    trace = co_text_crosslingual(con, CrossLingualParams(embedder=spy), progress=recorder)
    assert trace.stats["embedded"] > 0
    [(_, total, advances)] = [s for s in recorder.stages if s[0] == "cross-lingual texts"]
    assert total is not None and sum(a for a, _ in advances) == total
    # Some of the stage's advances come while the encoder runs (the old code advanced only around it).
    assert any(inside for _, inside in advances), advances
