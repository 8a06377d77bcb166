"""The exchange store at scale: submissions per second, paging through everything one member may
see, and get-by-id, on SQLite and PostgreSQL.

    python bench/exchange_store.py                          # 20,000 submissions, both backends
    python bench/exchange_store.py --signals 100000 --backend sqlite
    python bench/exchange_store.py --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

Columns: "list all" pages through every visible signal with ``list_signals`` (full views of
contributions, tags, opinions, sightings, plus audit entries for AMBER/RED reads); "SQL filter"
answers only *which* signals are visible (``count_signals``, the SQL form of the rule); the peer in
the same run does that same job the naive way, loading every contribution with its shares and
filtering in Python with ``access.can_see``. All three must agree on the count (checked).
Without ``--pg-url`` a throw-away PostgreSQL cluster is started (needs initdb and pg_ctl; as root
they run as user postgres).
Figures depend on the machine; on a shared machine, say so next to them.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sqlalchemy import select

from pgcluster import postgres
from vigil.db import Database
from vigil.exchange.access import Principal, can_see
from vigil.exchange.models import ContributionRow, ContributionShareRow, OrgRow
from vigil.exchange.records import TLP, Marking, OrgKind
from vigil.exchange.store import ExchangeStore

ORGS = [
    ("p1", "platform"),
    ("p2", "platform"),
    ("p3", "platform"),
    ("g1", "government"),
    ("g2", "government"),
    ("g3", "government"),
    ("r1", "research"),
    ("r2", "research"),
]
KINDS = ["domain", "hashtag", "image_md5", "url"]
BATCH = 500


def _value(kind: str, i: int) -> str:
    if kind == "domain":
        return f"site-{i}.com"
    if kind == "hashtag":
        return f"tag{i}"
    if kind == "image_md5":
        return f"{i:032x}"
    return f"https://news-{i % 997}.com/a/{i}"


def _naive_visible(db: Database, viewer: Principal) -> int:
    """The peer: every contribution loaded, filtered in Python with the pure rule."""
    with db.session() as s:
        kinds = {org_id: kind for org_id, kind in s.execute(select(OrgRow.id, OrgRow.kind))}
        shares: dict[int, list[str]] = defaultdict(list)
        for cid, org in s.execute(select(ContributionShareRow.contribution_id, ContributionShareRow.org_id)):
            shares[cid].append(org)
        visible = set()
        for cid, signal_id, org_id, tlp in s.execute(
            select(ContributionRow.id, ContributionRow.signal_id, ContributionRow.org_id, ContributionRow.tlp)
        ):
            if can_see(
                viewer.org_id,
                viewer.org_kind,
                source_org_id=org_id,
                source_kind=OrgKind(kinds[org_id]),
                tlp=TLP(tlp),
                shared_with=shares[cid],
            ):
                visible.add(signal_id)
    return len(visible)


def run(url: str, n: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    db = Database(url, auto_upgrade=True)
    principals: dict[str, Principal] = {}
    with db.session() as s:
        store = ExchangeStore(s)
        for label, kind in ORGS:
            org = store.create_org(None, f"{label}-{seed}", kind)
            _, key = store.create_key(None, org.id, "analyst")
            principals[label] = store.authenticate(key)
    ids = {label: p.org_id for label, p in principals.items()}
    labels = list(principals)
    start = time.perf_counter()
    submitted = 0
    signal_ids: list[str] = []
    while submitted < n:
        with db.session() as s:
            store = ExchangeStore(s)
            for _ in range(min(BATCH, n - submitted)):
                source = rng.choice(labels)
                tlp = rng.choice(list(TLP))
                shared = tuple(ids[x] for x in rng.sample(labels, rng.randint(0, 2)))
                kind = rng.choice(KINDS)
                # ~20% of submissions repeat an existing value: a second contribution to one signal
                i = rng.randrange(max(1, submitted)) if submitted and rng.random() < 0.2 else submitted
                sig = store.submit_signal(
                    principals[source],
                    kind,
                    _value(kind, i),
                    marking=Marking(tlp, shared),
                    confidence=rng.randint(0, 100),
                    tags=[f"t{rng.randrange(50)}"],
                )
                signal_ids.append(sig.id)
                submitted += 1
    submit_s = time.perf_counter() - start

    viewer = principals["g1"]
    start = time.perf_counter()
    pages = seen = 0
    cursor = None
    while True:
        with db.session() as s:
            page = ExchangeStore(s).list_signals(viewer, limit=1000, cursor=cursor)
        pages += 1
        seen += len(page.items)
        if not page.more:
            break
        cursor = page.next_cursor
    list_s = time.perf_counter() - start

    start = time.perf_counter()
    with db.session() as s:
        counted = ExchangeStore(s).count_signals(viewer)
    count_s = time.perf_counter() - start
    assert counted == seen, f"count_signals says {counted}, the listing saw {seen}"

    start = time.perf_counter()
    naive = _naive_visible(db, viewer)
    naive_s = time.perf_counter() - start
    assert naive == seen, f"store listing saw {seen} signals, the naive filter {naive}"

    sample = rng.sample(signal_ids, min(300, len(signal_ids)))
    start = time.perf_counter()
    found = 0
    with db.session() as s:
        store = ExchangeStore(s)
        for signal_id in sample:
            try:
                store.get_signal(viewer, signal_id)
                found += 1
            except Exception:  # invisible to the viewer: NotFound
                pass
    get_ms = (time.perf_counter() - start) * 1000 / len(sample)
    db.dispose()
    return {
        "submit_per_s": n / submit_s,
        "visible": seen,
        "pages": pages,
        "list_s": list_s,
        "count_s": count_s,
        "naive_s": naive_s,
        "get_ms": get_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--signals", type=int, default=20_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            results["sqlite"] = run(f"sqlite:///{tmp}/bench.db", args.signals, args.seed)
    if args.backend in ("postgresql", "both"):
        if args.pg_url:
            results["postgresql"] = run(args.pg_url, args.signals, args.seed)
        else:
            with postgres() as base:  # bench/pgcluster.py: a throw-away cluster
                results["postgresql"] = run(f"{base}/postgres", args.signals, args.seed)
    print(f"{args.signals} submissions from {len(ORGS)} organisations; viewer: a government member")
    print(
        f"{'backend':<11} {'submit/s':>9} {'visible':>8} {'pages':>6} {'list all (s)':>13} "
        f"{'SQL filter (s)':>15} {'naive peer (s)':>15} {'get by id (ms)':>15}"
    )
    for backend, r in results.items():
        print(
            f"{backend:<11} {r['submit_per_s']:>9.0f} {r['visible']:>8.0f} {r['pages']:>6.0f} "
            f"{r['list_s']:>13.2f} {r['count_s']:>15.2f} {r['naive_s']:>15.2f} {r['get_ms']:>15.2f}"
        )


if __name__ == "__main__":
    main()
