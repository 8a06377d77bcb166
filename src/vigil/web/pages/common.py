"""What every dashboard page shares: templates, rendering, redirects, and (re-exported from
``vigil.web.deps``, where the typed dependencies live) the signed-in viewer.

Pages do protocol work only (query parameters, forms, redirects, templates) and call the same
services the REST API calls (``ExchangeStore`` and friends), with the viewer's ``Principal``, so the
access model (TLP visibility, roles) is enforced in one place and the dashboard cannot show more
than the API would. A page takes its service as a typed dependency (``PageCaseServiceDep`` and
friends in ``vigil.web.deps``), never builds one by hand.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.responses import HTMLResponse, RedirectResponse, Response

from vigil import __version__
from vigil.core.errors import VigilError
from vigil.core.time import ensure_utc, parse_instant
from vigil.web.deps import SignInRequired as SignInRequired
from vigil.web.deps import Viewer as Viewer
from vigil.web.deps import ViewerDep as ViewerDep
from vigil.web.deps import settings_of as settings_of
from vigil.web.session import clear_cookie

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
