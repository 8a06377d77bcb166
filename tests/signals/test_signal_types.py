"""The suite every registered signal type runs: adding a type to the registry adds it here."""

from __future__ import annotations

from typing import Any

import pytest

from vigil.core.errors import ConfigError, InputError
from vigil.exchange.records import SignalKind
from vigil.signals import (
    DerivesFromAccount,
    DerivesFromPost,
    DistanceSignalType,
    HashesBytes,
    HashesText,
    SignalType,
    get_signal_type,
    normalize,
    signal_types,
)
from vigil.signals.registry import validate_signal_types
from vigil.signals.technique import TechniqueSignal

from .conftest import png_bytes

TYPES = list(signal_types().values())
ids = [t.name for t in TYPES]

# Types whose values a post always yields something for (the sample post has them all).
DERIVED_FROM_SAMPLE = {
    "account",
    "url",
    "domain",
    "hashtag",
    "text_exact",
    "text_minhash",
    "image_pdq",
    "image_md5",
}


def test_registry_covers_exactly_the_exchange_kinds() -> None:
    assert set(signal_types()) == {kind.value for kind in SignalKind}


def test_unknown_type_lists_known_names() -> None:
    with pytest.raises(InputError) as err:
        get_signal_type("phone_number")
    assert "phone_number" in str(err.value)
    for name in signal_types():
        assert name in str(err.value)


def test_duplicate_names_are_refused_at_registry_build() -> None:
    class Other(TechniqueSignal):
        pass

    with pytest.raises(ConfigError, match="'technique' is used by both"):
        validate_signal_types([TechniqueSignal(), Other()])


def test_bad_examples_are_refused_at_registry_build() -> None:
    class Sloppy(TechniqueSignal):
        name = "sloppy"
        examples = ("t0049",)

    with pytest.raises(ConfigError, match="not normalized"):
        validate_signal_types([Sloppy()])


def test_normalize_entry_point_rejects_non_strings() -> None:
    with pytest.raises(InputError, match="must be a string"):
        normalize("hashtag", 12)  # type: ignore[arg-type]


@pytest.mark.parametrize("signal_type", TYPES, ids=ids)
class TestEverySignalType:
    def test_examples_are_normalized_and_normalize_is_idempotent(self, signal_type: SignalType) -> None:
        for example in signal_type.examples:
            once = signal_type.normalize(example)
            assert once == example
            assert signal_type.normalize(once) == once
            # Surrounding whitespace is never part of a value.
            assert signal_type.normalize(f"  {example}\n") == once

    def test_value_matches_itself_and_not_another_example(self, signal_type: SignalType) -> None:
        first, second = signal_type.examples[0], signal_type.examples[1]
        assert signal_type.compare(first, first).matched
        assert signal_type.compare(first, first).distance == 0
        assert not signal_type.compare(first, second).matched
        # Values are normalized before comparing: surrounding space and case of hex do not matter.
        assert signal_type.compare(f" {first} ", first).matched

    @pytest.mark.parametrize("bad", ["", "   ", "\u200b", "two words\ttab" * 300])
    def test_garbage_is_refused_with_the_type_name(self, signal_type: SignalType, bad: str) -> None:
        with pytest.raises(InputError) as err:
            signal_type.normalize(bad)
        assert signal_type.name in str(err.value) or "text" in str(err.value)

    def test_threshold_rules(self, signal_type: SignalType) -> None:
        value = signal_type.examples[0]
        if isinstance(signal_type, DistanceSignalType):
            assert signal_type.default_threshold is not None
            assert signal_type.compare(value, value, signal_type.default_threshold).matched
            with pytest.raises(InputError, match="threshold"):
                signal_type.compare(value, value, -5)
        else:
            assert signal_type.default_threshold is None
            with pytest.raises(InputError, match="no threshold"):
                signal_type.compare(value, value, 3)

    def test_derive_from_post_gives_normalized_values(
        self, signal_type: SignalType, post: dict[str, Any]
    ) -> None:
        if not isinstance(signal_type, DerivesFromPost):
            assert signal_type.name not in DERIVED_FROM_SAMPLE
            return
        values = signal_type.derive_from_post(post)
        if signal_type.name in DERIVED_FROM_SAMPLE:
            assert values, f"{signal_type.name} derived nothing from the sample post"
        assert len(values) == len(set(values))
        for value in values:
            assert signal_type.normalize(value) == value
        # A post with none of the optional columns filled derives nothing and does not fail.
        empty = {key: None for key in post} | {"platform": None}
        assert signal_type.derive_from_post(empty) == []

    def test_derive_from_account(self, signal_type: SignalType, account: dict[str, Any]) -> None:
        if isinstance(signal_type, DerivesFromAccount):
            values = signal_type.derive_from_account(account)
            assert values
            assert all(signal_type.normalize(v) == v for v in values)

    def test_default_index_finds_what_it_stores(self, signal_type: SignalType) -> None:
        index = signal_type.new_index()
        first, second = signal_type.examples[0], signal_type.examples[1]
        index.add_many([first, second], ["e1", "e2"])
        assert [m.entry_id for m in index.query(first)] == ["e1"]
        assert index.remove(["e1"]) == 1
        assert index.query(first) == []
        assert len(index) == 1

    def test_hashers_give_normalized_values(self, signal_type: SignalType) -> None:
        if isinstance(signal_type, HashesText):
            value = signal_type.hash_text("Un texte d'exemple assez long pour être haché")
            assert signal_type.normalize(value) == value
        if isinstance(signal_type, HashesBytes):
            value = signal_type.hash_bytes(png_bytes())
            assert signal_type.normalize(value) == value


def test_text_minhash_examples_are_the_signatures_of_their_texts() -> None:
    # The examples are stored (computing them at import would load numba in every process that
    # builds the registry); they must still be what the scheme gives for their texts.
    from vigil.signals import text_minhash as tm

    computed = tuple(tm.signature_to_hex(tm.signature_of_normal(t)) for t in tm.EXAMPLE_TEXTS)
    assert tm.TextMinhashSignal.examples == computed


def test_building_the_registry_does_not_load_numba() -> None:
    import subprocess
    import sys

    code = "import sys; from vigil.signals import signal_types; signal_types(); print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
