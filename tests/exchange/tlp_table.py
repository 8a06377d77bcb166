"""The expected answer to "may this organisation see an item with this marking?", written out by
hand from docs/exchange.md as an oracle independent of vigil.exchange.access."""

from __future__ import annotations

from vigil.exchange.records import TLP

# How the viewer relates to the item's source organisation.
RELATIONS = ("source", "same_kind", "other_kind", "listed_same_kind", "listed_other_kind")

EXPECTED: dict[TLP, dict[str, bool]] = {
    TLP.CLEAR: dict.fromkeys(RELATIONS, True),
    TLP.GREEN: dict.fromkeys(RELATIONS, True),
    TLP.AMBER: {
        "source": True,
        "same_kind": True,
        "other_kind": False,  # e.g. a government never sees a platform's AMBER unless named
        "listed_same_kind": True,
        "listed_other_kind": True,
    },
    TLP.AMBER_STRICT: {
        "source": True,
        "same_kind": False,
        "other_kind": False,
        "listed_same_kind": True,
        "listed_other_kind": True,
    },
    TLP.RED: {
        "source": True,
        "same_kind": False,
        "other_kind": False,
        "listed_same_kind": True,
        "listed_other_kind": True,
    },
}
