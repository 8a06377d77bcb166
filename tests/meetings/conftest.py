"""Meetings tests reuse the cases tests' coalition (real databases on both backends)."""

from __future__ import annotations

from ..cases.conftest import coalition  # noqa: F401  (fixtures reused as they are)
from ..exchange.conftest import db, db_url, live  # noqa: F401
