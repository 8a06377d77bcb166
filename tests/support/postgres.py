"""The throw-away PostgreSQL cluster of a pytest process (each xdist worker): ``initdb`` and
``pg_ctl`` on a free port, its unix socket in a private temporary directory; each test (or module)
gets its own database in it (``PostgresCluster.new_database``). If the binaries are missing, the
PostgreSQL parameters are skipped with a loud reason (``./dev test`` installs them).

Loaded once as a plugin (``pytest_plugins`` in tests/conftest.py). Never import the
``postgres_cluster`` fixture into a test module or another conftest: pytest treats an imported
fixture as that module's own definition, so every importer started (and kept running until the
end) a cluster of its own: 24 clusters per worker, and half a minute of stopping them at the end.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PostgresCluster:
    base_url: str  # postgresql+psycopg://postgres@127.0.0.1:<port>
    _migrated: str | None = None  # a database at the head migration, the template of migrated ones

    def new_database(self, *, migrated: bool = False) -> str:
        """A new empty database, or (``migrated``) one already at the head migration.

        A migrated one is a copy of a template migrated once per cluster: running every migration
        again took 1.76 s per database against 0.49 s for the copy (load 16), and most of the
        PostgreSQL tests start from a migrated database.
        """
        name = f"t_{uuid.uuid4().hex[:16]}"
        template = f' TEMPLATE "{self._template()}"' if migrated else ""
        engine = create_engine(f"{self.base_url}/postgres", isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                for attempt in range(50):
                    try:
                        conn.execute(text(f'CREATE DATABASE "{name}"{template}'))
                        break
                    except OperationalError as exc:
                        # a template's last session may still be closing on the server
                        if "being accessed by other users" not in str(exc) or attempt == 49:
                            raise
                        time.sleep(0.1)
        finally:
            engine.dispose()
        return f"{self.base_url}/{name}"

    def _template(self) -> str:
        if self._migrated is None:
            from vigil.db import Database

            url = self.new_database()
            database = Database(url, auto_upgrade=True)
            database.dispose()
            self._migrated = url.rsplit("/", 1)[1]
        return self._migrated


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A private PostgreSQL cluster for this test process, stopped and deleted at the end."""
    pg_bin = _pg_bin()
    if pg_bin is None:
        pytest.skip(
            "!!! PostgreSQL binaries (initdb, pg_ctl) not found: PostgreSQL tests SKIPPED. "
            "Install with `apt-get install -y postgresql` (./dev test does this) !!!"
        )
    root = Path(tempfile.mkdtemp(prefix="vigil-pg-", dir="/tmp"))
    as_root = os.geteuid() == 0

    def run(*args: str) -> None:
        cmd = [str(a) for a in args]
        if as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    if as_root:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    data = root / "data"
    run(
        str(pg_bin / "initdb"),
        "-D",
        str(data),
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--locale=C.UTF-8",
        "--no-sync",
    )
    opts = f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off -c synchronous_commit=off"
    run(str(pg_bin / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o", opts, "start")
    try:
        yield PostgresCluster(base_url=f"postgresql+psycopg://postgres@127.0.0.1:{port}")
    finally:
        run(str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        discard(root)


def discard(root: Path) -> None:
    """Delete ``root`` in a detached ``rm``, without waiting for it.

    By the end of a CI worker the cluster holds every PostgreSQL test's database: a few hundred,
    each about 12 MB in some 500 files. Deleting them in the fixture's teardown took about 20 s,
    charged to whichever test that worker ran last, at the very end of the run (the critical path);
    nothing waits for the files to go.
    """
    # The shell starts rm in the background and returns at once: no child is left to this process
    # (a Popen still running when collected is a ResourceWarning, an error in these tests).
    subprocess.run(
        ["sh", "-c", 'rm -rf -- "$0" &', str(root)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # not stopped with pytest's process group
        check=True,
        timeout=30,
    )
