"""Dashboard sessions: signing in with an API key opens a server-side session; the cookie holds
only the session's random id.

* **What the cookie is.** 256 random bits (``secrets.token_urlsafe(32)``), nothing else: no key,
  no signature to forge, nothing to decode. The database keeps only its SHA-256 (``web_sessions``,
  ``vigil.web.sessions_models``), so a copy of the database opens no browser's session either.
* **When it ends.** Logout revokes the row (a cookie saved before logout is then worthless); a
  session also ends after ``session_idle_s`` without a page view and ``session_max_age_s`` after
  sign-in, whatever the activity. The key it was opened with is re-checked on every page through
  the store's ``principal_of_key`` (revoked, expired, suspended...): a key that stops ends its
  sessions at once.
* **The cookie's flags.** ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's
  page, link or form sends it), and ``Secure`` when the request came over https, when
  ``public_url`` is https, or when ``session_cookie_secure`` says so.
* **CSRF.** Each session has its own random token; every dashboard request with an unsafe method
  carries it (form field ``csrf`` or header ``X-CSRF-Token``) or is refused with 403 before the
  page runs. The sign-in form has no session yet: it refuses posts that a browser marks as coming
  from another site (``Sec-Fetch-Site``/``Origin``), while a script that posts the key (no such
  headers) still signs in.
* **The audit log.** Every sign-in (``session.login``), failed sign-in (``session.login_failed``,
  with the reason; the key tried is named only if it exists, and its organisation is the entry's
  subject, so that organisation's admins see attempts on their keys), sign-out
  (``session.logout``) and session the server ended (``session.expire``: idle or too old, found
  when the cookie comes back or when expired rows are purged) has an entry. The secret presented
  is never recorded.
* **Page views write nothing in the read.** A page (GET) reads in a read session that holds no
  write lock (``Database.reading``); the last-seen time is moved after the read, in the request's
  short write transaction (``after_read``), at most once a minute; a session found ended is
  audited and deleted in a transaction of its own before the sign-in redirect.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from vigil.core.errors import PermissionDenied, VigilError
from vigil.core.settings import Settings
from vigil.core.time import ensure_utc, utcnow
from vigil.db import Database, WriteInReadSession, after_read
from vigil.exchange import audit
from vigil.exchange.keys import key_id_of
from vigil.exchange.models import ApiKeyRow
from vigil.web.sessions_models import WebSessionRow

COOKIE_NAME = "vigil_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# last_seen_at is written at most this often: a page view then costs no write, and the idle
# timeout is still exact to within a minute.
TOUCH_EVERY = timedelta(seconds=60)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SessionData:
    """One live session, as a page sees it (never the id itself)."""

    id_hash: str
    key_id: str
    csrf: str
    created_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class Ended:
    """Why a presented cookie opens no session (shown on the sign-in page)."""

    reason: str


class Sessions:
    """The dashboard sessions table, inside the caller's transaction."""

    def __init__(
        self,
        session: Session,
        settings: Settings,
        *,
        now: datetime | None = None,
        database: Database | None = None,
    ) -> None:
        """``database``: needed when ``session`` is a read session (``Database.reading``), to end a
        session in a transaction of its own."""
        self.session = session
        self.settings = settings
        self.idle = timedelta(seconds=settings.session_idle_s)
        self.absolute = timedelta(seconds=settings.session_max_age_s)
        self._now = now
        self._database = database

    def now(self) -> datetime:
        return ensure_utc(self._now) if self._now is not None else utcnow()

    def open(self, key_id: str) -> tuple[str, SessionData]:
        """A new session for key ``key_id``: its id (for the cookie, never stored) and its data."""
        now = self.now()
        self.purge()
        session_id = secrets.token_urlsafe(32)
        row = WebSessionRow(
            id_hash=_digest(session_id),
            key_id=key_id,
            csrf=secrets.token_urlsafe(24),
            created_at=now,
            last_seen_at=now,
            revoked_at=None,
        )
        self.session.add(row)
        self.session.flush()
        self._audit("session.login", key_id, now, {"session": row.id_hash[:12]})
        return session_id, _data(row)

    def _audit(self, action: str, key_id: str, at: datetime, detail: dict[str, str]) -> None:
        key = self.session.get(ApiKeyRow, key_id)
        audit.record_actor(
            self.session,
            action,
            at=at,
            actor_key_id=key_id,
            actor_org_id=key.org_id if key is not None else None,
            target_type="key",
            target_id=key_id,
            detail=detail,
        )

    def _expire(self, row: WebSessionRow, now: datetime, why: str) -> None:
        """Audit a session the server ended and delete it (so it is audited once)."""
        self._audit("session.expire", row.key_id, now, {"session": row.id_hash[:12], "reason": why})
        self.session.delete(row)
        self.session.flush()

    def failed(self, presented: str, reason: str) -> None:
        """Audit a refused sign-in. The key id is kept only if such a key exists (a made-up id
        would let anyone write arbitrary text into the log); never the secret."""
        try:
            key_id: str | None = key_id_of(presented.strip())
        except VigilError:
            key_id = None
        key = self.session.get(ApiKeyRow, key_id) if key_id else None
        audit.record_actor(
            self.session,
            "session.login_failed",
            at=self.now(),
            actor_key_id=key.id if key is not None else audit.ANONYMOUS,
            actor_org_id=None,
            target_type="key" if key is not None else None,
            target_id=key.id if key is not None else None,
            detail={"reason": reason[:200]},
            subject_org_id=key.org_id if key is not None else None,
        )

    def resolve(self, session_id: str) -> SessionData | Ended:
        """The live session behind a cookie value, or why there is none; notes the page view."""
        row = self.session.get(WebSessionRow, _digest(session_id))
        if row is None:
            return Ended("unknown session")
        now = self.now()
        if row.revoked_at is not None:
            return Ended("you signed out")
        ended = None
        if now - row.created_at >= self.absolute:
            ended = ("max_age", Ended(f"sessions last at most {_span(self.absolute)}"))
        elif now - row.last_seen_at >= self.idle:
            ended = ("idle", Ended(f"no activity for {_span(self.idle)}"))
        if ended is not None:
            self._end_now(row.id_hash, now, ended[0])
            return ended[1]
        if now - row.last_seen_at >= TOUCH_EVERY:
            return self._touch(row, now)
        return _data(row)

    def _touch(self, row: WebSessionRow, now: datetime) -> SessionData:
        """Note a page view: in the request's own transaction, or after a read session's read."""
        writes = after_read(self.session)
        if writes is None:
            row.last_seen_at = now
            return _data(row)
        id_hash = row.id_hash
        touch = (
            update(WebSessionRow)
            .where(
                WebSessionRow.id_hash == id_hash,
                WebSessionRow.revoked_at.is_(None),
                WebSessionRow.last_seen_at < now,
            )
            .values(last_seen_at=now)
        )

        def write(writer: Session) -> None:
            writer.execute(touch)

        writes.append(write)
        return replace(_data(row), last_seen_at=now)

    def _end_now(self, id_hash: str, now: datetime, why: str) -> None:
        """Audit and delete a session the server ended, committed now: the page answers by
        raising (sign in again), which drops the request's own writes. In a read session the
        read ends first (its connection goes back to the pool), then a short write transaction
        re-reads the row: a concurrent request that already ended it leaves nothing to do, so the
        end is audited once."""
        if after_read(self.session) is None:
            row = self.session.get(WebSessionRow, id_hash)
            if row is not None and row.revoked_at is None:
                self._expire(row, now, why)
            self.session.commit()
            return
        if self._database is None:
            raise WriteInReadSession("ending a session from a read session needs Sessions(database=...)")
        self.session.rollback()
        with self._database.session() as writer:
            row = writer.get(WebSessionRow, id_hash)
            if row is not None and row.revoked_at is None:
                Sessions(writer, self.settings, now=self._now)._expire(row, now, why)

    def end_for_key(self, data: SessionData, why: str) -> None:
        """End a live session because its key stopped (revoked, expired, its organisation
        suspended): audited as an expiry the server decided, like a timeout."""
        self._end_now(data.id_hash, self.now(), f"key stopped: {why}")

    def revoke(self, id_hash: str, reason: str = "signed out") -> None:
        row = self.session.get(WebSessionRow, id_hash)
        if row is not None and row.revoked_at is None:
            row.revoked_at = self.now()
            self._audit(
                "session.logout", row.key_id, row.revoked_at, {"session": id_hash[:12], "reason": reason}
            )
            self.session.flush()

    def purge(self) -> int:
        """Delete sessions that can no longer be used (keeps the table small); returns how many."""
        now = self.now()
        # sessions that timed out without their cookie coming back: audited as they go
        for row in self.session.scalars(
            select(WebSessionRow).where(
                WebSessionRow.revoked_at.is_(None),
                or_(
                    WebSessionRow.last_seen_at <= now - self.idle,
                    WebSessionRow.created_at <= now - self.absolute,
                ),
            )
        ):
            self._audit(
                "session.expire",
                row.key_id,
                now,
                {
                    "session": row.id_hash[:12],
                    "reason": "max_age" if row.created_at <= now - self.absolute else "idle",
                },
            )
        result = self.session.execute(
            delete(WebSessionRow).where(
                or_(
                    WebSessionRow.revoked_at.is_not(None),
                    WebSessionRow.last_seen_at <= now - self.idle,
                    WebSessionRow.created_at <= now - self.absolute,
                )
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)


def _data(row: WebSessionRow) -> SessionData:
    return SessionData(
        id_hash=row.id_hash,
        key_id=row.key_id,
        csrf=row.csrf,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
    )


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


# ---------------------------------------------------------------------------------------------
# the cookie


def cookie_secure(request: Request, settings: Settings) -> bool:
    """Whether the cookie gets ``Secure``: configured, or the site is reached over https."""
    if settings.session_cookie_secure is not None:
        return settings.session_cookie_secure
    if settings.public_url and settings.public_url.startswith("https://"):
        return True
    return request.url.scheme == "https"


def set_cookie(request: Request, response: Response, settings: Settings, session_id: str) -> None:
    response.set_cookie(
        COOKIE_NAME,
        session_id,
        max_age=settings.session_max_age_s,
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request, settings),
        path="/",
    )


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")


