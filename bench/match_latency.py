"""Time for shared or revoked signals to take effect in a member's matching, through the real path.

    nice python bench/match_latency.py [--exchange-signals 2000] [--local-bank 0,10000000]
                                       [--bulk-add 100000] [--bulk-revoke 10000]

A real exchange (Vigil's web app under uvicorn on 127.0.0.1, SQLite) holds ``--exchange-signals``
PDQ signals of a source platform. The matching member's index directory additionally holds
``--local-bank`` PDQ contributions already (written in the columnar form a fetch saves, to stand
for a big bank synced earlier: 10M contributions are not pushed through TAXII here). Then, for each
local bank size:

1. *restart*: a matcher process opens the index (``open_index``) and answers its first query;
2. the source shares one new PDQ hash; the member runs ``fetch_signals`` (TAXII 2.1, from its
   checkpoints), a matcher opens the index and queries a hash 10 bits from the new one: time from
   the share to the first query that finds it; then the source revokes it: time until the query no
   longer finds it;
3. the source shares ``--bulk-add`` hashes at once, the member fetches (the contributions arrive as
   one delta part, the index gets new segments), the matcher finds one of them; then the source
   revokes ``--bulk-revoke`` of them (tombstones), and the matcher no longer finds one.

Printed per step: the exchange's own time to write the change, the fetch (TAXII transfer, apply,
reconcile, save), reopening, the query, and the files the save wrote anew versus hard-linked (a
delta writes only what changed). Hasher-Matcher-Actioner's stated goal for a new signal to take
effect is 10 minutes; the polling interval (how often a member runs ``vigil match fetch``) adds to
these figures.
"""

from __future__ import annotations

import argparse
import binascii
import os
import socket
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import uvicorn

from vigil.core.settings import load_settings
from vigil.core.time import isoformat_z
from vigil.db import Database, upgrade
from vigil.exchange.records import TLP, Marking
from vigil.exchange.stix_apply import signal_id_for
from vigil.exchange.stix_markings import TLP_BY_MARKING_ID
from vigil.exchange.store import ExchangeStore
from vigil.exchange.store.bulk import SignalSubmission
from vigil.exchange.taxii_client import DEFAULT_PAGE
from vigil.match.fetch import FetchReport, _Applier, fetch_signals
from vigil.match.index import PdqIndex
from vigil.match.state import MatchIndex, locked, open_index, read_state


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


GREEN_MARKING = next(ref for ref, level in TLP_BY_MARKING_ID.items() if level.value == "GREEN")


def preload(directory: Path, server: str, n: int, rng: np.random.Generator) -> float:
    """Write an index directory holding ``n`` PDQ contributions in the form a fetch saves them
    (columnar contribution part, PDQ index segments), built column-wise (no Python object per
    contribution: the ids are random ids of the exchange's form); seconds taken."""
    start = time.perf_counter()
    now = datetime.now(UTC)
    codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    signal_ids = fixed_strings(uuid_texts("indicator--", rng, n))
    stamp = pa.array(np.full(n, np.datetime64(now.replace(tzinfo=None), "us")), pa.timestamp("us", tz="UTC"))
    table = pa.table(
        {
            "stix_id": fixed_strings(uuid_texts("indicator--", rng, n)),
            "signal_id": signal_ids,
            "kind": pa.DictionaryArray.from_arrays(np.zeros(n, np.int32), ["image_pdq"]).cast(pa.string()),
            "value": fixed_strings(np.frombuffer(binascii.hexlify(codes.tobytes()), np.uint8).reshape(n, 64)),
            "org_id": pa.DictionaryArray.from_arrays(np.zeros(n, np.int32), ["identity--earlier"]).cast(
                pa.string()
            ),
            "tlp": pa.DictionaryArray.from_arrays(np.zeros(n, np.int32), ["GREEN"]).cast(pa.string()),
            "confidence": pa.array(np.full(n, 80, np.int32)),
            "labels": pa.nulls(n, pa.list_(pa.string())).fill_null(pa.scalar([], pa.list_(pa.string()))),
            "modified": stamp,
            "valid_until": pa.nulls(n, pa.timestamp("us", tz="UTC")),
            "revoked": pa.array(np.zeros(n, bool)),
            "collection": pa.DictionaryArray.from_arrays(np.zeros(n, np.int32), ["coalition"]).cast(
                pa.string()
            ),
            "campaign_id": pa.nulls(n, pa.string()),
            "campaign_modified": pa.nulls(n, pa.timestamp("us", tz="UTC")),
        }
    )
    index = MatchIndex(directory=directory, server=server)
    index.contributions.append_table(table)
    del table
    pdq = index.index_for("image_pdq")
    assert isinstance(pdq, PdqIndex)
    pdq.add_encoded(codes, signal_ids.to_pylist())
    pdq.seal()
    index.reconciled_at = now
    index.save()
    return time.perf_counter() - start


