"""medallion, the OASIS TAXII 2.1 reference server, as a peer for tests and benchmarks.

One helper for every place that needs a TAXII server that is not Vigil (federation tests, match
fetch tests, ``bench/taxii_load.py``): it writes medallion's memory-backend data file and config,
runs ``medallion.scripts.run`` in its own process on a free port of 127.0.0.1, waits until discovery
answers, and stops it afterwards. It imports neither pytest nor Vigil, so a benchmark can use it
(``sys.path`` holding the repository root); tests skip with ``pytest.importorskip("medallion")``.

medallion 3.0's memory backend reads every object's ``version`` as a timestamp (it answers 500 on
an extension-definition, whose ``version`` is "1.0.0") and sorts its collection on each listing
request (keep listings at or below about 1,000 objects).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

TAXII = "application/taxii+json;version=2.1"
STIX = "application/stix+json;version=2.1"
MEDALLION_KEY = "medallion-password"  # the password of user "taxii" unless ``users`` says otherwise
COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
FIRST_DATE_ADDED = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Medallion:
    base: str  # http://127.0.0.1:<port>; discovery is base + /taxii2/
    collection_id: str
    auth: tuple[str, str]  # the first configured user and password

    @property
    def api_root(self) -> str:
        return f"{self.base}/api1/"

    @property
    def collection_url(self) -> str:
        return f"{self.api_root}collections/{self.collection_id}/"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def default_manifest(objects: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One manifest entry per object, added a day apart from 2026-03-01 in list order."""
    return [
        {
            "id": o["id"],
            "date_added": (FIRST_DATE_ADDED + timedelta(days=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "version": o["modified"],
            "media_type": STIX,
        }
        for i, o in enumerate(objects)
    ]


def write_config(
    workdir: Path,
    base: str,
    objects: Sequence[Mapping[str, Any]],
    *,
    manifest: Sequence[Mapping[str, Any]] | None = None,
    collection_id: str = COLLECTION,
    title: str = "partners",
    can_write: bool = False,
    users: Mapping[str, str] | None = None,
    page_size: int = 100,
) -> Path:
    """medallion's data file and config for one readable collection holding ``objects``; the config path."""
    data = {
        "/discovery": {"title": "medallion", "default": f"{base}/api1/", "api_roots": [f"{base}/api1/"]},
        "api1": {
            "information": {"title": "api1", "versions": [TAXII], "max_content_length": 10_000_000},
            "status": [],
            "collections": [
                {
                    "id": collection_id,
                    "title": title,
                    "can_read": True,
                    "can_write": can_write,
                    "media_types": [STIX],
                    "objects": list(objects),
                    "manifest": list(manifest) if manifest is not None else default_manifest(objects),
                }
            ],
        },
    }
    workdir.mkdir(parents=True, exist_ok=True)
    data_path = workdir / "medallion-data.json"
    data_path.write_text(json.dumps(data))
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(data_path),
        },
        "users": dict(users or {"taxii": MEDALLION_KEY}),
        "taxii": {"max_page_size": page_size},
    }
    config_path = workdir / "medallion.json"
    config_path.write_text(json.dumps(config))
    return config_path


@contextmanager
def run_medallion(
    workdir: Path,
    objects: Sequence[Mapping[str, Any]],
    *,
    manifest: Sequence[Mapping[str, Any]] | None = None,
    collection_id: str = COLLECTION,
    title: str = "partners",
    can_write: bool = False,
    users: Mapping[str, str] | None = None,
    page_size: int = 100,
    startup_s: float = 60.0,
) -> Iterator[Medallion]:
    """medallion serving ``objects`` in one readable collection, in its own process, until the
    block ends. ``manifest`` defaults to :func:`default_manifest` (the ``date_added`` clock)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    users = dict(users or {"taxii": MEDALLION_KEY})
    config = write_config(
        workdir,
        base,
        objects,
        manifest=manifest,
        collection_id=collection_id,
        title=title,
        can_write=can_write,
        users=users,
        page_size=page_size,
    )
    command = [sys.executable, "-m", "medallion.scripts.run", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen([*command, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    auth = next(iter(users.items()))
    try:
        deadline = time.monotonic() + startup_s
        while True:
            try:
                answer = httpx.get(f"{base}/taxii2/", auth=auth, headers={"Accept": TAXII}, timeout=5)
                if answer.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                raise RuntimeError(f"medallion exited with {process.returncode} (config {config})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"medallion did not answer at {base}/taxii2/ within {startup_s:g} s")
            time.sleep(0.1)
        yield Medallion(base=base, collection_id=collection_id, auth=auth)
    finally:
        process.terminate()
        process.wait(timeout=10)
