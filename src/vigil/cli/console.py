"""The command line's consoles: Rich, except that a table never cuts an identifier short.

Analysts copy ids from one command's table into the next command (`vigil meeting list`, then
`vigil meeting pack MEETING_ID`). Rich shrinks columns to the terminal's width and ends cut cells
with an ellipsis, which turns an id into something no command accepts. Id columns are therefore
given the width of their longest value and never wrapped; the other columns give way. Where even
that cannot fit the terminal, id columns fold (the whole id, over several lines) rather than end
in an ellipsis.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

ID_HEADERS = frozenset({"id", "api key", "key id", "signal", "case"})


def is_id_header(header: object) -> bool:
    name = (header.plain if isinstance(header, Text) else str(header)).strip().lower()
    return name in ID_HEADERS or name.endswith(("_id", " id"))


def keep_ids(table: Table, width: int) -> Table:
    """Keep ``table``'s id columns whole on a console ``width`` cells wide (in place)."""
    ids = [c for c in table.columns if is_id_header(c.header)]
    if not ids:
        return table
    longest = {
        id(c): max(
            (Text.from_markup(v).cell_len if isinstance(v, str) else len(str(v)) for v in c.cells), default=0
        )
        for c in ids
    }
    # Borders and padding take 3 cells a column (+1); leave the other columns 4 cells each.
    needed = sum(longest.values()) + 3 * len(table.columns) + 1 + 4 * (len(table.columns) - len(ids))
    for column in ids:
        if needed <= width:
            column.no_wrap = True
            column.min_width = max(column.min_width or 0, longest[id(column)])
        else:
            column.overflow = "fold"
    return table


class VigilConsole(Console):
    """A Rich console whose tables keep their ids whole (see the module's docstring)."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        for obj in objects:
            if isinstance(obj, Table):
                keep_ids(obj, self.width)
        super().print(*objects, **kwargs)
