"""SQLAlchemy table of the member policy register, on the shared ``vigil.db.Base`` (one
database, one Alembic history: revision 0010 creates it).

The register is append-only: each record of a member's policy in one area is a new version row
(who recorded it, when), never an update, so any past state and any diff can be rebuilt. The
policy itself and its note carry separate markings; who sees them is decided per row with the
exchange's ``can_see`` (the source is the member whose policy it is).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vigil.db import ID, Base


class PolicyVersionRow(Base):
    """One version of one member's policy in one policy area."""

    __tablename__ = "policy_versions"
    __table_args__ = (UniqueConstraint("org_id", "area", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)  # the member (the source)
    area: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per (org, area)
    status: Mapped[str] = mapped_column(String(20))  # none, announced, in_force, changed, withdrawn
    effective_from: Mapped[datetime | None]
    effective_until: Mapped[datetime | None]
    source_url: Mapped[str | None] = mapped_column(String(2000))
    summary: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(8))  # of summary and note: en, fr, ar
    tlp: Mapped[str] = mapped_column(String(20))
    shared_with: Mapped[list[str]]
    note: Mapped[str | None] = mapped_column(Text)
    note_tlp: Mapped[str] = mapped_column(String(20))
    note_shared_with: Mapped[list[str]]
    recorded_at: Mapped[datetime] = mapped_column(index=True)
    recorded_by_key: Mapped[str] = mapped_column(String(64))
    recorded_by_org: Mapped[str | None] = mapped_column(ID)
