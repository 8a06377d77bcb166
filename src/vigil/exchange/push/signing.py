"""Webhook signatures (pure): ``X-Vigil-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}."
+ raw body)>`` with ``X-Vigil-Timestamp``; ``verify_signature`` is what a receiver does."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from vigil.core.errors import AuthenticationError
from vigil.core.time import utcnow

SIGNATURE_HEADER = "X-Vigil-Signature"
TIMESTAMP_HEADER = "X-Vigil-Timestamp"
EVENT_HEADER = "X-Vigil-Event"
DELIVERY_HEADER = "X-Vigil-Delivery"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Vigil-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(
    secret: str,
    body: bytes,
    timestamp: str,
    signature: str,
    *,
    now: datetime | None = None,
    tolerance_s: int = 300,
) -> None:
    """What a receiver does: AuthenticationError unless the signature matches and is fresh."""
    try:
        sent = int(timestamp)
    except ValueError:
        raise AuthenticationError(f"bad {TIMESTAMP_HEADER} {timestamp!r}") from None
    current = int((now or utcnow()).timestamp())
    if abs(current - sent) > tolerance_s:
        raise AuthenticationError(f"{TIMESTAMP_HEADER} is {current - sent} s old; possible replay")
    if not hmac.compare_digest(sign(secret, sent, body), signature):
        raise AuthenticationError(f"{SIGNATURE_HEADER} does not match the body")


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
