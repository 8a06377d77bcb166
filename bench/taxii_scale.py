"""TAXII at coalition scale (issue #23): paging cost against collection size, get-by-id, server
memory and CPU per request, writes that block nobody; SQLite and PostgreSQL, with medallion 3.0
(memory backend) as the peer, all from one run.

    nice -n 10 python bench/taxii_scale.py                         # 10k and 100k, both backends
    nice -n 10 python bench/taxii_scale.py --sizes 10000,100000,1000000 --pg-url postgresql+psycopg://...
    nice -n 10 python bench/taxii_scale.py --sizes 10000 --profile 300   # where a page's time goes

For each backend and size:

1. a collection of ``size`` posted STIX indicators (``ipv4-addr`` patterns, a custom property:
   stored as sent, no typed signal) in one platform member's ``coalition`` collection. They are
   written with direct Core ``executemany`` inserts of exactly the rows ``taxii_index.store_posted``
   writes (``taxii_index.posted_rows``, 5,000 objects per ``date_added``), skipping stix2-validator
   (about 10 ms per object) and the existence check (the database is new). The databases are kept
   in ``--store`` (SQLite files; PostgreSQL databases ``vigil_taxii_<size>`` on ``--pg-url``) and
   reused by later runs: 1M objects are built once;
2. ``vigil`` (create_app under uvicorn, ``--workers`` processes) is started on 127.0.0.1; the first
   page request after the start is timed, then ``--samples`` sequential pages of 100 at the start
   and at position ``0.99 * size`` (990,000 at 1M) through its ``next`` token (median latency and
   the server's CPU time per request, from /proc);
3. wrk (C, 2 threads, ``--concurrency`` connections, ``--seconds``): pages of 100 from random
   positions (each request a random ``next`` of 1,000 drawn from the collection), then
   get-object-by-id of random ids: requests/s, p99 latency, non-2xx count, server CPU per request;
   the server's RSS (all its processes) after all of it;
4. ``--post``: a TAXII POST of that many new objects (validated, chunked) while a client polls the
   collections list (its worst and median latency: a write must block nobody).

Before/after on one machine: keep a ``--store`` per code version (copy the SQLite file; on PostgreSQL
``CREATE DATABASE <prefix>1000000 TEMPLATE vigil_taxii_1000000`` and ``--pg-prefix <prefix>``) and
put each version's ``src`` first on ``PYTHONPATH`` (a git worktree of the "before" commit): the
server runs from there. A database seeded by an older version is brought to the newer one's
schema by its migrations when that version's server starts.

medallion gets ``--peer-objects`` of the same objects (its memory backend sorts its collection on
every request, so about 1,000 is what it can serve) and the same sequential page and wrk loops.

"pages/s on 2 cores": the server's CPU time per page is the figure that does not depend on what
else the machine runs; ``2 / cpu_s_per_page`` is what two cores of that server could serve
(printed as "2-core cap"), next to the rate measured while wrk and everything else shared them.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.medallion import run_medallion

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pgcluster import cpu_seconds, postgres, tree, vigil_server

TAXII = "application/taxii+json;version=2.1"
PAGE = 100
SEED_CHUNK = 5000  # objects per date_added (one TAXII POST chunk commits with one date_added)
T0 = datetime(2026, 3, 1, tzinfo=UTC)
DB_PID: list[int] = []  # the PostgreSQL postmaster whose processes' CPU is counted, if known
# the read indexes, built after the load; every object has one version, so the column default of
# ``latest`` (NEWEST) is what ``refresh_latest`` would set
READ_INDEXES = ("ix_taxii_objects_page", "ix_taxii_objects_stix_id", "ix_taxii_objects_latest")

WRK_SCRIPT = r"""
local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
local n = 0
setup = function(thread) n = n + 1; thread:set("id", n) end
init = function(args) math.randomseed(id * 7919) end
request = function() return wrk.format("GET", paths[math.random(#paths)]) end
"""


def indicator(i: int) -> dict[str, Any]:
    stamp = (T0 + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.UUID(bytes=hashlib.md5(str(i).encode()).digest(), version=4)}",
        "created": stamp,
        "modified": stamp,
        "pattern": f"[ipv4-addr:value = '10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}']",
        "pattern_type": "stix",
        "valid_from": stamp,
        "x_partner_score": i % 100,
    }


@dataclass
class Seeded:
    url: str
    key: str
    ids: list[str]  # some object ids, for get-by-id
    deep: str  # the next token of position 0.99 * size
    tokens: list[str]  # next tokens of random positions


PG_PREFIX = ["vigil_taxii_"]  # PostgreSQL database name before the size (--pg-prefix)


def database_url(backend: str, size: int, store: Path, pg_base: str | None) -> str:
    if backend == "sqlite":
        return f"sqlite:///{store / f'taxii-{size}.db'}"
    assert pg_base is not None
    return f"{pg_base}/{PG_PREFIX[0]}{size}"


def seeded(backend: str, size: int, store: Path, pg_base: str | None) -> Seeded:
    """The collection of ``size`` objects, built now or reused from an earlier run."""
    meta = store / f"taxii-{backend}-{size}.json"
    url = database_url(backend, size, store, pg_base)
    if meta.exists():
        found = Seeded(**json.loads(meta.read_text()))
        if found.url == url:
            print(f"{backend} {size:,}: reusing {url}", flush=True)
            return found
    if backend == "sqlite":
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    else:
        from sqlalchemy import create_engine, text

        assert pg_base is not None
        engine = create_engine(f"{pg_base}/postgres", isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {PG_PREFIX[0]}{size}"))
            conn.execute(text(f"CREATE DATABASE {PG_PREFIX[0]}{size}"))
        engine.dispose()
    started = time.perf_counter()
    key, ids = seed(url, size)
    print(f"{backend} {size:,}: seeded in {time.perf_counter() - started:.0f} s", flush=True)
    deep, tokens = positions(url, size, 1000)
    found = Seeded(url=url, key=key, ids=ids, deep=deep, tokens=tokens)
    meta.write_text(json.dumps(found.__dict__))
    return found


def seed(url: str, size: int) -> tuple[str, list[str]]:
    """A platform member and ``size`` posted objects; (API key, some object ids)."""
    from sqlalchemy import insert, text

    from vigil.db import Database
    from vigil.exchange.records import TLP
    from vigil.exchange.store import ExchangeStore
    from vigil.exchange.taxii_index import PostedObject, posted_rows
    from vigil.exchange.taxii_models import TaxiiObjectRow

    db = Database(url, auto_upgrade=True)
    with db.session() as session:
        store = ExchangeStore(session)
        org = store.create_org(None, "bench-platform", "platform")
        _, key = store.create_key(None, org.id, "analyst", name="bench")
    ids: list[str] = []
    statement = insert(TaxiiObjectRow)
    # The two read indexes are built after the load (one sort each) rather than row by row: the
    # same indexes, an order of magnitude sooner at 1M rows.
    indexes = [i for i in TaxiiObjectRow.__table__.indexes if i.name in READ_INDEXES]
    with db.engine.begin() as conn:
        for index in indexes:
            index.drop(conn)
    for batch in range(0, size, 10 * SEED_CHUNK):
        with db.engine.begin() as conn:
            for start in range(batch, min(size, batch + 10 * SEED_CHUNK), SEED_CHUNK):
                posted = []
                for i in range(start, min(size, start + SEED_CHUNK)):
                    obj = indicator(i)
                    posted.append(
                        PostedObject(obj, json.dumps(obj, separators=(",", ":")), org.id, TLP.GREEN)
                    )
                    if i % 97 == 0:
                        ids.append(obj["id"])
                conn.execute(statement, posted_rows(posted, T0 + timedelta(seconds=start)))
        if batch and batch % 200_000 == 0:
            print(f"  {batch:,} objects", flush=True)
    with db.engine.begin() as conn:
        for index in indexes:
            index.create(conn)
    if url.startswith("postgresql"):
        # what autovacuum does after a bulk load on a running server
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE taxii_objects"))
    db.dispose()
    return key, ids[:: max(1, len(ids) // 2000)]


def positions(url: str, size: int, count: int) -> tuple[str, list[str]]:
    """The ``next`` token of position 0.99 * size and of ``count`` random positions."""
    from sqlalchemy import select

    from vigil.db import Database
    from vigil.exchange.taxii import encode_next
    from vigil.exchange.taxii_models import TaxiiObjectRow as T

    db = Database(url)
    order = (T.date_added, T.stix_id, T.modified, T.seq)
    with db.read_session() as session:
        # the row at position p in page order is the (size - p)th from the end
        row = session.execute(
            select(*order)
            .where(T.bucket == "open")
            .order_by(*(c.desc() for c in order))
            .offset(size - int(0.99 * size) - 1)
            .limit(1)
        ).one()
        deep = encode_next((row[0], row[1], row[2], row[3]))
        # a random row's key is a random position (the page after it starts there)
        picks = random.Random(5).sample(range(1, size + 1), min(count, size))
        rows = session.execute(select(*order).where(T.seq.in_(picks))).all()
        tokens = [encode_next((r[0], r[1], r[2], r[3])) for r in rows]
    db.dispose()
    return deep, tokens


# ---------------------------------------------------------------------------------------------
# the server and its process tree


def rss_mb(pid: int) -> float:
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


# ---------------------------------------------------------------------------------------------
# measuring


@dataclass
class Loop:
    rate: float  # requests/s
    p99_ms: float
    errors: int  # non-2xx and socket errors
    cpu_ms: float  # server CPU per request
    db_cpu_ms: float  # PostgreSQL's CPU per request (its processes; 0 for SQLite: in the server)


def wrk(
    base: str,
    paths: list[str],
    auth: tuple[str, str],
    seconds: float,
    connections: int,
    pid: int | None,
    workdir: Path,
) -> Loop:
    """wrk (2 threads, ``connections`` connections) for ``seconds`` over random ``paths``."""
    script = workdir / "random_paths.lua"
    script.write_text(WRK_SCRIPT)
    listing = workdir / "paths.txt"
    listing.write_text("\n".join(paths) + "\n")
    basic = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    before = cpu_seconds(pid) if pid else 0.0
    db_before = cpu_seconds(DB_PID[0]) if DB_PID else 0.0
    result = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds:.0f}s",
            "--latency",
            "--timeout",
            "30s",
            "-H",
            f"Authorization: Basic {basic}",
            "-H",
            f"Accept: {TAXII}",
            "-s",
            str(script),
            base,
        ],
        env={**os.environ, "WRK_PATHS": str(listing)},
        capture_output=True,
        text=True,
        check=True,
    )
    cpu = cpu_seconds(pid) - before if pid else float("nan")
    db_cpu = cpu_seconds(DB_PID[0]) - db_before if DB_PID and pid else 0.0
    out = result.stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99_ms = (
        float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)] if p99 else float("nan")
    )
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(bad.group(1)) if bad else 0) + (
        sum(int(g) for g in socket_errors.groups()) if socket_errors else 0
    )
    return Loop(rate, p99_ms, errors, 1000 * cpu / max(1, total), 1000 * db_cpu / max(1, total))


def sequential(
    client: httpx.Client, url: str, params: dict[str, str], samples: int, pid: int | None
) -> tuple[float, float]:
    """(median latency ms, server CPU ms per request) of ``samples`` requests one after another."""
    times = []
    before = cpu_seconds(pid) if pid else 0.0
    for _ in range(samples):
        start = time.perf_counter()
        answer = client.get(url, params=params)
        times.append(time.perf_counter() - start)
        answer.raise_for_status()
        assert answer.json().get("objects"), answer.text[:200]
    cpu = (cpu_seconds(pid) - before) / samples if pid else float("nan")
    return 1000 * statistics.median(times), 1000 * cpu


def measure_reads(
    base: str,
    collection_path: str,
    auth: tuple[str, str],
    deep: str | None,
    tokens: list[str],
    ids: list[str],
    args: argparse.Namespace,
    pid: int | None,
    workdir: Path,
) -> dict[str, Any]:
    objects = f"{base}{collection_path}objects/"
    with httpx.Client(auth=auth, headers={"Accept": TAXII}, timeout=600) as client:
        start = time.perf_counter()
        client.get(objects, params={"limit": str(PAGE)}).raise_for_status()
        first_after_start = 1000 * (time.perf_counter() - start)
        first = sequential(client, objects, {"limit": str(PAGE)}, args.samples, pid)
        deep_r = (
            sequential(client, objects, {"limit": str(PAGE), "next": deep}, args.samples, pid)
            if deep
            else None
        )
        get_r = sequential(client, f"{objects}{ids[0]}/", {}, args.samples, pid)
    page_paths = [
        f"{collection_path}objects/?limit={PAGE}" + (f"&next={t}" if t else "") for t in tokens or [""]
    ]
    get_paths = [f"{collection_path}objects/{i}/" for i in ids]
    if args.warm:  # not counted: new connections, their prepared statements and page caches
        wrk(base, page_paths, auth, args.warm, args.concurrency, pid, workdir)
    pages = wrk(base, page_paths, auth, args.seconds, args.concurrency, pid, workdir)
    if args.warm:
        wrk(base, get_paths, auth, args.warm, args.concurrency, pid, workdir)
    gets = wrk(base, get_paths, auth, args.seconds, args.concurrency, pid, workdir)
    return {
        "first_after_start_ms": first_after_start,
        "first": first,
        "deep": deep_r,
        "get": get_r,
        "pages": pages,
        "gets": gets,
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
                start = time.perf_counter()
                client.get(base + "/taxii2/api1/collections/").raise_for_status()
                latencies.append(time.perf_counter() - start)
                time.sleep(0.02)

    post = httpx.Client(auth=auth, headers={"Accept": TAXII, "Content-Type": TAXII}, timeout=900)
    # The first add in a server process imports stix2-validator: warm it up outside the timing.
    post.post(
        base + "/taxii2/api1/collections/coalition/objects/",
        content=json.dumps({"objects": [indicator(20_000_000)]}).encode(),
    ).raise_for_status()
    thread = threading.Thread(target=reader)
    thread.start()
    start = time.perf_counter()
    answer = post.post(base + "/taxii2/api1/collections/coalition/objects/", content=body)
    seconds = time.perf_counter() - start
    done.set()
    thread.join()
    post.close()
    answer.raise_for_status()
    assert answer.json()["success_count"] == count, answer.json().get("failure_count")
    return count / seconds, 1000 * max(latencies), 1000 * statistics.median(latencies)


# ---------------------------------------------------------------------------------------------
# where a page's time goes


def profile(url: str, key: str, tokens: list[str], ids: list[str], count: int, lanes: bool = False) -> None:
    """``count`` page requests and ``count`` get-by-id requests through the ASGI app in this
    process (no HTTP, no uvicorn), under cProfile: framework, authentication, SQL, serialisation.
    ``lanes``: no profiler; the process's CPU per request with the TAXII fast lane
    (``vigil.web.taxii_fast``) and without it (the FastAPI routes), in alternating rounds, and
    whether the two answer the same bytes."""
    import asyncio
    import cProfile
    import pstats

    from vigil.core.settings import load_settings
    from vigil.web.app import create_app

    app = create_app(load_settings(database_url=url, data_dir=tempfile.mkdtemp(prefix="vigil-prof-")))
    basic = base64.b64encode(f"bench:{key}".encode()).decode()
    answers: list[Any] = []

    async def call(path: str, query: str) -> int:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "server": ("127.0.0.1", 80),
            "client": ("127.0.0.1", 5555),
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"accept", TAXII.encode()),
                (b"authorization", f"Basic {basic}".encode()),
            ],
        }
        status = 0

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            if lanes:
                answers.append(message)

        await app(scope, receive, send)
        return status

    collection = "/taxii2/api1/collections/coalition/objects/"

    async def run(kind: str) -> float:
        rng = random.Random(3)
        start = time.perf_counter()
        for _ in range(count):
            if kind == "page":
                status = await call(collection, f"limit={PAGE}&next={rng.choice(tokens)}")
            elif kind == "manifest":
                status = await call(collection.replace("objects", "manifest"), f"limit={PAGE}")
            else:
                status = await call(f"{collection}{rng.choice(ids)}/", "")
            assert status == 200, status
        return time.perf_counter() - start

    async def compare() -> None:
        """CPU per request, fast lane against routes, in alternating rounds; then the same requests'
        answers from both, compared byte for byte (headers and body)."""
        async with app.router.lifespan_context(app):
            await run("page")
            cpu: dict[tuple[str, bool], list[float]] = {}
            for _ in range(3):
                for kind in ("page", "get"):
                    for lane in (True, False):
                        app.state.taxii_fast_lane = lane
                        started = time.process_time()
                        db_started = cpu_seconds(DB_PID[0]) if DB_PID else 0.0
                        await run(kind)
                        db_cpu = (cpu_seconds(DB_PID[0]) - db_started) if DB_PID else 0.0
                        cpu.setdefault((kind, lane), []).append(
                            1000 * (time.process_time() - started + db_cpu) / count
                        )
            same = True
            for kind in ("page", "get", "manifest"):
                seen = []
                for lane in (True, False):
                    app.state.taxii_fast_lane = lane
                    answers.clear()
                    await run(kind)
                    seen.append(list(answers))
                same = same and seen[0] == seen[1]
            print(
                f"\nCPU ms per request in process (min of 3 rounds of {count}; load {os.getloadavg()[0]:.1f})"
                + (", PostgreSQL's CPU included (--pg-data)" if DB_PID else "")
            )
            print("kind   fast lane   routes")
            for kind in ("page", "get"):
                print(f"{kind:5} {min(cpu[(kind, True)]):10.2f} {min(cpu[(kind, False)]):8.2f}")
            print(f"same bytes (status, headers, body) on both paths: {same}")

    async def main() -> None:
        async with app.router.lifespan_context(app):
            await run("page")  # warm: statements built, caches filled
            for kind in ("page", "get"):
                profiler = cProfile.Profile()
                plain = await run(kind)
                profiler.enable()
                await run(kind)
                profiler.disable()
                print(f"\n{kind}: {1000 * plain / count:.2f} ms per request in process without the profiler")
                stats = pstats.Stats(profiler)
                stats.sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(35)

    asyncio.run(compare() if lanes else main())


# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--store", type=Path, default=Path("/tmp/vigil-taxii-scale"), help="seeded databases, reused"
    )
    parser.add_argument(
        "--pg-url", default=None, help="an existing PostgreSQL server (else a throw-away cluster)"
    )
    parser.add_argument("--pg-data", type=Path, default=None, help="that server's data directory (its CPU)")
    parser.add_argument(
        "--pg-prefix",
        default=PG_PREFIX[0],
        help="PostgreSQL database names: this and the size (before/after copies side by side)",
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--concurrency", type=int, default=8, help="wrk connections")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--samples", type=int, default=30, help="sequential requests per position")
    parser.add_argument(
        "--warm", type=float, default=0, help="seconds of wrk, not counted, before each measured loop"
    )
    parser.add_argument("--post", type=int, default=0, help="objects in a timed TAXII POST (first size only)")
    parser.add_argument(
        "--peer-objects", type=int, default=500, help="objects given to medallion (0: skip it)"
    )
    parser.add_argument(
        "--profile", type=int, default=0, help="profile this many requests in process, then stop"
    )
    parser.add_argument(
        "--lanes",
        type=int,
        default=0,
        help="CPU per request in process, TAXII fast lane against the routes, this many requests a round",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    PG_PREFIX[0] = args.pg_prefix
    if args.pg_data:
        DB_PID[:] = [int((args.pg_data / "postmaster.pid").read_text().split()[0])]
    args.store.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="vigil-taxii-scale-"))
    load_before = os.getloadavg()
    print(f"load before: {load_before[0]:.1f} {load_before[1]:.1f} {load_before[2]:.1f}", flush=True)
    rows: list[tuple[str, ...]] = []
    failures: list[str] = []
    pg = _given(args.pg_url) if args.pg_url or "postgresql" not in args.backends else postgres(DB_PID)
    with pg as pg_base:
        for backend in args.backends.split(","):
            for size in sizes:
                found = seeded(backend, size, args.store, pg_base)
                if args.profile or args.lanes:
                    profile(
                        found.url,
                        found.key,
                        found.tokens,
                        found.ids,
                        args.profile or args.lanes,
                        lanes=bool(args.lanes),
                    )
                    continue
                auth = ("bench", found.key)
                with vigil_server(found.url, workdir, args.workers) as (base, pid):
                    r = measure_reads(
                        base,
                        "/taxii2/api1/collections/coalition/",
                        auth,
                        found.deep,
                        found.tokens,
                        found.ids,
                        args,
                        pid,
                        workdir,
                    )
                    memory = rss_mb(pid)
                    post = (
                        post_while_reading(base, auth, args.post) if args.post and size == sizes[0] else None
                    )
                failures += [
                    f"{backend} {size} {what}: {r[what].errors}"
                    for what in ("pages", "gets")
                    if r[what].errors
                ]
                rows.append(_row(f"vigil {backend} w{args.workers}", size, r, memory, post))
                print("  " + " | ".join(rows[-1]), flush=True)
    if args.profile or args.lanes:
        return
    if args.peer_objects:
        objects = [indicator(i) for i in range(args.peer_objects)]
        with run_medallion(
            workdir / "medallion", objects, users={"bench": "pw"}, page_size=PAGE
        ) as medallion:
            parts = urlsplit(medallion.collection_url)
            base, path = f"{parts.scheme}://{parts.netloc}", parts.path
            ids = [o["id"] for o in objects[::7]]
            r = measure_reads(base, path, medallion.auth, None, [], ids, args, None, workdir)
        rows.append(_row("medallion 3.0 memory", args.peer_objects, r, float("nan"), None))
    header = (
        "server",
        "objects",
        "1st req ms",
        "page@0 ms (cpu)",
        "page@99% ms (cpu)",
        "get ms (cpu)",
        "pages/s (p99 ms)",
        "cpu ms/page (+db)",
        "2-core cap",
        "gets/s (p99 ms)",
        "cpu ms/get (+db)",
        "RSS MB",
        "POST obj/s, reader worst/median ms",
    )
    load_after = os.getloadavg()
    print(
        f"\npages of {PAGE}; wrk 2 threads, {args.concurrency} connections, {args.seconds:.0f} s per loop; "
        f"load before {load_before[0]:.1f}, after {load_after[0]:.1f} (1-min average), {os.cpu_count()} cores"
    )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    print(f"failed requests (non-2xx, socket errors): {failures or 'none'}")
    shutil.rmtree(workdir, ignore_errors=True)


def _row(
    name: str, size: int, r: dict[str, Any], memory: float, post: tuple[float, float, float] | None
) -> tuple[str, ...]:
    def pair(value: tuple[float, float] | None) -> str:
        return "-" if value is None else f"{value[0]:.1f} ({value[1]:.1f})"

    pages, gets = r["pages"], r["gets"]
    return (
        name,
        f"{size:,}",
        f"{r['first_after_start_ms']:.0f}",
        pair(r["first"]),
        pair(r["deep"]),
        pair(r["get"]),
        f"{pages.rate:,.0f} ({pages.p99_ms:.0f})",
        f"{pages.cpu_ms:.2f}+{pages.db_cpu_ms:.2f}",
        f"{2000 / (pages.cpu_ms + pages.db_cpu_ms):,.0f}" if pages.cpu_ms > 0 else "-",  # nan > 0 is False
        f"{gets.rate:,.0f} ({gets.p99_ms:.0f})",
        f"{gets.cpu_ms:.2f}+{gets.db_cpu_ms:.2f}",
        f"{memory:.0f}",
        "-" if post is None else f"{post[0]:.0f}, {post[1]:.0f}/{post[2]:.0f}",
    )


@contextmanager
def _given(url: str | None) -> Iterator[str | None]:
    yield url


if __name__ == "__main__":
    main()
