"""Normalize and validate a signal's value for its kind, so equal indicators deduplicate.

The exchange stores one signal per (kind, normalized value). The per-kind rules live in
``vigil.signals`` (one module per signal type); this module only checks the kind name and size
limits first, so a bad submission gets one clear InputError naming the kind.
"""

from __future__ import annotations

from vigil import signals
from vigil.core.errors import InputError
from vigil.exchange.records import SignalKind

MAX_VALUE_CHARS = 10_000


def parse_kind(kind: str | SignalKind) -> SignalKind:
    """The SignalKind named by ``kind``, or an InputError listing the known kinds."""
    try:
        return SignalKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in SignalKind)
        raise InputError(f"unknown signal kind {kind!r}; known kinds: {known}", field="kind") from None


def normalize_value(kind: str | SignalKind, value: str) -> tuple[SignalKind, str]:
    """Validate ``kind`` and return it with ``value`` normalized for deduplication."""
    parsed = parse_kind(kind)
    if not isinstance(value, str):
        raise InputError(f"a {parsed.value} value must be a string", field="value")
    if len(value) > MAX_VALUE_CHARS:
        raise InputError(
            f"{parsed.value} value is {len(value)} characters; at most {MAX_VALUE_CHARS} allowed",
            field="value",
        )
    try:
        return parsed, signals.normalize(parsed.value, value)
    except ValueError as exc:  # a signal type that raised a plain ValueError
        raise InputError(f"invalid {parsed.value} value: {exc}", field="value") from exc
