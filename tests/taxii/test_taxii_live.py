"""The TAXII 2.1 server over real HTTP (uvicorn), driven by the unmodified taxii2-client, on SQLite
and PostgreSQL: discovery, collections per audience, paging, added_after, manifest, versions,
add-objects with status, errors, and TLP: nobody receives what the access rule hides."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
import requests
from stix2validator import ValidationOptions, validate_string
from taxii2client.v21 import ApiRoot, Collection, Server, Status, as_pages

from tests.taxii.conftest import World
from vigil.core.time import parse_instant
from vigil.exchange.records import TLP, SignalKind
from vigil.exchange.stix_export import contribution_object_id
from vigil.exchange.stix_markings import TLP2_MARKING_IDS
from vigil.exchange.taxii import TAXII_MEDIA_TYPE, find_collection

COLLECTION_ALIASES = {
    "p1": {"coalition", "platforms", "direct"},
    "p2": {"coalition", "platforms", "direct"},
    "gov": {"coalition", "government-partners", "direct"},
    "lab": {"coalition", "researchers", "direct"},
}


def server(world: World, who: str) -> Server:
    return Server(world.taxii, user="taxii", password=world.keys[who])


def collection(world: World, who: str, alias: str) -> Collection:
    spec = find_collection(world.principals[who], alias)
    assert spec is not None
    url = f"{world.taxii}api1/collections/{spec.id}/"
    return Collection(url, user="taxii", password=world.keys[who])


def all_objects(col: Collection, per_request: int = 0, **filters: Any) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for envelope in as_pages(col.get_objects, per_request=per_request, **filters):
        objects.extend(envelope.get("objects", []))
    return objects


def contribution_id(world: World, label: str, who: str) -> str:
    signal = world.signals[label]
    return contribution_object_id(SignalKind(signal.kind), signal.value, world.orgs[who])


def test_discovery_and_api_root(world: World) -> None:
    srv = server(world, "p1")
    assert srv.title == "Vigil coalition exchange"
    assert srv.default is not None and srv.default.url.endswith("/taxii2/api1/")
    root = ApiRoot(srv.default.url, user="taxii", password=world.keys["p1"])
    assert root.versions == [TAXII_MEDIA_TYPE]
    assert root.max_content_length > 0


@pytest.mark.parametrize("who", ["p1", "gov", "lab"])
def test_each_member_lists_the_collections_of_its_audiences(world: World, who: str) -> None:
    root = server(world, who).default
    assert root is not None
    assert {c.alias for c in root.collections} == COLLECTION_ALIASES[who]
    assert all(c.can_read and c.can_write for c in root.collections)
    reader = ApiRoot(root.url, user="taxii", password=world.keys["p1-reader"])
    assert all(c.can_read and not c.can_write for c in reader.collections)


def test_coalition_collection_pages_with_the_client_and_validates(world: World) -> None:
    col = collection(world, "p1", "coalition")
    paged = all_objects(col, per_request=3)
    whole = all_objects(col)
    assert [o["id"] for o in paged] == [o["id"] for o in whole]
    ids = {o["id"] for o in paged}
    assert contribution_id(world, "green_domain", "p1") in ids
    assert contribution_id(world, "clear_hashtag", "p2") in ids
    assert contribution_id(world, "mixed_green", "p1") in ids
    assert contribution_id(world, "mixed_red", "p2") not in ids  # RED belongs in p2's direct collection
    markings = {m for o in paged for m in o.get("object_marking_refs", [])}
    assert markings <= {TLP2_MARKING_IDS[TLP.CLEAR], TLP2_MARKING_IDS[TLP.GREEN]}
    types = {o["type"] for o in paged}
    assert {"indicator", "campaign", "relationship", "opinion", "sighting", "identity"} <= types
    bundle = {"type": "bundle", "id": "bundle--6c3a1a55-52a8-4a6e-8a5b-0a3d6c1e2f10", "objects": paged}
    result = validate_string(json.dumps(bundle), ValidationOptions(version="2.1"))
    assert result.is_valid, [str(e) for e in result.errors]


def test_pages_carry_date_added_headers_and_added_after_is_incremental(world: World) -> None:
    spec = find_collection(world.principals["lab"], "coalition")
    assert spec is not None
    url = f"{world.taxii}api1/collections/{spec.id}/objects/"
    headers = {"Accept": TAXII_MEDIA_TYPE}
    with httpx.Client(auth=("taxii", world.keys["lab"]), headers=headers, timeout=30) as client:
        first = client.get(url, params={"limit": 2})
        assert first.status_code == 200 and first.headers["content-type"] == TAXII_MEDIA_TYPE
        body = first.json()
        assert body["more"] is True and len(body["objects"]) == 2
        assert parse_instant(first.headers["X-TAXII-Date-Added-First"]) <= parse_instant(
            first.headers["X-TAXII-Date-Added-Last"]
        )
        everything = client.get(url).json()["objects"]
        last = client.get(url).headers["X-TAXII-Date-Added-Last"]
        assert client.get(url, params={"added_after": last}).json() == {"more": False}

        new = world.store(
            lambda s: s.submit_signal(world.principals["lab"], "domain", "fresh-news.net", marking=_green())
        )
        fresh = client.get(url, params={"added_after": last}).json()["objects"]
        assert [o["id"] for o in fresh] == [
            contribution_object_id(SignalKind.DOMAIN, new.value, world.orgs["lab"])
        ]
        assert len(client.get(url).json()["objects"]) == len(everything) + 1


def _green() -> Any:
    from vigil.exchange.records import Marking

    return Marking(TLP.GREEN)


def test_manifest_and_versions_follow_contribution_history(world: World) -> None:
    col = collection(world, "p2", "coalition")
    hashtag_id = contribution_id(world, "clear_hashtag", "p2")
    world.store(
        lambda s: s.submit_signal(
            world.principals["p2"], "hashtag", "riggedvote", marking=_clear(), confidence=90
        )
    )
    versions = col.object_versions(hashtag_id)["versions"]
    assert len(versions) == 2 and versions[0] < versions[1]
    every = col.get_object(hashtag_id, version="all")["objects"]
    assert sorted(o["modified"] for o in every) == versions
    assert [o["confidence"] for o in sorted(every, key=lambda o: o["modified"])] == [50, 90]
    (first,) = col.get_object(hashtag_id, version="first")["objects"]
    assert first["modified"] == versions[0]
    (last,) = col.get_object(hashtag_id)["objects"]
    assert last["modified"] == versions[1]
    manifest = col.get_manifest(id=hashtag_id, version="all")["objects"]
    assert sorted(m["version"] for m in manifest) == versions
    listed = col.get_manifest()["objects"]
    assert {m["id"] for m in listed} == {o["id"] for o in all_objects(col)}
    assert col.get_objects(type="indicator", id=hashtag_id)["objects"][0]["id"] == hashtag_id


def _clear() -> Any:
    from vigil.exchange.records import Marking

    return Marking(TLP.CLEAR)


def test_add_objects_reports_successes_and_failures_and_stores_as_the_caller(world: World) -> None:
    col = collection(world, "lab", "coalition")
    indicator = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--6f1f1c55-0b4a-4c3e-9b8e-52b1d9f0a001",
        "created": "2026-03-02T10:00:00.000Z",
        "modified": "2026-03-02T10:00:00.000Z",
        "pattern": "[domain-name:value = 'posted-news.org']",
        "pattern_type": "stix",
        "valid_from": "2026-03-02T10:00:00.000Z",
    }
    malware = {
        "type": "malware",
        "spec_version": "2.1",
        "id": "malware--6f1f1c55-0b4a-4c3e-9b8e-52b1d9f0a002",
        "created": "2026-03-02T10:00:00.000Z",
        "modified": "2026-03-02T10:00:00.000Z",
        "name": "x",
        "is_family": False,
    }
    broken = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--6f1f1c55-0b4a-4c3e-9b8e-52b1d9f0a003",
    }
    red = {
        **indicator,
        "id": "indicator--6f1f1c55-0b4a-4c3e-9b8e-52b1d9f0a004",
        "object_marking_refs": [TLP2_MARKING_IDS[TLP.RED]],
    }
    sighting = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": "sighting--6f1f1c55-0b4a-4c3e-9b8e-52b1d9f0a005",
        "created": "2026-03-02T10:00:00.000Z",
        "modified": "2026-03-02T10:00:00.000Z",
        "sighting_of_ref": contribution_id(world, "green_domain", "p1"),  # served earlier, not in the post
        "count": 3,
    }
    status = col.add_objects({"objects": [indicator, malware, broken, red, sighting]})
    assert isinstance(status, Status) and status.status == "complete"
    # Valid STIX is stored as sent even when Vigil has no typed equivalent (malware); invalid
    # objects and markings the collection does not take are failures.
    assert (status.total_count, status.success_count, status.failure_count) == (5, 3, 2)
    failed = {f["id"]: f["message"] for f in status.failures}
    stored = {s["id"]: s.get("message") for s in status.successes}
    assert "no typed equivalent" in stored[malware["id"]]
    assert "pattern" in failed[broken["id"]]
    assert "TLP:RED" in failed[red["id"]]
    for sent in (indicator, malware):
        (back,) = col.get_object(sent["id"])["objects"]
        assert back == sent  # same id, same version, nothing added or dropped
    again = Status(f"{world.taxii}api1/status/{status.id}/", user="taxii", password=world.keys["lab"])
    assert again.success_count == 3
    with pytest.raises(requests.HTTPError) as other_org:
        Status(f"{world.taxii}api1/status/{status.id}/", user="taxii", password=world.keys["gov"])
    assert other_org.value.response.status_code == 404

    posted = contribution_object_id(SignalKind.DOMAIN, "posted-news.org", world.orgs["lab"])
    (obj,) = col.get_object(posted)["objects"]
    assert obj["created_by_ref"] == world.orgs["lab"]
    assert obj["object_marking_refs"] == [TLP2_MARKING_IDS[TLP.GREEN]]  # the collection's marking
    sightings = [o for o in all_objects(col, type="sighting") if o.get("created_by_ref") == world.orgs["lab"]]
    assert [s["count"] for s in sightings] == [3]


def test_posting_to_direct_keeps_it_inside_the_organisation(world: World) -> None:
    mine = collection(world, "gov", "direct")
    indicator = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--7f1f1c55-0b4a-4c3e-9b8e-52b1d9f0a001",
        "created": "2026-03-02T10:00:00.000Z",
        "modified": "2026-03-02T10:00:00.000Z",
        "pattern": "[url:value = 'https://gov-only.org/x']",
        "pattern_type": "stix",
        "valid_from": "2026-03-02T10:00:00.000Z",
    }
    assert mine.add_objects({"objects": [indicator]}).success_count == 1
    posted = contribution_object_id(SignalKind.URL, "https://gov-only.org/x", world.orgs["gov"])
    (obj,) = mine.get_object(posted)["objects"]
    assert obj["object_marking_refs"] == [TLP2_MARKING_IDS[TLP.AMBER_STRICT]]
    for alias in COLLECTION_ALIASES["p1"]:
        assert posted not in {o["id"] for o in all_objects(collection(world, "p1", alias))}


def _everything_served(world: World, who: str) -> tuple[str, set[str]]:
    """Every byte a member can get: all collections' objects (all versions), manifests, versions."""
    texts: list[str] = []
    ids: set[str] = set()
    for alias in COLLECTION_ALIASES[who]:
        col = collection(world, who, alias)
        objects = all_objects(col, version="all")
        texts.append(json.dumps(objects))
        texts.append(json.dumps(col.get_manifest(version="all")))
        ids |= {o["id"] for o in objects}
    return "\n".join(texts), ids


