"""Data commands: ``vigil generate`` (labelled synthetic data) and ``vigil ingest`` (any layout -> schema)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach this group's commands to the root app (filled in by the ingest and synth work)."""
    return None
