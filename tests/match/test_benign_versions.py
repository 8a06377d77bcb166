"""Versions of a member's shared benign entries keep their first ``created`` (STIX 2.1 3.6)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import stix2

from vigil.core.time import isoformat_z
from vigil.match.benign import BENIGN_FILE, BenignBank

ORG = "identity--00000000-0000-4000-8000-000000000001"
T1 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _publish(bank: BenignBank, at: datetime) -> list[dict]:
    plan = bank.to_publish(ORG, at)
    for _, obj in plan:
        stix2.parse(obj, allow_custom=True)  # each version is a valid indicator
    bank.mark_published(plan)
    return [obj for _, obj in plan]


def test_every_version_keeps_the_first_created(tmp_path: Path) -> None:
    with BenignBank.of_index(tmp_path) as bank:
        bank.add("domain", ["elections-office.gov.uk"], tlp="GREEN", label="the election office")
        (first,) = _publish(bank, T1)
        assert first["created"] == first["modified"] == isoformat_z(T1)

        entry = bank.entries()[0]
        bank.remove(entry.id)
        bank.add("domain", ["elections-office.gov.uk"], tlp="AMBER", label="the election office")
        (second,) = _publish(bank, T1 + timedelta(hours=1))
        assert second["id"] == first["id"] and second["created"] == isoformat_z(T1)
        assert second["modified"] == isoformat_z(T1 + timedelta(hours=1))

        bank.remove(bank.entries()[0].id)
        (third,) = _publish(bank, T1 + timedelta(hours=2))
        assert third["revoked"] is True and third["created"] == isoformat_z(T1)
        assert third["modified"] == isoformat_z(T1 + timedelta(hours=2))


def test_an_entry_added_again_after_its_revocation_gets_a_new_id(tmp_path: Path) -> None:
    """STIX 2.1 forbids new versions of a revoked object: the value comes back as a new object."""
    with BenignBank.of_index(tmp_path) as bank:
        bank.add("domain", ["count-office.org"], tlp="GREEN")
        (first,) = _publish(bank, T1)
        bank.remove(bank.entries()[0].id)
        (revoked,) = _publish(bank, T1 + timedelta(hours=1))
        assert revoked["id"] == first["id"] and revoked["revoked"] is True

        bank.add("domain", ["count-office.org"], tlp="GREEN")
        (again,) = _publish(bank, T1 + timedelta(hours=2))
        assert again["id"] != first["id"] and not again.get("revoked")
        assert again["created"] == again["modified"] == isoformat_z(T1 + timedelta(hours=2))
        assert _publish(bank, T1 + timedelta(hours=3)) == []  # nothing changed: nothing sent

        bank.remove(bank.entries()[0].id)  # the second generation is revoked in its turn ...
        (gone,) = _publish(bank, T1 + timedelta(hours=4))
        assert gone["id"] == again["id"] and gone["revoked"] is True
        bank.add("domain", ["count-office.org"], tlp="GREEN")  # ... and a third one is new again
        (third,) = _publish(bank, T1 + timedelta(hours=5))
        assert third["id"] not in {first["id"], again["id"]}
        assert _publish(bank, T1 + timedelta(hours=6)) == []


def test_a_bank_written_before_created_was_kept_still_opens_and_versions(tmp_path: Path) -> None:
    path = tmp_path / BENIGN_FILE
    with BenignBank(path) as bank:
        bank.add("domain", ["elections-office.gov.uk"], tlp="GREEN")
        (first,) = _publish(bank, T1)
    # the file as an older Vigil wrote it: no ``created`` column
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE old AS SELECT stix_id, kind, value, tlp, collection, modified, revoked "
        "FROM benign_published; DROP TABLE benign_published; ALTER TABLE old RENAME TO benign_published;"
    )
    db.close()
    with BenignBank(path) as bank:
        bank.remove(bank.entries()[0].id)
        (revoked,) = _publish(bank, T1 + timedelta(hours=1))
    # the best it knows: the last published version's ``modified``, here the first's
    assert revoked["created"] == first["created"] and revoked["revoked"] is True
