"""API keys: ``vigil_<key id>_<secret>``, shown once at creation; only a SHA-256 of the whole key is stored.

The key id (12 hex characters) is public: it names the key in listings and the audit log and lets
the server find the stored hash without scanning. A fast hash is enough because the secret is 256
random bits, so there is nothing to brute-force (unlike a password).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets

from sqlalchemy import event
from sqlalchemy.orm import Session

from vigil.core.errors import AuthenticationError

PREFIX = "vigil_"
KEY_ID_CHARS = 12

# Bumped whenever this process revokes a key or changes an organisation's status, so that caches
# of authenticated principals (the TAXII routes' KeyCache) drop what they hold at once. A change
# made by another process (the CLI, a second server worker) does not bump it, and need not: every
# TAXII read of a cached principal compares the credentials' stamp it was cached at with the stamp
# in the read's own snapshot (``taxii_store.credentials_stamp``: revoked keys, organisation
# statuses) and authenticates the key again when it moved, so such a change is refused on the very
# next request in every process. The epoch only saves this process that re-check.
# itertools.count, not ``+= 1``: next() is atomic under the GIL, so two concurrent changes always
# leave two distinct values and neither is lost.
_epoch = itertools.count(1)
_current_epoch = 0


def credentials_changed(session: Session | None = None) -> None:
    """Tell this process's principal caches that some key or organisation status changed.

    With ``session``, once more when it commits: a reader that looked the key up between the
    change's flush and its commit saw the old row and may have cached it under the new epoch."""
    global _current_epoch
    _current_epoch = next(_epoch)
    if session is not None:
        event.listen(session, "after_commit", lambda _: credentials_changed(), once=True)


def credentials_epoch() -> int:
    """A number that changes each time :func:`credentials_changed` is called."""
    return _current_epoch


def generate_key() -> tuple[str, str]:
    """A new (key id, full key) pair."""
    key_id = secrets.token_hex(KEY_ID_CHARS // 2)
    return key_id, f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_id_of(key: str) -> str:
    """The key id inside ``key``, or AuthenticationError if it does not look like a Vigil key."""
    start, end = len(PREFIX), len(PREFIX) + KEY_ID_CHARS
    if not key.startswith(PREFIX) or len(key) < end + 2 or key[end] != "_":
        raise AuthenticationError("malformed API key: expected vigil_<key id>_<secret>")
    return key[start:end]


def matches(key: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented key with a stored hash."""
    return hmac.compare_digest(hash_key(key), stored_hash)
