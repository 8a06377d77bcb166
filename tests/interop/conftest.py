"""Interop fixtures: a fresh SQLite exchange per test, seeded with a small coalition through the store."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from vigil.db import Database
from vigil.exchange.access import Principal
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Coalition:
    db: Database
    principals: dict[str, Principal] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    campaign_id: str = ""

    def run(self, fn: Callable[[ExchangeStore], Any]) -> Any:
        with self.db.session() as session:
            return fn(ExchangeStore(session))


def new_database(tmp_path: Path) -> Database:
    return Database(f"sqlite:///{tmp_path / f'exchange-{uuid.uuid4().hex[:8]}.db'}", auto_upgrade=True)


def make_coalition(db: Database) -> Coalition:
    world = Coalition(db)

    def orgs(store: ExchangeStore) -> None:
        for name, kind in [("p1", "platform"), ("p2", "platform"), ("gov", "government")]:
            org = store.create_org(None, f"{name}-org", kind)
            world.keys[name] = store.create_key(None, org.id, "analyst", name="interop")[1]

    world.run(orgs)
    world.run(lambda s: world.principals.update({n: s.authenticate(k) for n, k in world.keys.items()}))
    return world


def seed(world: Coalition) -> None:
    p1, p2 = world.principals["p1"], world.principals["p2"]

    def content(store: ExchangeStore) -> None:
        campaign = store.create_campaign(
            p1,
            "Cloned outlets",
            marking=Marking(TLP.GREEN),
            description="Look-alike news sites pushing a fake ballot story",
            techniques=["T0049", "T0015"],
        )
        world.campaign_id = campaign.id
        submit = store.submit_signal
        submit(
            p1,
            "domain",
            "cloned-news.info",
            marking=Marking(TLP.GREEN),
            campaign_id=campaign.id,
            tags=["clone"],
            description="registered 2 days before the vote",
            first_seen=T0,
            last_seen=T0,
        )
        submit(
            p1,
            "url",
            "https://cloned-news.info/ballots?utm_source=x",
            marking=Marking(TLP.GREEN),
            campaign_id=campaign.id,
        )
        submit(p1, "hashtag", "#StolenVote", marking=Marking(TLP.CLEAR), campaign_id=campaign.id)
        submit(p1, "account", "twitter:123456789", marking=Marking(TLP.AMBER), campaign_id=campaign.id)
        submit(p1, "image_pdq", "f" * 64, marking=Marking(TLP.GREEN))
        submit(p1, "image_md5", "0" * 31 + "1", marking=Marking(TLP.GREEN))
        submit(p1, "text_exact", "a" * 64, marking=Marking(TLP.GREEN))
        submit(p1, "narrative", "Die Wahl wurde gestohlen", marking=Marking(TLP.GREEN), language="de")
        submit(p1, "technique", "T0049.005", marking=Marking(TLP.GREEN))
        # p2's RED signal is visible to p2 only: no export by p1 may carry it
        submit(p2, "domain", "secret-red.info", marking=Marking(TLP.RED))

    world.run(content)


@pytest.fixture
def coalition(tmp_path: Path) -> Iterator[Coalition]:
    db = new_database(tmp_path)
    world = make_coalition(db)
    seed(world)
    yield world
    db.dispose()
