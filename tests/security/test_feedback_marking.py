"""The giver of an opinion or sighting may mark it narrower than the contribution it is given on,
never wider (issue #15): at the store, over REST, and over TAXII (the object's or collection's
TLP), read back through REST, TAXII and the STIX export, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from vigil.core.errors import InputError
from vigil.exchange.access import Principal
from vigil.exchange.records import TLP, Marking, SignalKind
from vigil.exchange.stix_export import contribution_object_id
from vigil.exchange.stix_markings import TLP2_MARKING_IDS
from vigil.exchange.stix_service import export_for
from vigil.exchange.store import ExchangeStore
from vigil.exchange.taxii import TAXII_MEDIA_TYPE, find_collection
from vigil.exchange.taxii_store import load_catalog

from ..cases.conftest import Coalition
from ..exchange.conftest import LiveServer


def _domain() -> str:
    return f"narrowed-{uuid.uuid4().hex[:10]}.info"


def _who_sees(coalition: Coalition, signal_id: str) -> dict[str, tuple[int, int]]:
    """label -> (opinions, sightings) that member sees on the signal, by every read path."""
    seen: dict[str, tuple[int, int]] = {}
    with coalition.db.session() as s:
        store = ExchangeStore(s)
        for label in ("plat_a", "plat_b", "gov", "res"):
            reader = coalition.principal(label)
            view = store.get_signal(reader, signal_id)
            counts = (len(view.opinions), len(view.sightings))
            assert counts == (
                len(store.list_opinions(reader, signal_id)),
                len(store.list_sightings(reader, signal_id)),
            )
            taxii = [e.obj for e in load_catalog(s, reader).entries]
            exported = export_for(store, reader)["objects"]
            for objects in (taxii, exported):
                ops = [
                    o
                    for o in objects
                    if o["type"] == "opinion" and o["created_by_ref"] == coalition.orgs["plat_a"]
                ]
                sis = [
                    o
                    for o in objects
                    if o["type"] == "sighting" and o["created_by_ref"] == coalition.orgs["plat_a"]
                ]
                assert (len(ops), len(sis)) == counts, (label, counts)
            seen[label] = counts
    return seen


def test_the_giver_narrows_and_never_widens(coalition: Coalition) -> None:
    a = coalition.principal("plat_a")
    gov = coalition.orgs["gov"]
    now = datetime.now(UTC)
    with coalition.db.session() as s:
        store = ExchangeStore(s)
        signal = store.submit_signal(a, "domain", _domain(), marking=Marking(TLP.GREEN))
        opinion = store.set_opinion(a, signal.id, "confirmed", "platforms only", marking=Marking(TLP.AMBER))
        sighting = store.add_sighting(
            a,
            signal.id,
            count=2,
            first_seen=now - timedelta(hours=1),
            last_seen=now,
            marking=Marking(TLP.RED, (gov,)),
        )
        assert opinion.marking == Marking(TLP.AMBER) and sighting.marking == Marking(TLP.RED, (gov,))
    # AMBER from a platform reaches platforms; RED shared with gov reaches gov only
    assert _who_sees(coalition, signal.id) == {
        "plat_a": (1, 1),
        "plat_b": (1, 0),
        "gov": (0, 1),
        "res": (0, 0),
    }
    with coalition.db.session() as s:
        plat_b = coalition.principal("plat_b")
        catalog = [e.obj for e in load_catalog(s, plat_b).entries if e.obj["type"] == "opinion"]
        assert [o["object_marking_refs"] for o in catalog] == [[TLP2_MARKING_IDS[TLP.AMBER]]]
    # wider than the contribution: refused, nothing stored
    with coalition.db.session() as s:
        store = ExchangeStore(s)
        amber = store.submit_signal(a, "domain", _domain(), marking=Marking(TLP.AMBER))
    with coalition.db.session() as s, pytest.raises(InputError) as refused:
        ExchangeStore(s).set_opinion(a, amber.id, "confirmed", None, marking=Marking(TLP.GREEN))
    assert refused.value.details.get("field") == "marking" and "wider" in refused.value.message
    with coalition.db.session() as s:
        assert ExchangeStore(s).list_opinions(a, amber.id) == []


def _keys(live: LiveServer) -> dict[str, tuple[str, Principal]]:
    out = {}
    with live.db.session() as s:
        store = ExchangeStore(s)
        for label, kind in (("a", "platform"), ("b", "platform"), ("g", "government")):
            org = store.create_org(None, f"{label}-{uuid.uuid4().hex[:6]}", kind)
            _, key = store.create_key(None, org.id, "analyst")
            out[label] = (key, store.authenticate(key))
    return out


def test_narrowing_over_rest_and_taxii(live: LiveServer) -> None:
    keys = _keys(live)
    (ka, a), (kb, b), (kg, _) = keys["a"], keys["b"], keys["g"]
    value = _domain()
    with live.db.session() as s:
        signal = ExchangeStore(s).submit_signal(a, "domain", value, marking=Marking(TLP.GREEN))
    now = datetime.now(UTC).isoformat()
    with live.client(ka) as c:
        mine = c.put(
            f"/api/v1/signals/{signal.id}/opinion", json={"value": "confirmed", "marking": {"tlp": "AMBER"}}
        )
        assert mine.status_code == 200, mine.text
        assert mine.json()["marking"] == {"tlp": "AMBER", "shared_with": []}
        wider = c.post(
            f"/api/v1/signals/{signal.id}/sightings",
            json={"count": 1, "first_seen": now, "last_seen": now, "marking": {"tlp": "CLEAR"}},
        )
        assert wider.status_code == 400 and "wider" in wider.json()["message"]
        assert c.get(f"/api/v1/signals/{signal.id}/sightings").json() == []
    with live.client(kb) as c:
        assert len(c.get(f"/api/v1/signals/{signal.id}/opinions").json()) == 1
    with live.client(kg) as c:
        assert c.get(f"/api/v1/signals/{signal.id}/opinions").json() == []
    # TAXII: a sighting posted to the platforms' AMBER collection is AMBER (platforms only)
    spec = find_collection(a, "platforms")
    assert spec is not None
    sighting = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": f"sighting--{uuid.uuid4()}",
        "created": "2026-03-02T10:00:00.000Z",
        "modified": "2026-03-02T10:00:00.000Z",
        "sighting_of_ref": contribution_object_id(SignalKind.DOMAIN, value, a.org_id),
        "count": 4,
    }
    coalition = find_collection(a, "coalition")
    assert coalition is not None
    served = httpx.get(  # the contribution is served first, as a TAXII client would have it
        f"{live.base_url}/taxii2/api1/collections/{coalition.id}/objects/",
        headers={"Accept": TAXII_MEDIA_TYPE},
        auth=("taxii", ka),
        timeout=30,
    )
    assert served.status_code == 200
    posted = httpx.post(
        f"{live.base_url}/taxii2/api1/collections/{spec.id}/objects/",
        content=json.dumps({"objects": [sighting]}),
        headers={"Content-Type": TAXII_MEDIA_TYPE, "Accept": TAXII_MEDIA_TYPE},
        auth=("taxii", ka),
        timeout=30,
    )
    assert posted.status_code == 202 and posted.json()["success_count"] == 1, posted.text
    for key, expected in ((ka, [4]), (kb, [4]), (kg, [])):
        with live.client(key) as c:
            got = c.get(f"/api/v1/signals/{signal.id}/sightings").json()
            assert [x["count"] for x in got] == expected, posted.json()
    with live.db.session() as s:
        objects = [e.obj for e in load_catalog(s, b).entries if e.obj["type"] == "sighting"]
    assert [o["object_marking_refs"] for o in objects if o.get("count") == 4] == [
        [TLP2_MARKING_IDS[TLP.AMBER]]
    ]
