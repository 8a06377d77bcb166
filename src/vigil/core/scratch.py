"""Scratch directories that name their owner, so what a killed run left behind can be removed.

``vigil ingest`` stages its output in ``OUT/.vigil-ingest-*`` and detection spools to a directory
under ``VIGIL_TEMP_DIR``; a run that finishes, fails or is interrupted (Ctrl-C) removes its own. A
run killed outright (SIGKILL, out of memory, power) cannot, so each such directory is named
``{prefix}{pid}-{host}-{random}``: the next run of the same command calls :func:`sweep`, which removes
the directories whose owner process is gone, and only those. A concurrent run's directory
(its process alive) is never touched, nor one made on another host sharing the file system.

Directories named before this scheme (``{prefix}{random}``, no owner recorded) are removed once
untouched for :data:`LEGACY_AGE_S` seconds.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

LEGACY_AGE_S = 3600.0
# A short, file-name-safe tag of this host (hostnames may hold dots and dashes).
HOST = hashlib.sha1(socket.gethostname().encode("utf-8")).hexdigest()[:8]
_OWNED = re.compile(r"(?P<pid>\d+)-(?P<host>[0-9a-f]{8})-.+")


def make_scratch(parent: Path, prefix: str) -> Path:
    """A new directory ``parent/{prefix}{pid}-{host}-{random}`` (mode 0700, as ``mkdtemp``)."""
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-{HOST}-", dir=parent))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def stale(path: Path, prefix: str, *, now: float | None = None) -> bool:
    """Whether ``path`` (a directory named with ``prefix``) was left by a process that is gone."""
    match = _OWNED.fullmatch(path.name[len(prefix) :])
    if match is not None:
        pid = int(match["pid"])
        return match["host"] == HOST and pid != os.getpid() and not _alive(pid)
    try:
        modified = path.stat().st_mtime
    except OSError:
        return False
    return (time.time() if now is None else now) - modified >= LEGACY_AGE_S


def sweep(parent: Path, prefix: str) -> list[Path]:
    """Remove the stale ``prefix*`` directories directly under ``parent``; returns what was removed."""
    try:
        entries = [Path(e.path) for e in os.scandir(parent) if e.name.startswith(prefix) and e.is_dir()]
    except OSError:  # no such parent yet, or not readable: nothing of ours to clean
        return []
    removed = []
    for path in entries:
        if stale(path, prefix) and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


_process_dirs: dict[tuple[Path, str], Path] = {}
_lock = threading.Lock()


def process_scratch(parent: Path, prefix: str) -> Path:
    """This process's own scratch directory under ``parent`` (made once, removed at exit), after
    sweeping what killed processes left there. Threads of one process share it."""
    key = (parent.resolve(), prefix)
    with _lock:
        path = _process_dirs.get(key)
        if path is not None and path.is_dir():
            return path
        parent.mkdir(parents=True, exist_ok=True)
        sweep(parent, prefix)
        path = make_scratch(parent, prefix)
        _process_dirs[key] = path
        atexit.register(shutil.rmtree, path, True)
        return path
