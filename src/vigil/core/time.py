"""Time helpers. Vigil stores every instant in UTC; naive inputs are taken as UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from vigil.core.errors import InputError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d|w)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def utcnow() -> datetime:
    """The current instant, timezone-aware in UTC."""
    return datetime.now(UTC)


def ensure_utc(value: datetime) -> datetime:
    """Attach UTC to a naive datetime, convert an aware one to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 instant (``Z`` allowed) or POSIX seconds into an aware UTC datetime."""
    raw = text.strip()
    if not raw:
        raise InputError("empty timestamp")
    try:
        return datetime.fromtimestamp(float(raw), tz=UTC)
    except ValueError:
        pass
    try:
        return ensure_utc(datetime.fromisoformat(raw.replace("Z", "+00:00")))
    except ValueError as exc:
        raise InputError(f"not a timestamp: {text!r} (use ISO 8601 or POSIX seconds)") from exc


def parse_duration(text: str) -> timedelta:
    """Parse ``90``, ``60s``, ``15m``, ``2h``, ``7d`` or ``1w``; a bare number means seconds."""
    match = _DURATION.match(text)
    if not match:
        raise InputError(f"not a duration: {text!r} (examples: 60s, 15m, 2h, 7d)")
    number, unit = match.groups()
    return timedelta(seconds=float(number) * _UNIT_SECONDS[(unit or "s").lower()])


def isoformat_z(value: datetime) -> str:
    """RFC 3339 with a ``Z`` and millisecond precision, as STIX and TAXII expect."""
    utc = ensure_utc(value)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
