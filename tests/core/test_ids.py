"""``stable_id`` is the text of ``stable_uuid`` (a UUIDv5), computed without ``uuid.UUID``."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from vigil.core.ids import VIGIL_NAMESPACE, stable_id, stable_uuid


@given(st.text(max_size=40), st.lists(st.text(max_size=200), min_size=1, max_size=3))
def test_stable_id_is_the_uuid5_of_the_parts(prefix: str, parts: list[str]) -> None:
    expected = uuid.uuid5(VIGIL_NAMESPACE, "\x1f".join(parts))
    assert stable_uuid(*parts) == expected
    assert stable_id(prefix, *parts) == f"{prefix}--{expected}"


def test_a_known_signal_id_is_unchanged() -> None:
    # stored ids must never move: this one is in databases already
    expected = "indicator--90122b15-ffc5-541b-9bb6-b56964aed2d9"
    assert stable_id("indicator", "domain", "example.com") == expected
