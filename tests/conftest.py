"""Shared fixtures. Heavier fixtures (PostgreSQL server, live uvicorn, chromium) live beside the tests
that need them in tests/<area>/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest

# The dashboard fixtures (demo data, a live `vigil serve`, one Chromium) are session-wide and shared by
# tests/web and tests/meetings. Loading them once as a plugin keeps one instance per worker: importing
# them into a second test module would start a second sync Playwright, which refuses to run.
pytest_plugins = ["tests.web.fixtures"]

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data sets beside the project (../shared/data)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
