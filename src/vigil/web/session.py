"""Dashboard sign-in: an API key becomes a signed, expiring session cookie.

The cookie holds the key itself (signed with ``itsdangerous``, not encrypted), so every page
re-authenticates it against the store: a key revoked or expired after sign-in stops working at once.
The cookie is ``HttpOnly`` and ``SameSite=Lax`` (and ``Secure`` when ``public_url`` is https);
forms also carry a CSRF token derived from the session, checked on every POST.

The signing secret is ``Settings.session_secret``, or a random one generated on first use and kept
in ``data_dir/session_secret`` (mode 0600) so sessions survive a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from vigil.core.errors import ConfigError, PermissionDenied
from vigil.core.settings import Settings

COOKIE_NAME = "vigil_session"
SECRET_FILE = "session_secret"
_SALT = "vigil.dashboard.session"


def session_secret(settings: Settings) -> str:
    """The configured secret, or the one persisted under ``data_dir`` (created on first use)."""
    if settings.session_secret:
        return settings.session_secret
    path = Path(settings.data_dir) / SECRET_FILE
    try:
        if path.is_file():
            secret = path.read_text(encoding="utf-8").strip()
            if secret:
                return secret
        path.parent.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secret + "\n")
        # another worker may have won the race: keep whichever file landed first
        if path.exists():
            tmp.unlink()
            return path.read_text(encoding="utf-8").strip()
        tmp.replace(path)
        return secret
    except OSError as exc:
        raise ConfigError(f"cannot read or create the session secret {path}: {exc}") from exc


@dataclass(frozen=True)
class SessionData:
    api_key: str
    csrf: str


class SessionCodec:
    """Encodes and checks session cookies for one secret and lifetime."""

    def __init__(self, secret: str, max_age_s: int, *, secure: bool = False) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT)
        self._secret = secret.encode()
        self.max_age_s = max_age_s
        self.secure = secure

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionCodec:
        secure = bool(settings.public_url and settings.public_url.startswith("https://"))
        return cls(session_secret(settings), settings.session_max_age_s, secure=secure)

    def csrf_for(self, api_key: str) -> str:
        return hmac.new(self._secret, b"csrf:" + api_key.encode(), hashlib.sha256).hexdigest()[:32]

    def sign_in(self, response: Response, api_key: str) -> None:
        value = self._serializer.dumps({"k": api_key})
        response.set_cookie(
            COOKIE_NAME,
            value,
            max_age=self.max_age_s,
            httponly=True,
            samesite="lax",
            secure=self.secure,
            path="/",
        )

    @staticmethod
    def sign_out(response: Response) -> None:
        response.delete_cookie(COOKIE_NAME, path="/")

    def read(self, request: Request) -> SessionData | None:
        """The session of ``request``, or None when absent, tampered with or expired."""
        raw = request.cookies.get(COOKIE_NAME)
        if not raw:
            return None
        try:
            data = self._serializer.loads(raw, max_age=self.max_age_s)
        except BadSignature:  # also SignatureExpired
            return None
        key = data.get("k") if isinstance(data, dict) else None
        if not isinstance(key, str) or not key:
            return None
        return SessionData(api_key=key, csrf=self.csrf_for(key))

    def check_csrf(self, session: SessionData, token: str | None) -> None:
        if not token or not hmac.compare_digest(token, session.csrf):
            raise PermissionDenied("the form's CSRF token is missing or wrong: reload the page and retry")


def codec(request: Request) -> SessionCodec:
    """The app's codec, built once per application on first use."""
    state = request.app.state
    existing: SessionCodec | None = getattr(state, "session_codec", None)
    if existing is None:
        existing = SessionCodec.from_settings(state.settings)
        state.session_codec = existing
    return existing
