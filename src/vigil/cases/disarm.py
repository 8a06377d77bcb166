"""DISARM technique ids for cases, from the one DISARM catalogue (:mod:`vigil.exchange.disarm`).

Cases validate ids by format only (the ``technique`` signal type's rule, through the catalogue's
``validate``): an id the catalogue does not know is still accepted, because newer framework
versions add techniques; it just has no name. Names and the CC BY-SA 4.0 attribution are the
catalogue's.
"""

from __future__ import annotations

from collections.abc import Iterable

from vigil.exchange.disarm import ATTRIBUTION, catalogue, technique_ids

__all__ = ["ATTRIBUTION", "normalize_techniques", "technique_label"]


def normalize_techniques(values: Iterable[str]) -> tuple[str, ...]:
    """Validated, upper-cased, de-duplicated technique ids (InputError naming a bad one)."""
    return technique_ids(values, known=False)


def technique_label(technique_id: str) -> str:
    """``T0049 Flood Information Space`` (just the id when the catalogue does not know it)."""
    return catalogue().label(technique_id)
