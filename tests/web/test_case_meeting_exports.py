"""The case list and the meeting list export as a STIX bundle and a MISP feed as well as CSV, in
the list's filter and order and within the reader's view: a case a member may not see, a signal of
a visible case it may not see, a meeting it is not invited to and minutes it may not read are in
no file (issue #20; real HTTP, real server, both backends; STIX checked by stix2 and the validator).
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stix2
from stix2validator import ValidationOptions, validate_string

from vigil.cases.meetings import MeetingService
from vigil.cases.service import CaseService
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore

from ..exchange.conftest import LiveServer, live, signed_in  # noqa: F401  (fixtures)

FORMATS = ("csv", "stix.json", "misp.zip")


@pytest.fixture(scope="module")
def world(live: LiveServer) -> dict[str, str]:  # noqa: F811
    """A platform opens two GREEN cases (one holds a GREEN and an AMBER signal, one a DISARM
    technique) and an AMBER case the ministry may not see; it convenes a meeting with the ministry
    (AMBER minutes not shared with it) and one without it."""
    with live.db.session() as session:
        store = ExchangeStore(session)
        platform = store.create_org(None, "Cases platform", "platform")
        gov = store.create_org(None, "Cases ministry", "government")
        _, owner_key = store.create_key(None, platform.id, "analyst")
        _, gov_key = store.create_key(None, gov.id, "analyst")
        owner = store.authenticate(owner_key)
        green = store.submit_signal(owner, "hashtag", "#casegreen", marking=Marking(TLP.GREEN))
        amber = store.submit_signal(owner, "hashtag", "#caseamber", marking=Marking(TLP.AMBER))
        cases = CaseService(session, owner)
        first = cases.create_case(
            "Zeta export case", marking=Marking(TLP.GREEN), summary="zeta summary", confidence=70
        )
        cases.link_signals(first.id, [green.id, amber.id])
        cases.create_case("Alpha export case", marking=Marking(TLP.GREEN), techniques=["T0049"])
        hidden = cases.create_case("Hidden export case", marking=Marking(TLP.AMBER), summary="hiddensummary")
        cases.link_signals(hidden.id, [green.id])
        meetings = MeetingService(session, owner)
        start = datetime(2030, 1, 6, 9, tzinfo=UTC)
        [shared] = meetings.create_meeting("Export sync", start, invited={gov.id: "member"})
        meetings.record_minutes(shared.id, "amberminutes text", marking=Marking(TLP.AMBER))
        meetings.create_meeting("Export private huddle", start + timedelta(days=1))
    return {"gov": gov_key, "owner": owner_key}


def _links(page: str, listing: str) -> dict[str, str]:
    found = {fmt: re.search(rf'href="(/export/{listing}\.{re.escape(fmt)}\?[^"]*)"', page) for fmt in FORMATS}
    assert all(found.values()), f"the {listing} list offers every export: {found}"
    return {fmt: m.group(1).replace("&amp;", "&") for fmt, m in found.items() if m}


def _stix(body: str) -> list[dict[str, Any]]:
    result = validate_string(body, ValidationOptions(version="2.1"))
    assert result.is_valid, [str(e) for e in result.errors]
    bundle = json.loads(body)
    parsed = stix2.parse(bundle, allow_custom=True)
    assert len(parsed.objects) == len(bundle["objects"])
    objects: list[dict[str, Any]] = bundle["objects"]
    return objects


def _misp(body: bytes) -> list[dict[str, Any]]:
    archive = zipfile.ZipFile(io.BytesIO(body))
    names = archive.namelist()
    assert "misp-feed/manifest.json" in names and "misp-feed/hashes.csv" in names
    manifest = json.loads(archive.read("misp-feed/manifest.json"))
    events = [
        json.loads(archive.read(n))["Event"]
        for n in names
        if n.endswith(".json") and not n.endswith("manifest.json")
    ]
    assert sorted(manifest) == sorted(e["uuid"] for e in events)
    return events


def _tags(obj: dict[str, Any]) -> set[str]:
    return {t["name"] for t in obj.get("Tag", [])}


def test_case_list_exports_within_the_readers_view(live: LiveServer, world: dict[str, str]) -> None:  # noqa: F811
    with signed_in(live, world["gov"]) as client:
        page = client.get("/cases", params={"q": "export case", "sort": "title", "order": "desc"}).text
        links = _links(page, "cases")
        rows = list(csv.reader(io.StringIO(client.get(links["csv"]).content.decode("utf-8-sig"))))
        assert [r[1] for r in rows[1:]] == ["Zeta export case", "Alpha export case"]  # the list's order

        objects = _stix(client.get(links["stix.json"]).text)
        groupings = [o for o in objects if o["type"] == "grouping"]
        assert [g["name"] for g in groupings] == ["Zeta export case", "Alpha export case"]
        zeta, alpha = groupings
        by_id = {o["id"]: o for o in objects}
        assert all(ref in by_id for g in groupings for ref in g["object_refs"])  # nothing dangling
        shown = [by_id[r] for r in zeta["object_refs"]]
        assert [o["x_vigil_value"] for o in shown if o["type"] == "indicator"] == ["casegreen"]
        assert zeta["description"] == "zeta summary" and zeta["confidence"] == 70
        assert zeta["object_marking_refs"] == [
            "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"  # TLP 2.0 GREEN
        ]
        assert any(by_id[r]["type"] == "attack-pattern" for r in alpha["object_refs"])  # T0049
        text = json.dumps(objects)
        assert "caseamber" not in text and "Hidden" not in text and "hiddensummary" not in text

        events = _misp(client.get(links["misp.zip"]).content)
        assert sorted(e["info"] for e in events) == ["Alpha export case", "Zeta export case"]
        zeta_event = next(e for e in events if e["info"] == "Zeta export case")
        assert {'vigil:event="case"', "tlp:green", 'vigil:case-status="triage"'} <= _tags(zeta_event)
        values = [a["value"] for a in zeta_event["Attribute"]]
        assert "#casegreen" in values and "zeta summary" in values
        assert "caseamber" not in json.dumps(events) and "Hidden" not in json.dumps(events)

    with signed_in(live, world["owner"]) as client:
        # the owner sees the AMBER case and the AMBER signal: the same links hold them
        links = _links(client.get("/cases", params={"q": "export case"}).text, "cases")
        objects = _stix(client.get(links["stix.json"]).text)
        assert {o["name"] for o in objects if o["type"] == "grouping"} == {
            "Zeta export case",
            "Alpha export case",
            "Hidden export case",
        }
        assert "caseamber" in json.dumps(objects)
        events = _misp(client.get(links["misp.zip"]).content)
        hidden = next(e for e in events if e["info"] == "Hidden export case")
        assert "tlp:amber" in _tags(hidden) and hidden["distribution"] == "0"


def test_meeting_list_exports_within_the_readers_view(live: LiveServer, world: dict[str, str]) -> None:  # noqa: F811
    with signed_in(live, world["gov"]) as client:
        page = client.get("/meetings", params={"q": "export"}).text
        links = _links(page, "meetings")
        rows = list(csv.reader(io.StringIO(client.get(links["csv"]).content.decode("utf-8-sig"))))
        assert [r[1] for r in rows[1:]] == ["Export sync"]

        objects = _stix(client.get(links["stix.json"]).text)
        notes = [o for o in objects if o["type"] == "note"]
        assert [n["abstract"] for n in notes] == ["Export sync"]  # no minutes it may not read
        assert "Cases ministry (member)" in notes[0]["content"]
        assert notes[0]["object_marking_refs"] == [
            "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"  # TLP 2.0 AMBER
        ]
        text = json.dumps(objects)
        assert "amberminutes" not in text and "huddle" not in text

        events = _misp(client.get(links["misp.zip"]).content)
        assert [e["info"] for e in events] == ["Export sync"]
        assert "amberminutes" not in json.dumps(events) and "huddle" not in json.dumps(events)

    with signed_in(live, world["owner"]) as client:
        links = _links(client.get("/meetings", params={"q": "export", "sort": "title"}).text, "meetings")
        objects = _stix(client.get(links["stix.json"]).text)
        abstracts = [o["abstract"] for o in objects if o["type"] == "note"]
        assert abstracts == ["Export private huddle", "Export sync", "Minutes: Export sync"]
        minutes = next(o for o in objects if o.get("abstract", "").startswith("Minutes"))
        assert minutes["content"] == "amberminutes text"
        events = _misp(client.get(links["misp.zip"]).content)
        sync = next(e for e in events if e["info"] == "Export sync")
        notes = [a for a in sync["Attribute"] if a["type"] == "comment"]
        assert [a["value"] for a in notes] == ["amberminutes text"] and "tlp:amber" in _tags(notes[0])
