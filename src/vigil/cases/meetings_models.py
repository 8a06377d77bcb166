"""SQLAlchemy tables of coalition meetings and the election calendar, on the exchange's shared
``Base`` (one database, one Alembic history: revision 0005 creates them).

Markings: each member update, each action item and the minutes carry a TLP and ``shared_with``;
who sees them is decided per row with the exchange's ``can_see`` (they are few).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vigil.db import ID, Base


class ElectionDateRow(Base):
    """One key date of an election (registration deadline, debate, election day, certification...)."""

    __tablename__ = "election_dates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    election: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(index=True)
    title: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]


class MeetingRow(Base):
    """One coalition meeting (a recurring series shares ``series_id``)."""

    __tablename__ = "meetings"

    id: Mapped[str] = mapped_column(ID, primary_key=True)  # meeting--<uuid>
    series_id: Mapped[str | None] = mapped_column(ID, index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)  # the convening organisation
    title: Mapped[str] = mapped_column(String(300))
    starts_at: Mapped[datetime] = mapped_column(index=True)
    recurrence: Mapped[str | None] = mapped_column(String(20))  # "weekly" or None (ad hoc)
    invited: Mapped[dict[str, Any]]  # org id -> role in the meeting ("chair", "member", "observer")
    minutes: Mapped[str | None] = mapped_column(Text)
    minutes_tlp: Mapped[str] = mapped_column(String(20))
    minutes_shared_with: Mapped[list[str]]
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime]


class MeetingUpdateRow(Base):
    """One member organisation's structured update before one meeting (one per org and meeting)."""

    __tablename__ = "meeting_updates"
    __table_args__ = (UniqueConstraint("meeting_id", "org_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    meeting_id: Mapped[str] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"))
    sees: Mapped[dict[str, Any]]  # campaigns, techniques, narratives, languages, notes, links
    figures: Mapped[dict[str, Any]]  # pre-filled from the org's own activity since the last meeting
    expects: Mapped[dict[str, Any]]  # {"events": [{"on": iso, "event": str, "risk": str}]}
    asks: Mapped[str | None] = mapped_column(Text)
    tlp: Mapped[str] = mapped_column(String(20))
    shared_with: Mapped[list[str]]
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime]


class MeetingActionRow(Base):
    """A decision or an action item of a meeting, with its owner organisation and due date."""

    __tablename__ = "meeting_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    meeting_id: Mapped[str] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # action, decision
    text: Mapped[str] = mapped_column(Text)
    owner_org_id: Mapped[str | None] = mapped_column(ForeignKey("orgs.id"))
    due: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), index=True)  # open, done, dropped
    source_org_id: Mapped[str | None] = mapped_column(ID)  # who wrote it (the marking's source)
    tlp: Mapped[str] = mapped_column(String(20))
    shared_with: Mapped[list[str]]
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