def uuid_texts(prefix: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, len(prefix) + 36) bytes: ``prefix`` then a random UUID's text, built without a loop."""
    digits = np.frombuffer(binascii.hexlify(rng.bytes(16 * n)), np.uint8).reshape(n, 32)
    out = np.empty((n, len(prefix) + 36), np.uint8)
    out[:, : len(prefix)] = np.frombuffer(prefix.encode(), np.uint8)
    at = len(prefix)
    for lo, hi in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32)):
        out[:, at : at + hi - lo] = digits[:, lo:hi]
        at += hi - lo
        if hi < 32:
            out[:, at] = ord("-")
            at += 1
    return out


def fixed_strings(rows: np.ndarray) -> pa.Array:
    """An Arrow string array from an (n, width) byte array (one string per row)."""
    n, width = rows.shape
    offsets = pa.py_buffer(np.arange(0, n * width + 1, width, dtype=np.int64).tobytes())
    data = pa.py_buffer(np.ascontiguousarray(rows).tobytes())
    return pa.Array.from_buffers(pa.large_string(), n, [None, offsets, data]).cast(pa.string())


def inodes(directory: Path) -> dict[int, int]:
    """Inode -> size of every file of the index directory's current generation."""
    if not (directory / "state.json").exists():
        return {}
    generation = directory / str(read_state(directory)["generation"])
    return {p.stat().st_ino: p.stat().st_size for p in generation.rglob("*") if p.is_file()}


def written(before: dict[int, int], after: dict[int, int]) -> tuple[int, int]:
    """(bytes written anew, bytes hard-linked from the previous generation) by a save."""
    fresh = sum(size for ino, size in after.items() if ino not in before)
    return fresh, sum(after.values()) - fresh


def timed_fetch(directory: Path, base_url: str, key: str) -> dict[str, Any]:
    """Fetch, then open the index as a matcher would; seconds per step and bytes saved."""
    before = inodes(directory)
    cpu = time.process_time()
    start = time.perf_counter()
    report = fetch_signals(directory, base_url, key)
    fetched = time.perf_counter() - start
    fetch_cpu = time.process_time() - cpu
    fresh, linked = written(before, inodes(directory))
    start = time.perf_counter()
    index = open_index(directory)
    opened = time.perf_counter() - start
    return {
        "fetch": fetched,
        "fetch_cpu": fetch_cpu,
        "open": opened,
        "objects": report.objects_received,
        "index": index,
        "fresh_mb": fresh / 1e6,
        "linked_mb": linked / 1e6,
        "report": report,
    }


HEADER = (
    f"{'local bank':>11} | {'step':14} | {'exchange s':>10} | {'fetch s':>7} | {'fetch CPU':>9} | "
    f"{'objects':>7} | {'saved MB new/linked':>19} | {'open s':>6} | {'query ms':>8} | {'found':5} | "
    f"{'share→effect s':>14}"
)


def row(
    local: int, step: str, exchange: float, t: dict[str, Any], query_ms: float, found: str, total: float
) -> str:
    return (
        f"{local:>11,} | {step:14} | {exchange:10.2f} | {t['fetch']:7.1f} | {t['fetch_cpu']:9.1f} | "
        f"{t['objects']:>7,} | {t['fresh_mb']:>8,.1f} / {t['linked_mb']:>8,.1f} | {t['open']:6.2f} | "
        f"{query_ms:8.1f} | {found:5} | {total:14.1f}"
    )


def indicator(stix_id: str, value: str, when: datetime, *, revoked: bool = False) -> dict[str, Any]:
    """A Vigil indicator as the exchange serves it over TAXII (GREEN, a coalition member's)."""
    stamp = isoformat_z(when)
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": stix_id,
        "created": stamp,
        "modified": stamp,
        "x_vigil_kind": "image_pdq",
        "x_vigil_value": value,
        "created_by_ref": "identity--member",
        "confidence": 80,
        "object_marking_refs": [GREEN_MARKING],
        "revoked": revoked,
    }


