"""``vigil disarm list|show`` and ``vigil misp export|import`` through the real entry point."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from pymisp import MISPEvent

from tests.interop.conftest import Coalition, make_coalition, new_database
from vigil.cli.app import main


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def vigil(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Run]:
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> Run:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["vigil", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return Run(code, out.out, out.err)

    return run


def test_disarm_list_and_show(vigil: Callable[..., Run]) -> None:
    listed = vigil("disarm", "list", "hashtag", "--json")
    rows = json.loads(listed.stdout)
    assert rows and all("hashtag" in (r["name"] + r["id"]).lower() or r["id"].startswith("T") for r in rows)
    assert "T0015" in {r["id"] for r in rows}
    shown = vigil("disarm", "show", "T0049")
    assert shown.returncode == 0 and "Flood Information Space" in shown.stdout and "TA17" in shown.stdout
    assert "T0049.001" in shown.stdout and "CC BY-SA 4.0" in shown.stderr
    missing = vigil("disarm", "show", "T9999")
    assert missing.returncode != 0 and "T9999" in missing.stderr


def test_misp_export_then_import(vigil: Callable[..., Run], coalition: Coalition, tmp_path: Path) -> None:
    url = str(coalition.db.engine.url)
    out = tmp_path / "feed"
    done = vigil("misp", "export", str(out), "--as-org", "p1-org", "--database-url", url)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    umask = os.umask(0o022)
    os.umask(umask)
    # the feed directory and its files get the user's normal permissions, not mkdtemp's 0700
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask
    assert stat.S_IMODE((out / "manifest.json").stat().st_mode) == 0o666 & ~umask
    assert (out / "hashes.csv").read_text("utf-8").count("\n") > 5
    for event_uuid in manifest:
        event = MISPEvent()
        event.load_file(str(out / f"{event_uuid}.json"))
        assert str(event.uuid) == event_uuid
    again = vigil("misp", "export", str(out), "--as-org", "p1-org", "--database-url", url)
    assert again.returncode == 2 and "not empty" in again.stderr

    fresh = make_coalition(new_database(tmp_path / "fresh"))
    files = [str(out / f"{u}.json") for u in manifest]
    imported = vigil(
        "misp", "import", *files, "--as-org", "gov-org", "--database-url", str(fresh.db.engine.url)
    )
    assert imported.returncode == 0, imported.stderr
    gov = fresh.principals["gov"]
    assert fresh.run(lambda s: s.count_signals(gov)) == 9


def test_misp_import_of_a_bad_file_stores_nothing(
    vigil: Callable[..., Run], coalition: Coalition, tmp_path: Path
) -> None:
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps(
            {
                "Event": {
                    "uuid": "5c6f1b0e-0000-4000-8000-000000000009",
                    "info": "ok",
                    "Attribute": [{"type": "domain", "value": "fine-site.org"}],
                }
            }
        )
    )
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "Event": {
                    "uuid": "5c6f1b0e-0000-4000-8000-00000000000a",
                    "info": "x",
                    "Attribute": [{"type": "url"}],
                }
            }
        )
    )
    broken = tmp_path / "broken.json"
    broken.write_text('{"Event": ')
    gov = coalition.principals["gov"]
    before = coalition.run(lambda s: s.count_signals(gov))
    url = str(coalition.db.engine.url)
    for path, message in [(bad, "Event.Attribute[0].value"), (broken, "not valid JSON")]:
        done = vigil("misp", "import", str(good), str(path), "--as-org", "gov-org", "--database-url", url)
        assert done.returncode == 2 and message in done.stderr and path.name in done.stderr
    assert coalition.run(lambda s: s.count_signals(gov)) == before
