"""Signal types: what members share (accounts, URLs, hashes...), how each is derived, normalized,
compared and indexed. See docs/signals.md.

``get_signal_type(name)`` returns a :class:`SignalType`; ``normalize(name, value)`` is the one call
the exchange makes when a member submits a signal.
"""

from vigil.signals.base import (
    Comparison,
    DerivesFromAccount,
    DerivesFromPost,
    DerivesFromTexts,
    DistanceSignalType,
    HashesBytes,
    HashesText,
    Row,
    SignalType,
)
from vigil.signals.derive import derive_account_signals, derive_post_signals
from vigil.signals.index import ExactIndex, IndexMatch, LinearIndex, SignalIndex
from vigil.signals.registry import get_signal_type, normalize, signal_types

__all__ = [
    "Comparison",
    "DerivesFromAccount",
    "DerivesFromPost",
    "DerivesFromTexts",
    "DistanceSignalType",
    "ExactIndex",
    "HashesBytes",
    "HashesText",
    "IndexMatch",
    "LinearIndex",
    "Row",
    "SignalIndex",
    "SignalType",
    "derive_account_signals",
    "derive_post_signals",
    "get_signal_type",
    "normalize",
    "signal_types",
]
