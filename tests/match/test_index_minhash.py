"""The MinHash LSH index: never returns a pair below the threshold, finds clear near-duplicates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vigil.core.errors import InputError
from vigil.match.index import MinHashLshIndex, load_index, lsh_parameters, new_index
from vigil.signals import LinearIndex, get_signal_type
from vigil.signals.text_minhash import PERMUTATIONS, signature_to_hex


def with_agreement(rng: np.random.Generator, base: np.ndarray, agree: int) -> np.ndarray:
    """A signature equal to ``base`` in exactly ``agree`` random positions."""
    other = base.copy()
    change = rng.choice(PERMUTATIONS, PERMUTATIONS - agree, replace=False)
    other[change] = base[change] ^ rng.integers(1, 2**32, len(change), dtype=np.uint32)
    return other


def corpus(seed: int = 3) -> tuple[list[str], list[str], list[int]]:
    """Stored signatures at known agreements (40..128 of 128) with each query."""
    rng = np.random.default_rng(seed)
    queries, stored, agreements = [], [], []
    for _ in range(25):
        base = rng.integers(0, 2**32, PERMUTATIONS, dtype=np.uint32)
        queries.append(signature_to_hex(base))
        for agree in (128, 125, 118, 110, 100, 90, 89, 80, 60, 40):
            stored.append(signature_to_hex(with_agreement(rng, base, agree)))
            agreements.append(agree)
    return queries, stored, agreements


@pytest.mark.parametrize("compacted", [True, False])
def test_subset_of_brute_force_and_catches_clear_duplicates(compacted: bool) -> None:
    queries, stored, agreements = corpus()
    ids = [f"e{i}" for i in range(len(stored))]
    index = new_index("text_minhash")
    assert isinstance(index, MinHashLshIndex)
    index.add_many(stored, ids)
    if compacted:
        index.compact()
    reference = LinearIndex(get_signal_type("text_minhash"))
    reference.add_many(stored, ids)
    need = 90  # ceil(0.7 * 128)
    for query, found, truth in zip(
        queries, index.query_many(queries), reference.query_many(queries), strict=True
    ):
        got = {(m.entry_id, m.distance) for m in found}
        assert got <= {
            (m.entry_id, m.distance) for m in truth
        }  # nothing below the threshold, exact distances
        by_id = dict(zip(ids, agreements, strict=True))
        assert all(by_id[entry_id] >= need for entry_id, _ in got)
        # Agreement >= 0.86 is caught with probability > 0.9999 by the (20, 6) banding.
        clear = {m.entry_id for m in truth if by_id[m.entry_id] >= 110}
        assert clear <= {entry_id for entry_id, _ in got}, query[:16]
        assert len(truth) == 6  # 128, 125, 118, 110, 100, 90 agree enough; 89 does not


def test_real_texts_near_duplicates_found() -> None:
    minhash = get_signal_type("text_minhash")
    texts = [
        "Le vote par correspondance a été compté deux fois dans plusieurs bureaux de Berlin, partagez",
        "Le vote par correspondance a été compté deux fois dans plusieurs bureaux de Berlin, partagez vite",
        "La commission électorale confirme que le dépouillement s'est déroulé normalement à Berlin",
        "الانتخابات مزورة والنتائج معروفة مسبقا في كل المدن",
    ]
    index = MinHashLshIndex()
    index.add_many([minhash.hash_text(t) for t in texts], ["fr1", "fr2", "fr3", "ar1"])  # type: ignore[attr-defined]
    found = index.query(minhash.hash_text(texts[0] + " !"))  # type: ignore[attr-defined]
    assert {m.entry_id for m in found} == {"fr1", "fr2"}
    assert found[0].entry_id == "fr1" and found[0].distance == 0.0


def test_parameters_follow_the_threshold() -> None:
    bands_low, rows_low = lsh_parameters(0.5)
    bands_high, rows_high = lsh_parameters(0.9)
    assert rows_low < rows_high and bands_low > bands_high
    for t in (0.5, 0.6, 0.7, 0.8, 0.9):
        bands, rows = lsh_parameters(t)
        assert bands * rows <= PERMUTATIONS

        def caught(similarity: float, bands: int = bands, rows: int = rows) -> float:
            return float(1 - (1 - similarity**rows) ** bands)

        # Most pairs at the threshold become candidates, few pairs 0.2 below it do, and pairs
        # 0.1 above it almost always do.
        assert caught(t) >= 0.8
        assert caught(t - 0.2) <= 0.3
        assert caught(min(t + 0.1, 1.0)) >= 0.97
    with pytest.raises(InputError, match="Jaccard similarity in"):
        MinHashLshIndex(threshold=1.5)


def test_remove_and_save_load(tmp_path: Path) -> None:
    queries, stored, _ = corpus(seed=8)
    index = MinHashLshIndex(threshold=0.8)
    index.add_many(stored, [f"e{i // 2}" for i in range(len(stored))])
    before = index.query_many(queries)
    assert index.remove(["e0"]) == 2
    after = index.query_many(queries)
    assert {m.entry_id for m in before[0]} - {m.entry_id for m in after[0]} == {"e0"}
    index.save(tmp_path / "mh")
    loaded = load_index(tmp_path / "mh")
    assert isinstance(loaded, MinHashLshIndex)
    assert loaded.threshold == 0.8 and (loaded.bands, loaded.rows) == lsh_parameters(0.8)
    assert loaded.query_many(queries) == after
    assert len(loaded) == len(stored) - 2
