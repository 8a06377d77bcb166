"""TAXII fixtures: the exchange tests' real databases and live uvicorn server (reused, not copied),
plus a small coalition seeded through the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.exchange.conftest import (  # noqa: F401  (fixtures are found by name)
    LiveServer,
    db,
    db_url,
    live,
)
from vigil.exchange.access import Principal
from vigil.exchange.records import TLP, Marking, Signal
from vigil.exchange.store import ExchangeStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class World:
    """Two platforms, a government partner and a researcher, with keys and seeded signals."""

    live: LiveServer
    keys: dict[str, str] = field(default_factory=dict)  # name -> API key (analyst unless noted)
    orgs: dict[str, str] = field(default_factory=dict)  # name -> org id
    principals: dict[str, Principal] = field(default_factory=dict)
    signals: dict[str, Signal] = field(default_factory=dict)  # label -> signal as its submitter saw it
    campaign_id: str = ""

    @property
    def taxii(self) -> str:
        return f"{self.live.base_url}/taxii2/"

    def store(self, fn: Any) -> Any:
        with self.live.db.session() as session:
            return fn(ExchangeStore(session))


def seed(world: World) -> None:
    def orgs(store: ExchangeStore) -> None:
        for name, kind in [
            ("p1", "platform"),
            ("p2", "platform"),
            ("gov", "government"),
            ("lab", "research"),
        ]:
            org = store.create_org(None, f"{name}-org", kind)
            world.orgs[name] = org.id
            world.keys[name] = store.create_key(None, org.id, "analyst", name="taxii")[1]
        world.keys["p1-reader"] = store.create_key(None, world.orgs["p1"], "read-only")[1]

    world.store(orgs)

    def principals(store: ExchangeStore) -> None:
        for name in ("p1", "p2", "gov", "lab"):
            world.principals[name] = store.authenticate(world.keys[name])

    world.store(principals)
    p1, p2, gov = world.principals["p1"], world.principals["p2"], world.principals["gov"]

    def content(store: ExchangeStore) -> None:
        campaign = store.create_campaign(
            p1, "Cloned outlets", marking=Marking(TLP.GREEN), attribution="Actor X", techniques=["T0049"]
        )
        world.campaign_id = campaign.id
        first_seen = T0 - timedelta(days=1)
        submit = store.submit_signal
        world.signals["green_domain"] = submit(
            p1,
            "domain",
            "cloned-news.info",
            marking=Marking(TLP.GREEN),
            campaign_id=campaign.id,
            first_seen=first_seen,
            tags=["election"],
            confidence=80,
        )
        world.signals["clear_hashtag"] = submit(p2, "hashtag", "#RiggedVote", marking=Marking(TLP.CLEAR))
        world.signals["platform_amber"] = submit(
            p1, "account", "twitter:@amber_bot", marking=Marking(TLP.AMBER), description="platform-only notes"
        )
        world.signals["platform_red"] = submit(
            p2, "url", "https://red-files.net/secret", marking=Marking(TLP.RED), description="red notes"
        )
        world.signals["gov_amber"] = submit(
            gov, "narrative", "Ballots were burned in the river", marking=Marking(TLP.AMBER), language="en"
        )
        world.signals["shared_with_gov"] = submit(
            p1,
            "image_md5",
            "d41d8cd98f00b204e9800998ecf8427e",
            marking=Marking(TLP.AMBER, (world.orgs["gov"],)),
        )
        # The same URL contributed GREEN by p1 and RED by p2: two objects, two markings.
        world.signals["mixed_green"] = submit(
            p1, "url", "https://mixed-news.org/a", marking=Marking(TLP.GREEN)
        )
        world.signals["mixed_red"] = submit(
            p2, "url", "https://mixed-news.org/a", marking=Marking(TLP.RED), description="mixed red notes"
        )
        store.set_opinion(gov, world.signals["green_domain"].id, "confirmed", "matches our report")
        store.add_sighting(
            gov, world.signals["green_domain"].id, count=4, first_seen=first_seen, last_seen=T0
        )

    world.store(content)


@pytest.fixture(scope="module")
def world(live: LiveServer) -> World:  # noqa: F811
    w = World(live=live)
    seed(w)
    return w
