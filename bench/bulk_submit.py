"""Bulk signal submission: ``ExchangeStore.submit_signals`` of N new domain/url signals in one call
(one transaction), then the same batch again (every item an update), against the peer in the same
run: ``submit_signal`` one item at a time over the first ``--peer`` items (same transaction shape).

    python bench/bulk_submit.py                      # 10,000 signals, SQLite
    python bench/bulk_submit.py --count 20000 --backend both
    python bench/bulk_submit.py --profile 30         # cProfile of the fresh batch, top 30 by own time

Without ``--pg-url`` the PostgreSQL run starts a throw-away cluster (needs initdb and pg_ctl; as
root they run as user postgres). Run it under ``nice -n 10`` on a shared machine and say the load
(``uptime``) next to the figures: they depend on the machine.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sqlalchemy import create_engine, func, select, text

from pgcluster import cpu_seconds, postgres
from vigil.core.ids import stable_id
from vigil.db import Database
from vigil.exchange.access import Principal
from vigil.exchange.models import ContributionVersionRow
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore, SignalSubmission
from vigil.exchange.values import normalize_value


def new_database(backend: str, workdir: Path, pg_base: str | None) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / f'bulk-{uuid.uuid4().hex[:6]}.db'}"
    assert pg_base is not None
    name = f"b_{uuid.uuid4().hex[:10]}"
    engine = create_engine(f"{pg_base}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return f"{pg_base}/{name}"


def batch(count: int, tag: str) -> list[SignalSubmission]:
    """Half domains, half urls, all new, GREEN, with a tag and a language (the common feed shape).

    Each domain is its own registrable domain: a domain signal is normalized to it, so
    ``{tag}-{i}.example.net`` (as before) made every domain item one signal with N/2 versions."""
    out = []
    for i in range(count):
        if i % 2:
            out.append(SignalSubmission("url", f"https://{tag}-{i}.example.org/p/{i}", Marking(TLP.GREEN)))
        else:
            out.append(
                SignalSubmission(
                    "domain", f"{tag}-{i}-news.net", Marking(TLP.GREEN), tags=["feed"], language="en"
                )
            )
    return out


def setup(url: str) -> Principal:
    db = Database(url, auto_upgrade=True)
    with db.session() as session:
        store = ExchangeStore(session)
        org = store.create_org(None, "bench-platform", "platform")
        _, key = store.create_key(None, org.id, "analyst", name="bench")
        principal = store.authenticate(key)
    db.dispose()
    return principal


DB_PID: list[int] = []  # the throw-away cluster's postmaster (its backends' CPU is counted)


def bulk(
    url: str, principal: Principal, items: list[SignalSubmission], profile: int = 0
) -> tuple[float, float, float]:
    """Signals per second, this process's CPU seconds and the database server's (0 for SQLite)."""
    db = Database(url)
    with db.session() as session:  # connect first: the connection is not part of the figure
        session.execute(text("SELECT 1"))
    profiler = cProfile.Profile() if profile else None
    db_cpu = cpu_seconds(DB_PID[0]) if DB_PID else 0.0
    cpu = time.process_time()
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    with db.session() as session:
        report = ExchangeStore(session).submit_signals(principal, items)
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    db.dispose()  # the backend exits: its CPU is counted by the postmaster
    db_cpu = (cpu_seconds(DB_PID[0]) - db_cpu) if DB_PID else 0.0
    db = Database(url)
    with db.session() as session:
        versions = session.scalar(select(func.count()).select_from(ContributionVersionRow))
    db.dispose()
    assert report.stored == len(items) and not report.rejected
    assert versions is not None and versions >= len(items)
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(profile)
        print(out.getvalue())
    return len(items) / seconds, cpu, db_cpu


def revoke(url: str, principal: Principal, items: list[SignalSubmission], bulk: bool) -> float:
    """Revocations per second of the contributions ``items`` made: one ``revoke_signals`` call, or
    ``revoke_signal`` per id (the same transaction shape)."""
    ids = [
        stable_id("indicator", *(str(getattr(p, "value", p)) for p in normalize_value(i.kind, i.value)))
        for i in items
    ]
    db = Database(url)
    start = time.perf_counter()
    with db.session() as session:
        store = ExchangeStore(session)
        if bulk:
            store.revoke_signals(principal, ids)
        else:
            for sid in ids:
                store.revoke_signal(principal, sid)
    seconds = time.perf_counter() - start
    db.dispose()
    return len(ids) / seconds


def one_by_one(url: str, principal: Principal, items: list[SignalSubmission]) -> float:
    db = Database(url)
    start = time.perf_counter()
    with db.session() as session:
        store = ExchangeStore(session)
        for it in items:
            store.submit_signal(
                principal,
                it.kind,
                it.value,
                marking=it.marking,
                confidence=it.confidence,
                tags=list(it.tags),
                language=it.language,
            )
    seconds = time.perf_counter() - start
    db.dispose()
    return len(items) / seconds


def run(backend: str, workdir: Path, pg_base: str | None, args: argparse.Namespace) -> None:
    url = new_database(backend, workdir, pg_base)
    principal = setup(url)
    items = batch(args.count, "fresh")
    # A server's first submission loads the warning lists and imports the normalisers (about
    # 0.5-2 s once per process); the figures are for the ones after it.
    bulk(url, principal, batch(100, "warm"))
    fresh, fresh_cpu, fresh_db = bulk(url, principal, items, args.profile)
    again, again_cpu, again_db = bulk(url, principal, items)  # every item an update (version 2)
    peer_items = batch(args.peer, "peer")
    peer = one_by_one(url, principal, peer_items) if args.peer else float("nan")
    # skipped when run against older code (PYTHONPATH=<a checkout>/src) that has no revoke_signals
    revoked = (
        revoke(url, principal, items, bulk=True) if hasattr(ExchangeStore, "revoke_signals") else float("nan")
    )
    revoked_peer = revoke(url, principal, peer_items, bulk=False) if args.peer else float("nan")
    n = args.count
    print(
        f"{backend:<10} {n:>7} {fresh:>9,.0f} {fresh_cpu:>6.2f}+{fresh_db:<5.2f}"
        f" {n / (fresh_cpu + fresh_db):>9,.0f} {again:>9,.0f} {again_cpu:>6.2f}+{again_db:<5.2f}"
        f" {n / (again_cpu + again_db):>9,.0f} {peer:>13,.0f} {fresh / peer:>7.1f}x"
        f" {revoked:>9,.0f} {revoked_peer:>13,.0f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=10000, help="signals in the bulk submission")
    parser.add_argument("--peer", type=int, default=1000, help="items submitted one at a time (0: skip)")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--pg-url", help="a PostgreSQL server base URL (else a throw-away cluster)")
    parser.add_argument("--profile", type=int, default=0, help="cProfile the fresh batch; print N rows")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="vigil-bulk-"))
    print(f"load: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores")
    print(
        "fresh: new signals; update: the same batch again; cpu: CPU s of this process + the database"
        " server's; /cpu-s: signals per CPU second of both (the fair figure on a shared machine);"
        " revoke/s: revoke_signals of the whole batch in one call, then revoke_signal one at a time"
    )
    print(
        f"{'backend':<10} {'signals':>7} {'fresh/s':>9} {'cpu s':>12} {'/cpu-s':>9} {'update/s':>9}"
        f" {'cpu s':>12} {'/cpu-s':>9} {'one-by-one/s':>13} {'ratio':>8} {'revoke/s':>9} {'one-by-one/s':>13}"
    )
    try:
        backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
        for backend in backends:
            if backend == "postgresql" and not args.pg_url:
                with postgres(DB_PID) as base:
                    run(backend, workdir, base, args)
            else:
                run(backend, workdir, args.pg_url, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"load after: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
