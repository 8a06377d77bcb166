"""``vigil serve``: run the exchange API (and every router mounted on it) with uvicorn."""

from __future__ import annotations

import errno
import socket
from pathlib import Path
from typing import Any

import typer

from vigil.core.errors import Conflict


def check_port(host: str, port: int) -> None:
    """Refuse, in one line naming the port and the option, a port another process listens on.

    Checked before start-up: uvicorn would otherwise log its raw ``[Errno 98]`` and exit 1.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # As uvicorn binds: SO_REUSEADDR, so a port left in TIME_WAIT by a stopped server is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            why = "already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise Conflict(
                f"port {port} on {host} is not free ({why}): stop what holds it, or choose "
                f"another port with --port (or VIGIL_PORT)",
                port=port,
                host=host,
            ) from None


app = typer.Typer()


@app.command("serve")
def serve(
    host: str | None = typer.Option(None, "--host", help="Bind address (default: VIGIL_HOST)."),
    port: int | None = typer.Option(None, "--port", help="Port (default: VIGIL_PORT)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data directory for the embedded SQLite."),
    database_url: str | None = typer.Option(None, "--database-url", help="SQLAlchemy URL (PostgreSQL)."),
    shutdown_timeout: int = typer.Option(
        30,
        "--shutdown-timeout",
        min=1,
        help="Seconds to let open requests finish after SIGTERM before they are cut off.",
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        max=64,
        help="Server processes sharing the port (one process runs Python on one core at a time).",
    ),
) -> None:
    """Serve the REST API (/api/v1, OpenAPI at /docs) after migrating the database."""
    import uvicorn
    from sqlalchemy.engine import make_url

    from vigil.core.settings import load_settings
    from vigil.web.app import create_app

    overrides: dict[str, Any] = {}
    for name, value in (
        ("host", host),
        ("port", port),
        ("data_dir", data_dir),
        ("database_url", database_url),
    ):
        if value is not None:
            overrides[name] = value
    settings = load_settings(**overrides)
    database = make_url(settings.effective_database_url)  # repr hides any password
    check_port(settings.host, settings.port)
    typer.echo(f"vigil exchange on http://{settings.host}:{settings.port} (database: {database!r})")
    # Bounded so a stop never hangs on a client that keeps a connection busy (uvicorn's default
    # waits for every connection without limit).
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "timeout_graceful_shutdown": shutdown_timeout,
    }
    if workers == 1:
        uvicorn.run(create_app(settings), **common)
        return
    # Several processes: uvicorn starts each from the app factory, which reads its settings from
    # the environment, so the options given here go there. The database is migrated once, here,
    # before any worker starts (each worker's start-up check then finds nothing to do). What a
    # worker caches is per process and safe to be: the TAXII key cache is re-checked against the
    # database in every read's snapshot (a key revoked in one worker is refused by all at once),
    # and what a caller may see is decided in SQL per request.
    import os

    from vigil.db import Database, upgrade

    for name, value in overrides.items():
        os.environ[f"VIGIL_{name.upper()}"] = str(value)
    db = Database(settings.effective_database_url)
    try:
        upgrade(db.engine)
    finally:
        db.dispose()
    # uvicorn's supervisor kills and restarts a worker that does not answer its ping within
    # ``timeout_worker_healthcheck`` (default 5 s); a worker busy starting up, or starved of CPU
    # on a saturated machine, missed that under load and was restarted in a loop.
    uvicorn.run(
        "vigil.web.app:create_app", factory=True, workers=workers, timeout_worker_healthcheck=60, **common
    )
