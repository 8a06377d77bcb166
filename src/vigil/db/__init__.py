"""The database layer under every package that stores rows: the declarative ``Base``, ``Database``
(engine and transactional sessions) and the Alembic migrations of all of Vigil's tables.

It sits just above ``vigil.core``: the exchange, cases, meetings, policies and the web's sessions
each declare their own tables on ``Base``; none of them hosts another's.
"""

from vigil.db.base import ID, NAMING, Base, UTCDateTime
from vigil.db.database import (
    MIGRATIONS_DIR,
    READ_ONLY,
    Database,
    DeferredWriteFailed,
    WriteInReadSession,
    after_read,
    current_revision,
    head_revision,
    make_engine,
    upgrade,
)

__all__ = [
    "ID",
    "MIGRATIONS_DIR",
    "NAMING",
    "READ_ONLY",
    "Base",
    "Database",
    "DeferredWriteFailed",
    "UTCDateTime",
    "WriteInReadSession",
    "after_read",
    "current_revision",
    "head_revision",
    "make_engine",
    "upgrade",
]
