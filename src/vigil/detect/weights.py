"""How much one shared item counts towards an edge: popular items are weak evidence.

Two accounts sharing a link that thousands of unrelated accounts also shared says little; sharing
a link that only they shared says a lot. Each item ``i`` gets a weight from ``n_i``, the number of
distinct accounts acting on it in the trace, and ``N``, the number of distinct accounts in the
trace; an edge's weight is the sum of its distinct items' weights. A weighting is a small object
that renders that formula as SQL, so the engine stays one relational pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class ItemWeighting(Protocol):
    """Renders the weight of one item as a SQL expression over ``n_item`` and ``n_total``."""

    @property
    def name(self) -> str: ...

    def sql(self, n_item: str, n_total: str) -> str: ...


@dataclass(frozen=True)
class IdfWeighting:
    """Smoothed inverse document frequency, scaled so an item shared by exactly two accounts weighs 1.

    ``w_i = ln(1 + N / n_i) / ln(1 + N / 2)``: 1 for ``n_i = 2``, falling towards
    ``ln 2 / ln(1 + N/2)`` as ``n_i`` reaches ``N``, never negative, defined for every ``N >= 2``.
    """

    name: str = "idf"

    def sql(self, n_item: str, n_total: str) -> str:
        return f"ln(1.0 + {n_total}::DOUBLE / {n_item}) / ln(1.0 + {n_total}::DOUBLE / 2.0)"


@dataclass(frozen=True)
class UnitWeighting:
    """Every item weighs 1: the edge weight is the number of distinct shared items."""

    name: str = "unit"

    def sql(self, n_item: str, n_total: str) -> str:
        return "1.0"


IDF = IdfWeighting()
UNIT = UnitWeighting()
WEIGHTINGS: dict[str, ItemWeighting] = {w.name: w for w in (IDF, UNIT)}
