"""Federation pull throughput: ``vigil.exchange.federation.pull`` (into a second exchange) against
``vigil.match.fetch.fetch_signals`` (into a match index), reading the same Vigil TAXII server in the
same run, for a first full pull and for an incremental pull after a few changes.

    python bench/federation_pull.py                  # 2,000 signals, 20 changes
    python bench/federation_pull.py --signals 500 --changes 10

1. seeds exchange A (SQLite) with ``--signals`` TLP:GREEN domain signals from one platform and serves
   it with uvicorn on 127.0.0.1;
2. instance B (a second SQLite database) pulls everything (validated with stix2-validator, merged,
   submitted as B's local organisation, checkpointed); the match fetch reads the same collection
   into a fresh index;
3. A updates ``--changes`` signals and revokes as many; both pull again (only what changed);
4. prints seconds and signals/second for each, and the ratio federation / match fetch.

Figures depend on the machine; on a shared machine say so next to them.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from vigil.core.settings import load_settings
from vigil.db import Database
from vigil.exchange import federation, stix_import
from vigil.exchange.records import TLP, Marking
from vigil.exchange.stix_service import local_principal
from vigil.exchange.store import ExchangeStore, SignalSubmission
from vigil.match.fetch import fetch_signals
from vigil.web.app import create_app


def serve(url: str, tmp: Path) -> tuple[uvicorn.Server, threading.Thread, str]:
    app = create_app(load_settings(database_url=url, data_dir=tmp))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{sock.getsockname()[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--signals", type=int, default=2000)
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vigil-fed-bench-"))
    a_url, b_url = f"sqlite:///{tmp / 'a.db'}", f"sqlite:///{tmp / 'b.db'}"
    a, b = Database(a_url, auto_upgrade=True), Database(b_url, auto_upgrade=True)
    # Peer keys are sealed with a key kept in the data directory: the bench's own, not the user's.
    bench_settings = load_settings(data_dir=tmp / "b-data")
    with a.session() as s:
        store = ExchangeStore(s)
        store.create_org(None, "Platform", "platform")
        reader = store.create_org(None, "Reader", "research")
        _, key = store.create_key(None, reader.id, "read-only", name="bench")
        p = local_principal(store, "Platform")
        store.submit_signals(
            p, [SignalSubmission("domain", f"site-{i}.info", Marking(TLP.GREEN)) for i in range(args.signals)]
        )
    with b.session() as s:
        store = ExchangeStore(s)
        store.create_org(None, "Coalition A", "research")
        server, thread, base = serve(a_url, tmp)
        federation.add_peer(
            store,
            None,
            "a",
            base,
            key,
            as_org="Coalition A",
            collections=["coalition"],
            settings=bench_settings,
        )
    # Time stix2-validator apart (federation validates every object it receives), and load it
    # before the timings: its first use imports grammars for about 3 s.
    validating = [0.0]
    plan = federation.plan_import

    def timed_plan(objects: list[dict[str, Any]]) -> stix_import.ImportPlan:
        started = time.perf_counter()
        try:
            return plan(objects)
        finally:
            validating[0] += time.perf_counter() - started

    federation.plan_import = timed_plan  # type: ignore[assignment]
    stix_import.validation_errors({"type": "x"})
    try:
        rows = []
        t = time.perf_counter()
        first = federation.pull(b, "a", settings=bench_settings)
        first_validation = validating[0]
        rows.append(("federation pull, first", time.perf_counter() - t, first.new))
        t = time.perf_counter()
        fetched = fetch_signals(tmp / "index", base, key, collections=["coalition"])
        rows.append(("match fetch, first", time.perf_counter() - t, fetched.signals_indexed))
        with a.session() as s:
            store = ExchangeStore(s)
            p = local_principal(store, "Platform")
            for i in range(args.changes):
                store.submit_signal(p, "domain", f"site-{i}.info", marking=Marking(TLP.GREEN), confidence=90)
                store.revoke_signal(p, store.find_signal(p, "domain", f"site-{args.changes + i}.info").id)
        t = time.perf_counter()
        again = federation.pull(b, "a", settings=bench_settings)
        rows.append(("federation pull, incremental", time.perf_counter() - t, again.updated + again.revoked))
        t = time.perf_counter()
        refetch = fetch_signals(tmp / "index", base, key, collections=["coalition"])
        rows.append(("match fetch, incremental", time.perf_counter() - t, refetch.updated + refetch.revoked))
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    print(f"{args.signals} signals on A; {args.changes} updated + {args.changes} revoked between pulls")
    for name, seconds, n in rows:
        print(f"{name:32s} {seconds:8.2f} s  {n:6d} signals  {n / seconds:9.0f} signals/s")
    print(
        f"federation pull, first: {first_validation:.2f} s of {rows[0][1]:.2f} s validating objects "
        f"(stix2-validator), {rows[0][1] - first_validation:.2f} s fetching, merging and storing"
    )
    print(f"federation / match fetch, first pull: {rows[0][1] / rows[1][1]:.1f}x the time")
    print(f"federation / match fetch, incremental: {rows[2][1] / rows[3][1]:.1f}x the time")


if __name__ == "__main__":
    main()
