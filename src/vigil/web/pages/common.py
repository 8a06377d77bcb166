"""What every dashboard page shares: templates, the signed-in viewer, rendering and form checks.

Pages do protocol work only (query parameters, forms, redirects, templates) and call the same
services the REST API calls (``ExchangeStore`` and friends), with the viewer's ``Principal``, so the
access model (TLP visibility, roles) is enforced in one place and the dashboard cannot show more
than the API would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.responses import HTMLResponse, RedirectResponse, Response

from vigil import __version__
from vigil.core.errors import AuthenticationError, VigilError
from vigil.core.settings import Settings
from vigil.core.time import ensure_utc, parse_instant
from vigil.exchange.access import Permission, Principal, permissions
from vigil.exchange.records import Organisation
from vigil.web.deps import StoreDep
from vigil.web.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    SAFE_METHODS,
    Ended,
    SessionData,
    Sessions,
    check_csrf,
    clear_cookie,
    session_id_of,
)

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def _when(value: datetime | str | None) -> Markup | str:
    """A time as UTC text in a ``<time>`` element; vigil.js shows it in the viewer's time zone
    with a relative time ("3 hours ago")."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            instant = parse_instant(value)
        except VigilError:
            return value  # not a time after all: shown as it is (autoescaped)
    else:
        instant = value
    utc = ensure_utc(instant)
    return Markup('<time datetime="{}" data-local>{}</time>').format(
        utc.strftime("%Y-%m-%dT%H:%M:%SZ"), utc.strftime("%Y-%m-%d %H:%M UTC")
    )


templates.env.filters["when"] = _when
templates.env.globals["version"] = __version__


class SignInRequired(Exception):
    """Raised by the viewer dependency; answered with a redirect to the sign-in page."""

    def __init__(self, next_url: str, message: str | None = None) -> None:
        super().__init__(message or "sign in required")
        self.next_url = next_url
        self.message = message


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of a page: their key's principal, organisation and session."""

    principal: Principal
    org: Organisation
    session: SessionData
    orgs: dict[str, Organisation]

    @property
    def can_write(self) -> bool:
        return Permission.WRITE in permissions(self.principal)

    @property
    def can_read_audit(self) -> bool:
        granted = permissions(self.principal)
        return Permission.READ_AUDIT in granted or Permission.OPERATE in granted

    def org_name(self, org_id: str | None) -> str:
        if org_id is None:
            return "—"
        org = self.orgs.get(org_id)
        return org.name if org else org_id


def _next_url(request: Request) -> str:
    path = request.url.path
    return path + ("?" + request.url.query if request.url.query else "")


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def posted_csrf(request: Request) -> str | None:
    """The CSRF token an unsafe request carries (header, or the form's ``csrf`` field)."""
    if request.method in SAFE_METHODS:
        return None
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        # Starlette keeps the parsed form on the request: the page's own Form() fields reuse it.
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def get_viewer(
    request: Request, store: StoreDep, csrf: Annotated[str | None, Depends(posted_csrf)]
) -> Viewer:
    """The signed-in viewer; SignInRequired without a live session, PermissionDenied (403) for an
    unsafe request without the session's CSRF token. Every page and form depends on this, so no
    page can forget either check."""
    session_id = session_id_of(request)
    if session_id is None:
        raise SignInRequired(_next_url(request))
    sessions = Sessions(store.session, settings_of(request))
    found = sessions.resolve(session_id)
    if isinstance(found, Ended):
        raise SignInRequired(_next_url(request), f"your session ended: {found.reason}")
    try:
        principal = store.principal_of_key(found.key_id)
    except AuthenticationError as exc:
        # The key stopped (revoked, expired, suspended): the session has ended with it.
        sessions.end_for_key(found, exc.message)
        raise SignInRequired(_next_url(request), f"your session ended: {exc.message}") from None
    if request.method not in SAFE_METHODS:
        check_csrf(found, csrf)
    orgs = {o.id: o for o in store.list_orgs(principal)}
    return Viewer(principal=principal, org=orgs[principal.org_id], session=found, orgs=orgs)


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


def render(
    request: Request, template: str, viewer: Viewer | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A full page, or only its ``results`` block when htmx asks for a fragment."""
    context.update(viewer=viewer, request=request)
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def redirect(url: str) -> RedirectResponse:
    """After a POST: 303 so the browser GETs the next page."""
    return RedirectResponse(url, status_code=303)


def sign_in_redirect(exc: SignInRequired) -> Response:
    target = "/login?next=" + quote(exc.next_url, safe="")
    if exc.message:
        target += "&reason=expired"
    response = RedirectResponse(target, status_code=303)
    if exc.message:
        clear_cookie(response)  # the session behind the cookie has ended
    return response
