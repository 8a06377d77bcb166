"""Every signal type gets an index from the factory, and every index kind survives save/load."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.core.errors import DataError, InputError
from vigil.match.index import load_index, new_index
from vigil.signals import ExactIndex, LinearIndex, SignalType, get_signal_type, signal_types

TYPES = list(signal_types().values())


@pytest.mark.parametrize("signal_type", TYPES, ids=[t.name for t in TYPES])
def test_every_type_indexes_saves_and_loads(signal_type: SignalType, tmp_path: Path) -> None:
    index = new_index(signal_type.name)
    examples = list(signal_type.examples)
    index.add_many(examples, [f"id{i}" for i in range(len(examples))])
    index.add(f"  {examples[0]} ", "dup")  # normalized on the way in
    expected = index.query_many(examples)
    assert {m.entry_id for m in expected[0]} == {"id0", "dup"}
    index.save(tmp_path / signal_type.name)
    loaded = load_index(tmp_path / signal_type.name)
    assert type(loaded) is type(index)
    assert loaded.signal_type is signal_type
    assert len(loaded) == len(examples) + 1
    assert [sorted((m.entry_id, m.value) for m in row) for row in loaded.query_many(examples)] == [
        sorted((m.entry_id, m.value) for m in row) for row in expected
    ]


def test_exact_index_uses_the_type_key() -> None:
    narrative = get_signal_type("narrative")
    index = new_index(narrative)
    assert isinstance(index, ExactIndex)
    index.add("The postal votes were COUNTED twice!", "n1")
    assert [m.entry_id for m in index.query("the postal votes were counted twice")] == ["n1"]
    index.add("the postal votes were counted twice", "n1")  # same key, same id: still one entry
    index.add("Another claim entirely", "n1")
    assert len(index) == 2
    assert index.remove(["n1", "n1"]) == 2
    assert len(index) == 0
    assert index.query("another claim entirely") == []


def test_linear_index_is_the_default_for_distance_types(tmp_path: Path) -> None:
    pdq = get_signal_type("image_pdq")
    index = pdq.new_index(threshold=4)
    assert isinstance(index, LinearIndex)
    index.add("0" * 64, "zero")
    assert [m.distance for m in index.query("0" * 63 + "f")] == [4.0]
    assert index.query("0" * 62 + "1f") == []
    index.save(tmp_path)
    loaded = load_index(tmp_path)
    assert isinstance(loaded, LinearIndex) and loaded.threshold == 4
    assert [m.entry_id for m in loaded.query("0" * 63 + "f")] == ["zero"]


def test_thresholds_are_checked() -> None:
    with pytest.raises(InputError, match="no threshold"):
        new_index("url", threshold=3)
    with pytest.raises(InputError, match="unknown signal type"):
        new_index("nope")


def test_unknown_saved_kind(tmp_path: Path) -> None:
    index = new_index("hashtag")
    index.add("wahl2021", "h")
    index.save(tmp_path)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"exact"', '"quantum"'))
    with pytest.raises(DataError, match="unknown index kind 'quantum'"):
        load_index(tmp_path)


def test_thresholds_from_settings() -> None:
    from vigil.core.errors import ConfigError
    from vigil.core.settings import load_settings
    from vigil.match.index import MinHashLshIndex, PdqIndex

    settings = load_settings(signal_thresholds={"image_pdq": 24, "text_minhash": 0.85})
    pdq = new_index("image_pdq", settings=settings)
    assert isinstance(pdq, PdqIndex) and pdq.radius == 24
    assert new_index("image_pdq", 10, settings=settings).threshold == 10  # an explicit value wins
    minhash = new_index("text_minhash", settings=settings)
    assert isinstance(minhash, MinHashLshIndex) and minhash.threshold == 0.85
    assert new_index("url", settings=settings).threshold is None
    with pytest.raises(ConfigError, match="unknown signal type 'imagepdq'"):
        new_index("image_pdq", settings=load_settings(signal_thresholds={"imagepdq": 3}))
    with pytest.raises(ConfigError, match="whole number of bits"):
        new_index("image_pdq", settings=load_settings(signal_thresholds={"image_pdq": 2.5}))


def test_thresholds_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from vigil.core.settings import load_settings

    monkeypatch.setenv("VIGIL_SIGNAL_THRESHOLDS", '{"image_pdq": 20}')
    assert new_index("image_pdq", settings=load_settings()).threshold == 20


class _CountingType:
    """Wraps a signal type and counts calls of ``normalize_many`` (the pass ``normalized`` skips)."""

    def __init__(self, inner: SignalType) -> None:
        self.inner = inner
        self.calls = 0

    def normalize_many(self, values: list[str]) -> list[str]:
        self.calls += 1
        return self.inner.normalize_many(values)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


@pytest.mark.parametrize("signal_type", TYPES, ids=[t.name for t in TYPES])
def test_normalized_queries_skip_the_normalize_pass_with_the_same_answer(signal_type: SignalType) -> None:
    for index in (new_index(signal_type.name), LinearIndex(signal_type, None)):
        examples = list(signal_type.examples)
        index.add_many(examples, [f"id{i}" for i in range(len(examples))])
        normal = signal_type.normalize_many(examples)
        counting = _CountingType(signal_type)
        index.signal_type = counting  # type: ignore[assignment]
        plain = index.query_many(examples)
        assert counting.calls == 1
        trusted = index.query_many(normal, normalized=True)
        assert counting.calls == 1, f"{type(index).__name__} normalized values it was told are normal"
        assert trusted == plain
        assert all(row for row in trusted)  # every example finds itself
