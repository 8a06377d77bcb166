"""``WarningList.hit`` for suffix lists, against the definition it replaced: the value, or any
parent of it with two labels or more ("a.b.c": "b.c"), is on the list; odd dots included."""

from __future__ import annotations

import random

from vigil.exchange.records import SignalKind
from vigil.exchange.warninglists import Action, Match, WarningList


def _by_labels(values: frozenset[str], value: str) -> bool:
    """The earlier definition: split into labels, join each tail of two labels or more."""
    if value in values:
        return True
    parts = value.split(".")
    return any(".".join(parts[i:]) in values for i in range(1, len(parts) - 1))


def test_suffix_hits_match_the_label_definition() -> None:
    rng = random.Random(23)
    labels = ["a", "b", "", "com", "co", "uk", "example"]

    def name(low: int, high: int) -> str:
        return ".".join(rng.choice(labels) for _ in range(rng.randint(low, high)))

    values = frozenset(name(1, 3) for _ in range(40))
    listed = WarningList("l", "t", frozenset({SignalKind.DOMAIN}), Action.FLAG, Match.SUFFIX, values, "test")
    cases = [name(0, 6) for _ in range(5000)] + ["a..b", "a.b.", ".", "..", "", "x.example.com"]
    outcomes = {listed.hit(SignalKind.DOMAIN, v) for v in cases}
    assert outcomes == {True, False}  # both answers are exercised
    for value in cases:
        assert listed.hit(SignalKind.DOMAIN, value) == _by_labels(values, value), value
    assert not listed.hit(SignalKind.URL, next(iter(values)))  # a kind the list does not cover
    exact = WarningList("e", "t", frozenset({SignalKind.DOMAIN}), Action.FLAG, Match.EXACT, values, "test")
    assert not any(exact.hit(SignalKind.DOMAIN, f"zz.{v}") for v in values if f"zz.{v}" not in values)
