"""Co-image trace: PDQ distance 31 clusters and 32 does not, leader vs components, image ids, engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.detect._content_posts import connection, posts
from vigil.core.errors import DataError, InputError
from vigil.detect.contract import EVENTS
from vigil.detect.engine import EngineParams, run_trace
from vigil.detect.similarity.pdq import hamming, radius_pairs, to_codes
from vigil.detect.traces.content import MEMBERS
from vigil.detect.traces.image import ImageTraceParams, co_image

RNG = np.random.default_rng(11)


def random_hash() -> str:
    return bytes(RNG.integers(0, 256, size=32, dtype=np.uint8)).hex()


def flip(hex_hash: str, bits: list[int]) -> str:
    """``hex_hash`` with the given bit positions (0..255) inverted."""
    value = int(hex_hash, 16)
    for bit in bits:
        value ^= 1 << bit
    return f"{value:064x}"


def test_radius_is_inclusive_at_31_and_exclusive_at_32() -> None:
    base = random_hash()
    hashes = [
        base,
        flip(base, list(range(31))),
        flip(base, list(range(32))),
        flip(base, list(range(100, 130))),
    ]
    codes = to_codes(hashes)
    assert hamming(codes[[0, 0, 0]], codes[[1, 2, 3]]).tolist() == [31, 32, 30]
    _, x, d = radius_pairs(codes[:1], codes)
    assert sorted(zip(x.tolist(), d.tolist(), strict=True)) == [(0, 0), (1, 31), (3, 30)]
    _, x, _ = radius_pairs(codes[:1], codes, max_distance=32)
    assert 2 in x.tolist()


def test_distance_31_clusters_and_32_does_not(tmp_path: Path) -> None:
    base = random_hash()
    near = flip(base, list(range(0, 62, 2)))  # 31 bits
    far = flip(base, list(range(64, 96)))  # 32 bits from base, 63 from near
    table = posts(
        [
            {"account": "a", "image_pdq": [base], "at": 0},
            {"account": "b", "image_pdq": [near.upper()], "at": 30},  # case does not matter
            {"account": "c", "image_pdq": [far], "at": 60},
        ]
    )
    trace = co_image(connection(table, tmp_path))
    assert trace.events.schema.equals(EVENTS) and trace.members.schema.equals(MEMBERS)
    assert sorted(trace.events.column("account").to_pylist()) == ["x:a", "x:b"]
    assert set(trace.events.column("item").to_pylist()) == {base}
    scores = {row["account"]: row["score"] for row in trace.members.to_pylist()}
    assert scores == {"x:a": 0.0, "x:b": 31.0}
    # One more bit allowed and c joins base's cluster.
    wider = co_image(connection(table, tmp_path), ImageTraceParams(max_distance=32))
    assert sorted(wider.events.column("account").to_pylist()) == ["x:a", "x:b", "x:c"]


def test_leader_clustering_does_not_chain_but_components_do(tmp_path: Path) -> None:
    a = random_hash()
    b = flip(a, list(range(20)))  # 20 from a
    c = flip(b, list(range(100, 120)))  # 20 from b, 40 from a
    table = posts(
        [
            {"account": "u1", "image_pdq": [a], "at": 0},
            {"account": "u2", "image_pdq": [b], "at": 10},
            {"account": "u3", "image_pdq": [c], "at": 20},
        ]
    )
    led = co_image(connection(table, tmp_path))
    assert sorted(led.events.column("account").to_pylist()) == ["x:u1", "x:u2"]
    chained = co_image(connection(table, tmp_path), ImageTraceParams(clustering="components"))
    assert sorted(chained.events.column("account").to_pylist()) == ["x:u1", "x:u2", "x:u3"]
    assert {row["score"] for row in chained.members.to_pylist()} == {0.0, 20.0, 40.0}


def test_leader_prefers_the_closest_earlier_leader(tmp_path: Path) -> None:
    first = random_hash()
    second = flip(first, list(range(40)))  # 40 bits apart: two leaders
    member = flip(second, list(range(30, 40)))  # 30 from first, 10 from second
    table = posts(
        [
            {"account": "l1", "image_pdq": [first], "at": 0},
            {"account": "l2", "image_pdq": [second], "at": 10},
            {"account": "m", "image_pdq": [member], "at": 20},
        ]
    )
    trace = co_image(connection(table, tmp_path))
    items = {row["account"]: row["item"] for row in trace.members.to_pylist()}
    assert items == {"x:l2": second, "x:m": second}


def test_image_ids_are_exact_items_and_one_account_alone_makes_none(tmp_path: Path) -> None:
    table = posts(
        [
            {"account": "a", "image_ids": ["id-1", "id-2"], "at": 0},
            {"account": "b", "image_ids": ["id-1"], "at": 5},
            {"account": "c", "image_ids": ["id-2"], "platform": "fb", "at": 9},
            {"account": "d", "image_ids": ["id-3"], "at": 9},
            {"account": "d", "image_ids": ["id-3"], "at": 19},
        ]
    )
    trace = co_image(connection(table, tmp_path))
    got = {(row["item"], row["account"]) for row in trace.events.to_pylist()}
    assert got == {
        ("id-1", "x:a"),
        ("id-1", "x:b"),
        ("id-2", "x:a"),
        ("id-2", "fb:c"),
    }
    without = co_image(connection(table, tmp_path), ImageTraceParams(use_image_ids=False))
    assert without.events.num_rows == 0


def test_bucket_carry_over(tmp_path: Path) -> None:
    day = 86_400.0
    base = random_hash()
    other = random_hash()
    table = posts(
        [
            {"account": "a", "image_pdq": [base], "at": day - 10},
            {"account": "b", "image_pdq": [flip(base, [1, 2, 3])], "at": day + 10},
            {"account": "c", "image_pdq": [other], "at": 0},
            {"account": "d", "image_pdq": [flip(other, [5])], "at": 3 * day},
        ]
    )
    trace = co_image(connection(table, tmp_path))
    assert sorted(trace.events.column("account").to_pylist()) == ["x:a", "x:b"]


def test_through_the_engine(tmp_path: Path) -> None:
    rows = []
    for k in range(3):
        picture = random_hash()
        for i, account in enumerate(["m1", "m2", "m3"]):
            rows.append(
                {"account": account, "image_pdq": [flip(picture, list(range(i * 5)))], "at": k * 9000 + i}
            )
    rows.append({"account": "lone", "image_pdq": [random_hash()], "at": 5})
    con = connection(posts(rows), tmp_path)
    trace = co_image(con)
    result = run_trace(con, trace.spec, EngineParams(min_items=3))
    assert {(r["account_a"], r["account_b"]) for r in result.edges.to_pylist()} == {
        ("x:m1", "x:m2"),
        ("x:m1", "x:m3"),
        ("x:m2", "x:m3"),
    }


def test_bad_hash_names_the_post_and_column(tmp_path: Path) -> None:
    table = posts([{"account": "a", "post_id": "bad-1", "image_pdq": ["abc123"], "at": 0}])
    with pytest.raises(DataError, match="bad-1") as info:
        co_image(connection(table, tmp_path))
    assert info.value.column == "image_pdq"
    with pytest.raises(InputError, match="max_distance"):
        ImageTraceParams(max_distance=256)
