"""Time for a shared or revoked signal to take effect in a member's matching, through the real path.

    nice python bench/match_latency.py [--exchange-signals 5000] [--local-bank 0,100000,1000000]

A real exchange (Vigil's web app under uvicorn on 127.0.0.1, SQLite) holds ``--exchange-signals``
PDQ signals of a source platform. The matching member's index directory additionally holds
``--local-bank`` PDQ signals already (written as a fetch writes them, to stand for a big bank
synced earlier). Then, for each local bank size:

1. the source shares one new PDQ hash; the member runs ``fetch_signals`` (TAXII 2.1, from its
   checkpoints), a matcher process opens the index (``open_index``) and queries a hash 10 bits
   from the new one: time from the share to the first query that finds it;
2. the source revokes it; the same steps: time until the query no longer finds it.

Each step's share of the time is printed (TAXII transfer and apply, reconcile, save, reopen,
query). Hasher-Matcher-Actioner's stated goal for a new signal to take effect is 10 minutes; the
polling interval (how often a member runs ``vigil match fetch``) adds to these figures.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn

# The throughput bench's bank record (a GREEN coalition contribution, as a fetch stores it).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from match_throughput import bank_record
from vigil.core.settings import load_settings
from vigil.db import Database, upgrade
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore
from vigil.exchange.store.bulk import SignalSubmission
from vigil.match.fetch import fetch_signals
from vigil.match.state import MatchIndex, open_index


def start_exchange(url: str, data_dir: Path) -> tuple[uvicorn.Server, threading.Thread, str]:
    from vigil.web.app import create_app

    app = create_app(load_settings(database_url=url, data_dir=data_dir))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def hexes(codes: np.ndarray) -> list[str]:
    return [bytes(row).hex() for row in codes]


def near(code: np.ndarray, bits: int, rng: np.random.Generator) -> np.ndarray:
    unpacked = np.unpackbits(code)
    unpacked[rng.choice(256, bits, replace=False)] ^= 1
    return np.packbits(unpacked)


def preload(directory: Path, server: str, n: int, rng: np.random.Generator) -> float:
    """Write an index directory holding ``n`` PDQ contributions, as a fetch would; seconds taken."""
    start = time.perf_counter()
    index = MatchIndex(directory=directory, server=server)
    now = datetime.now(UTC)
    for value in hexes(rng.integers(0, 256, (n, 32), dtype=np.uint8)):
        stix = f"indicator--{uuid.uuid4()}"
        index.contributions[stix] = bank_record(stix, "image_pdq", value, "identity--earlier", now)
    index.reconcile()
    index.save()
    return time.perf_counter() - start


def timed_fetch(directory: Path, base_url: str, key: str) -> dict[str, float]:
    """Fetch, then open the index as a matcher would and query; seconds per step."""
    start = time.perf_counter()
    report = fetch_signals(directory, base_url, key)
    fetched = time.perf_counter() - start
    start = time.perf_counter()
    index = open_index(directory)
    opened = time.perf_counter() - start
    return {"fetch": fetched, "open": opened, "objects": report.objects_received, "index": index}  # type: ignore[dict-item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exchange-signals", type=int, default=5_000)
    parser.add_argument("--local-bank", default="0,100000,1000000")
    args = parser.parse_args()
    rng = np.random.default_rng(5)
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="vigil-latency-") as tmp:
        root = Path(tmp)
        url = f"sqlite:///{root / 'exchange.db'}"
        database = Database(url)
        upgrade(database.engine)
        server, thread, base_url = start_exchange(url, root)
        keys: dict[str, str] = {}
        with database.session() as session:
            store = ExchangeStore(session)
            for name in ("source", "us"):
                org = store.create_org(None, f"{name}-{uuid.uuid4().hex[:6]}", "platform")
                keys[name] = store.create_key(None, org.id, "analyst")[1]
        with database.session() as session:
            source = ExchangeStore(session).authenticate(keys["source"])

        def store_call(fn: Any) -> Any:
            with database.session() as session:
                return fn(ExchangeStore(session))

        start = time.perf_counter()
        bank = hexes(rng.integers(0, 256, (args.exchange_signals, 32), dtype=np.uint8))
        for at in range(0, len(bank), 5_000):
            items = [SignalSubmission("image_pdq", v, Marking(TLP.GREEN)) for v in bank[at : at + 5_000]]
            store_call(lambda s, items=items: s.submit_signals(source, items))
        print(f"exchange: {len(bank):,} PDQ signals shared in {time.perf_counter() - start:.1f} s")

        print(
            f"\n{'local bank':>11} | {'step':8} | {'fetch s':>7} | {'objects':>7} | {'open s':>6} | "
            f"{'query ms':>8} | {'found':5} | {'share→effect s':>14}"
        )
        for local in [int(x) for x in args.local_bank.split(",")]:
            directory = root / f"index-{local}"
            loaded = preload(directory, base_url, local, rng) if local else 0.0
            first = timed_fetch(directory, base_url, keys["us"])
            print(
                f"{local:>11,} | {'sync':8} | {first['fetch']:7.1f} | {first['objects']:>7,} | "
                f"{first['open']:6.1f} | {'':>8} | {'':5} | (preload {loaded:.1f} s)"
            )
            new_code = rng.integers(0, 256, 32, dtype=np.uint8)
            query = hexes(near(new_code, 10, rng)[None, :])
            signal_id = ""
            for step in ("add", "revoke"):
                start = time.perf_counter()
                if step == "add":
                    value = hexes(new_code[None, :])[0]
                    signal = store_call(
                        lambda s, v=value: s.submit_signal(source, "image_pdq", v, marking=Marking(TLP.GREEN))
                    )
                    signal_id = signal.id
                else:
                    store_call(lambda s, sid=signal_id: s.revoke_signal(source, sid))
                shared = time.perf_counter()
                timings = timed_fetch(directory, base_url, keys["us"])
                index: MatchIndex = timings["index"]  # type: ignore[assignment]
                q0 = time.perf_counter()
                hits = index.indexes["image_pdq"].query_many(query, normalized=True)[0]
                queried = time.perf_counter() - q0
                found = any(h.entry_id == signal_id for h in hits)
                total = time.perf_counter() - start
                print(
                    f"{local:>11,} | {step:8} | {timings['fetch']:7.1f} | {timings['objects']:>7,} | "
                    f"{timings['open']:6.1f} | {queried * 1000:8.1f} | {found!s:5} | {total:14.1f}"
                    f"   (shared in {shared - start:.2f} s)"
                )
        server.should_exit = True
        thread.join(timeout=10)
        database.dispose()
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
