"""Technique signal: a DISARM framework technique id such as ``T0049`` or sub-technique ``T0049.001``.

Techniques describe how an operation works rather than what it posted, so they are never derived
from a post; members attach them to campaigns and signals. Matching is exact: a sub-technique is not
its parent (a case can roll them up; an index should not guess).
"""

from __future__ import annotations

import re

from vigil.core.errors import InputError
from vigil.signals.base import SignalType

_TECHNIQUE = re.compile(r"T\d{4}(?:\.\d{3})?")


class TechniqueSignal(SignalType):
    name = "technique"
    description = "A DISARM technique id: T followed by 4 digits, optionally .NNN for a sub-technique."
    examples = ("T0049", "T0049.001", "T0086.002")

    def normalize(self, value: str) -> str:
        text = value.strip().upper()
        if not _TECHNIQUE.fullmatch(text):
            raise InputError(
                f"technique value must be a DISARM id like T0049 or T0049.001, got {value[:100]!r}"
            )
        return text


SIGNAL_TYPE = TechniqueSignal()
