"""MISP feed export at scale, against PyMISP as the peer in the same run.

    python bench/misp_feed.py                  # 5,000 signals in 10 campaigns, SQLite
    python bench/misp_feed.py --signals 20000

Vigil's "export" reads everything one member may see from the store and builds the feed
(``vigil.exchange.misp.export_feed``: events, manifest, hashes); "serialize" writes its files' text.
The peer builds the same events with PyMISP objects (``MISPEvent.add_attribute``, tags, then
``to_json``), the way a PyMISP script would produce a feed from the same records. "load" parses
every event file back with PyMISP's ``MISPEvent.load`` (what a consumer pays). "import" reads the
events into a fresh database (``import_event``, one bulk submission per event), and again with one
``submit_signal`` per attribute (what import did before the bulk path) for comparison. Attribute
and stored contribution counts must agree (checked).
Figures depend on the machine; on a shared machine, say so next to them.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from pymisp import MISPEvent

from vigil.db import Database
from vigil.exchange import misp
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore, SignalSubmission


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=5000)
    parser.add_argument("--campaigns", type=int, default=10)
    args = parser.parse_args()
    rng = random.Random(7)
    tmp = Path(tempfile.mkdtemp(prefix="misp-bench-"))
    db = Database(f"sqlite:///{tmp / 'a.db'}", auto_upgrade=True)
    with db.session() as session:
        store = ExchangeStore(session)
        org = store.create_org(None, "platform-a", "platform")
        key = store.create_key(None, org.id, "analyst")[1]
    with db.session() as session:
        principal = ExchangeStore(session).authenticate(key)
    t0 = time.perf_counter()
    with db.session() as session:
        store = ExchangeStore(session)
        campaigns = [
            store.create_campaign(principal, f"op {i}", marking=Marking(TLP.GREEN), techniques=["T0049"]).id
            for i in range(args.campaigns)
        ]
        seeds: list[SignalSubmission] = []
        for i in range(args.signals):
            kind, value = rng.choice(
                [
                    ("domain", f"site-{i}.info"),
                    ("url", f"https://news-{i}.org/a/{i}"),
                    ("hashtag", f"tag{i}"),
                    ("image_pdq", f"{rng.getrandbits(256):064x}"),
                ]
            )
            tlp = rng.choice([TLP.CLEAR, TLP.GREEN, TLP.AMBER])
            campaign = rng.choice([*campaigns, None])
            seeds.append(SignalSubmission(kind, value, Marking(tlp), campaign_id=campaign))
        store.submit_signals(principal, seeds)
    print(f"seeded {args.signals:,} signals in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    with db.session() as session:
        feed = misp.export_feed(ExchangeStore(session), principal)
    t_export = time.perf_counter() - t0
    t0 = time.perf_counter()
    files = dict(feed.files())
    t_serialize = time.perf_counter() - t0
    attributes = sum(len(e["Event"]["Attribute"]) for e in feed.events.values())

    # peer: the same events built with PyMISP objects
    t0 = time.perf_counter()
    peer_attributes = 0
    for event in feed.events.values():
        e = MISPEvent()
        e.info = event["Event"]["info"]
        e.uuid = event["Event"]["uuid"]
        for tag in event["Event"]["Tag"]:
            e.add_tag(tag["name"])
        for a in event["Event"]["Attribute"]:
            attr = e.add_attribute(a["type"], a["value"], category=a["category"], comment=a["comment"])
            for tag in a["Tag"]:
                attr.add_tag(tag["name"])
            peer_attributes += 1
        e.to_json()
    t_peer = time.perf_counter() - t0
    assert peer_attributes == attributes, (peer_attributes, attributes)

    t0 = time.perf_counter()
    for name, text in files.items():
        if name.endswith(".json") and name != "manifest.json":
            MISPEvent().load(text)
    t_load = time.perf_counter() - t0

    fresh = Database(f"sqlite:///{tmp / 'b.db'}", auto_upgrade=True)
    with fresh.session() as session:
        store = ExchangeStore(session)
        org = store.create_org(None, "platform-b", "platform")
        key = store.create_key(None, org.id, "analyst")[1]
    with fresh.session() as session:
        other = ExchangeStore(session).authenticate(key)
    t0 = time.perf_counter()
    with fresh.session() as session:
        store = ExchangeStore(session)
        for name, text in files.items():
            if name.endswith(".json") and name != "manifest.json":
                misp.import_event(store, other, json.loads(text))
    t_import = time.perf_counter() - t0

    # The same events stored the way import_event did before the bulk path: one submit_signal per
    # attribute (same checks, versions and audit entries), into another fresh database.
    single = Database(f"sqlite:///{tmp / 'c.db'}", auto_upgrade=True)
    with single.session() as session:
        store = ExchangeStore(session)
        org = store.create_org(None, "platform-c", "platform")
        key = store.create_key(None, org.id, "analyst")[1]
    with single.session() as session:
        third = ExchangeStore(session).authenticate(key)
    t0 = time.perf_counter()
    with single.session() as session:
        store = ExchangeStore(session)
        for name, text in files.items():
            if name.endswith(".json") and name != "manifest.json":
                parsed = misp.parse_event(json.loads(text))
                campaign_id = None
                if parsed.campaign:
                    campaign_id = store.create_campaign(
                        third, parsed.info[:300], marking=parsed.marking, techniques=parsed.techniques
                    ).id
                for sig in parsed.signals:
                    store.submit_signal(
                        third,
                        sig.kind,
                        sig.value,
                        marking=sig.marking,
                        tags=sig.tags,
                        description=sig.description,
                        first_seen=sig.first_seen,
                        last_seen=sig.last_seen,
                        campaign_id=campaign_id,
                    )
    t_single = time.perf_counter() - t0
    with fresh.session() as a, single.session() as b:
        bulk_count = ExchangeStore(a).count_signals(other)
        single_count = ExchangeStore(b).count_signals(third)
    assert bulk_count == single_count, (bulk_count, single_count)
    single.dispose()

    size = sum(len(t.encode()) for t in files.values())
    print(f"{len(feed.events)} events, {attributes:,} attributes, {size / 1e6:.1f} MB of feed files")
    print(f"{'step':<34}{'seconds':>9}{'attributes/s':>14}")
    for label, seconds in [
        ("vigil export_feed (store -> feed)", t_export),
        ("vigil serialize files", t_serialize),
        ("peer: PyMISP build + to_json", t_peer),
        ("PyMISP MISPEvent.load (consumer)", t_load),
        ("vigil import_event (fresh db)", t_import),
        ("  same, one submit_signal each", t_single),
    ]:
        print(f"{label:<34}{seconds:>9.2f}{attributes / seconds:>14,.0f}")
    print(f"import_event (bulk) vs one submit_signal per attribute: {t_single / t_import:.1f}x faster")
    db.dispose()
    fresh.dispose()


if __name__ == "__main__":
    main()
