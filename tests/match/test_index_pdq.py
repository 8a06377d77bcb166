"""The PDQ multi-index-hashing index returns exactly what a brute-force scan returns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.core.errors import DataError, InputError
from vigil.match.index import PdqIndex, load_index, new_index
from vigil.match.index.pdq import Layout, choose_layout, hamming_sums
from vigil.signals.image_pdq import bytes_to_hex


def brute_force(codes: np.ndarray, queries: np.ndarray, radius: int) -> set[tuple[int, int, int]]:
    """(query, row, distance) of every pair within ``radius``, with Python integers."""
    stored = [int.from_bytes(bytes(c), "big") for c in codes]
    found = set()
    for qi, q in enumerate(queries):
        value = int.from_bytes(bytes(q), "big")
        for row, code in enumerate(stored):
            distance = (value ^ code).bit_count()
            if distance <= radius:
                found.add((qi, row, distance))
    return found


def flip_bits(rng: np.random.Generator, code: np.ndarray, count: int) -> np.ndarray:
    bits = np.unpackbits(code)
    positions = rng.choice(256, size=count, replace=False)
    bits[positions] ^= 1
    return np.packbits(bits)


def planted(seed: int, bases: int, copies: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Random codes plus near-duplicates at radius - 1, radius and radius + 1 of each; queries are
    the bases, fresh near-duplicates of them, and unrelated codes."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (bases, 32), dtype=np.uint8)
    rows = [base]
    for i in range(copies):
        distance = max(0, min(256, radius - 1 + i % 3))
        rows.append(np.stack([flip_bits(rng, code, distance) for code in base]))
    codes = np.concatenate(rows)
    queries = np.concatenate(
        [
            base,
            np.stack([flip_bits(rng, code, min(radius, 256)) for code in base]),
            rng.integers(0, 256, (bases, 32), dtype=np.uint8),
        ]
    )
    return codes, queries


def results(index: PdqIndex, queries: np.ndarray) -> set[tuple[int, int, int]]:
    q, r, d = index.search_encoded(queries)
    return {(int(a), int(b), int(c)) for a, b, c in zip(q, r, d, strict=True)}


@pytest.mark.parametrize("radius", [0, 1, 10, 15, 16, 17, 31, 32, 40, 47, 48, 60])
@pytest.mark.parametrize("compacted", [True, False])
def test_same_as_brute_force_on_planted_codes(radius: int, compacted: bool) -> None:
    codes, queries = planted(seed=radius, bases=40, copies=6, radius=radius)
    index = PdqIndex(threshold=radius, threads=2)
    index.add_encoded(codes, [f"e{i}" for i in range(len(codes))])
    if compacted:
        index.compact()  # search through the chunk tables, not the pending scan
    expected = brute_force(codes, queries, radius)
    assert results(index, queries) == expected
    assert any(d == radius for _, _, d in expected)  # the edge itself is exercised


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    radius=st.integers(min_value=0, max_value=64),
    size=st.integers(min_value=1, max_value=60),
)
def test_property_same_as_brute_force(data: st.DataObject, radius: int, size: int) -> None:
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, (size, 32), dtype=np.uint8)
    # Queries near stored codes at distances spread around the radius, and a few random ones.
    picks = rng.integers(0, size, 12)
    near = [
        flip_bits(rng, codes[i], int(rng.integers(max(0, radius - 3), min(256, radius + 3) + 1)))
        for i in picks
    ]
    queries = np.concatenate([np.stack(near), rng.integers(0, 256, (3, 32), dtype=np.uint8)])
    index = PdqIndex(threshold=radius, threads=1)
    split = data.draw(st.integers(0, size))
    index.add_encoded(codes[:split], [f"e{i}" for i in range(split)])
    index.compact()
    index.add_encoded(codes[split:], [f"e{i}" for i in range(split, size)])  # stays pending
    assert results(index, queries) == brute_force(codes, queries, radius)


def test_distance_31_matches_32_does_not_through_the_tables() -> None:
    rng = np.random.default_rng(5)
    background = rng.integers(0, 256, (5000, 32), dtype=np.uint8)
    query = rng.integers(0, 256, (1, 32), dtype=np.uint8)
    at_31, at_32 = flip_bits(rng, query[0], 31), flip_bits(rng, query[0], 32)
    index = new_index("image_pdq")
    assert isinstance(index, PdqIndex)
    index.add_encoded(
        np.concatenate([background, [at_31, at_32]]), [f"bg{i}" for i in range(5000)] + ["31", "32"]
    )
    index.compact()
    matches = index.query(bytes_to_hex(query)[0])
    assert [(m.entry_id, m.distance) for m in matches] == [("31", 31.0)]
    assert matches[0].value == bytes_to_hex(at_31[None, :])[0]


def test_complement_is_not_a_match() -> None:
    """Distance 256 must not alias to 0 in the byte-summing popcount."""
    code = np.random.default_rng(1).integers(0, 256, (1, 32), dtype=np.uint8)
    complement = ~code
    assert hamming_sums(code.view(np.uint64) ^ complement.view(np.uint64))[0] == 0  # the alias
    for radius in (31, 60):
        index = PdqIndex(threshold=radius)
        index.add_encoded(np.concatenate([code, complement]), ["self", "complement"])
        index.compact()
        assert [m.entry_id for m in index.query(bytes_to_hex(code)[0])] == ["self"]


def test_layout_follows_the_pigeonhole_bound_and_the_bank_size() -> None:
    layout = Layout(16, 16, 31)
    assert layout.radii == (1,) * 16 and layout.probes == 16 * 17
    assert Layout(11, 23, 31).radii == (2,) * 10 + (1,)  # 31 = 11 * 2 + 9: ten chunks within 2
    assert Layout(16, 16, 10).used == tuple(range(11))  # 11 exact chunk lookups suffice for r = 10
    assert choose_layout(1000, 31) is None  # a scan is cheaper than any table
    small, large = choose_layout(100_000, 31), choose_layout(10_000_000, 31)
    assert small is not None and large is not None
    # Longer chunks (fewer candidates per probe) as the bank grows, within the table budget.
    assert large.bits > small.bits and large.probes > small.probes
    assert large.candidates(10_000_000) < small.candidates(10_000_000) / 5
    assert choose_layout(1_000_000, 60) is None  # a scan is cheaper


@pytest.mark.parametrize(
    "layout",
    [Layout(16, 16, 31), Layout(12, 21, 31), Layout(11, 23, 31), Layout(13, 19, 31), Layout(10, 20, 31)],
    ids=lambda layout: f"{layout.chunks}x{layout.bits}",
)
def test_every_layout_is_exact(layout: Layout) -> None:
    """Chunks that straddle 64-bit words, leave bits uncovered, or have uneven radii: same as a scan."""
    codes, queries = planted(seed=layout.bits, bases=60, copies=6, radius=31)
    index = PdqIndex(threshold=31, threads=2, layout=layout)
    index.add_encoded(codes, [f"e{i}" for i in range(len(codes))])
    index.compact()
    assert index.layouts == [layout.describe()]
    expected = brute_force(codes, queries, 31)
    assert results(index, queries) == expected
    assert any(d == 31 for _, _, d in expected)


def test_add_remove_and_save_load_round_trip(tmp_path: Path) -> None:
    codes, queries = planted(seed=9, bases=50, copies=4, radius=31)
    ids = [f"sig-{i % 70}" for i in range(len(codes))]  # some ids hold several codes
    index = PdqIndex(threads=1)
    index.add_encoded(codes, ids)
    index.compact()
    before = results(index, queries)
    removed = index.remove(["sig-3", "sig-4", "unknown"])
    assert removed == sum(1 for i in ids if i in {"sig-3", "sig-4"})
    assert len(index) == len(codes) - removed
    alive = np.array([i not in {"sig-3", "sig-4"} for i in ids])
    expected = brute_force(codes[alive], queries, 31)
    # Row numbers change once removed rows are dropped: compare by entry id and distance.
    keyed = {(q, [i for i, a in zip(ids, alive, strict=True) if a][r], d) for q, r, d in expected}

    def by_id(idx: PdqIndex) -> set[tuple[int, str, int]]:
        q, r, d = idx.search_encoded(queries)
        return {(int(a), name, int(c)) for a, name, c in zip(q, idx.entry_ids(r), d, strict=True)}

    assert by_id(index) == keyed
    assert by_id(index) != {(q, ids[r], d) for q, r, d in before}

    index.save(tmp_path / "pdq")
    loaded = load_index(tmp_path / "pdq")
    assert isinstance(loaded, PdqIndex)
    assert len(loaded) == len(index)
    assert by_id(loaded) == keyed
    # Incremental add after load; saving again replaces the files atomically.
    extra = flip_bits(np.random.default_rng(0), queries[0], 5)
    loaded.add_encoded(extra[None, :], ["late"])
    assert "late" in {m.entry_id for m in loaded.query(bytes_to_hex(queries[:1])[0])}
    loaded.save(tmp_path / "pdq")
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "pdq").iterdir()) == [
        "manifest.json",
        "s0alive",
        "s0codes",
        "s0ids",
    ]  # a few hundred codes: a scan segment, no tables; the previous save's files are gone
    assert len(load_index(tmp_path / "pdq")) == len(index) + 1


def test_query_by_hex_and_bad_input(tmp_path: Path) -> None:
    index = PdqIndex()
    index.add("F" * 64, "upper")
    assert [m.entry_id for m in index.query("f" * 64)] == ["upper"]
    with pytest.raises(InputError, match="64 hex characters, got 63"):
        index.query("f" * 63)
    with pytest.raises(InputError, match="got 2 values but 1 entry ids"):
        index.add_many(["f" * 64, "0" * 64], ["one"])
    with pytest.raises(InputError, match=r"\(n, 32\)"):
        index.search_encoded(np.zeros((2, 31), dtype=np.uint8))
    with pytest.raises(InputError, match="whole number of bits"):
        PdqIndex(threshold=31.5)
    with pytest.raises(DataError, match=r"manifest\.json missing"):
        load_index(tmp_path / "nothing")
    index.save(tmp_path / "saved")
    (tmp_path / "saved" / "manifest.json").write_text('{"format": "something else"}')
    with pytest.raises(DataError, match="not a Vigil signal index"):
        load_index(tmp_path / "saved")


def test_loading_checks_the_kind_and_counts(tmp_path: Path) -> None:
    index = PdqIndex()
    index.add("0" * 64, "a")
    index.save(tmp_path / "i")
    with pytest.raises(DataError, match="expected 'minhash-lsh'"):
        from vigil.match.index import MinHashLshIndex

        MinHashLshIndex.load(tmp_path / "i")
    manifest = tmp_path / "i" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"count": 1', '"count": 2'))
    with pytest.raises(DataError, match="manifest says 2"):
        load_index(tmp_path / "i")


def test_shared_between_threads() -> None:
    """Concurrent adds and queries (which merge segments) leave a consistent, exact index."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(11)
    codes = rng.integers(0, 256, (6000, 32), dtype=np.uint8)
    index = PdqIndex(threads=2)
    index.merge_at = 500  # force merges while other threads query

    def work(part: int) -> None:
        for start in range(part * 1500, (part + 1) * 1500, 250):
            index.add_encoded(codes[start : start + 250], [f"e{i}" for i in range(start, start + 250)])
            index.search_encoded(codes[start : start + 20])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    assert len(index) == 6000
    queries = np.stack([flip_bits(rng, codes[i], 20) for i in range(0, 6000, 300)])
    q, r, d = index.search_encoded(queries)
    got = {(int(a), name, int(c)) for a, name, c in zip(q, index.entry_ids(r), d, strict=True)}
    expected = {(qi, f"e{row}", dist) for qi, row, dist in brute_force(codes, queries, 31)}
    assert got == expected
