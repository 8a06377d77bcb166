"""SQLAlchemy table of dashboard sessions, on the shared ``vigil.db.Base`` (one database, one
Alembic history: revision 0008 creates it). Only ``vigil.web.session`` reads or writes it.

The session id itself is never stored: ``id_hash`` is its SHA-256, so a copy of the database does
not let anyone take over a signed-in browser.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from vigil.db import Base


class WebSessionRow(Base):
    """One signed-in browser: opened with an API key, ended by logout or a timeout."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the session id
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))  # per-session token every dashboard form posts
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
