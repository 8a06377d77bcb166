"""Fixtures of the trust-boundary tests: the exchange's real databases (SQLite and PostgreSQL) and
the cases tests' small coalition, reused as they are."""

from __future__ import annotations

from ..cases.conftest import Coalition, coalition, make_coalition  # noqa: F401  (fixtures reused)
from ..exchange.conftest import (  # noqa: F401  (fixtures reused as they are)
    BACKENDS,
    LiveServer,
    db,
    db_url,
    live,
)
