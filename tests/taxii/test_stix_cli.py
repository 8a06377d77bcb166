"""``vigil stix export|import`` end to end on both backends: export validates, an import into a fresh
database gives back the same signals, and a bad bundle stores nothing."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from stix2validator import ValidationOptions, validate_string

from vigil.cli.app import main
from vigil.db import Database, upgrade
from vigil.exchange.models import ContributionRow
from vigil.exchange.records import TLP, Marking
from vigil.exchange.stix_markings import TLP_BY_MARKING_ID, most_restrictive
from vigil.exchange.store import ExchangeStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def vigil(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Run]:
    """Run the real ``vigil`` entry point in-process (a subprocess costs seconds of imports)."""

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


def seed(url: str) -> None:
    db = Database(url)
    with db.session() as session:
        store = ExchangeStore(session)
        p1 = store.create_org(None, "p1", "platform")
        p2 = store.create_org(None, "p2", "platform")
        gov = store.create_org(None, "gov", "government")
        keys = {o.name: store.create_key(None, o.id, "analyst")[1] for o in (p1, p2, gov)}
    with db.session() as session:
        store = ExchangeStore(session)
        a, b, g = (store.authenticate(keys[n]) for n in ("p1", "p2", "gov"))
        campaign = store.create_campaign(
            a, "Cloned outlets", marking=Marking(TLP.GREEN), attribution="Actor X", techniques=["T0049"]
        )
        domain = store.submit_signal(
            a,
            "domain",
            "cloned-news.info",
            marking=Marking(TLP.GREEN),
            campaign_id=campaign.id,
            first_seen=T0,
        )
        store.submit_signal(a, "technique", "T0049.001", marking=Marking(TLP.GREEN), campaign_id=campaign.id)
        store.submit_signal(b, "account", "twitter:@amber_bot", marking=Marking(TLP.AMBER), tags=["bots"])
        store.submit_signal(a, "url", "https://mixed-news.org/a", marking=Marking(TLP.GREEN))
        store.submit_signal(b, "url", "https://mixed-news.org/a", marking=Marking(TLP.AMBER), confidence=90)
        store.submit_signal(g, "narrative", "Ballots were burned", marking=Marking(TLP.AMBER), language="en")
        store.set_opinion(b, domain.id, "confirmed", "seen too")
        store.add_sighting(b, domain.id, count=3, first_seen=T0, last_seen=T0)
    db.dispose()


def fresh(url: str) -> None:
    db = Database(url)
    upgrade(db.engine)
    with db.session() as session:
        ExchangeStore(session).create_org(None, "importer", "platform")
    db.dispose()


def signal_set(bundle: dict[str, Any]) -> set[tuple[str, str, TLP]]:
    """(kind, value, most restrictive TLP) per signal in a bundle."""
    levels: dict[tuple[str, str], list[TLP]] = {}
    for obj in bundle["objects"]:
        if obj["type"] in ("indicator", "attack-pattern") and "x_vigil_kind" in obj:
            key = (obj["x_vigil_kind"], obj["x_vigil_value"])
            levels.setdefault(key, []).extend(TLP_BY_MARKING_ID[m] for m in obj["object_marking_refs"])
    return {(kind, value, most_restrictive(tlps)) for (kind, value), tlps in levels.items()}


def contributions(url: str) -> int:
    db = Database(url)
    with db.session() as session:
        count = int(session.scalar(select(func.count()).select_from(ContributionRow)) or 0)
    db.dispose()
    return count


def test_export_import_export_round_trip(db_url: str, tmp_path: Path, vigil: Callable[..., Run]) -> None:
    seed(db_url)
    first = tmp_path / "p1.json"
    done = vigil("stix", "export", "--as-org", "p1", "--out", str(first), "--database-url", db_url)
    assert done.returncode == 0, done.stderr
    exported = json.loads(first.read_text())
    result = validate_string(first.read_text(), ValidationOptions(version="2.1"))
    assert result.is_valid, [str(e) for e in result.errors]
    assert "Ballots were burned" not in first.read_text()  # government AMBER is not p1's to see
    signals = signal_set(exported)
    assert ("account", "twitter:@amber_bot", TLP.AMBER) in signals
    assert ("url", "https://mixed-news.org/a", TLP.AMBER) in signals

    target = f"sqlite:///{tmp_path / 'fresh.db'}"
    fresh(target)
    done = vigil("stix", "import", str(first), "--as-org", "importer", "--database-url", target)
    assert done.returncode == 0, done.stderr
    assert "signal contributions" in done.stdout
    again = tmp_path / "again.json"
    done = vigil("stix", "export", "--as-org", "importer", "--out", str(again), "--database-url", target)
    assert done.returncode == 0, done.stderr
    reexported = json.loads(again.read_text())
    assert signal_set(reexported) == signals
    campaigns = [o for o in reexported["objects"] if o["type"] == "campaign"]
    assert [c["name"] for c in campaigns] == ["Cloned outlets"]
    assert {o["type"] for o in reexported["objects"]} >= {
        "opinion",
        "sighting",
        "threat-actor",
        "relationship",
    }

    # Importing the same bundle again changes no signal (one contribution per org and signal).
    before = contributions(target)
    assert (
        vigil("stix", "import", str(first), "--as-org", "importer", "--database-url", target).returncode == 0
    )
    assert contributions(target) == before


def test_bad_bundles_store_nothing(tmp_path: Path, vigil: Callable[..., Run]) -> None:
    target = f"sqlite:///{tmp_path / 'fresh.db'}"
    fresh(target)
    malformed = tmp_path / "malformed.json"
    malformed.write_text('{"type": "bundle", "id": "bundle--1", "objects": [')
    done = vigil("stix", "import", str(malformed), "--as-org", "importer", "--database-url", target)
    assert done.returncode == 2 and "malformed JSON at line 1" in done.stderr

    good = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--6f1f1c55-0b4a-4c3e-9b8e-52b1d9f0a001",
        "created": "2026-03-02T10:00:00.000Z",
        "modified": "2026-03-02T10:00:00.000Z",
        "pattern": "[domain-name:value = 'posted-news.org']",
        "pattern_type": "stix",
        "valid_from": "2026-03-02T10:00:00.000Z",
    }
    ip = {
        **good,
        "id": "indicator--6f1f1c55-0b4a-4c3e-9b8e-52b1d9f0a002",
        "pattern": "[ipv4-addr:value = '1.2.3.4']",
    }
    broken = {k: v for k, v in good.items() if k != "valid_from"} | {
        "id": "indicator--6f1f1c55-0b4a-4c3e-9b8e-52b1d9f0a003"
    }
    bundle_id = "bundle--6f1f1c55-0b4a-4c3e-9b8e-52b1d9f0a0ff"
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({"type": "bundle", "id": bundle_id, "objects": [good, broken]}))
    done = vigil("stix", "import", str(invalid), "--as-org", "importer", "--database-url", target)
    assert done.returncode == 2 and "invalid STIX" in done.stderr and broken["id"] in done.stderr
    assert contributions(target) == 0

    unsupported = tmp_path / "unsupported.json"
    unsupported.write_text(json.dumps({"type": "bundle", "id": bundle_id, "objects": [good, ip]}))
    done = vigil("stix", "import", str(unsupported), "--as-org", "importer", "--database-url", target)
    assert done.returncode == 2 and "ipv4-addr" in done.stderr
    assert contributions(target) == 0
    done = vigil(
        "stix",
        "import",
        str(unsupported),
        "--as-org",
        "importer",
        "--database-url",
        target,
        "--allow-unsupported",
    )
    assert done.returncode == 0, done.stderr
    assert "skipped" in done.stderr and ip["id"] in done.stderr
    assert contributions(target) == 1


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_exported_bundle_gets_the_users_normal_permissions(
    umask: int, tmp_path: Path, vigil: Callable[..., Run]
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    db = Database(url)
    upgrade(db.engine)
    db.dispose()
    seed(url)
    out = tmp_path / "out" / "p1.json"
    previous = os.umask(umask)
    try:
        done = vigil("stix", "export", "--as-org", "p1", "--out", str(out), "--database-url", url)
    finally:
        os.umask(previous)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in out.parent.iterdir()] == ["p1.json"]  # no temporary file left behind
