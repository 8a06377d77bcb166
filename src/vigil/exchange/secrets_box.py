"""Secrets at rest: webhook HMAC secrets and federation peers' API keys are stored sealed.

Vigil must be able to read both back (it signs webhooks and calls peers with them), so they are
encrypted, not hashed: ``cryptography``'s Fernet (AES-128-CBC + HMAC-SHA256, with a timestamp),
behind a ``MultiFernet`` so keys can be rotated. A stored value names its scheme:

* ``fernet:<token>``: sealed (every value Vigil writes);
* ``clear:<value>``: a value stored before revision 0007, marked by the migration (which has no key)
  and sealed at the next sweep (``seal_legacy``: the push worker's every round, every pull, ``vigil
  push rekey``).

Keys come from ``Settings.secret_key`` (``VIGIL_SECRET_KEY``, comma-separated) or else the file
``Settings.secret_key_file`` (default ``data_dir/secret.key``, one key a line, created with mode
0600 on first use). The first key seals; every key opens. Rotation: put a new key first, keep the
old ones after it, run ``vigil push rekey`` (re-seals everything with the first key), then drop
the old ones. A key that is missing, malformed or cannot open a stored value is a ``ConfigError``
naming the setting: Vigil never falls back to sending unsigned webhooks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from vigil.core.errors import ConfigError
from vigil.core.settings import Settings
from vigil.db import Database
from vigil.exchange.lifecycle_models import FederationPeerRow, SubscriptionRow

SEALED = "fernet:"
LEGACY = "clear:"
KEY_FILE = "secret.key"


def generate_key() -> str:
    """A new random Fernet key (32 bytes, urlsafe base64)."""
    return Fernet.generate_key().decode()


class SecretBox:
    """Seals and opens stored secrets with a list of Fernet keys (first seals, all open)."""

    def __init__(self, keys: Sequence[str], *, source: str) -> None:
        if not keys:
            raise ConfigError(f"no secret key in {source}")
        fernets: list[Fernet] = []
        for number, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key.strip().encode()))
            except (ValueError, TypeError):
                raise ConfigError(
                    f"key {number} in {source} is not a Fernet key (32 bytes, urlsafe base64; "
                    "make one with `vigil push generate-key`)"
                ) from None
        self.source = source
        self.key_count = len(fernets)
        self._fernet = MultiFernet(fernets)

    def seal(self, clear: str) -> str:
        """``fernet:<token>`` for ``clear``, sealed with the first key."""
        return SEALED + self._fernet.encrypt(clear.encode()).decode()

    def open(self, stored: str, *, what: str = "a stored secret") -> str:
        """The clear value of ``stored`` (a sealed value or a pre-0007 ``clear:`` one)."""
        if stored.startswith(LEGACY):
            return stored[len(LEGACY) :]
        if not stored.startswith(SEALED):
            raise ConfigError(f"{what} has no known scheme (expected {SEALED!r}); was it edited by hand?")
        try:
            return self._fernet.decrypt(stored[len(SEALED) :].encode()).decode()
        except InvalidToken:
            raise ConfigError(
                f"{what} cannot be opened with the key(s) in {self.source}: wrong key, or the key "
                "that sealed it was removed (keep old keys after the new one until `vigil push rekey` ran)"
            ) from None

    def reseal(self, stored: str, *, what: str = "a stored secret") -> str:
        """``stored`` sealed again with the first key (what rotation does to every value)."""
        return self.seal(self.open(stored, what=what))


def key_file(settings: Settings) -> Path:
    return settings.secret_key_file or settings.data_dir / KEY_FILE


def _read_or_create(path: Path) -> list[str]:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # O_EXCL: two processes starting at once do not write two different keys.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(generate_key() + "\n")
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read secret_key_file {path}: {exc.strerror}") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def load_box(settings: Settings) -> SecretBox:
    """The box of ``settings``: ``VIGIL_SECRET_KEY`` if set, else the key file (made if missing)."""
    if settings.secret_key is not None:
        keys = [k for k in settings.secret_key.get_secret_value().split(",") if k.strip()]
        return SecretBox(keys, source="VIGIL_SECRET_KEY (secret_key)")
    path = key_file(settings)
    return SecretBox(_read_or_create(path), source=f"secret_key_file {path}")


def add_key(settings: Settings) -> str:
    """Put a new key first in the key file (old keys stay after it, still opening); returns the
    file's path. With ``VIGIL_SECRET_KEY`` set the operator edits that variable instead."""
    if settings.secret_key is not None:
        raise ConfigError(
            "keys come from VIGIL_SECRET_KEY: put a new key (vigil push generate-key) first in it, "
            "keep the old ones after a comma, then run `vigil push rekey`"
        )
    path = key_file(settings)
    old = _read_or_create(path)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join([generate_key(), *old]) + "\n")
    os.replace(tmp, path)
    return str(path)


# ---------------------------------------------------------------------------------------------
# the stored secrets


@dataclass
class ResealReport:
    subscriptions: int = 0
    peers: int = 0

    @property
    def changed(self) -> int:
        return self.subscriptions + self.peers


def _overwrite_freed_space(session: Session) -> None:
    # SQLite leaves an overwritten value's old bytes in the page's free space (and a dropped
    # table's pages on the free list): a clear secret would survive its sealing in the file.
    # secure_delete zeroes freed space on this connection from now on.
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA secure_delete = ON"))


def truncate_wal(db: Database) -> None:
    """After sealing on SQLite: copy the WAL into the database file and empty it, so the page
    images written before the sealing (clear values) do not stay in the ``-wal`` file. Best
    effort: a reader holding an old snapshot makes SQLite skip the truncation; the next one does it."""
    if db.engine.dialect.name != "sqlite":
        return
    with db.engine.connect() as connection:
        # On the DB-API connection: no BEGIN (a checkpoint cannot run inside a transaction).
        connection.connection.dbapi_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]


def seal_legacy(session: Session, box: SecretBox) -> ResealReport:
    """Seal every value still stored as ``clear:`` (written before revision 0007). When it sealed
    anything on SQLite, call ``truncate_wal`` once the transaction is committed."""
    report = ResealReport()
    subs = session.scalars(select(SubscriptionRow).where(SubscriptionRow.secret.startswith(LEGACY))).all()
    peers = session.scalars(
        select(FederationPeerRow).where(FederationPeerRow.api_key.startswith(LEGACY))
    ).all()
    if not subs and not peers:
        return report
    _overwrite_freed_space(session)
    for sub in subs:
        sub.secret = box.seal(box.open(sub.secret))
        report.subscriptions += 1
    for peer in peers:
        peer.api_key = box.seal(box.open(peer.api_key))
        report.peers += 1
    session.flush()
    return report


def reseal_all(session: Session, box: SecretBox) -> ResealReport:
    """Seal every stored secret again with the first key (the rotation step). All or nothing: a
    value no key opens raises ConfigError and the caller's transaction changes nothing."""
    report = ResealReport()
    _overwrite_freed_space(session)
    for sub in session.scalars(select(SubscriptionRow)):
        sub.secret = box.reseal(sub.secret, what=f"the secret of subscription {sub.id}")
        report.subscriptions += 1
    for peer in session.scalars(select(FederationPeerRow)):
        peer.api_key = box.reseal(peer.api_key, what=f"the API key of peer {peer.name!r}")
        report.peers += 1
    session.flush()
    return report
