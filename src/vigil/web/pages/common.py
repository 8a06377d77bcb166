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
from starlette.responses import HTMLResponse, RedirectResponse, Response

from vigil import __version__
from vigil.core.errors import AuthenticationError
from vigil.exchange.access import Permission, Principal, permissions
from vigil.exchange.records import Organisation
from vigil.web.deps import StoreDep
from vigil.web.session import SessionCodec, SessionData, codec

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value.replace("T", " ").rstrip("Z")[:16] + " UTC" if value else "—"
    return value.strftime("%Y-%m-%d %H:%M UTC")


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


def get_viewer(request: Request, store: StoreDep) -> Viewer:
    session = codec(request).read(request)
    if session is None:
        raise SignInRequired(_next_url(request))
    try:
        principal = store.authenticate(session.api_key)
    except AuthenticationError as exc:
        raise SignInRequired(_next_url(request), f"your session ended: {exc.message}") from None
    orgs = {o.id: o for o in store.list_orgs(principal)}
    return Viewer(principal=principal, org=orgs[principal.org_id], session=session, orgs=orgs)


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


def render(
    request: Request, template: str, viewer: Viewer | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A full page, or only its ``results`` block when htmx asks for a fragment."""
    context.update(viewer=viewer, request=request)
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def check_form(request: Request, viewer: Viewer, token: str | None) -> None:
    codec(request).check_csrf(viewer.session, token)


def redirect(url: str) -> RedirectResponse:
    """After a POST: 303 so the browser GETs the next page."""
    return RedirectResponse(url, status_code=303)


def sign_in_redirect(exc: SignInRequired) -> Response:
    target = "/login?next=" + quote(exc.next_url, safe="")
    if exc.message:
        target += "&reason=expired"
    response = RedirectResponse(target, status_code=303)
    if exc.message:
        SessionCodec.sign_out(response)  # the key behind the cookie no longer works
    return response
