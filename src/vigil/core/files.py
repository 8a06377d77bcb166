"""Writing output files so they appear complete or not at all, and carrying immutable ones forward."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to ``path``: a temporary file in the same directory, then a rename.

    A reader never sees half a file, and a failed write leaves any previous file as it was. The file
    gets the permissions of any file the user writes (0666 less the umask): ``tempfile.mkstemp``
    would make it 0600, and reports, bundles and packs are meant to be handed on (TLP, not file
    modes, says who may read them). The temporary name is unique, so two writers never share it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def link_or_copy(source: Path, target: Path) -> bool:
    """Hard-link an immutable file of an earlier save into a new one (copy across file systems).

    False, and nothing written, when ``source`` is not there."""
    if not source.is_file():
        return False
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return True
