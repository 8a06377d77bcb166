"""Bulk signal submission: ``ExchangeStore.submit_signals`` of N new domain/url signals in one call
(one transaction), then the same batch again (every item an update), against the peer in the same
run: ``submit_signal`` one item at a time over the first ``--peer`` items (same transaction shape).

    python bench/bulk_submit.py                      # 10,000 signals, SQLite
    python bench/bulk_submit.py --count 20000 --backend both
    python bench/bulk_submit.py --profile 30         # cProfile of the fresh batch, top 30 by own time
    python bench/bulk_submit.py --count 100000 --chunk 500 --http 100000 --peer 0
        # commit every 500 items (each chunk's time printed), then 100,000 signals over HTTP
        # (10 POST /api/v1/signals/bulk) while another client reads GET /api/v1/me and signals
    python bench/bulk_submit.py --count 1000 --peer 0 --http 50000 --writes --backend both
        # readers' p50/p99 during a 50,000-signal bulk, a TAXII add and case writes, and the
        # longest write-lock hold of each (the server's vigil.db.locks log)

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
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sqlalchemy import create_engine, func, select, text, update

from pgcluster import cpu_seconds, postgres, vigil_server
from vigil.core.ids import stable_id
from vigil.db import Database
from vigil.exchange.access import Principal
from vigil.exchange.models import ContributionVersionRow, SignalRow
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


def setup(url: str) -> tuple[Principal, str]:
    """A platform organisation with an analyst key: its principal and the key."""
    db = Database(url, auto_upgrade=True)
    with db.session() as session:
        store = ExchangeStore(session)
        org = store.create_org(None, "bench-platform", "platform")
        _, key = store.create_key(None, org.id, "analyst", name="bench")
        principal = store.authenticate(key)
    db.dispose()
    return principal, key


DB_PID: list[int] = []  # the throw-away cluster's postmaster (its backends' CPU is counted)


CHUNK_SECONDS: list[float] = []  # wall time of each committed chunk of the last chunked bulk


def bulk(
    url: str,
    principal: Principal,
    items: list[SignalSubmission],
    profile: int = 0,
    chunk: int = 0,
    hold: float | None = None,
) -> tuple[float, float, float]:
    """Signals per second, this process's CPU seconds and the database server's (0 for SQLite).

    ``chunk``: ``submit_signals(chunk=...)``, one write transaction per chunk; each chunk's wall
    time (its first statement to its commit: on SQLite, how long it holds the write lock, plus
    the Python work between its statements) goes to ``CHUNK_SECONDS``."""
    db = Database(url)
    with db.session() as session:  # connect first: the connection is not part of the figure
        session.execute(text("SELECT 1"))
    profiler = cProfile.Profile() if profile else None
    db_cpu = cpu_seconds(DB_PID[0]) if DB_PID else 0.0
    cpu = time.process_time()
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    CHUNK_SECONDS.clear()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if done:  # 0: the checks passed, the first chunk starts
            CHUNK_SECONDS.append(now - last[0])
        last[0] = now

    with db.session() as session:
        store = ExchangeStore(session)
        if chunk:
            report = store.submit_signals(principal, items, chunk=chunk, progress=progress, hold=hold)
        else:
            report = store.submit_signals(principal, items)
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
    principal, key = setup(url)
    items = batch(args.count, "fresh")
    # A server's first submission loads the warning lists and imports the normalisers (about
    # 0.5-2 s once per process); the figures are for the ones after it.
    bulk(url, principal, batch(100, "warm"))
    hold = args.hold / 1000 if args.hold else None
    fresh, fresh_cpu, fresh_db = bulk(url, principal, items, args.profile, args.chunk, hold)
    fresh_chunks = list(CHUNK_SECONDS)
    again, again_cpu, again_db = bulk(
        url, principal, items, chunk=args.chunk, hold=hold
    )  # every item an update
    again_chunks = list(CHUNK_SECONDS)
    peer_items = batch(args.peer, "peer")
    peer = one_by_one(url, principal, peer_items) if args.peer else float("nan")
    # skipped when run against older code (PYTHONPATH=<a checkout>/src) that has no revoke_signals
    revoked = (
        revoke(url, principal, items, bulk=True)
        if hasattr(ExchangeStore, "revoke_signals") and not args.no_revoke
        else float("nan")
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
    for label, chunks in (("fresh", fresh_chunks), ("update", again_chunks)):
        if chunks:
            print(
                f"{'':<10} chunks of {args.chunk}{f' sized to {args.hold:g} ms' if hold else ''} ({label}):"
                f" {len(chunks)} write transactions, {_ms(chunks[:-1] or chunks)}; the last"
                f" {1000 * chunks[-1]:.0f} ms"
                + (
                    " (its commit also checkpoints the WAL, after the write lock is released)"
                    if backend == "sqlite"
                    else ""
                ),
                flush=True,
            )
    if args.http:
        http_run(url, key, workdir, args)


def _ms(seconds: list[float], p50: bool = False) -> str:
    """median (p50) / p99 / max of ``seconds``, in ms."""
    ordered = sorted(seconds)
    if not ordered:
        return "none"
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    median = 1000 * statistics.median(ordered)
    name = "p50" if p50 else "median"
    return f"{name} {median:.0f} ms, p99 {1000 * p99:.0f} ms, max {1000 * ordered[-1]:.0f} ms"


def http_run(url: str, key: str, workdir: Path, args: argparse.Namespace) -> None:
    """``args.http`` new signals through ``POST /api/v1/signals/bulk`` (10,000 per request, one
    client) while another client reads, every 20 ms in turn, ``GET /api/v1/me``, an AMBER signal
    (``GET /api/v1/signals/{id}``: audited, so on SQLite its audit entry waits for the write lock)
    and a GREEN one (not audited): the bulk rate, the server's CPU (and PostgreSQL's), how long the
    reads took (a read queued behind a writer shows here) and how long each write transaction of
    the server held the write lock (``vigil.db.locks``). ``--writes``: then a TAXII add of 1,000
    objects and case writes, measured the same way."""
    import httpx

    headers = {"Authorization": f"Bearer {key}"}
    lock_log = workdir / f"locks-{uuid.uuid4().hex[:6]}.log"
    with vigil_server(url, workdir, args.workers, lock_log=lock_log) as (base, server_pid):
        bodies = []
        for start in range(0, args.http, 10_000):
            part = batch(min(10_000, args.http - start), f"http{start}")
            bodies.append(
                {
                    "signals": [
                        {
                            "kind": i.kind,
                            "value": i.value,
                            "marking": {"tlp": "GREEN"},
                            "tags": list(i.tags),
                            "language": i.language,
                        }
                        for i in part
                    ]
                }
            )
        with httpx.Client(base_url=base, headers=headers, timeout=120) as warm:
            assert warm.post("/api/v1/signals/bulk", json={"signals": bodies[0]["signals"][:10]}).is_success
            read_ids = {
                tlp: warm.post(
                    "/api/v1/signals",
                    json={
                        "kind": "domain",
                        "value": f"bench-{tlp.lower()}-reads.net",
                        "marking": {"tlp": tlp},
                    },
                ).json()["id"]
                for tlp in ("AMBER", "GREEN")
            }
        reads = {
            "me": "/api/v1/me",
            "AMBER signal": f"/api/v1/signals/{read_ids['AMBER']}",
            "GREEN signal": f"/api/v1/signals/{read_ids['GREEN']}",
        }

        def bulk_posts(client: httpx.Client, errors: list[str]) -> int:
            for body in bodies:
                answer = client.post("/api/v1/signals/bulk", json=body)
                if answer.status_code != 200 or answer.json()["stored"] != len(body["signals"]):
                    errors.append(f"bulk {answer.status_code}")
            return int(args.http)

        def held_open(client: httpx.Client, errors: list[str]) -> int:
            # A write transaction of this process left open (SQLite: the write lock from BEGIN
            # IMMEDIATE; PostgreSQL: row locks on the signals the readers read) for --held s.
            db = Database(url)
            with db.session() as session:
                session.execute(
                    update(SignalRow)
                    .where(SignalRow.id.in_(list(read_ids.values())))
                    .values(modified_at=SignalRow.modified_at)
                )
                time.sleep(args.held)
            db.dispose()
            return 0

        phases: list[tuple[str, Callable[[httpx.Client, list[str]], int]]] = []
        if args.held:
            phases.append((f"a write transaction held open {args.held:g} s", held_open))
        phases.append((f"{args.http:,} signals in {len(bodies)} POST /signals/bulk", bulk_posts))
        if args.writes:
            phases += [("TAXII add of 1,000 objects", taxii_add), ("case writes", case_writes)]
        for label, action in phases:
            measured(base, headers, server_pid, lock_log, reads, label, action, args.workers)


def measured(
    base: str,
    headers: dict[str, str],
    server_pid: int,
    lock_log: Path,
    reads: dict[str, str],
    label: str,
    action: Callable[[Any, list[str]], int],
    workers: int,
) -> None:
    """Run ``action`` (it returns how many items it wrote) while a reader cycles through ``reads``;
    print its rate, the CPU, the reads' latencies and the write transactions' hold times."""
    import httpx

    stop = threading.Event()
    took: dict[str, list[float]] = {name: [] for name in reads}
    errors: list[str] = []

    def reader() -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            while not stop.is_set():
                for name, path in reads.items():
                    start = time.perf_counter()
                    try:
                        answer = client.get(path)
                        if answer.status_code != 200:
                            errors.append(f"{name} {answer.status_code}")
                    except httpx.HTTPError as exc:
                        errors.append(f"{name} {type(exc).__name__}")
                    took[name].append(time.perf_counter() - start)
                    time.sleep(0.02)

    offset = lock_log.stat().st_size if lock_log.exists() else 0
    thread = threading.Thread(target=reader)
    server_cpu, db_cpu = cpu_seconds(server_pid), cpu_seconds(DB_PID[0]) if DB_PID else 0.0
    thread.start()
    began = time.perf_counter()
    with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
        n = action(client, errors)
    seconds = time.perf_counter() - began
    stop.set()
    thread.join()
    server_cpu = cpu_seconds(server_pid) - server_cpu
    db_cpu = (cpu_seconds(DB_PID[0]) - db_cpu) if DB_PID else 0.0
    with lock_log.open() as log:
        log.seek(offset)
        holds = [float(m.group(1)) / 1000 for m in HELD.finditer(log.read())]
    print(
        f"{'':<10} HTTP ({workers} worker(s)): {label}: {n / seconds:,.0f} items/s,"
        f" server CPU {server_cpu:.2f}+{db_cpu:.2f} s ({n / max(server_cpu + db_cpu, 0.01):,.0f} /cpu-s);"
        f" load {os.getloadavg()[0]:.1f}; errors: {len(errors)} {errors[:5]}",
        flush=True,
    )
    for name, seconds_list in took.items():
        print(f"{'':<12} meanwhile {len(seconds_list)} GET {name}: {_ms(seconds_list, p50=True)}", flush=True)
    over = sum(1 for h in holds if h > 0.1)
    print(
        f"{'':<12} write transactions of the server: {len(holds)}, held {_ms(holds, p50=True)};"
        f" {over} over 100 ms",
        flush=True,
    )


HELD = re.compile(r"held ([0-9.]+) ms")


def taxii_add(client: Any, errors: list[str]) -> int:
    """One TAXII 2.1 add of 1,000 new STIX indicators to the caller's ``coalition`` collection."""
    taxii = "application/taxii+json;version=2.1"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    tag = uuid.uuid4().int
    objects = [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.uuid4()}",
            "created": stamp,
            "modified": stamp,
            "pattern": f"[ipv4-addr:value = '10.{tag % 251}.{i >> 8 & 255}.{i & 255}']",
            "pattern_type": "stix",
            "valid_from": stamp,
        }
        for i in range(1000)
    ]
    answer = client.post(
        "/taxii2/api1/collections/coalition/objects/",
        json={"objects": objects},
        headers={"Content-Type": taxii, "Accept": taxii},
    )
    if answer.status_code != 202 or answer.json().get("success_count") != len(objects):
        errors.append(f"taxii add {answer.status_code} {answer.text[:200]}")
    return len(objects)


