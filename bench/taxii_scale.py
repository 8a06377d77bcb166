"""TAXII at coalition scale (issue #23): paging cost against collection size, get-by-id, server
memory, writes that block nobody, bulk signal submission; SQLite and PostgreSQL, with medallion 3.0
(memory backend) as the peer, all from one run.

    nice -n 10 python bench/taxii_scale.py                       # 10k and 100k, both backends
    nice -n 10 python bench/taxii_scale.py --sizes 10000,100000,1000000 --backends sqlite

For each backend and size:

1. a fresh exchange with one platform member whose ``coalition`` collection holds ``size`` posted
   STIX indicators (``ipv4-addr`` patterns: stored as sent, no typed signal), written with
   ``taxii_index.store_posted`` in chunks of 5,000: the same code a TAXII POST runs after
   validation, without stix2-validator's ~1 ms per object;
2. ``vigil`` (create_app under uvicorn) in its own process; the first page request after the start
   is timed, then pages of 100 at the start and at position ``size - 1,000`` (the ``next`` of that
   position), median of 20 each;
3. ``--concurrency`` clients for ``--seconds``: pages of 100 from random positions (pages/s), then
   get-object-by-id of random ids (requests/s); the server's RSS after all of it;
4. a TAXII POST of ``--post`` new objects (validated, chunked) while one client polls
   ``GET /taxii2/api1/collections/`` and records its worst latency (the write must block nobody);
5. ``ExchangeStore.submit_signals`` of ``--bulk`` signals (store level, one transaction).

medallion gets ``--peer-objects`` of the same objects (its memory backend sorts its collection on
every request, so 1,000 is what it can serve) and the same page and get-by-id loops.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.medallion import run_medallion

TAXII = "application/taxii+json;version=2.1"
PAGE = 100
FAILURES: list[str] = []  # failed requests (counted out of the rates, reported per server)
T0 = datetime(2026, 3, 1, tzinfo=UTC)

SERVER = r"""
import sys, uvicorn
from vigil.core.settings import load_settings
from vigil.web.app import create_app
app = create_app(load_settings(database_url=sys.argv[1], data_dir=sys.argv[2], max_request_bytes=64_000_000))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[3]), log_level="warning")
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres() -> Iterator[str]:
    """A throw-away PostgreSQL cluster (as in tests/exchange/conftest.py); yields its base URL."""
    import glob

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise SystemExit("PostgreSQL binaries not found (apt-get install -y postgresql)")
    pg_bin = Path(found[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="vigil-bench-pg-", dir="/tmp"))
    as_root = os.geteuid() == 0

    def run(*args: str) -> None:
        cmd = ["runuser", "-u", "postgres", "--", *args] if as_root else list(args)
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    if as_root:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    data = root / "data"
    run(str(pg_bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    opts = f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c shared_buffers=256MB"
    run(str(pg_bin / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o", opts, "start")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        run(str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def new_database(backend: str, workdir: Path, pg_base: str | None) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / f'exchange-{uuid.uuid4().hex[:6]}.db'}"
    from sqlalchemy import create_engine, text

    assert pg_base is not None
    name = f"b_{uuid.uuid4().hex[:10]}"
    engine = create_engine(f"{pg_base}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return f"{pg_base}/{name}"


def indicator(i: int) -> dict[str, Any]:
    stamp = (T0 + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.UUID(int=random.Random(i).getrandbits(128), version=4)}",
        "created": stamp,
        "modified": stamp,
        "pattern": f"[ipv4-addr:value = '10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}']",
        "pattern_type": "stix",
        "valid_from": stamp,
        "x_partner_score": i % 100,
    }


def seed(url: str, size: int) -> tuple[str, Any, list[str]]:
    """A platform member and ``size`` posted objects; (API key, principal, some object ids)."""
    from vigil.db import Database
    from vigil.exchange.records import TLP
    from vigil.exchange.store import ExchangeStore
    from vigil.exchange.taxii_index import PostedObject, store_posted

    db = Database(url, auto_upgrade=True)
    with db.session() as session:
        store = ExchangeStore(session)
        org = store.create_org(None, "bench-platform", "platform")
        _, key = store.create_key(None, org.id, "analyst", name="bench")
        principal = store.authenticate(key)
    ids: list[str] = []
    for start in range(0, size, 5000):
        posted = []
        for i in range(start, min(size, start + 5000)):
            obj = indicator(i)
            posted.append(PostedObject(obj, json.dumps(obj, separators=(",", ":")), org.id, TLP.GREEN))
            if i % 97 == 0:
                ids.append(obj["id"])
        with db.session() as session:
            store_posted(session, posted, T0 + timedelta(seconds=start))
    db.dispose()
    return key, principal, ids


def positions(url: str, size: int, count: int) -> tuple[str, list[str]]:
    """The ``next`` token of position size - 1,000 and of ``count`` random positions."""
    from sqlalchemy import select

    from vigil.db import Database
    from vigil.exchange.taxii import encode_next
    from vigil.exchange.taxii_models import TaxiiObjectRow as T

    db = Database(url)
    order = (T.date_added, T.stix_id, T.modified, T.seq)
    with db.read_session() as session:

        def at(offset: int) -> str:
            row = session.execute(select(*order).order_by(*order).offset(offset).limit(1)).one()
            return encode_next((row[0], row[1], row[2], row[3]))

        deep = at(max(0, size - 1000))
        rng = random.Random(5)
        tokens = [at(rng.randrange(0, max(1, size - PAGE))) for _ in range(count)]
    db.dispose()
    return deep, tokens


@contextmanager
def vigil_server(url: str, workdir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVER, url, str(workdir), str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(base + "/openapi.json", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("vigil did not start") from None
                time.sleep(0.2)
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def loop(
    concurrency: int,
    seconds: float,
    make: Callable[[random.Random], Callable[[httpx.Client], None]],
    auth: tuple[str, str],
) -> float:
    """Requests per second of ``concurrency`` clients running their request for ``seconds``."""
    stop = time.monotonic() + seconds

    def worker(n: int) -> int:
        request = make(random.Random(n))
        done = 0
        with httpx.Client(auth=auth, headers={"Accept": TAXII}, timeout=60) as client:
            while time.monotonic() < stop:
                try:
                    request(client)
                except httpx.HTTPStatusError as exc:
                    FAILURES.append(f"{exc.response.status_code} {exc.request.url}")
                    continue
                done += 1
        return done

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        total = sum(pool.map(worker, range(concurrency)))
    return total / (time.perf_counter() - start)


def page_of(collection: str, token: str | None) -> Callable[[httpx.Client], None]:
    params = {"limit": str(PAGE), **({"next": token} if token else {})}

    def request(client: httpx.Client) -> None:
        answer = client.get(collection + "objects/", params=params)
        answer.raise_for_status()
        assert answer.json().get("objects"), answer.text[:200]

    return request


def measure_reads(
    collection: str,
    auth: tuple[str, str],
    deep: str | None,
    tokens: list[str],
    ids: list[str],
    args: argparse.Namespace,
) -> dict[str, float]:
    with httpx.Client(auth=auth, headers={"Accept": TAXII}, timeout=600) as client:
        first_after_start = timed(lambda: page_of(collection, None)(client))
        first = statistics.median(timed(lambda: page_of(collection, None)(client)) for _ in range(20))
        deep_s = (
            statistics.median(timed(lambda: page_of(collection, deep)(client)) for _ in range(20))
            if deep
            else float("nan")
        )
    pages = loop(
        args.concurrency,
        args.seconds,
        lambda rng: lambda c: page_of(collection, rng.choice(tokens) if tokens else None)(c),
        auth,
    )

    def getter(rng: random.Random) -> Callable[[httpx.Client], None]:
        def request(client: httpx.Client) -> None:
            object_id = rng.choice(ids)
            answer = client.get(f"{collection}objects/{object_id}/")
            answer.raise_for_status()

        return request

    gets = loop(args.concurrency, args.seconds, getter, auth)
    return {
        "first_after_start_ms": 1000 * first_after_start,
        "first_ms": 1000 * first,
        "deep_ms": 1000 * deep_s,
        "pages_s": pages,
        "gets_s": gets,
    }


def post_while_reading(base: str, auth: tuple[str, str], count: int) -> tuple[float, float, float]:
    """(objects/s of a TAXII POST of ``count`` objects, worst and median latency in ms of a reader
    polling the collections list meanwhile)."""
    objects = [indicator(10_000_000 + i) for i in range(count)]
    body = json.dumps({"objects": objects}).encode()
    latencies: list[float] = []
    done = threading.Event()

    def reader() -> None:
        with httpx.Client(auth=auth, headers={"Accept": TAXII}, timeout=120) as client:
            while not done.is_set():
                latencies.append(
                    timed(lambda: client.get(base + "/taxii2/api1/collections/").raise_for_status())
                )
                time.sleep(0.02)

    # The first add in a server process imports stix2-validator (jsonschema's format checkers pull
    # rfc3987-syntax, whose grammar takes seconds to build): warm it up outside the timing.
    httpx.post(
        base + "/taxii2/api1/collections/coalition/objects/",
        content=json.dumps({"objects": [indicator(20_000_000)]}).encode(),
        auth=auth,
        headers={"Accept": TAXII, "Content-Type": TAXII},
        timeout=900,
    ).raise_for_status()
    thread = threading.Thread(target=reader)
    thread.start()
    start = time.perf_counter()
    answer = httpx.post(
        base + "/taxii2/api1/collections/coalition/objects/",
        content=body,
        auth=auth,
        headers={"Accept": TAXII, "Content-Type": TAXII},
        timeout=900,
    )
    seconds = time.perf_counter() - start
    done.set()
    thread.join()
    answer.raise_for_status()
    assert answer.json()["success_count"] == count, answer.json().get("failure_count")
    return count / seconds, 1000 * max(latencies), 1000 * statistics.median(latencies)


def bulk_rate(url: str, principal: Any, count: int) -> float:
    from vigil.db import Database
    from vigil.exchange.records import TLP, Marking
    from vigil.exchange.store import ExchangeStore
    from vigil.exchange.store.bulk import SignalSubmission

    items = [SignalSubmission("domain", f"bulk-{i}.example.org", Marking(TLP.GREEN)) for i in range(count)]
    db = Database(url)
    start = time.perf_counter()
    with db.session() as session:
        report = ExchangeStore(session).submit_signals(principal, items)
    seconds = time.perf_counter() - start
    db.dispose()
    assert report.stored == count
    return count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--post", type=int, default=2000, help="objects in the timed TAXII POST")
    parser.add_argument("--bulk", type=int, default=20000, help="signals in the bulk submission")
    parser.add_argument("--peer-objects", type=int, default=1000)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="vigil-taxii-scale-"))
    print(f"load before: {os.getloadavg()[0]:.1f}", flush=True)
    rows: list[tuple[str, ...]] = []
    with postgres() if "postgresql" in args.backends else _nothing() as pg_base:
        for backend in args.backends.split(","):
            for size in sizes:
                url = new_database(backend, workdir, pg_base)
                started = time.perf_counter()
                key, principal, ids = seed(url, size)
                print(f"{backend} {size:,}: seeded in {time.perf_counter() - started:.0f} s", flush=True)
                deep, tokens = positions(url, size, 50)
                auth = ("bench", key)
                with vigil_server(url, workdir) as (base, process):
                    collection = base + "/taxii2/api1/collections/coalition/"
                    r = measure_reads(collection, auth, deep, tokens, ids, args)
                    memory = rss_mb(process.pid)
                    post_rate, worst, median = (
                        post_while_reading(base, auth, args.post) if size == sizes[0] else (float("nan"),) * 3
                    )
                first = size == sizes[0]
                bulk = bulk_rate(url, principal, args.bulk) if first and args.bulk else float("nan")
                rows.append(
                    (
                        f"vigil {backend}",
                        f"{size:,}",
                        f"{r['first_after_start_ms']:.0f}",
                        f"{r['first_ms']:.1f}",
                        f"{r['deep_ms']:.1f}",
                        f"{r['pages_s']:.0f}",
                        f"{r['gets_s']:.0f}",
                        f"{memory:.0f}",
                        f"{post_rate:.0f}",
                        f"{worst:.0f}/{median:.0f}",
                        f"{bulk:.0f}",
                    )
                )
                print("  " + " | ".join(rows[-1]), flush=True)
    # the peer
    objects = [indicator(i) for i in range(args.peer_objects)]
    vigil_failures = list(FAILURES)
    FAILURES.clear()
    with run_medallion(workdir / "medallion", objects, users={"bench": "pw"}, page_size=PAGE) as medallion:
        ids = [o["id"] for o in objects[::7]]
        r = measure_reads(medallion.collection_url, medallion.auth, None, [], ids, args)
    rows.append(
        (
            "medallion 3.0 memory",
            f"{args.peer_objects:,}",
            f"{r['first_after_start_ms']:.0f}",
            f"{r['first_ms']:.1f}",
            "-",
            f"{r['pages_s']:.0f}",
            f"{r['gets_s']:.0f}",
            "-",
            "-",
            "-",
            "-",
        )
    )
    header = (
        "server",
        "objects",
        "1st req ms",
        "page@0 ms",
        "page@n-1k ms",
        "pages/s",
        "get/s",
        "RSS MB",
        "POST obj/s",
        "reader worst/median ms",
        "bulk signals/s",
    )
    print(
        f"\npages of {PAGE}, {args.concurrency} concurrent clients, {args.seconds:.0f} s per loop; "
        f"load after: {os.getloadavg()[0]:.1f}"
    )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    print(
        f"failed requests: vigil {len(vigil_failures)} {vigil_failures[:3]}, "
        f"medallion {len(FAILURES)} {FAILURES[:3]}"
    )
    shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    main()
