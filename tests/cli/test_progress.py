"""The CLI's progress bars: stage k of n, a count out of the total, an ETA; no "0/?"."""

from __future__ import annotations

import io

from rich.console import Console

from vigil.cli.progress import RichProgress
from vigil.core.progress import NoProgress, StagePlanner, plan_stages


def _render(run: list[tuple[str, float | None, list[float]]], planned: int | None) -> str:
    out = io.StringIO()
    console = Console(file=out, width=140, force_terminal=False, color_system=None)
    with RichProgress(console) as progress:
        if planned is not None:
            plan_stages(progress, planned)
        for description, total, steps in run:
            progress.start(description, total)
            for step in steps:
                progress.advance(step)
            progress.finish()
    return out.getvalue()


def test_stages_are_numbered_with_counts_and_eta() -> None:
    text = _render([("reading rows", 2_500, [1_000, 1_500]), ("writing", 3, [1, 1, 1])], planned=2)
    lines = [line for line in text.splitlines() if "stage" in line]
    assert len(lines) == 2
    assert "stage 1 of 2" in lines[0] and "reading rows" in lines[0] and "2,500/2,500" in lines[0]
    assert "stage 2 of 2" in lines[1] and "writing" in lines[1] and "3/3" in lines[1]
    assert all("ETA" in line for line in lines)


def test_unknown_total_shows_the_count_not_a_question_mark() -> None:
    text = _render([("clustering", None, [10, 32])], planned=None)
    assert "/?" not in text
    assert "stage 1" in text and "42" in text


def test_more_stages_than_planned_keep_counting() -> None:
    text = _render([("a", 1, [1]), ("b", 1, [1]), ("c", 1, [1])], planned=2)
    assert "stage 2 of 2" in text and "stage 3 of 3" in text


def test_plan_stages_is_optional() -> None:
    assert isinstance(RichProgress(), StagePlanner)
    assert not isinstance(NoProgress(), StagePlanner)
    plan_stages(NoProgress(), 3)  # a progress without stage numbers ignores the plan
