"""Turning errors into HTTP answers, once for the whole API.

Every error body has the same shape, ``{"error": <class>, "message": <for humans>, "details": {...}}``
(see ``VigilError.to_dict``). Request validation failures (malformed JSON, a wrong type, an unknown
enum value, an extra field) become ``400 InputError`` listing each problem with its location.

Routers that must speak another error format (TAXII answers ``application/taxii+json`` error
messages) register a formatter for their path prefix with ``add_error_formatter``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from vigil.core.errors import VigilError

logger = logging.getLogger(__name__)

# (status, body) -> response, for requests under one path prefix.
ErrorFormatter = Callable[[int, dict[str, Any]], Response]

_STATUS_NAMES = {
    400: "InputError",
    401: "AuthenticationError",
    403: "PermissionDenied",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
}


def add_error_formatter(app: FastAPI, path_prefix: str, formatter: ErrorFormatter) -> None:
    """Answer errors of requests under ``path_prefix`` with ``formatter`` instead of the default."""
    app.state.error_formatters.append((path_prefix, formatter))


def error_response(request: Request, status: int, body: dict[str, Any]) -> Response:
    """The error answer for ``request``: a registered formatter's, or the default JSON body."""
    formatters: list[tuple[str, ErrorFormatter]] = getattr(request.app.state, "error_formatters", [])
    for prefix, formatter in formatters:
        if request.url.path.startswith(prefix):
            return formatter(status, body)
    return json_error(status, body)


def json_error(status: int, body: dict[str, Any]) -> Response:
    """The REST API's error answer: the JSON body (with the challenge on a 401)."""
    headers = {"WWW-Authenticate": 'Bearer, Basic realm="vigil"'} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "invalid JSON")
        return f"malformed JSON body: {reason}"
    return f"{where}: {error.get('msg', 'invalid')}"


async def _vigil_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, VigilError)
    return error_response(request, exc.http_status, exc.to_dict())


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    problems = [_describe(e) for e in errors]
    content_type = request.headers.get("content-type", "")
    if any(tuple(e.get("loc", ())) == ("body",) for e in errors) and "json" not in content_type:
        # FastAPI reads a body as JSON only when it is labelled so; `curl -d` labels it a form, and
        # "not a valid dictionary" alone does not tell the caller that the header is what is wrong.
        problems.insert(
            0,
            "the body must be JSON sent with 'Content-Type: application/json'"
            f" (got {content_type or 'none'!r})",
        )
    body = {
        "error": "InputError",
        "message": "invalid request: " + "; ".join(problems),
        "details": {
            "errors": [
                {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg"), "type": e.get("type")}
                for e in errors
            ]
        },
    }
    return error_response(request, 400, body)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    name = _STATUS_NAMES.get(exc.status_code, "HTTPError")
    body = {"error": name, "message": str(exc.detail)}
    response = error_response(request, exc.status_code, body)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _database_down(request: Request, exc: Exception) -> Response:
    # Connection refused, server gone, lock wait exhausted: nothing was committed; retry later.
    logger.error("database unavailable: %s", exc)
    body = {"error": "ServiceUnavailable", "message": "the database is unavailable; try again later"}
    response = error_response(request, 503, body)
    response.headers["Retry-After"] = "5"
    return response


def register_error_handlers(app: FastAPI) -> None:
    app.state.error_formatters = []
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(VigilError, _vigil_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
