"""Rich progress bars behind the core Progress protocol, for long-running CLI work.

Every stage is one line: "stage k of n", its description, a bar, the count done out of the total,
the elapsed time and the estimated time remaining. n comes from ``vigil.core.progress.plan_stages``;
a run that never plans shows "stage k". A stage started without a total (the amount of work not
known in advance) shows a moving bar and the count done so far instead of "0/?".
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class _Count(ProgressColumn):
    """``done/total`` with thousands separators; ``done`` alone while the total is unknown."""

    def render(self, task: Task) -> Text:
        done = int(task.completed)
        if task.total is None:
            return Text(f"{done:,}", style="progress.download")
        return Text(f"{done:,}/{int(task.total):,}", style="progress.download")


class _Remaining(TimeRemainingColumn):
    """Rich's estimate, or "ETA -:--:--" while there is no total to estimate against."""

    def render(self, task: Task) -> Text:
        if task.total is None and not task.finished:
            return Text("ETA -:--:--", style="progress.remaining")
        return Text.assemble("ETA ", super().render(task))


class RichProgress:
    """Implements vigil.core.progress.Progress (and StagePlanner) with one Rich bar per stage."""

    def __init__(self, console: Console | None = None) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[progress.percentage]{task.fields[stage]}"),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            _Count(),
            TimeElapsedColumn(),
            _Remaining(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self._task: TaskID | None = None
        self._stage = 0
        self._planned: int | None = None

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def plan(self, stages: int) -> None:
        """The next ``stages`` stages are numbered "stage 1 of n" to "stage n of n"."""
        self._stage = 0
        self._planned = max(int(stages), 0)

    def stage_label(self) -> str:
        """The label of the stage started last ("stage 2 of 5"; "stage 2" when none was planned)."""
        if self._planned is None:
            return f"stage {self._stage}"
        # A run that starts more stages than it planned keeps counting rather than show "6 of 5".
        return f"stage {self._stage} of {max(self._planned, self._stage)}"

    def start(self, description: str, total: float | None = None) -> None:
        if self._task is not None:
            self.finish()
        self._stage += 1
        self._task = self._progress.add_task(description, total=total, stage=self.stage_label())

    def advance(self, amount: float = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)

    def finish(self) -> None:
        if self._task is not None:
            task = self._progress.tasks[self._task]
            if task.total is None:
                self._progress.update(self._task, total=task.completed)
            else:
                self._progress.update(self._task, completed=task.total)
            self._task = None
