"""Any valid STIX 2.1 object, stored as sent and read back by the same id (issue #23), over real
HTTP with the unmodified taxii2-client, on SQLite and PostgreSQL: one object of every STIX 2.1 type
plus a custom object declared by an extension-definition; versions and ``match[version]``; TLP on
posted objects exactly as on signals; understood objects linked to typed signals; statuses that
survive a restart; errors as TAXII error messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import stix2
from sqlalchemy import select
from taxii2client.v21 import Collection, Status, as_pages

from tests.exchange.conftest import (  # noqa: F401  (fixtures are found by name)
    LiveServer,
    live,
    start_server,
)
from vigil.exchange.records import TLP
from vigil.exchange.stix_markings import TLP2_MARKING_IDS
from vigil.exchange.store import ExchangeStore
from vigil.exchange.taxii import TAXII_MEDIA_TYPE, find_collection
from vigil.exchange.taxii_models import TaxiiObjectRow

T = "2026-03-02T10:00:00.000Z"
T2 = "2026-03-03T10:00:00.000Z"
EXTENSION = "extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e"


def every_type() -> list[dict[str, Any]]:
    """One valid object of each STIX 2.1 type (SDOs, SROs, SCOs, meta objects) and a custom one."""
    ind = stix2.Indicator(
        pattern="[ipv4-addr:value = '198.51.100.7']", pattern_type="stix", valid_from=T, created=T, modified=T
    )
    mal = stix2.Malware(name="Dropper", is_family=False, created=T, modified=T)
    ip = stix2.IPv4Address(value="198.51.100.7")
    made = [
        stix2.Identity(name="Partner CERT", identity_class="organization", created=T, modified=T),
        stix2.AttackPattern(name="Phish", created=T, modified=T),
        stix2.Campaign(name="Op X", created=T, modified=T),
        stix2.CourseOfAction(name="Block", created=T, modified=T),
        stix2.Grouping(context="suspicious-activity", object_refs=[ind.id], created=T, modified=T),
        stix2.Incident(name="Breach", created=T, modified=T),
        ind,
        stix2.Infrastructure(name="C2", created=T, modified=T),
        stix2.IntrusionSet(name="APT-Z", created=T, modified=T),
        stix2.Location(region="europe", created=T, modified=T),
        mal,
        stix2.MalwareAnalysis(product="sandbox", result="malicious", created=T, modified=T),
        stix2.Note(content="seen twice", object_refs=[ind.id], created=T, modified=T),
        stix2.ObservedData(
            first_observed=T, last_observed=T, number_observed=1, object_refs=[ip.id], created=T, modified=T
        ),
        stix2.Opinion(opinion="neutral", object_refs=[ind.id], created=T, modified=T),
        stix2.Report(name="Weekly", published=T, object_refs=[ind.id], created=T, modified=T),
        stix2.ThreatActor(name="Actor", created=T, modified=T),
        stix2.Tool(name="nmap", created=T, modified=T),
        stix2.Vulnerability(name="CVE-2026-0001", created=T, modified=T),
        stix2.Relationship(ind, "indicates", mal, created=T, modified=T),
        stix2.Sighting(sighting_of_ref=ind.id, created=T, modified=T),
        stix2.Artifact(url="https://example.org/a.bin", hashes={"SHA-256": "a" * 64}),
        stix2.AutonomousSystem(number=64500),
        stix2.Directory(path="/tmp"),
        stix2.DomainName(value="example.org"),
        stix2.EmailAddress(value="a@example.org"),
        stix2.EmailMessage(is_multipart=False, subject="hi"),
        stix2.File(name="a.exe"),
        ip,
        stix2.IPv6Address(value="2001:db8::1"),
        stix2.MACAddress(value="00:00:5e:00:53:01"),
        stix2.Mutex(name="m1"),
        stix2.NetworkTraffic(protocols=["tcp"], src_ref=ip.id),
        stix2.Process(pid=42),
        stix2.Software(name="word"),
        stix2.URL(value="https://example.org/"),
        stix2.UserAccount(user_id="1001"),
        stix2.WindowsRegistryKey(key="HKEY_LOCAL_MACHINE\\System"),
        stix2.X509Certificate(serial_number="01"),
        stix2.LanguageContent(
            object_ref=ind.id, object_modified=T, contents={"fr": {"name": "x"}}, created=T, modified=T
        ),
        stix2.MarkingDefinition(
            definition_type="statement", definition=stix2.StatementMarking("(c) Partner"), created=T
        ),
    ]
    objects = [json.loads(o.serialize()) for o in made]
    creator = objects[0]["id"]
    objects.append(
        {
            "type": "extension-definition",
            "spec_version": "2.1",
            "id": EXTENSION,
            "created_by_ref": creator,
            "created": T,
            "modified": T,
            "name": "Partner election objects",
            "schema": "https://partner.example/schema.json",
            "version": "1.0",
            "extension_types": ["new-sdo", "toplevel-property-extension"],
        }
    )
    objects.append(
        {
            "type": "x-partner-ballot-claim",
            "spec_version": "2.1",
            "id": "x-partner-ballot-claim--0b6f8d5e-6a35-4e3f-9a56-3e9c5d0f2a11",
            "created_by_ref": creator,
            "created": T,
            "modified": T,
            "claim": "ballots burned",
            "extensions": {EXTENSION: {"extension_type": "new-sdo"}},
        }
    )
    # A custom top-level property on a standard object, declared by the same extension.
    objects[10]["x_partner_family_tag"] = "dropper-2026"
    objects[10]["extensions"] = {EXTENSION: {"extension_type": "toplevel-property-extension"}}
    return objects


class Members:
    def __init__(self, server: LiveServer) -> None:
        self.live = server
        self.keys: dict[str, str] = {}
        self.orgs: dict[str, str] = {}
        with server.db.session() as session:
            store = ExchangeStore(session)
            for name, kind in [("p1", "platform"), ("p2", "platform"), ("gov", "government")]:
                org = store.create_org(None, f"rt-{name}", kind)
                self.orgs[name] = org.id
                self.keys[name] = store.create_key(None, org.id, "analyst", name="taxii")[1]
            self.principals = {n: store.authenticate(k) for n, k in self.keys.items()}

    def collection(self, who: str, alias: str) -> Collection:
        spec = find_collection(self.principals[who], alias)
        assert spec is not None
        url = f"{self.live.base_url}/taxii2/api1/collections/{spec.id}/"
        return Collection(url, user="taxii", password=self.keys[who])


@pytest.fixture(scope="module")
def members(live: LiveServer) -> Members:  # noqa: F811
    return Members(live)


def test_every_stix_type_is_stored_as_sent_and_read_back_by_its_id(members: Members) -> None:
    col = members.collection("p1", "coalition")
    sent = every_type()
    status = col.add_objects({"objects": sent})
    assert (status.status, status.total_count, status.failure_count) == ("complete", len(sent), 0), (
        status.failures
    )
    for obj in sent:
        (back,) = col.get_object(obj["id"])["objects"]
        assert back == obj, obj["type"]
    types = {o["type"] for o in sent}
    assert len(types) == len(sent)  # one per type, the custom one included
    listed: list[dict[str, Any]] = []
    for envelope in as_pages(col.get_objects, per_request=7, added_after=status.request_timestamp):
        listed.extend(envelope.get("objects", []))
    assert sorted(o["id"] for o in listed if o["id"] in {s["id"] for s in sent}) == sorted(
        s["id"] for s in sent
    )
    manifest = col.get_manifest(**{"type": "x-partner-ballot-claim"})["objects"]
    assert [(m["id"], m["version"]) for m in manifest] == [(sent[-1]["id"], T)]
    # the same version again is accepted and changes nothing
    again = col.add_objects({"objects": [sent[10]]})
    assert again.success_count == 1
    assert len(col.get_object(sent[10]["id"], version="all")["objects"]) == 1


def test_versions_and_match_version_follow_the_spec(members: Members) -> None:
    col = members.collection("p1", "coalition")
    first = json.loads(stix2.Tool(name="masscan", created=T, modified=T).serialize())
    second = {**first, "modified": T2, "description": "now with IPv6"}
    assert col.add_objects({"objects": [first]}).success_count == 1
    assert col.add_objects({"objects": [second]}).success_count == 1
    assert col.object_versions(first["id"])["versions"] == [T, T2]
    assert col.get_object(first["id"])["objects"] == [second]  # default: last
    assert col.get_object(first["id"], version="first")["objects"] == [first]
    assert col.get_object(first["id"], version=T)["objects"] == [first]
    assert col.get_object(first["id"], version="2026-03-02T10:00:00Z")["objects"] == [first]
    assert sorted(o["modified"] for o in col.get_object(first["id"], version="all")["objects"]) == [T, T2]
    listing = col.get_objects(id=first["id"], version="first,last")["objects"]
    assert sorted(o["modified"] for o in listing) == [T, T2]


def test_tlp_on_posted_objects_is_enforced_as_on_signals(members: Members) -> None:
    amber = json.loads(
        stix2.Malware(
            name="platform-only family",
            is_family=True,
            created=T,
            modified=T,
            object_marking_refs=[TLP2_MARKING_IDS[TLP.AMBER]],
        ).serialize()
    )
    red = json.loads(stix2.Tool(name="red tool", created=T, modified=T).serialize())
    assert members.collection("p1", "platforms").add_objects({"objects": [amber]}).success_count == 1
    status = members.collection("p1", "direct").add_objects({"objects": [red]})
    assert status.success_count == 1
    # AMBER from a platform reaches platforms only; the direct post (AMBER+STRICT) only its org.
    (seen,) = members.collection("p2", "platforms").get_object(amber["id"])["objects"]
    assert seen == amber
    assert members.collection("p1", "direct").get_object(red["id"])["objects"][0]["name"] == "red tool"
    for who, aliases in [
        ("gov", ("coalition", "government-partners", "direct")),
        ("p2", ("coalition", "direct")),
    ]:
        for alias in aliases:
            col = members.collection(who, alias)
            everything = json.dumps(col.get_objects(version="all"))
            assert "platform-only family" not in everything and "red tool" not in everything
            with pytest.raises(Exception, match="404"):
                col.get_object(red["id"])
    # the wrong collection for a marking is a failure naming it, and nothing is stored
    wrong = {**amber, "id": "malware--3c8d5d56-3f3b-4a43-9b4e-2a1a7f0c9d01"}
    failed = members.collection("p1", "coalition").add_objects({"objects": [wrong]})
    assert failed.failure_count == 1 and "coalition" in failed.failures[0]["message"]
    with members.live.db.session() as session:
        assert session.scalar(select(TaxiiObjectRow.seq).where(TaxiiObjectRow.stix_id == wrong["id"])) is None


def test_objects_vigil_understands_are_linked_to_its_signals(members: Members) -> None:
    indicator = json.loads(
        stix2.Indicator(
            pattern="[domain-name:value = 'linked-news.org']",
            pattern_type="stix",
            valid_from=T,
            created=T,
            modified=T,
        ).serialize()
    )
    col = members.collection("gov", "coalition")
    status = col.add_objects({"objects": [indicator]})
    assert status.success_count == 1 and "message" not in status.successes[0], status.successes
    assert col.get_object(indicator["id"])["objects"] == [indicator]
    with members.live.db.session() as session:
        signal_id = session.scalar(
            select(TaxiiObjectRow.signal_id).where(TaxiiObjectRow.stix_id == indicator["id"])
        )
        assert signal_id is not None
        signal = ExchangeStore(session).get_signal(members.principals["p1"], signal_id)
        assert signal.value == "linked-news.org"
    # Vigil's typed view of the contribution is served too (its own deterministic id)
    typed = col.get_objects(type="indicator")["objects"]
    assert any(o.get("x_vigil_value") == "linked-news.org" for o in typed)


def test_statuses_survive_a_restart_and_errors_are_taxii_messages(members: Members, tmp_path: Path) -> None:
    base = members.live.base_url
    url = members.live.db.url
    server, thread, other = start_server(url, tmp_path, max_request_bytes=4000)
    try:
        spec = find_collection(members.principals["p2"], "coalition")
        assert spec is not None
        auth = ("taxii", members.keys["p2"])
        headers = {"Content-Type": TAXII_MEDIA_TYPE, "Accept": TAXII_MEDIA_TYPE}
        objects_url = f"{other}/taxii2/api1/collections/{spec.id}/objects/"
        tool = json.loads(stix2.Tool(name="status-check", created=T, modified=T).serialize())
        # a first POST validates in this process (stix2-validator's first use): seconds on a busy machine
        posted = httpx.post(
            objects_url, auth=auth, headers=headers, json={"objects": [tool, {"type": "x"}]}, timeout=120
        )
        assert posted.status_code == 202 and posted.headers["content-type"] == TAXII_MEDIA_TYPE
        status_id = posted.json()["id"]

        too_big = httpx.post(
            objects_url, auth=auth, headers=headers, content=b'{"objects": [' + b" " * 5000 + b"]}"
        )
        assert too_big.status_code == 413
        assert too_big.headers["content-type"] == TAXII_MEDIA_TYPE
        assert too_big.json()["http_status"] == "413" and "max_request_bytes" in too_big.json()["description"]
        for method, path, code in [
            ("GET", f"/taxii2/api1/collections/{spec.id}/objects/?next=garbage!", 400),
            ("GET", "/taxii2/api1/collections/nope/objects/", 404),
            ("GET", "/taxii2/api1/status/00000000-0000-0000-0000-000000000000/", 404),
            ("DELETE", f"/taxii2/api1/collections/{spec.id}/objects/", 405),
        ]:
            answer = httpx.request(method, other + path, auth=auth, headers=headers)
            assert answer.status_code == code, path
            assert answer.headers["content-type"] == TAXII_MEDIA_TYPE
            assert answer.json()["http_status"] == str(code) and answer.json()["title"]
        unauthenticated = httpx.get(f"{other}/taxii2/", headers=headers)
        assert (
            unauthenticated.status_code == 401 and unauthenticated.headers["content-type"] == TAXII_MEDIA_TYPE
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    # the status is in the database: the first server (which did not take the post) answers it
    status = Status(f"{base}/taxii2/api1/status/{status_id}/", user="taxii", password=members.keys["p2"])
    assert (status.status, status.success_count, status.failure_count, status.pending_count) == (
        "complete",
        1,
        1,
        0,
    )
    assert status.successes[0]["id"] == tool["id"]
