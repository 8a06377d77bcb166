"""Identifiers: random ones for new records, deterministic ones where the same input must give the same id."""

from __future__ import annotations

import hashlib
import uuid

# A fixed namespace so deterministic ids are stable across machines and releases.
VIGIL_NAMESPACE = uuid.UUID("6b1f3a52-8c5e-4d0e-9a57-3f6c2b1d9e10")


def new_id(prefix: str) -> str:
    """A new random id such as ``case--2f0c...``; the prefix says what kind of record it names."""
    return f"{prefix}--{uuid.uuid4()}"


def stable_uuid(*parts: str) -> uuid.UUID:
    """A UUIDv5 derived from ``parts``: same parts, same id (used for STIX ids of signals)."""
    return uuid.uuid5(VIGIL_NAMESPACE, "\x1f".join(parts))


def stable_id(prefix: str, *parts: str) -> str:
    """A deterministic ``prefix--uuid`` id, for example a STIX id for a (type, value) signal."""
    return f"{prefix}--{stable_uuid(*parts)}"


def short_hash(text: str, length: int = 16) -> str:
    """A short hex digest for keys and file names; not for security."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()[:length]