def test_government_never_receives_platform_only_objects(world: World) -> None:
    text, ids = _everything_served(world, "gov")
    hidden = [
        contribution_id(world, "platform_amber", "p1"),
        contribution_id(world, "platform_red", "p2"),
        contribution_id(world, "mixed_red", "p2"),
    ]
    for object_id in hidden:
        assert object_id not in text
    for secret in ("platform-only notes", "red notes", "amber_bot", "red-files.net"):
        assert secret not in text
    # What p1 named the government on is delivered, in the direct collection.
    shared = contribution_id(world, "shared_with_gov", "p1")
    assert shared in {o["id"] for o in all_objects(collection(world, "gov", "direct"))}
    assert contribution_id(world, "gov_amber", "gov") in ids
    # Asking by id does not reveal existence either.
    for alias in COLLECTION_ALIASES["gov"]:
        col = collection(world, "gov", alias)
        for object_id in hidden:
            for call in (col.get_object, col.object_versions):
                with pytest.raises(requests.HTTPError) as err:
                    call(object_id)
                assert err.value.response.status_code == 404
    platforms = find_collection(world.principals["p1"], "platforms")
    assert platforms is not None
    response = httpx.get(
        f"{world.taxii}api1/collections/{platforms.id}/objects/",
        auth=("taxii", world.keys["gov"]),
        headers={"Accept": TAXII_MEDIA_TYPE},
    )
    assert response.status_code == 404


