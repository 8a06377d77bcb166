"""Progress reporting that pure logic can accept without depending on a terminal.

Long-running functions take an optional ``Progress`` callback object; the CLI passes one backed by
Rich progress bars, tests and the web service pass nothing.

A run is a sequence of stages: each ``start`` begins one. A function that knows how many stages
its run has says so with ``plan_stages(progress, n)``; a progress that can show it (the CLI's)
then labels each stage "stage k of n". This is an optional capability (``StagePlanner``), so a
``Progress`` written for a test needs only the three methods.

Pass ``total`` to ``start`` whenever the amount of work is known (rows, texts, steps): only then
can a bar show a count out of a total and an estimated time remaining.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


class Progress(Protocol):
    """Receives progress of one named task: ``start`` once, ``advance`` many times, ``finish`` once."""

    def start(self, description: str, total: float | None = None) -> None: ...

    def advance(self, amount: float = 1) -> None: ...

    def finish(self) -> None: ...


@runtime_checkable
class StagePlanner(Protocol):
    """A progress that can number stages: ``plan(n)`` announces that ``n`` stages follow."""

    def plan(self, stages: int) -> None: ...


def plan_stages(progress: Progress, stages: int) -> None:
    """Announce that the next ``stages`` calls of ``progress.start`` are the stages of one run.

    A progress that cannot show stage numbers ignores this.
    """
    if isinstance(progress, StagePlanner):
        progress.plan(stages)


class NoProgress:
    """A Progress that reports nothing."""

    def start(self, description: str, total: float | None = None) -> None:
        return None

    def advance(self, amount: float = 1) -> None:
        return None

    def finish(self) -> None:
        return None
