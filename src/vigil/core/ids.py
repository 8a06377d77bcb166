"""Identifiers: random ones for new records, deterministic ones where the same input must give the same id."""

from __future__ import annotations

import hashlib
import uuid

# A fixed namespace so deterministic ids are stable across machines and releases.
VIGIL_NAMESPACE = uuid.UUID("6b1f3a52-8c5e-4d0e-9a57-3f6c2b1d9e10")
_NAMESPACE_BYTES = VIGIL_NAMESPACE.bytes


def new_id(prefix: str) -> str:
    """A new random id such as ``case--2f0c...``; the prefix says what kind of record it names."""
    return f"{prefix}--{uuid.uuid4()}"


def stable_uuid(*parts: str) -> uuid.UUID:
    """A UUIDv5 derived from ``parts``: same parts, same id (used for STIX ids of signals)."""
    return uuid.uuid5(VIGIL_NAMESPACE, "\x1f".join(parts))


def stable_id(prefix: str, *parts: str) -> str:
    """A deterministic ``prefix--uuid`` id, for example a STIX id for a (type, value) signal.

    The text of ``stable_uuid(*parts)``, computed without building a ``uuid.UUID`` (a bulk
    submission names 20,000 signals; the object and its ``str`` were most of the cost)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + "\x1f".join(parts).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{prefix}--{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def short_hash(text: str, length: int = 16) -> str:
    """A short hex digest for keys and file names; not for security."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()[:length]
