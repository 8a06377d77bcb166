"""MISP feeds and events, read back by PyMISP's own MISPEvent: export -> load -> import -> same signals."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from pymisp import MISPEvent

from tests.interop.conftest import Coalition, make_coalition, new_database
from vigil.core.errors import Conflict, InputError
from vigil.exchange import misp
from vigil.exchange.records import TLP, Signal
from vigil.exchange.store import ExchangeStore, SignalFilter


def _signals(world: Coalition, who: str, filters: SignalFilter | None = None) -> list[Signal]:
    return list(world.run(lambda s: s.list_signals(world.principals[who], filters, limit=500).items))


def _by_value(signals: list[Signal]) -> dict[tuple[str, str], Signal]:
    return {(s.kind.value, s.value): s for s in signals}


def _feed(world: Coalition, who: str = "p1", **kwargs: Any) -> misp.MispFeed:
    return world.run(lambda s: misp.export_feed(s, world.principals[who], **kwargs))  # type: ignore[no-any-return]


def _pymisp_roundtrip(event: dict[str, Any]) -> dict[str, Any]:
    """What PyMISP makes of an event: load it with MISPEvent, serialize it again."""
    loaded = MISPEvent()
    loaded.load(json.dumps(event))
    return dict(json.loads(loaded.to_json()))


def test_feed_files_are_what_misp_expects(coalition: Coalition, tmp_path: Path) -> None:
    feed = _feed(coalition)
    files = dict(feed.files())
    assert set(files) == {"manifest.json", "hashes.csv", *(f"{u}.json" for u in feed.events)}
    manifest = json.loads(files["manifest.json"])
    assert set(manifest) == set(feed.events) and len(feed.events) == 2  # the campaign + the rest
    hashes = list(csv.reader(io.StringIO(files["hashes.csv"])))
    values = {(a["value"], u) for u, e in feed.events.items() for a in e["Event"]["Attribute"]}
    assert {tuple(row) for row in hashes} == {
        (hashlib.md5(v.encode(), usedforsecurity=False).hexdigest(), u) for v, u in values
    }
    for event_uuid in feed.events:
        loaded = MISPEvent()
        path = tmp_path / f"{event_uuid}.json"
        path.write_text(files[path.name], "utf-8")
        loaded.load_file(str(path))
        assert str(loaded.uuid) == event_uuid
        assert manifest[event_uuid]["info"] == loaded.info


def test_tlp_tags_and_disarm_galaxy(coalition: Coalition) -> None:
    feed = _feed(coalition)
    campaign = next(e["Event"] for e in feed.events.values() if e["Event"]["info"] == "Cloned outlets")
    loaded = MISPEvent()
    loaded.from_dict(**campaign)
    event_tags = {t.name for t in loaded.tags}
    # the event is as strict as its strictest attribute (the AMBER account)
    assert "tlp:amber" in event_tags
    assert 'misp-galaxy:disarm="Flood Information Space"' in event_tags
    clusters = {
        c["meta"]["external_id"][0]: c["value"] for g in campaign["Galaxy"] for c in g["GalaxyCluster"]
    }
    assert clusters == {"T0049": "Flood Information Space", "T0015": "Create Hashtags and Search Artefacts"}
    by_value = {a.value: {t.name for t in a.tags} for a in loaded.attributes}
    assert "tlp:clear" in by_value["#stolenvote"]
    assert "tlp:green" in by_value["cloned-news.info"]
    types = {a.value: a.type for a in loaded.attributes}
    assert types["123456789"] == "twitter-id" and types["cloned-news.info"] == "domain"
    everything = json.dumps([e for e in feed.events.values()])
    assert "secret-red.info" not in everything and "tlp:red" not in everything


def test_round_trip_through_pymisp_gives_the_same_signals(coalition: Coalition, tmp_path: Path) -> None:
    feed = _feed(coalition)
    fresh = make_coalition(new_database(tmp_path / "fresh"))
    for event in feed.events.values():
        again = _pymisp_roundtrip(event)
        fresh.run(lambda s, e=again: misp.import_event(s, fresh.principals["gov"], e))
    original = _by_value(_signals(coalition, "p1"))
    imported = _by_value(_signals(fresh, "gov"))
    assert set(imported) == set(original)
    for key, signal in original.items():
        mine = imported[key].contributions[0]
        theirs = misp._shown(signal)
        assert mine.marking.tlp == theirs.marking.tlp, key
        assert mine.tags == theirs.tags and mine.description == theirs.description, key
        assert mine.first_seen == theirs.first_seen, key
    campaigns = fresh.run(lambda s: s.list_campaigns(fresh.principals["gov"]))
    assert [(c.name, set(c.techniques), c.description) for c in campaigns] == [
        ("Cloned outlets", {"T0049", "T0015"}, "Look-alike news sites pushing a fake ballot story")
    ]
    linked = _signals(fresh, "gov", SignalFilter(campaign_id=campaigns[0].id))
    assert {s.value for s in linked} == {
        "cloned-news.info",
        "https://cloned-news.info/ballots",
        "stolenvote",
        "twitter:123456789",
    }


def test_filters_by_campaign_and_tlp(coalition: Coalition) -> None:
    only = _feed(coalition, campaign_id=coalition.campaign_id)
    assert [e["Event"]["info"] for e in only.events.values()] == ["Cloned outlets"]
    clear = _feed(coalition, tlps=[TLP.CLEAR])
    values = {a["value"] for e in clear.events.values() for a in e["Event"]["Attribute"]}
    assert values == {"#stolenvote"}
    p2 = _feed(coalition, who="p2")
    assert "secret-red.info" in json.dumps(p2.events)


def test_foreign_event_by_misp_types(coalition: Coalition) -> None:
    event = MISPEvent()
    event.info = "Bot network pushing ballot fraud claims"
    event.add_tag("tlp:white")
    event.add_tag('misp-galaxy:disarm="Flood Information Space"')
    event.add_attribute("hostname", "www.Fraud-Ballots.info")
    event.add_attribute("url", "https://fraud-ballots.info/a?fbclid=1")
    event.add_attribute("twitter-id", "@BallotBot")
    event.add_attribute("text", "#Wahlbetrug", comment="hashtag seen in the wave")
    attr = event.add_attribute("md5", "d41d8cd98f00b204e9800998ecf8427e")
    attr.add_tag("tlp:amber")
    report = coalition.run(
        lambda s: misp.import_event(s, coalition.principals["gov"], json.loads(event.to_json()))
    )
    assert report.techniques == ("T0049",) and report.signals == 5
    got = {
        (s.kind.value, s.value): s.contributions[0].marking.tlp
        for s in _signals(coalition, "gov")
        if any(c.org_id == coalition.principals["gov"].org_id for c in s.contributions)
    }
    assert got == {
        ("domain", "fraud-ballots.info"): TLP.CLEAR,
        ("url", "https://fraud-ballots.info/a"): TLP.CLEAR,
        ("account", "twitter:@ballotbot"): TLP.CLEAR,
        ("hashtag", "wahlbetrug"): TLP.CLEAR,
        ("image_md5", "d41d8cd98f00b204e9800998ecf8427e"): TLP.AMBER,
    }


def _count(world: Coalition) -> tuple[int, int]:
    gov = world.principals["gov"]
    return world.run(lambda s: (s.count_signals(gov), len(s.list_campaigns(gov))))


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([1, 2], "Event: must be a JSON object"),
        ({"Event": {"uuid": "nope", "info": "x"}}, "Event.uuid"),
        ({"Event": {"uuid": "5c6f1b0e-0000-4000-8000-000000000001", "info": ""}}, "Event.info"),
        (
            {
                "Event": {
                    "uuid": "5c6f1b0e-0000-4000-8000-000000000001",
                    "info": "x",
                    "Attribute": [{"type": "domain", "value": "ok-site.org"}, {"type": "url"}],
                }
            },
            r"Event.Attribute\[1\].value",
        ),
        (
            {
                "Event": {
                    "uuid": "5c6f1b0e-0000-4000-8000-000000000001",
                    "info": "x",
                    "Attribute": [
                        {"type": "domain", "value": "ok-site.org"},
                        {"type": "domain", "value": "not a domain!"},
                    ],
                }
            },
            r"Event.Attribute\[1\].value",
        ),
        (
            {
                "Event": {
                    "uuid": "5c6f1b0e-0000-4000-8000-000000000001",
                    "info": "x",
                    "Attribute": [
                        {"type": "domain", "value": "ok-site.org"},
                        {"type": "ip-dst", "value": "192.0.2.1"},
                    ],
                }
            },
            "ip-dst",
        ),
        (
            {
                "Event": {
                    "uuid": "5c6f1b0e-0000-4000-8000-000000000001",
                    "info": "x",
                    "Attribute": [
                        {"type": "text", "value": "v", "Tag": [{"name": 'vigil:signal-kind="nope"'}]}
                    ],
                }
            },
            "unknown vigil:signal-kind",
        ),
    ],
)
def test_malformed_event_is_refused_and_stores_nothing(
    coalition: Coalition, event: Any, message: str
) -> None:
    before = _count(coalition)
    with pytest.raises(InputError, match=message):
        coalition.run(lambda s: misp.import_event(s, coalition.principals["gov"], event))
    assert _count(coalition) == before


def test_unsupported_attributes_can_be_skipped(coalition: Coalition) -> None:
    event = {
        "Event": {
            "uuid": "5c6f1b0e-0000-4000-8000-000000000002",
            "info": "mixed",
            "Attribute": [
                {"type": "domain", "value": "ok-site.org"},
                {"type": "ip-dst", "value": "192.0.2.1"},
            ],
        }
    }
    report = coalition.run(
        lambda s: misp.import_event(s, coalition.principals["gov"], event, allow_unsupported=True)
    )
    assert report.signals == 1 and len(report.skipped) == 1 and "ip-dst" in report.skipped[0]


def test_store_is_used_only_inside_the_transaction(coalition: Coalition) -> None:
    # a failure after some submissions (unknown campaign marking share) rolls back the earlier ones
    def failing(store: ExchangeStore) -> None:
        misp.import_event(
            store,
            coalition.principals["gov"],
            {
                "Event": {
                    "uuid": "5c6f1b0e-0000-4000-8000-000000000003",
                    "info": "half",
                    "Attribute": [{"type": "domain", "value": "first-site.org"}],
                }
            },
        )
        raise InputError("boom")

    before = _count(coalition)
    with pytest.raises(InputError, match="boom"):
        coalition.run(failing)
    assert _count(coalition) == before


def test_a_refused_attribute_rejects_the_event_naming_it(coalition: Coalition) -> None:
    event = {
        "Event": {
            "uuid": "5c6f1b0e-0000-4000-8000-000000000004",
            "info": "mixed",
            "Attribute": [
                {"type": "domain", "value": "fine-site.org"},
                {"type": "domain", "value": "bit.ly"},  # url-shorteners: blocked
                {"type": "text", "value": "#breaking"},  # trending-hashtags: blocked
            ],
        }
    }
    before = _count(coalition)
    with pytest.raises(Conflict) as caught:
        coalition.run(lambda s: misp.import_event(s, coalition.principals["gov"], event))
    message = caught.value.message
    assert message.startswith("2 of 3 signal(s) rejected")
    assert "Event.Attribute[1] (domain 'bit.ly')" in message and "url-shorteners" in message
    assert "Event.Attribute[2] (hashtag 'breaking')" in message
    assert _count(coalition) == before
