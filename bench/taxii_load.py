"""TAXII 2.1 read throughput: Vigil's server against medallion 3.0 (memory backend) on the same objects.

    python bench/taxii_load.py                          # 1,000 objects, 4 concurrent clients
    python bench/taxii_load.py --objects 500 --concurrency 2 --passes 3 --gets 300

1. seeds a fresh SQLite exchange with one platform member and enough TLP:GREEN signals (mixed
   kinds) that its ``coalition`` collection holds ``--objects`` STIX objects;
2. starts Vigil (``create_app`` under uvicorn, one process) on 127.0.0.1 and reads the collection
   and its manifest back: these exact objects, with their ``date_added``, are written into a
   medallion memory-backend data file, and medallion runs from a JSON config in its own process;
3. against each server, with the same HTTP client (httpx, Basic auth) and ``--concurrency``
   threads: full listings of the collection in pages of ``--page`` objects (``limit`` + ``next``),
   ``--passes`` per thread, and ``--gets`` get-object-by-id requests for random ids;
4. prints objects/second for listings, requests/second and mean latency for get-by-id, and the
   ratio Vigil / medallion.

``--mixed SECONDS`` (issue #23) runs the bounded loopback load instead: ``--clients`` clients (8)
against one Vigil server (``--backend sqlite`` or ``postgresql`` with ``--pg-url``) whose
``coalition`` collection holds ``--size`` posted objects (the collection ``bench/taxii_scale.py``
builds and keeps in ``--store``). ``--writers`` of the clients (2) post envelopes of
``--write-objects`` new indicators (1,000; validated, chunked, linked to nothing) and pause
``--write-pause`` seconds between posts; the others read in a loop: a page of 100 from a random
position (50%), get-by-id (25%), the manifest page after a random position (10%), and an
``added_after`` poll of what is newest (15%). Every answer is checked (status, JSON, the POST's
``success_count``); the run prints errors, 5xx, read latency percentiles per kind and overall,
writes and objects written, and the server's RSS and CPU.

The issue's run (8 clients, 10 minutes, 1M objects, each backend; on a quiet machine, and say the
load next to the figures). The first run builds the collection (``taxii_scale.seeded``: about 2
minutes on SQLite at 1M, longer on PostgreSQL) in ``--store`` and reuses it afterwards; every run
adds its posted objects to it::

    nice -n 10 python bench/taxii_load.py --mixed 600 --size 1000000 --backend sqlite
    nice -n 10 python bench/taxii_load.py --mixed 600 --size 1000000 --backend postgresql \
        --pg-url postgresql+psycopg://postgres@127.0.0.1:5432 [--pg-data /path/to/data]

Readers stop at ``--mixed`` seconds; a writer finishes the post it is in (its time is printed
apart), so rates are over the readers' window. ``--pg-data``: the PostgreSQL server's data
directory, whose postmaster's processes' CPU is printed too. The verdict line checks the issue's
target: 0 errors, 0 5xx, read p99 < 250 ms.

Keep ``--objects`` at or below about 1,000: medallion's memory backend sorts and filters its
collection on every listing request with a cost that grows quadratically (10,000 objects do not
list within a minute). Figures depend on the machine; on a shared machine say so next to them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

# The medallion helper is shared with the tests (python bench/taxii_load.py puts bench/ on sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # taxii_scale: the seeded collections
from tests.support.medallion import run_medallion

from pgcluster import cpu_seconds, free_port, vigil_server
from vigil.core.time import isoformat_z, parse_instant

TAXII = "application/taxii+json;version=2.1"
SUPPORTING_OBJECTS = 8  # 5 TLP markings, Vigil's identity and extension, the member's identity

VIGIL_SERVER = r"""
import sys, uvicorn
from vigil.core.settings import load_settings
from vigil.web.app import create_app
app = create_app(load_settings(database_url=sys.argv[1], data_dir=sys.argv[2]))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[3]), log_level="warning")
"""


def wait_until_up(url: str, auth: tuple[str, str], process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server for {url} exited with {process.returncode}")
        try:
            if httpx.get(url, auth=auth, headers={"Accept": TAXII}, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up within 60 s")


def seed_vigil(url: str, signals: int) -> str:
    """A platform member with ``signals`` GREEN signals; returns its API key."""
    from vigil.db import Database
    from vigil.exchange.records import TLP, Marking
    from vigil.exchange.store import ExchangeStore

    db = Database(url, auto_upgrade=True)
    with db.session() as session:
        store = ExchangeStore(session)
        org = store.create_org(None, "bench-platform", "platform")
        _, key = store.create_key(None, org.id, "analyst", name="bench")
    with db.session() as session:
        store = ExchangeStore(session)
        principal = store.authenticate(key)
        rng = random.Random(7)
        for i in range(signals):
            kind, value = [
                ("domain", f"news-site-{i}.info"),
                ("url", f"https://clone-{i % 97}.net/story/{i}"),
                ("hashtag", f"wahl{i}"),
                ("account", f"twitter:@bench_{i}"),
                ("image_md5", f"{rng.getrandbits(128):032x}"),
            ][i % 5]
            store.submit_signal(
                principal,
                kind,
                value,
                marking=Marking(TLP.GREEN),
                confidence=rng.randint(10, 95),
                tags=["bench"],
            )
    db.dispose()
    return key


@dataclass
class Target:
    name: str
    collection_url: str
    auth: tuple[str, str]


def list_collection(client: httpx.Client, target: Target, page: int) -> int:
    """One full listing with limit/next; the number of objects read."""
    read = 0
    params: dict[str, Any] = {"limit": page}
    while True:
        response = client.get(target.collection_url + "objects/", params=params)
        response.raise_for_status()
        body = response.json()
        read += len(body.get("objects", []))
        if not body.get("more"):
            return read
        params = {"limit": page, "next": body["next"]}


def get_by_id(client: httpx.Client, target: Target, object_id: str) -> None:
    response = client.get(f"{target.collection_url}objects/{object_id}/")
    response.raise_for_status()
    assert response.json()["objects"][0]["id"] == object_id


def measure(target: Target, ids: list[str], args: argparse.Namespace) -> dict[str, float]:
    def client() -> httpx.Client:
        return httpx.Client(auth=target.auth, headers={"Accept": TAXII}, timeout=300)

    def lister(_: int) -> int:
        with client() as c:
            return sum(list_collection(c, target, args.page) for _ in range(args.passes))

    with client() as warm:  # one warm-up listing (caches, connection setup) outside the timing
        expected = list_collection(warm, target, args.page)
    start = time.perf_counter()
    with ThreadPoolExecutor(args.concurrency) as pool:
        objects_read = sum(pool.map(lister, range(args.concurrency)))
    list_seconds = time.perf_counter() - start
    assert objects_read == expected * args.passes * args.concurrency, (objects_read, expected)

    sample = [random.Random(11 + i).choice(ids) for i in range(args.gets)]
    chunks = [sample[i :: args.concurrency] for i in range(args.concurrency)]

    def getter(chunk: list[str]) -> int:
        with client() as c:
            for object_id in chunk:
                get_by_id(c, target, object_id)
        return len(chunk)

    start = time.perf_counter()
    with ThreadPoolExecutor(args.concurrency) as pool:
        gets = sum(pool.map(getter, chunks))
    get_seconds = time.perf_counter() - start
    return {
        "objects": float(expected),
        "listing_objects_per_s": objects_read / list_seconds,
        "listing_seconds_per_pass": list_seconds * args.concurrency / (args.passes * args.concurrency),
        "gets_per_s": gets / get_seconds,
        "get_ms": 1000 * get_seconds * args.concurrency / gets,
    }


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
        process.wait(timeout=30)


# ---------------------------------------------------------------------------------------------
# the bounded loopback load (--mixed)


@dataclass
class Tally:
    latencies: dict[str, list[float]]
    errors: list[str]
    server_errors: int = 0
    writes: int = 0
    written: int = 0
    write_seconds: float = 0.0
    # (start, end) of every read and every post (perf_counter): which reads overlapped a post
    read_spans: list[tuple[float, float]] = field(default_factory=list)
    post_spans: list[tuple[float, float]] = field(default_factory=list)


def _reader(base: str, auth: tuple[str, str], found: Any, stop: float, seed: int, tally: Tally) -> None:
    rng = random.Random(seed)
    collection = base + "/taxii2/api1/collections/coalition/"
    newest: str | None = None
    with httpx.Client(auth=auth, headers={"Accept": TAXII}, timeout=60) as client:
        while time.monotonic() < stop:
            pick = rng.random()
            if pick < 0.5:
                kind, url, params = (
                    "page",
                    collection + "objects/",
                    {"limit": "100", "next": rng.choice(found.tokens)},
                )
            elif pick < 0.75:
                kind, url, params = "get", f"{collection}objects/{rng.choice(found.ids)}/", {}
            elif pick < 0.85:
                kind, url, params = (
                    "manifest",
                    collection + "manifest/",
                    {"limit": "100", "next": rng.choice(found.tokens)},
                )
            else:
                kind, url = "poll", collection + "objects/"
                params = {"limit": "100", **({"added_after": newest} if newest else {})}
            start = time.perf_counter()
            try:
                answer = client.get(url, params=params)
                elapsed = time.perf_counter() - start
                if answer.status_code >= 500:
                    tally.server_errors += 1
                if answer.status_code != 200:
                    tally.errors.append(f"{kind} {answer.status_code} {answer.text[:200]}")
                    continue
                body = answer.json()
                if kind != "poll" and not body.get("objects"):
                    tally.errors.append(f"{kind}: empty answer")
                    continue
                if kind == "poll":
                    # the next poll asks for what arrived after the newest seen so far (minus a
                    # minute, so each poll reads a page of recent writes)
                    last = answer.headers.get("X-TAXII-Date-Added-Last")
                    if last:
                        newest = isoformat_z(parse_instant(last) - timedelta(minutes=1))
            except (httpx.HTTPError, ValueError) as exc:
                tally.errors.append(f"{kind}: {exc!r}")
                continue
            tally.latencies[kind].append(elapsed)
            tally.read_spans.append((start, start + elapsed))


def _writer(
    base: str, auth: tuple[str, str], args: argparse.Namespace, stop: float, seed: int, tally: Tally
) -> None:
    from taxii_scale import indicator

    next_object = 50_000_000 + seed * 10_000_000
    headers = {"Accept": TAXII, "Content-Type": TAXII}
    with httpx.Client(auth=auth, headers=headers, timeout=900) as client:
        while time.monotonic() < stop:
            objects = [indicator(next_object + i) for i in range(args.write_objects)]
            next_object += args.write_objects
            start = time.perf_counter()
            try:
                answer = client.post(
                    base + "/taxii2/api1/collections/coalition/objects/",
                    content=json.dumps({"objects": objects}),
                )
                tally.write_seconds += time.perf_counter() - start
                tally.post_spans.append((start, time.perf_counter()))
                if answer.status_code >= 500:
                    tally.server_errors += 1
                if answer.status_code != 202:
                    tally.errors.append(f"post {answer.status_code} {answer.text[:200]}")
                    continue
                status = answer.json()
                if status.get("success_count") != len(objects):
                    tally.errors.append(
                        f"post: {status.get('failure_count')} failures, {status.get('pending_count')} pending"
                    )
                    continue
            except (httpx.HTTPError, ValueError) as exc:
                tally.errors.append(f"post: {exc!r}")
                continue
            tally.writes += 1
            tally.written += len(objects)
            time.sleep(args.write_pause)


def _postmaster(data: Path | None) -> int | None:
    """The pid of the PostgreSQL server whose data directory is ``data`` (None: not given)."""
    if data is None:
        return None
    return int((data / "postmaster.pid").read_text().split()[0])


def mixed_load(args: argparse.Namespace) -> None:
    import threading

    import taxii_scale

    pg = args.pg_url if args.backend == "postgresql" else None
    if args.backend == "postgresql" and not pg:
        raise SystemExit("--backend postgresql needs --pg-url")
    found = taxii_scale.seeded(args.backend, args.size, args.store, pg)
    workdir = Path(tempfile.mkdtemp(prefix="vigil-taxii-mixed-"))
    auth = ("bench", found.key)
    load_before = os.getloadavg()
    tally = Tally(latencies={k: [] for k in ("page", "get", "manifest", "poll")}, errors=[])
    with vigil_server(found.url, workdir, args.workers) as (base, pid):
        # warm-up: the first add imports stix2-validator; the first read projects nothing
        warm = httpx.post(
            base + "/taxii2/api1/collections/coalition/objects/",
            content=json.dumps({"objects": [taxii_scale.indicator(49_999_999)]}),
            auth=auth,
            headers={"Accept": TAXII, "Content-Type": TAXII},
            timeout=900,
        )
        warm.raise_for_status()
        postmaster = _postmaster(args.pg_data)
        cpu_before = cpu_seconds(pid)
        db_cpu_before = cpu_seconds(postmaster) if postmaster else 0.0
        started = time.monotonic()
        stop = started + args.mixed
        writers = [
            threading.Thread(target=_writer, args=(base, auth, args, stop, n, tally))
            for n in range(args.writers)
        ]
        readers = [
            threading.Thread(target=_reader, args=(base, auth, found, stop, n, tally))
            for n in range(args.clients - args.writers)
        ]
        for thread in writers + readers:
            thread.start()
        for thread in readers:
            thread.join()
        # the readers' window: rates are over it, not over a writer's last post that ends later
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(pid) - cpu_before
        db_cpu = (cpu_seconds(postmaster) - db_cpu_before) if postmaster else 0.0
        for thread in writers:
            thread.join()
        tail = time.monotonic() - started - elapsed
        memory = taxii_scale.rss_mb(pid)
    load_after = os.getloadavg()
    reads = sorted(x for values in tally.latencies.values() for x in values)

    def pct(values: list[float], q: float) -> str:
        ordered = sorted(values)
        return f"{1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]:.0f}" if ordered else "-"

    print(
        f"\nTAXII mixed load, {args.backend}, {args.size:,} objects, {args.clients} clients "
        f"({args.writers} writing {args.write_objects}-object envelopes, pause {args.write_pause:g} s), "
        f"{args.workers} server worker(s), {elapsed:.0f} s; "
        f"load before {load_before[0]:.1f}, after {load_after[0]:.1f}"
    )
    print(f"{'reads':<10} {'count':>7} {'per s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    for kind, values in [*tally.latencies.items(), ("all reads", reads)]:
        print(
            f"{kind:<10} {len(values):>7} {len(values) / elapsed:>7.1f} {pct(values, 0.5):>7} "
            f"{pct(values, 0.95):>7} {pct(values, 0.99):>7} {pct(values, 1.0):>7}"
        )
    rate = tally.written / tally.write_seconds if tally.write_seconds else 0.0
    print(
        f"writes: {tally.writes} envelopes, {tally.written:,} objects stored "
        f"({rate:.0f} objects/s while posting)"
    )
    # Reads that overlapped a post against the others: slow reads during posts only point at the
    # writes; slow reads everywhere at the machine (or the server's own read path).
    during: list[float] = []
    apart: list[float] = []
    posts = sorted(tally.post_spans)
    for begin, end in tally.read_spans:
        (during if any(b < end and begin < e for b, e in posts) else apart).append(end - begin)
    print(
        f"reads while a post ran: {len(during)}, p99 {pct(during, 0.99)} ms; "
        f"other reads: {len(apart)}, p99 {pct(apart, 0.99)} ms"
    )
    if tally.read_spans:
        origin = min(b for b, _ in tally.read_spans)
        slowest = sorted(tally.read_spans, key=lambda span: span[0] - span[1])[:8]
        print(
            "slowest reads (start s: ms): "
            + ", ".join(f"{b - origin:.1f}: {1000 * (e - b):.0f}" for b, e in sorted(slowest))
        )
    print(f"the writers' last posts ended {tail:.0f} s after the readers stopped")
    print(
        f"server: {cpu:.1f} CPU-s over the readers' window ({cpu / elapsed:.2f} cores busy on average)"
        + (f", PostgreSQL {db_cpu:.1f} CPU-s" if postmaster else "")
        + f", RSS {memory:.0f} MB"
    )
    print(f"errors: {len(tally.errors)}; 5xx: {tally.server_errors}")
    for error in tally.errors[:10]:
        print("  " + error)
    p99 = reads[min(len(reads) - 1, int(0.99 * len(reads)))] if reads else float("inf")
    met = not tally.errors and not tally.server_errors and p99 < 0.25
    print(
        f"target (0 errors, 0 5xx, read p99 < 250 ms): {'met' if met else 'NOT met'}"
        f" (read p99 {1000 * p99:.0f} ms)"
    )
    shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=1000, help="STIX objects in the collection")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    parser.add_argument("--passes", type=int, default=2, help="full listings per thread")
    parser.add_argument("--page", type=int, default=100, help="objects per page (limit)")
    parser.add_argument("--gets", type=int, default=400, help="get-by-id requests in all")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--mixed", type=float, default=0, help="run the mixed load for this many seconds")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="server processes (--mixed)")
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--write-objects", type=int, default=1000)
    parser.add_argument("--write-pause", type=float, default=1.0)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--size", type=int, default=100_000, help="objects in the collection (--mixed)")
    parser.add_argument("--store", type=Path, default=Path("/tmp/vigil-taxii-scale"))
    parser.add_argument(
        "--pg-data", type=Path, default=None, help="the --pg-url server's data directory (its CPU)"
    )
    args = parser.parse_args()
    if args.mixed:
        args.store.mkdir(parents=True, exist_ok=True)
        mixed_load(args)
        return

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="vigil-taxii-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{workdir / 'exchange.db'}"
    started = time.perf_counter()
    key = seed_vigil(url, max(1, args.objects - SUPPORTING_OBJECTS))
    print(
        f"seeded {args.objects - SUPPORTING_OBJECTS} signals in {time.perf_counter() - started:.1f} s",
        flush=True,
    )

    processes: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as stack:
        stack.callback(_stop, processes)
        vigil_port = free_port()
        processes.append(
            subprocess.Popen([sys.executable, "-c", VIGIL_SERVER, url, str(workdir), str(vigil_port)])
        )
        vigil_auth = ("bench", key)
        wait_until_up(f"http://127.0.0.1:{vigil_port}/taxii2/", vigil_auth, processes[-1])
        vigil_collection = f"http://127.0.0.1:{vigil_port}/taxii2/api1/collections/coalition/"
        with httpx.Client(auth=vigil_auth, headers={"Accept": TAXII}, timeout=300) as c:
            objects = c.get(vigil_collection + "objects/").json()["objects"]
            manifest = c.get(vigil_collection + "manifest/").json()["objects"]
        print(f"collection holds {len(objects)} STIX objects", flush=True)
        # medallion 3.0 reads every object's ``version`` property as a timestamp and answers 500 on
        # the extension-definition (whose ``version`` is "1.0.0"); it gets every other object.
        unservable = {o["id"] for o in objects if o["type"] == "extension-definition"}
        objects = [o for o in objects if o["id"] not in unservable]
        manifest = [m for m in manifest if m["id"] not in unservable]
        ids = [o["id"] for o in objects]
        print(f"both servers get the same {len(ids)} objects (not given to medallion: {len(unservable)})")

        medallion = stack.enter_context(
            run_medallion(
                workdir / "medallion",
                objects,
                manifest=manifest,
                collection_id=str(uuid.uuid4()),
                title="coalition",
                can_write=True,
                users={"bench": "bench-password"},
                page_size=args.page,
            )
        )
        targets = [
            Target("vigil (SQLite, uvicorn)", vigil_collection, vigil_auth),
            Target("medallion 3.0 (memory)", medallion.collection_url, medallion.auth),
        ]
        results = {t.name: measure(t, ids, args) for t in targets}

    print(
        f"\nTAXII reads, {len(ids)} objects, pages of {args.page}, {args.concurrency} concurrent clients, "
        f"{args.passes} listings each, {args.gets} get-by-id"
    )
    columns = ("list objects/s", "s per listing", "get-by-id req/s", "ms per get")
    header = f"{'server':<26} {columns[0]:>15} {columns[1]:>14} {columns[2]:>16} {columns[3]:>11}"
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        print(
            f"{name:<26} {r['listing_objects_per_s']:>15,.0f} {r['listing_seconds_per_pass']:>14.2f} "
            f"{r['gets_per_s']:>16,.1f} {r['get_ms']:>11.1f}"
        )
    vigil_r, medallion_r = results[targets[0].name], results[targets[1].name]
    listing_ratio = vigil_r["listing_objects_per_s"] / medallion_r["listing_objects_per_s"]
    get_ratio = vigil_r["gets_per_s"] / medallion_r["gets_per_s"]
    print(f"{'ratio vigil / medallion':<26} {listing_ratio:>14.1f}x {'':>14} {get_ratio:>15.1f}x")


if __name__ == "__main__":
    main()
