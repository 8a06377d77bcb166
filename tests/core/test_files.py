"""write_atomic: complete files only, the user's umask, a failed write keeps the previous file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from vigil.core import files
from vigil.core.files import write_atomic


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_mode_follows_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "sub" / "report.md", "# report\n")
    finally:
        os.umask(old)
    target = tmp_path / "sub" / "report.md"
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert target.read_text(encoding="utf-8") == "# report\n"


def test_text_is_utf8_and_bytes_are_written_as_given(tmp_path: Path) -> None:
    write_atomic(tmp_path / "a.txt", "نقلت اللجنة")
    write_atomic(tmp_path / "b.bin", b"\x00\xff")
    assert (tmp_path / "a.txt").read_bytes() == "نقلت اللجنة".encode()
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\xff"


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "campaigns.json"
    write_atomic(target, "old")

    def broken(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, "new")
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["campaigns.json"]
