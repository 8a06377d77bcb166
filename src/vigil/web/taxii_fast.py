"""A raw-ASGI fast lane for the hot TAXII reads: a page of objects, one object by id, a manifest page.

A TAXII client pages through a collection with thousands of GETs, and on two cores a page had about
2 ms of CPU to spend; FastAPI's path of such a request (Starlette's exception middleware, the exit
stack, matching the path against every route of the application, solving the route's dependencies,
a hop to the thread pool per dependency level) cost 1-1.5 ms of it on top of the service's work.
This middleware sits in front of that path and answers these three GETs itself, with the same
functions the routes call (``TaxiiService``, ``parse_query``, ``envelope_text``, ``manifest``) and
the same response class, so its answers are the routes' answers byte for byte.

It answers only the plain success case. Anything else goes on to the regular route unchanged, which
then answers exactly as it always has (TAXII error messages in the TAXII media type included):

* a key not in the key cache (the route authenticates, and fills the cache);
* a missing or refused ``Accept``, bad credentials, a NUL anywhere in the path or query, a request
  with a body, a path the routes would redirect (no trailing slash);
* any ``VigilError`` (unknown collection, bad ``next``, no such object, no permission) or an
  unavailable database raised while serving: nothing is written before these can happen (a page's
  audit entries are written after it is read, and nothing can fail after them), so the route simply
  does the request again and answers the error in its own format.

Authorization is the route's: the principal comes from the same key cache (``KeyCache``), the
service re-checks the key in the read's own snapshot when any credentials changed since it was
cached (a key revoked or an organisation suspended by any process is refused at once: the lane
drops the entry and the route answers the 401), and what the caller may see is decided in SQL by
the same service call, per request.
"""

from __future__ import annotations

import re

from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from vigil.core.errors import AuthenticationError, VigilError
from vigil.exchange.taxii import ObjectQuery, check_accept, manifest, parse_query
from vigil.exchange.taxii_store import TaxiiService
from vigil.web.deps import credentials
from vigil.web.routes.taxii import (
    PREFIX,
    ROOT,
    cached_principal,
    envelope_response,
    extras_cache,
    forget,
    key_digest,
    restamp,
    taxii_response,
)

# /taxii2/api1/collections/{collection_id}/objects/[{object_id}/] and .../manifest/, as the routes'
# path parameters match them (one segment each; uvicorn has already percent-decoded the path).
_HOT = re.compile(
    "^" + re.escape(PREFIX + ROOT + "/collections/") + r"([^/]+)/(?:objects/(?:([^/]+)/)?|(manifest)/)$"
)


class TaxiiFastLane:
    """ASGI middleware: serve the hot TAXII GETs directly, pass everything else to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path")
        # ``app.state.taxii_fast_lane = False`` sends everything to the routes (tests and the bench
        # compare the two paths on one server)
        if hot and getattr(scope["app"].state, "taxii_fast_lane", True):
            found = _HOT.match(scope["path"])
            if found is not None:
                response = await self._serve(scope, found)
                if response is not None:
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _serve(self, scope: Scope, found: re.Match[str]) -> Response | None:
        request = Request(scope)
        headers = request.headers
        if "\x00" in scope["path"] or b"%00" in scope["query_string"]:
            return None
        if headers.get("content-length", "0") != "0" or "transfer-encoding" in headers:
            return None  # a GET with a body: the body limit and the route decide
        try:
            check_accept(headers.get("accept"))
            key = credentials(request)
        except VigilError:
            return None
        digest = key_digest(key)
        cached = cached_principal(request.app, digest)
        if cached is None:
            return None
        principal, stamp = cached
        params: dict[str, list[str]] = {}
        for name, value in request.query_params.multi_items():
            if "\x00" in name or "\x00" in value:
                return None
            params.setdefault(name, []).append(value)
        app_state = request.app.state
        collection_id, object_id, is_manifest = found.groups()
        service = TaxiiService(
            app_state.db,
            principal,
            page_size=app_state.settings.taxii_page_size,
            cache=extras_cache(request.app),
            credentials=stamp,
            lane=True,
        )
        try:
            response = await run_in_threadpool(
                _answer, service, collection_id, object_id, bool(is_manifest), params
            )
        except AuthenticationError:
            forget(request.app, digest)  # its key or organisation was stopped: the route says so
            return None
        if response is not None:
            restamp(request.app, digest, service, stamp)
        return response


def _answer(
    service: TaxiiService,
    collection_id: str,
    object_id: str | None,
    is_manifest: bool,
    params: dict[str, list[str]],
) -> Response | None:
    """The route's answer, or None to let the route answer (see the module's docstring).
    AuthenticationError (the cached key was stopped) goes up to the caller, which drops the key."""
    page_size = service.page_size
    try:
        query: ObjectQuery = parse_query(params, max_page=page_size)
        if is_manifest:
            page = service.manifest(collection_id, query)
            return taxii_response(manifest(page), headers=page.headers())
        if object_id is None:
            return envelope_response(service.objects(collection_id, query))
        return envelope_response(service.object(collection_id, object_id, query))
    except AuthenticationError:
        raise
    except (VigilError, OperationalError):
        return None
