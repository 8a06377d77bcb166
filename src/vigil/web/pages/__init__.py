"""The web dashboard: server-rendered pages over the same services as the REST API.

``install(app)`` mounts the static files, the page routers and the HTML error pages; ``create_app``
calls it. Pages: sign-in (``auth``), overview, signals, shared campaigns and the audit log
(``exchange``, ``signals``), the organisation's own detection runs (``detections``). See
docs/dashboard.md.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse, Response

from vigil.web.errors import add_error_formatter
from vigil.web.pages import (
    admin,
    auth,
    cases,
    detections,
    exchange,
    export,
    graph,
    meetings,
    policies,
    reports,
    search,
    signals,
    workbench,
)
from vigil.web.pages.common import STATIC_DIR, SignInRequired, sign_in_redirect, templates
from vigil.web.session import clear_cookie


def _html_error(status: int, body: dict[str, Any]) -> Response:
    """An error as an HTML page. A bad parameter is named on a line of its own, whether FastAPI's
    validation refused it ("size: Input should be a valid integer", not "query.size: ...") or a
    service did (an ``InputError`` with its ``field``)."""
    details = body.get("details") or {}
    problems = [
        (".".join(str(p) for p in e.get("loc", ())[1:]) or "body", str(e.get("msg", "invalid")))
        for e in details.get("errors", [])
        if isinstance(e, dict)
    ]
    if status == 400 and not problems and isinstance(details.get("field"), str):
        # a service's InputError naming its parameter or form field (page=-1, sort=secret)
        problems = [(details["field"], str(body.get("message", "")))]
    template = templates.env.get_template("error.html")
    html = template.render(
        status=status,
        error=body.get("error", "Error"),
        message="" if problems else body.get("message", ""),
        problems=problems,
    )
    return HTMLResponse(html, status_code=status)


async def _sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    response = sign_in_redirect(exc)
    if request.headers.get("hx-request"):
        # htmx would swap the sign-in page into the results box: make it load the whole page
        response = Response(status_code=200, headers={"HX-Redirect": response.headers["location"]})
        if exc.message:
            clear_cookie(response)
    return response


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    # workbench before detections: its /detections/find must not be read as a run named "find"
    pages = (auth, exchange, signals, workbench, detections, cases, reports, meetings, policies)
    for module in (*pages, search, export, admin, graph):
        app.include_router(module.router)
    app.add_exception_handler(SignInRequired, _sign_in)
    # Every path that is neither the API ("/api/", JSON) nor TAXII ("/taxii2", its own format),
    # both registered before this catch-all, is a dashboard page: its errors are HTML pages,
    # a bad query parameter included (400 naming it, never the API's JSON), for every page
    # route, including ones added later, with no list of prefixes to keep up to date.
    add_error_formatter(app, "/", _html_error)
