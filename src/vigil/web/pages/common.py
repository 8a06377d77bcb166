"""What every dashboard page shares: templates, rendering, redirects, and (re-exported from
``vigil.web.deps``, where the typed dependencies live) the signed-in viewer.

Pages do protocol work only (query parameters, forms, redirects, templates) and call the same
services the REST API calls (``ExchangeStore`` and friends), with the viewer's ``Principal``, so the
access model (TLP visibility, roles) is enforced in one place and the dashboard cannot show more
than the API would. A page takes its service as a typed dependency (``PageCaseServiceDep`` and
friends in ``vigil.web.deps``), never builds one by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.responses import HTMLResponse, RedirectResponse, Response

from vigil import __version__
from vigil.core.errors import InputError, VigilError
from vigil.core.tables import TablePage
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


def whole(value: str, field: str) -> int:
    """A whole number from the query, or a 400 naming the parameter (not FastAPI's own message)."""
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{field} must be a whole number, got {value!r}", field=field) from None


@dataclass(frozen=True)
class Table:
    """What the ``_macros.html`` table macros need to draw a server-sorted, paged list: header
    links (a click sorts by the column, a second click flips the order), the pager's and the page
    size's links, and the query an export link carries (the same filters and sort)."""

    found: TablePage[Any]
    columns: list[tuple[str, str | None, str]]  # header text, sort key (None: not sortable), link
    page_url: Callable[[int], str]
    size_url: Callable[[int], str]
    export_query: str
    sizes: Sequence[int]


def table(
    path: str,
    found: TablePage[Any],
    columns: Sequence[tuple[str, str | None]],
    filters: Mapping[str, str],
    sizes: Sequence[int],
) -> Table:
    """Links of a list page at ``path``; every link keeps the filters, the sort and the size."""
    current = {**filters, "sort": found.sort, "order": found.order, "size": str(found.size)}

    def url(**changes: object) -> str:
        params = {**current, **{k: str(v) for k, v in changes.items()}}
        return path + "?" + urlencode({k: v for k, v in params.items() if v})

    heads = [
        (
            label,
            key,
            url(sort=key, order="asc" if key != found.sort or found.order == "desc" else "desc", page=1)
            if key
            else "",
        )
        for label, key in columns
    ]
    exported = {k: v for k, v in {**filters, "sort": found.sort, "order": found.order}.items() if v}
    return Table(
        found=found,
        columns=heads,
        page_url=lambda n: url(page=n),
        size_url=lambda n: url(size=n, page=1),
        export_query=urlencode(exported),
        sizes=sizes,
    )