def case_writes(client: Any, errors: list[str]) -> int:
    """20 cases opened, each with 3 comments and 100 signals linked: 100 write requests."""
    ids = [s["id"] for s in client.get("/api/v1/signals", params={"limit": 100}).json()["items"]]
    writes = 0
    for i in range(20):
        case = client.post("/api/v1/cases", json={"title": f"bench case {i}"})
        if case.status_code != 201:
            errors.append(f"case {case.status_code}")
            continue
        case_id = case.json()["id"]
        for j in range(3):
            comment = client.post(f"/api/v1/cases/{case_id}/comments", json={"text": f"comment {j}"})
            if comment.status_code != 201:
                errors.append(f"comment {comment.status_code}")
        linked = client.post(f"/api/v1/cases/{case_id}/signals", json={"signal_ids": ids})
        if not linked.is_success:
            errors.append(f"link {linked.status_code}")
        writes += 5
    return writes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=10000, help="signals in the bulk submission")
    parser.add_argument("--peer", type=int, default=1000, help="items submitted one at a time (0: skip)")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--pg-url", help="a PostgreSQL server base URL (else a throw-away cluster)")
    parser.add_argument("--profile", type=int, default=0, help="cProfile the fresh batch; print N rows")
    parser.add_argument(
        "--chunk",
        type=int,
        default=0,
        help="commit every N items (chunk=N); 0: one transaction",
    )
    parser.add_argument(
        "--hold",
        type=float,
        default=0,
        help="with --chunk: size chunks to hold the write lock about this many ms (hold=); 0: fixed",
    )
    parser.add_argument("--no-revoke", action="store_true", help="skip the bulk revocation figure")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes for --http")
    parser.add_argument(
        "--held",
        type=float,
        default=0,
        help="with --http: first hold a write transaction open this many s while the readers read",
    )
    parser.add_argument(
        "--writes",
        action="store_true",
        help="with --http: then a TAXII add of 1,000 objects and 100 case writes, readers measured alike",
    )
    parser.add_argument(
        "--http",
        type=int,
        default=0,
        help="also post N signals over HTTP (10,000 per request) while a client reads GET /api/v1/me",
    )
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
