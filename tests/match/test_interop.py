"""Fetching from a TAXII 2.1 server that is not Vigil: medallion 3.0 (the OASIS reference server,
memory backend, its own process on a free port) serving plain STIX indicators with no Vigil
properties. Signals are read from the STIX patterns; what Vigil cannot use is listed, not dropped
silently."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.match._planted import PDQ, flip
from tests.match.conftest import post, write_posts
from tests.support.medallion import COLLECTION, MEDALLION_KEY, run_medallion
from vigil.match.fetch import fetch_signals
from vigil.match.matcher import match_posts
from vigil.match.state import open_index

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
    pytest.importorskip("medallion", reason="medallion is not installed (pip install -e '.[bench]')")
    with run_medallion(tmp_path / "medallion", OBJECTS, collection_id=COLLECTION) as server:
        yield server.base


def test_fetch_from_medallion_and_match(medallion: str, tmp_path: Path) -> None:
    report = fetch_signals(tmp_path / "index", medallion, MEDALLION_KEY)
    assert report.collections == {COLLECTION: 3}
    assert report.new == 2 and report.by_type == {"image_pdq": 1, "url": 1}
    assert len(report.unusable) == 1 and "ipv4-addr" in report.unusable[0]
    assert report.checkpoints[COLLECTION].startswith("2026-03-03")
    again = fetch_signals(tmp_path / "index", medallion, MEDALLION_KEY)
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
