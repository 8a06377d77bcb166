"""DISARM technique ids for cases: validation (by format, through the exchange's technique signal
type) and names from a small table extracted from the DISARM framework's STIX bundle.

The table ``data/disarm_techniques.json`` is derived from the DISARM Framework by the DISARM
Foundation, licensed CC BY-SA 4.0; it carries that attribution. An id the table does not know is
still accepted (newer framework versions add techniques); it just has no name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources

from vigil.exchange.records import SignalKind
from vigil.exchange.values import normalize_value

ATTRIBUTION = "DISARM Framework, DISARM Foundation, CC BY-SA 4.0"


@lru_cache(maxsize=1)
def technique_names() -> dict[str, str]:
    """DISARM technique id -> name (391 entries)."""
    text = resources.files("vigil.cases").joinpath("data/disarm_techniques.json").read_text("utf-8")
    return dict(json.loads(text)["techniques"])


def normalize_techniques(values: Iterable[str]) -> tuple[str, ...]:
    """Validated, upper-cased, de-duplicated technique ids (InputError naming a bad one)."""
    return tuple(dict.fromkeys(normalize_value(SignalKind.TECHNIQUE, str(v))[1] for v in values))


def technique_label(technique_id: str) -> str:
    """``T0049 Flood Information Space`` (just the id when the table does not know it)."""
    name = technique_names().get(technique_id)
    return f"{technique_id} {name}" if name else technique_id
