"""A private copy of the shared demo and a ``vigil serve`` over it, for browser tests that write.

The session's demo server is shared by every dashboard test, and some of them count what the demo
stored (cases, audit entries); tests that open cases and share signals work on their own copy so
they never change what the others read.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from tests.web.fixtures import serve

__all__ = ["copy_demo", "serve"]


def copy_demo(source: Path, target: Path) -> Path:
    """Copy a demo data directory; the database through SQLite's backup (other servers are live)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("vigil.db*", "generated"))
    with sqlite3.connect(source / "vigil.db") as src, sqlite3.connect(target / "vigil.db") as dst:
        src.backup(dst)
    return target
