"""Fetching from a TAXII 2.1 server that is not Vigil: medallion 3.0 (the OASIS reference server,
memory backend, its own process on a free port) serving plain STIX indicators with no Vigil
properties. Signals are read from the STIX patterns; what Vigil cannot use is listed, not dropped
silently."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from tests.exchange.conftest import free_port
from tests.match._planted import PDQ, flip
from tests.match.conftest import post, write_posts
from vigil.match.fetch import fetch_signals
from vigil.match.matcher import match_posts
from vigil.match.state import open_index

TAXII = "application/taxii+json;version=2.1"
COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"  # TLP 1.0 GREEN, as stix2 ships it


def indicator(n: int, pattern: str, **extra: object) -> dict[str, object]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--00000000-0000-4000-8000-00000000000{n}",
        "created": "2026-03-01T12:00:00.000Z",
        "modified": "2026-03-01T12:00:00.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-03-01T12:00:00Z",
        **extra,
    }


OBJECTS = [
    indicator(
        1,
        "[url:value = 'http://www.example.org/fake-poll?utm_source=x']",
        object_marking_refs=[GREEN],
        confidence=70,
    ),
    indicator(2, f"[file:hashes.'PDQ' = '{PDQ.upper()}']", confidence=80),
    indicator(3, "[ipv4-addr:value = '198.51.100.7']"),
]


@pytest.fixture
def medallion(tmp_path: Path) -> Iterator[str]:
    if importlib.util.find_spec("medallion") is None:
        pytest.skip("medallion is not installed (pip install -e '.[bench]')")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    manifest = [
        {
            "id": o["id"],
            "date_added": f"2026-03-0{i + 1}T00:00:00.000000Z",
            "version": o["modified"],
            "media_type": "application/stix+json;version=2.1",
        }
        for i, o in enumerate(OBJECTS)
    ]
    data = {
        "/discovery": {"title": "medallion", "default": f"{base}/api1/", "api_roots": [f"{base}/api1/"]},
        "api1": {
            "information": {"title": "api1", "versions": [TAXII], "max_content_length": 10_000_000},
            "status": [],
            "collections": [
                {
                    "id": COLLECTION,
                    "title": "partners",
                    "can_read": True,
                    "can_write": False,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": OBJECTS,
                    "manifest": manifest,
                }
            ],
        },
    }
    (tmp_path / "data.json").write_text(json.dumps(data))
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(tmp_path / "data.json"),
        },
        "users": {"taxii": "medallion-password"},
        "taxii": {"max_page_size": 100},
    }
    (tmp_path / "medallion.json").write_text(json.dumps(config))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "medallion.scripts.run",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            str(tmp_path / "medallion.json"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(
                    f"{base}/taxii2/", auth=("taxii", "medallion-password"), headers={"Accept": TAXII}
                )
                if response.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("medallion did not start")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_fetch_from_medallion_and_match(medallion: str, tmp_path: Path) -> None:
    report = fetch_signals(tmp_path / "index", medallion, "medallion-password")
    assert report.collections == {COLLECTION: 3}
    assert report.new == 2 and report.by_type == {"image_pdq": 1, "url": 1}
    assert len(report.unusable) == 1 and "ipv4-addr" in report.unusable[0]
    assert report.checkpoints[COLLECTION].startswith("2026-03-03")
    again = fetch_signals(tmp_path / "index", medallion, "medallion-password")
    assert again.objects_received == 0

    index = open_index(tmp_path / "index")
    tlps = {r.kind: r.tlp for r in index.contributions.values()}
    assert tlps == {"url": "GREEN", "image_pdq": None}  # TLP 1.0 GREEN understood; unmarked kept unmarked
    posts = write_posts(
        tmp_path / "posts.parquet",
        [
            post("a", urls=["https://example.org/fake-poll"]),
            post("b", pdq=[flip(PDQ, 12)]),
            post("c", urls=["https://example.org/real-poll"]),
        ],
    )
    run = match_posts(posts, index, tmp_path / "out")
    assert sorted((r["post_id"], r["signal_type"]) for r in pq.read_table(run.matches_path).to_pylist()) == [
        ("a", "url"),
        ("b", "image_pdq"),
    ]
