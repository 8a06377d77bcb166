"""The member-side SQLite files of an index directory (review queue, quarantine, benign bank).

Each is one small file beside the index, opened with its schema; a file that is not SQLite (or
is damaged) is a DataError naming it, before anything is read or written.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import ClassVar, Self

from vigil.core.errors import DataError


class LocalDb:
    """Opens ``path`` (creating its directory), applies ``SCHEMA``; a context manager that closes it."""

    SCHEMA: ClassVar[str]
    WHAT: ClassVar[str]  # how an error names the file, e.g. "review queue database"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(self.path), timeout=30)
            self._db.executescript(self.SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise DataError(f"not a usable {self.WHAT}: {exc}", file=str(self.path)) from exc
        self._db.row_factory = sqlite3.Row

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
