"""Progress reporting that pure logic can accept without depending on a terminal.

Long-running functions take an optional ``Progress`` callback object; the CLI passes one backed by
Rich progress bars, tests and the web service pass nothing.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives progress of one named task: ``start`` once, ``advance`` many times, ``finish`` once."""

    def start(self, description: str, total: float | None = None) -> None: ...

    def advance(self, amount: float = 1) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    """A Progress that reports nothing."""

    def start(self, description: str, total: float | None = None) -> None:
        return None

    def advance(self, amount: float = 1) -> None:
        return None

    def finish(self) -> None:
        return None