def apply_delta(directory: Path, objects: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``fetch_signals`` does with received objects (pages of 1,000 through its applier,
    reconcile, save), without the TAXII transfer; then a matcher opens the index."""
    before = inodes(directory)
    cpu, start = time.process_time(), time.perf_counter()
    with locked(directory, exclusive=True):
        index = open_index(directory)
        report = FetchReport(server=str(index.server))
        applier = _Applier(index, report)
        for at in range(0, len(objects), DEFAULT_PAGE):
            applier.page("coalition", objects[at : at + DEFAULT_PAGE])
        applier.finish()
        index.reconcile()
        index.save()
    fetched, fetch_cpu = time.perf_counter() - start, time.process_time() - cpu
    fresh, linked = written(before, inodes(directory))
    start = time.perf_counter()
    reopened = open_index(directory)
    return {
        "fetch": fetched,
        "fetch_cpu": fetch_cpu,
        "open": time.perf_counter() - start,
        "objects": len(objects),
        "index": reopened,
        "fresh_mb": fresh / 1e6,
        "linked_mb": linked / 1e6,
    }


def member_side(directory: Path, local: int, adds: int, revokes: int, rng: np.random.Generator) -> None:
    """``adds`` new PDQ contributions, then ``revokes`` of them revoked, applied to the index as a
    fetch applies received objects (the exchange's TAXII time for such deltas is in the steps
    above; it does not depend on the member's bank)."""
    if not adds:
        return
    codes = rng.integers(0, 256, (adds, 32), dtype=np.uint8)
    values = hexes(codes)
    ids = [f"indicator--{uuid.uuid4()}" for _ in range(adds)]
    asked = hexes(near(codes[0], 10, rng)[None, :])
    wanted = signal_id_for("image_pdq", values[0])
    now = datetime.now(UTC)
    steps = [
        (f"member +{adds:,}", [indicator(i, v, now) for i, v in zip(ids, values, strict=True)]),
        (
            f"member -{revokes:,}",
            [
                indicator(i, v, now + timedelta(seconds=1), revoked=True)
                for i, v in zip(ids[:revokes], values[:revokes], strict=True)
            ],
        ),
    ]
    for step, objects in steps:
        start = time.perf_counter()
        timings = apply_delta(directory, objects)
        index: MatchIndex = timings["index"]
        q0 = time.perf_counter()
        hits = index.indexes["image_pdq"].query_many(asked, normalized=True)[0]
        queried = time.perf_counter() - q0
        found = any(h.entry_id == wanted for h in hits)
        print(row(local, step, 0.0, timings, queried * 1000, str(found), time.perf_counter() - start))
        del index, timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exchange-signals", type=int, default=2_000)
    parser.add_argument("--local-bank", default="0,1000000")
    parser.add_argument("--bulk-add", type=int, default=10_000)
    parser.add_argument("--bulk-revoke", type=int, default=1_000)
    parser.add_argument("--member-add", type=int, default=100_000)
    parser.add_argument("--member-revoke", type=int, default=10_000)
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

        def share(values: list[str]) -> None:
            for at in range(0, len(values), 5_000):
                items = [
                    SignalSubmission("image_pdq", v, Marking(TLP.GREEN)) for v in values[at : at + 5_000]
                ]
                store_call(lambda s, items=items: s.submit_signals(source, items))

        start = time.perf_counter()
        share(hexes(rng.integers(0, 256, (args.exchange_signals, 32), dtype=np.uint8)))
        print(
            f"exchange: {args.exchange_signals:,} PDQ signals shared in {time.perf_counter() - start:.1f} s"
        )
        print("\n" + HEADER)
        for local in [int(x) for x in args.local_bank.split(",")]:
            directory = root / f"index-{local}"
            loaded = preload(directory, base_url, local, rng) if local else 0.0
            first = timed_fetch(directory, base_url, keys["us"])
            print(row(local, "first sync", 0.0, first, 0.0, "", 0.0) + f"   (preload {loaded:.1f} s)")
            # A restart: a new process would open the saved index and answer its first query.
            probe = hexes(rng.integers(0, 256, (1, 32), dtype=np.uint8))
            start = time.perf_counter()
            reopened = open_index(directory)
            opened = time.perf_counter() - start
            reopened.indexes["image_pdq"].query_many(probe, normalized=True)
            print(
                f"{local:>11,} | restart: open {opened:.2f} s, first query answered after "
                f"{time.perf_counter() - start:.2f} s"
            )
            del reopened
            new_code = rng.integers(0, 256, 32, dtype=np.uint8)
            query = hexes(near(new_code, 10, rng)[None, :])
            value = hexes(new_code[None, :])[0]
            signal_id = signal_id_for("image_pdq", value)
            bulk = rng.integers(0, 256, (args.bulk_add, 32), dtype=np.uint8)
            bulk_values = hexes(bulk)
            bulk_query = hexes(near(bulk[0], 10, rng)[None, :])
            steps: list[tuple[str, Any, str, list[str]]] = [
                ("add 1", lambda v=value: share([v]), signal_id, query),
                (
                    "revoke 1",
                    lambda sid=signal_id: store_call(lambda s: s.revoke_signal(source, sid)),
                    signal_id,
                    query,
                ),
                (
                    f"add {args.bulk_add:,}",
                    lambda vs=bulk_values: share(vs),
                    signal_id_for("image_pdq", bulk_values[0]),
                    bulk_query,
                ),
                (
                    f"revoke {args.bulk_revoke:,}",
                    lambda vs=bulk_values[: args.bulk_revoke]: store_call(
                        lambda s: [s.revoke_signal(source, signal_id_for("image_pdq", v)) for v in vs]
                    ),
                    signal_id_for("image_pdq", bulk_values[0]),
                    bulk_query,
                ),
            ]
            for step, act, wanted, asked in steps:
                start = time.perf_counter()
                act()
                shared = time.perf_counter() - start
                timings = timed_fetch(directory, base_url, keys["us"])
                index: MatchIndex = timings["index"]
                q0 = time.perf_counter()
                hits = index.indexes["image_pdq"].query_many(asked, normalized=True)[0]
                queried = time.perf_counter() - q0
                found = any(h.entry_id == wanted for h in hits)
                total = time.perf_counter() - start
                print(row(local, step, shared, timings, queried * 1000, str(found), total))
                del index, timings
            member_side(directory, local, args.member_add, args.member_revoke, rng)
        server.should_exit = True
        thread.join(timeout=10)
        database.dispose()
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
