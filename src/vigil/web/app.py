"""The HTTP service: ``create_app(settings)`` builds the FastAPI application (no import-time state).

Routers: ``/api/v1`` (REST, this package's ``routes``). Other parts add theirs in
``_include_routers`` (TAXII 2.1 under ``/taxii2``, dashboard pages under ``/``).
The database is migrated to the newest revision when the app starts (``vigil serve``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.concurrency import run_in_threadpool

from vigil import __version__
from vigil.core.settings import Settings, get_settings
from vigil.db import Database, upgrade
from vigil.exchange.secrets_box import load_box
from vigil.web.errors import register_error_handlers
from vigil.web.limits import BodySizeLimit

API_PREFIX = "/api/v1"


def _include_routers(app: FastAPI) -> None:
    from vigil.web.routes import admin, signals

    app.include_router(admin.router, prefix=API_PREFIX)
    app.include_router(signals.router, prefix=API_PREFIX)
    from vigil.web.routes import cases

    app.include_router(cases.router, prefix=API_PREFIX)
    from vigil.web.routes import meetings, policies

    app.include_router(meetings.router, prefix=API_PREFIX)
    app.include_router(policies.router, prefix=API_PREFIX)  # member policy register (docs/policies.md)
    from vigil.web.routes import federation, subscriptions, warninglists

    for lifecycle in (federation, subscriptions, warninglists):  # signal lifecycle (docs/lifecycle.md)
        app.include_router(lifecycle.router, prefix=API_PREFIX)
    from vigil.web.routes import quality

    app.include_router(quality.router, prefix=API_PREFIX)  # quarantine notices (docs/matching.md)
    # Other routers (TAXII, dashboard) are included here, one line each.
    # Errors: the first matching prefix formats them. The API keeps JSON and TAXII its own
    # format; every other path is the dashboard's, whose catch-all HTML formatter comes last.
    from vigil.web.errors import add_error_formatter, json_error

    add_error_formatter(app, "/api/", json_error)
    from vigil.web.routes import taxii

    taxii.install(app)  # TAXII 2.1 under /taxii2
    from vigil.web import pages

    pages.install(app)  # dashboard pages under /


def _describe_errors_as_400(app: FastAPI) -> None:
    """Validation failures answer 400 (web/errors.py), so drop FastAPI's automatic 422 entries."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    if isinstance(operation, dict):
                        operation.get("responses", {}).pop("422", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    """A new application bound to ``settings`` (default: the process settings) and its database."""
    settings = settings or get_settings()
    if settings.secret_key is not None:
        # A malformed VIGIL_SECRET_KEY fails the start, not the first webhook or federation pull.
        load_box(settings)
    db = database or Database(settings.effective_database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(upgrade, db.engine)
        try:
            yield
        finally:
            if database is None:
                db.dispose()

    app = FastAPI(
        title="Vigil exchange API",
        version=__version__,
        description=(
            "Coalition exchange of influence-operation signals: organisations, API keys, campaigns, "
            "signals with TLP 2.0 markings, opinions, sightings and the audit log. "
            "Authenticate with `Authorization: Bearer <API key>` (or HTTP Basic with the key as password)."
        ),
        lifespan=lifespan,
    )
    _describe_errors_as_400(app)
    app.state.settings = settings
    app.state.db = db
    register_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    from vigil.web.taxii_fast import TaxiiFastLane

    # Added last, so outside the body limit and the routing: the hot TAXII GETs skip FastAPI's
    # routing and dependencies (web/taxii_fast.py; everything else passes through unchanged).
    app.add_middleware(TaxiiFastLane)
    _include_routers(app)
    return app
