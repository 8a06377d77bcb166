"""``vigil serve``: run the exchange API (and every router mounted on it) with uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: str | None = typer.Option(None, "--host", help="Bind address (default: VIGIL_HOST)."),
        port: int | None = typer.Option(None, "--port", help="Port (default: VIGIL_PORT)."),
        data_dir: Path | None = typer.Option(
            None, "--data-dir", help="Data directory for the embedded SQLite."
        ),
        database_url: str | None = typer.Option(None, "--database-url", help="SQLAlchemy URL (PostgreSQL)."),
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
        typer.echo(f"vigil exchange on http://{settings.host}:{settings.port} (database: {database!r})")
        uvicorn.run(
            create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level.lower()
        )