def test_platforms_see_platform_amber_but_not_government_amber(world: World) -> None:
    text, ids = _everything_served(world, "p2")
    assert contribution_id(world, "platform_amber", "p1") in ids
    assert contribution_id(world, "gov_amber", "gov") not in text
    assert "Ballots were burned" not in text
    assert contribution_id(world, "shared_with_gov", "p1") in ids  # AMBER reaches every platform


@pytest.mark.parametrize(
    ("method", "path", "headers", "auth", "status"),
    [
        ("GET", "", {}, None, 401),
        ("GET", "", {}, ("taxii", "vigil_000000000000_nope"), 401),
        ("GET", "", {"Accept": "text/html"}, "p1", 406),
        ("GET", "", {"Accept": "application/taxii+json;version=2.0"}, "p1", 406),
        ("GET", "api1/collections/no-such-collection/", {}, "p1", 404),
        ("GET", "api1/collections/coalition/objects/?added_after=yesterday", {}, "p1", 400),
        ("GET", "api1/collections/coalition/objects/?limit=0", {}, "p1", 400),
        ("GET", "api1/collections/coalition/objects/?match[color]=red", {}, "p1", 400),
        ("POST", "api1/collections/coalition/objects/", {"Content-Type": "application/json"}, "p1", 415),
        ("POST", "api1/collections/coalition/objects/", {"Content-Type": TAXII_MEDIA_TYPE}, "p1-reader", 403),
        ("POST", "api1/collections/coalition/objects/", {"Content-Type": TAXII_MEDIA_TYPE}, "p1", 400),
        ("DELETE", "api1/collections/coalition/objects/indicator--x/", {}, "p1", 405),
    ],
)
def test_errors_are_taxii_error_messages(
    world: World, method: str, path: str, headers: dict[str, str], auth: Any, status: int
) -> None:
    credentials = ("taxii", world.keys[auth]) if isinstance(auth, str) else auth
    response = httpx.request(
        method,
        world.taxii + path,
        headers={"Accept": TAXII_MEDIA_TYPE, **headers},
        auth=credentials,
        content=b"{not json" if method == "POST" else None,
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == TAXII_MEDIA_TYPE
    body = response.json()
    assert body["http_status"] == str(status) and body["title"] and body["description"]
    if status == 401:
        assert "Basic" in response.headers["www-authenticate"]


def test_collections_are_also_reachable_by_alias(world: World) -> None:
    response = httpx.get(
        f"{world.taxii}api1/collections/coalition/manifest/",
        auth=("taxii", world.keys["p1"]),
        headers={"Accept": TAXII_MEDIA_TYPE},
        params={"added_after": (world.signals["green_domain"].created_at - timedelta(seconds=1)).isoformat()},
    )
    assert response.status_code == 200
    assert response.json()["objects"]


def test_a_version_is_served_only_to_readers_its_own_marking_allows(world: World) -> None:
    from vigil.exchange.records import Marking

    p1 = world.principals["p1"]
    world.store(lambda s: s.submit_signal(p1, "domain", "was-secret.info", marking=Marking(TLP.RED)))
    world.store(lambda s: s.submit_signal(p1, "domain", "was-secret.info", marking=Marking(TLP.GREEN)))
    object_id = contribution_object_id(SignalKind.DOMAIN, "was-secret.info", world.orgs["p1"])
    assert len(collection(world, "p1", "coalition").object_versions(object_id)["versions"]) == 1
    assert len(collection(world, "p1", "direct").object_versions(object_id)["versions"]) == 1
    gov = collection(world, "gov", "coalition")
    (only,) = gov.get_object(object_id, version="all")["objects"]
    assert only["object_marking_refs"] == [TLP2_MARKING_IDS[TLP.GREEN]]
    with pytest.raises(requests.HTTPError):
        collection(world, "gov", "direct").object_versions(object_id)


def test_added_after_returns_new_sightings_and_opinions_of_old_signals(world: World) -> None:
    col = collection(world, "lab", "coalition")
    last = max(parse_instant(m["date_added"]) for m in col.get_manifest()["objects"])
    lab = world.principals["lab"]
    signal_id = world.signals["green_domain"].id
    world.store(lambda s: s.add_sighting(lab, signal_id, count=2, first_seen=last, last_seen=last))
    world.store(lambda s: s.set_opinion(lab, signal_id, "disputed", "not in our data"))
    fresh = col.get_objects(added_after=last)["objects"]
    assert sorted(o["type"] for o in fresh) == ["opinion", "sighting"]
    assert {o["created_by_ref"] for o in fresh} == {world.orgs["lab"]}
    assert next(o for o in fresh if o["type"] == "opinion")["opinion"] == "disagree"
