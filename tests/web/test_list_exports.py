"""The campaign list exports as a STIX bundle and a MISP feed as well as CSV, within the reader's
TLP and in the list's order (issue #20; real HTTP, real server, both backends)."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest

from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore

from ..exchange.conftest import LiveServer, live, signed_in  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def world(live: LiveServer) -> dict[str, str]:  # noqa: F811
    """A platform shares 3 GREEN campaigns (each with a GREEN signal, one also with an AMBER one)
    and 2 AMBER campaigns (named to sort first) the ministry may not see."""
    with live.db.session() as session:
        store = ExchangeStore(session)
        platform = store.create_org(None, "Export platform", "platform")
        gov = store.create_org(None, "Export ministry", "government")
        _, owner_key = store.create_key(None, platform.id, "analyst")
        _, gov_key = store.create_key(None, gov.id, "analyst")
        owner = store.authenticate(owner_key)
        for n in range(3):
            c = store.create_campaign(owner, f"Green campaign {n}", marking=Marking(TLP.GREEN))
            store.submit_signal(
                owner, "hashtag", f"#greenlist{n}", marking=Marking(TLP.GREEN), campaign_id=c.id
            )
            if n == 0:
                store.submit_signal(
                    owner, "hashtag", "#amberinside", marking=Marking(TLP.AMBER), campaign_id=c.id
                )
        for n in range(2):
            c = store.create_campaign(owner, f"AAA amber campaign {n}", marking=Marking(TLP.AMBER))
            store.submit_signal(
                owner, "hashtag", f"#amberlist{n}", marking=Marking(TLP.AMBER), campaign_id=c.id
            )
    return {"gov": gov_key, "owner": owner_key}


def _export_link(page: str, fmt: str) -> str:
    found = re.search(rf'href="(/export/campaigns\.{re.escape(fmt)}\?[^"]*)"', page)
    assert found, f"the campaign list offers a {fmt} export"
    return found.group(1).replace("&amp;", "&")


def _misp_events(body: bytes) -> list[dict[str, object]]:
    archive = zipfile.ZipFile(io.BytesIO(body))
    return [
        json.loads(archive.read(name))["Event"]
        for name in archive.namelist()
        if name.endswith(".json") and not name.endswith("manifest.json")
    ]


def test_campaign_list_as_stix_and_misp_within_tlp(live: LiveServer, world: dict[str, str]) -> None:  # noqa: F811
    with signed_in(live, world["gov"]) as client:
        page = client.get("/campaigns", params={"sort": "name", "order": "desc", "size": 10}).text
        shown = re.findall(
            r'<tr data-campaign="[^"]+"><td><a href="/campaigns/[^"]+" dir="auto">([^<]+)</a>', page
        )
        assert [n for n in shown if "campaign" in n.lower()][:3] == [f"Green campaign {n}" for n in (2, 1, 0)]
        stix = client.get(_export_link(page, "stix.json"))
        assert stix.status_code == 200 and stix.headers["content-type"].startswith("application/stix+json")
        objects = json.loads(stix.text)["objects"]
        names = [o["name"] for o in objects if o["type"] == "campaign"]
        # the list's order, and no AMBER campaign the ministry may not see
        assert [n for n in names if "campaign" in n.lower()] == [n for n in shown if "campaign" in n.lower()]
        assert not any("amber" in n.lower() for n in names)
        patterns = " ".join(o["pattern"] for o in objects if o["type"] == "indicator")
        assert all(f"greenlist{n}" in patterns for n in range(3))
        assert "amberinside" not in patterns and "amberlist" not in patterns
        events = _misp_events(client.get(_export_link(page, "misp.zip")).content)
        infos = sorted(str(e["info"]) for e in events)
        assert [i for i in infos if "campaign" in i.lower()] == [f"Green campaign {n}" for n in range(3)]
        values = [str(a["value"]) for e in events for a in e.get("Attribute", [])]  # type: ignore[attr-defined]
        assert sorted(v for v in values if "list" in v) == [f"#greenlist{n}" for n in range(3)]
        assert not any("amber" in v for v in values)
        assert client.get("/export/campaigns.pdf").status_code == 404
    with signed_in(live, world["owner"]) as client:
        # the sharer sees its AMBER campaigns and their AMBER signals: the same links hold them
        page = client.get("/campaigns", params={"q": "amber"}).text
        events = _misp_events(client.get(_export_link(page, "misp.zip")).content)
        assert sorted(str(e["info"]) for e in events) == ["AAA amber campaign 0", "AAA amber campaign 1"]
        objects = json.loads(client.get(_export_link(page, "stix.json")).text)["objects"]
        patterns = " ".join(o["pattern"] for o in objects if o["type"] == "indicator")
        assert "amberlist0" in patterns and "amberlist1" in patterns and "greenlist" not in patterns
