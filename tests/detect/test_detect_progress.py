"""``detect`` announces its stages ("stage k of n") and every stage has a total it is advanced to,
so the CLI's bars show a count and an ETA for all of them, the text stages included (#22)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from vigil.detect.params import DetectParams
from vigil.detect.pipeline import TraceProvider, detect, structural_traces
from vigil.detect.traces.base import TraceSpec
from vigil.synth.config import STYLE_NAMES, GeneratorConfig
from vigil.synth.generator import generate


@dataclass
class Stage:
    description: str
    total: float | None
    done: float = 0.0
    finished: bool = False


@dataclass
class RecordingProgress:
    """A Progress and StagePlanner that keeps every call, as the CLI's bars would receive them."""

    plans: list[int] = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)

    def plan(self, stages: int) -> None:
        self.plans.append(stages)

    def start(self, description: str, total: float | None = None) -> None:
        assert not self.stages or self.stages[-1].finished, f"{self.stages[-1]} not finished"
        self.stages.append(Stage(description, total))

    def advance(self, amount: float = 1) -> None:
        assert self.stages and not self.stages[-1].finished, "advance outside a stage"
        self.stages[-1].done += amount

    def finish(self) -> None:
        self.stages[-1].finished = True


@pytest.fixture(scope="module")
def posts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("generated")
    # Every campaign style, so that there are near-duplicate, translated and reused-image posts.
    generate(GeneratorConfig(posts=6_000, seed=5, campaigns=len(STYLE_NAMES)), data)
    return data / "posts.parquet"


def _run(
    posts: Path, out: Path, params: DetectParams, providers: list[TraceProvider] | None = None
) -> RecordingProgress:
    progress = RecordingProgress()
    detect(posts, out, params, progress, providers=providers)
    return progress


def _check_every_stage(progress: RecordingProgress) -> None:
    assert progress.plans == [len(progress.stages)], [s.description for s in progress.stages]
    for stage in progress.stages:
        assert stage.finished, stage
        assert stage.total is not None, stage
        assert stage.done == stage.total, stage


def test_every_stage_is_planned_with_a_total_and_advanced_to_it(posts: Path, tmp_path: Path) -> None:
    progress = _run(posts, tmp_path / "all", DetectParams())
    _check_every_stage(progress)
    by_name = {stage.description: stage for stage in progress.stages}
    # The two longest stages used to have no total (a spinner "0/?", no ETA).
    for name in ("near-duplicate texts", "cross-lingual texts", "normalizing texts", "image hashes"):
        total = by_name[name].total
        assert total is not None and total > 0, by_name[name]
    traces = [s for s in progress.stages if s.description.startswith("trace ")]
    assert len(traces) >= 12
    assert [s.description for s in progress.stages[-2:]] == ["graph and campaigns", "writing outputs"]


def test_a_chosen_trace_plans_only_its_stages(posts: Path, tmp_path: Path) -> None:
    structural = _run(posts, tmp_path / "link", DetectParams(traces=("co_link",)))
    _check_every_stage(structural)
    assert [s.description for s in structural.stages] == [
        "trace co_link",
        "graph and campaigns",
        "writing outputs",
    ]
    text = _run(posts, tmp_path / "text", DetectParams(traces=("co_text_exact",)))
    _check_every_stage(text)
    assert "image hashes" not in {s.description for s in text.stages}
    assert "near-duplicate texts" in {s.description for s in text.stages}


def test_a_provider_of_the_caller_runs_unplanned(posts: Path, tmp_path: Path) -> None:
    def own(con: duckdb.DuckDBPyConnection, params: DetectParams, progress: object) -> dict[str, TraceSpec]:
        return {}

    progress = _run(posts, tmp_path / "own", DetectParams(traces=("co_link",)), [structural_traces, own])
    assert progress.plans == []  # its stages are unknown: no wrong "k of n"
    assert [s.description for s in progress.stages][-2:] == ["graph and campaigns", "writing outputs"]
