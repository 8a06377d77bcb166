"""A throw-away PostgreSQL cluster for the benchmarks (as tests/exchange/conftest.py starts one), a
Vigil server under uvicorn (``vigil_server``), and the CPU seconds a process tree has used (a server
and its workers, or a cluster and its backends)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int) -> float:
    total = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, and cutime, cstime: the CPU of children it reaped (PostgreSQL backends of
        # closed connections), which no longer appear in the tree
        total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / TICKS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres(postmaster_pid: list[int] | None = None) -> Iterator[str]:
    """Start a cluster on a free port, yield its base URL, remove it after.

    ``postmaster_pid``, if given, receives the server's process id (to count its CPU)."""
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
    if postmaster_pid is not None:
        postmaster_pid[:] = [int((data / "postmaster.pid").read_text().split()[0])]
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        run(str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


# A bench's Vigil: the app factory under uvicorn with N workers, on BENCH_DB with data in BENCH_DIR.
SERVER = r"""
import os, sys, uvicorn

def app():
    from vigil.core.settings import load_settings
    from vigil.web.app import create_app

    if os.environ.get("BENCH_LOCK_LOG"):  # every write transaction's hold time (vigil.db.locks)
        import logging

        handler = logging.FileHandler(os.environ["BENCH_LOCK_LOG"])
        handler.setFormatter(logging.Formatter("%(message)s"))
        logging.getLogger("vigil.db.locks").addHandler(handler)
        logging.getLogger("vigil.db.locks").setLevel(logging.DEBUG)

    return create_app(load_settings(database_url=os.environ["BENCH_DB"], data_dir=os.environ["BENCH_DIR"],
                                    max_request_bytes=64_000_000))

if __name__ == "__main__":
    uvicorn.run("bench_server:app", factory=True, host="127.0.0.1", port=int(sys.argv[1]),
                workers=int(sys.argv[2]), log_level="warning", access_log=False,
                # uvicorn kills a worker that does not answer its supervisor's ping within this
                # (default 5 s): on a saturated machine a niced worker can miss that while busy
                timeout_worker_healthcheck=120)
"""


@contextmanager
def vigil_server(
    url: str, workdir: Path, workers: int, lock_log: Path | None = None
) -> Iterator[tuple[str, int]]:
    """Serve Vigil on ``url``; yields its base URL and the server's pid (for ``cpu_seconds``).
    ``lock_log``: a file that receives the hold time of every write transaction (``vigil.db.locks``)."""
    import httpx

    port = free_port()
    (workdir / "bench_server.py").write_text(SERVER)
    path = os.pathsep.join(p for p in (str(workdir), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "BENCH_DB": url, "BENCH_DIR": str(workdir), "PYTHONPATH": path}
    if lock_log is not None:
        env["BENCH_LOCK_LOG"] = str(lock_log)
    process = subprocess.Popen(
        [sys.executable, str(workdir / "bench_server.py"), str(port), str(workers)], env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                httpx.get(base + "/openapi.json", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("vigil did not start") from None
                time.sleep(0.2)
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)