def session_id_of(request: Request) -> str | None:
    value = request.cookies.get(COOKIE_NAME)
    return value or None


# ---------------------------------------------------------------------------------------------
# cross-site request forgery


def check_csrf(session: SessionData, token: str | None) -> None:
    """PermissionDenied (403) unless ``token`` is the session's CSRF token."""
    if not token or not hmac.compare_digest(token.encode("utf-8"), session.csrf.encode("utf-8")):
        raise PermissionDenied("the form's CSRF token is missing or wrong: reload the page and retry")


def check_same_origin(request: Request, settings: Settings) -> None:
    """PermissionDenied when a browser says the request comes from another site.

    Browsers send ``Sec-Fetch-Site`` and ``Origin`` with every POST; scripts send neither and pass.
    ``Origin`` may name the host the request reached, or ``public_url`` (behind a proxy that
    rewrites ``Host``)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in {"same-origin", "none"}:
        raise PermissionDenied(f"cross-site form posts are refused (Sec-Fetch-Site: {fetch_site})")
    origin = request.headers.get("origin")
    if origin is None:
        return
    allowed = {request.url.netloc.lower()}
    if settings.public_url:
        allowed.add(urlsplit(settings.public_url).netloc.lower())
    if urlsplit(origin).netloc.lower() not in allowed:
        raise PermissionDenied(f"cross-site form posts are refused (Origin: {origin})")
