"""The command line's consoles: Rich, except that a table never cuts an identifier short.

Analysts copy ids from one command's table into the next command (`vigil meeting list`, then
`vigil meeting pack MEETING_ID`). Rich shrinks columns to the terminal's width and ends cut cells
with an ellipsis, which turns an id into something no command accepts. Id columns are therefore
given the width of their longest value and never wrapped; the other columns give way. Where even
that cannot fit the terminal, id columns fold (the whole id, over several lines) rather than end
in an ellipsis.
"""

from __future__ import annotations

import os
from typing import Any

from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

# Width of output that goes to a pipe or a file (Rich would assume 80 columns): wide enough for a
# campaign table with whole ids, so `vigil detect ... > run.log` and CI logs stay readable.
PIPE_WIDTH = 160

ID_HEADERS = frozenset({"id", "api key", "key id", "signal", "case", "campaign", "event"})


def is_id_header(header: object) -> bool:
    name = (header.plain if isinstance(header, Text) else str(header)).strip().lower()
    return name in ID_HEADERS or name.endswith(("_id", " id"))


def _cell_len(value: object) -> int:
    return Text.from_markup(value).cell_len if isinstance(value, str) else len(str(value))


def _readable_width(column: Column) -> int:
    """The width at which a column still reads: its header and longest word, up to 12 cells."""
    words = (
        w for v in column.cells for w in (Text.from_markup(v).plain if isinstance(v, str) else str(v)).split()
    )
    return min(max([_cell_len(column.header), *(len(w) for w in words)]), 12)


def keep_ids(table: Table, width: int) -> Table:
    """Keep ``table``'s id columns whole on a console ``width`` cells wide (in place)."""
    ids = [c for c in table.columns if is_id_header(c.header)]
    if not ids:
        return table
    longest = {id(c): max((_cell_len(v) for v in c.cells), default=0) for c in ids}
    # Whole ids on one line when the other columns can still be read beside them (borders and
    # padding take 3 cells a column, +1); otherwise the ids fold: whole, over several lines.
    others = sum(_readable_width(c) for c in table.columns if id(c) not in longest)
    fits = sum(longest.values()) + others + 3 * len(table.columns) + 1 <= width
    for column in ids:
        if fits:
            column.no_wrap = True
            column.min_width = max(column.min_width or 0, longest[id(column)])
        else:
            column.overflow = "fold"
    return table


class VigilConsole(Console):
    """A Rich console whose tables keep their ids whole (see the module's docstring).

    Output to a pipe or a file is :data:`PIPE_WIDTH` wide unless ``COLUMNS`` or ``width`` says
    otherwise.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if kwargs.get("width") is None and not self.is_terminal and not os.environ.get("COLUMNS"):
            self.width = PIPE_WIDTH

    def print(self, *objects: Any, **kwargs: Any) -> None:
        for obj in objects:
            if isinstance(obj, Table):
                keep_ids(obj, self.width)
        super().print(*objects, **kwargs)
