"""SQLAlchemy tables of cases, on the shared declarative ``Base`` of ``vigil.db`` so one database and one
Alembic history (``vigil/db/migrations``, revision 0003) cover both.

The exchange never imports this module (layering: cases build on the exchange, not the reverse);
revision 0003 creates these tables with plain ``op.create_table`` calls.

Markings: a case, each member action, each timeline event carries a TLP and ``shared_with`` (org
ids, JSON). Cases are few (hundreds, not millions), so visibility is decided per row in Python with
the exchange's own ``can_see`` instead of a second SQL rule.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vigil.db import ID, Base


class CaseRow(Base):
    """One suspected campaign the coalition works on together."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(ID, primary_key=True)  # case--<uuid>
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)  # the opening organisation
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str | None] = mapped_column(Text)
    attribution: Mapped[str | None] = mapped_column(String(300))  # e.g. "Iran-based", "unattributed"
    confidence: Mapped[int] = mapped_column(Integer)  # 0-100, in the attribution
    techniques: Mapped[list[str]]  # DISARM ids
    status: Mapped[str] = mapped_column(String(32), index=True)
    tlp: Mapped[str] = mapped_column(String(20))
    shared_with: Mapped[list[str]]
    owners: Mapped[list[str]]  # people or teams, free text ("ops-lead@platform-a")
    campaign_id: Mapped[str | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    playbook_id: Mapped[str | None] = mapped_column(String(100))
    exercise: Mapped[bool] = mapped_column(default=False)
    # Detection link: run, campaign id, accounts, and the account graph (nodes, edges) for pictures.
    detection: Mapped[dict[str, Any]]
    embargo_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime] = mapped_column(index=True)


class CaseSignalRow(Base):
    """A signal of the exchange linked to a case (what members see of it is the exchange's view)."""

    __tablename__ = "case_signals"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    signal_id: Mapped[str] = mapped_column(ForeignKey("signals.id"), primary_key=True, index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"))
    added_at: Mapped[datetime]


class CaseActionRow(Base):
    """One member's action against the campaign on its own service."""

    __tablename__ = "case_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"))
    key_id: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(20))  # removed, labelled, demoted
    target: Mapped[str] = mapped_column(String(20))  # accounts, pages, channels, groups, posts
    count: Mapped[int] = mapped_column(Integer)
    platform: Mapped[str | None] = mapped_column(String(100))
    taken_at: Mapped[datetime]
    statement_url: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    tlp: Mapped[str] = mapped_column(String(20))
    shared_with: Mapped[list[str]]
    created_at: Mapped[datetime]


class CaseEventRow(Base):
    """The timeline: every event on a case, append-only (who, when, what, under which marking)."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    actor_key_id: Mapped[str | None] = mapped_column(String(32))
    actor_org_id: Mapped[str | None] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(32))
    tlp: Mapped[str] = mapped_column(String(20))
    shared_with: Mapped[list[str]]
    detail: Mapped[dict[str, Any]]


class ChecklistItemRow(Base):
    """One checklist item of a case opened from a playbook (an exercise or a real incident)."""

    __tablename__ = "case_checklist"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(100))  # e.g. "platform/analyst"
    done_at: Mapped[datetime | None]
    done_by_key: Mapped[str | None] = mapped_column(String(32))
    done_by_org: Mapped[str | None] = mapped_column(ID)


class BriefingRow(Base):
    """An issued briefing: its reader organisation and the snapshot "changed since last" compares to."""

    __tablename__ = "briefings"

    id: Mapped[str] = mapped_column(ID, primary_key=True)  # briefing--<uuid>
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(index=True)
    since: Mapped[datetime]
    key_id: Mapped[str | None] = mapped_column(String(32))
    snapshot: Mapped[dict[str, Any]]
