"""Tables of flood quarantine at the exchange (revision 0012, vigil.exchange.flood).

* ``flood_notices``: every notice a member's matcher sent (quarantined or released), append-only:
  the history.
* ``flood_reports``: each member's current notice per signal (its latest one), what the coalition
  rule counts.
* ``flood_quarantines``: the coalition's state per signal that has ever had a notice: ``active``
  while at least K members report a flood (``Settings.flood_coalition_min_reporters``), else
  ``released``; ``released_at`` is set by a reviewer's release, after which only notices sent later
  count again. ``note_id`` is the STIX ``note`` that publishes the state over TAXII (one id per
  signal, a new version per transition).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vigil.db import ID, Base


class FloodNoticeRow(Base):
    """One notice from one member's matcher (append-only)."""

    __tablename__ = "flood_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    signal_id: Mapped[str] = mapped_column(ForeignKey("signals.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"))
    action: Mapped[str] = mapped_column(String(16))  # quarantined | released
    posts: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]
    key_id: Mapped[str | None] = mapped_column(String(32))


class FloodReportRow(Base):
    """A member's current notice on a signal (its latest ``flood_notices`` row)."""

    __tablename__ = "flood_reports"

    signal_id: Mapped[str] = mapped_column(ForeignKey("signals.id"), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), primary_key=True, index=True)
    action: Mapped[str] = mapped_column(String(16))
    posts: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]
    notice_id: Mapped[int] = mapped_column(ForeignKey("flood_notices.id"))


class FloodQuarantineRow(Base):
    """The coalition-wide state of one signal."""

    __tablename__ = "flood_quarantines"

    signal_id: Mapped[str] = mapped_column(ForeignKey("signals.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), index=True)  # active | released
    reporters: Mapped[int] = mapped_column(Integer)  # members counted at the last evaluation
    changed_at: Mapped[datetime]  # the last transition (or the first notice)
    released_at: Mapped[datetime | None]  # a reviewer's release: earlier notices no longer count
    released_by_org: Mapped[str | None] = mapped_column(ID)
    released_by_key: Mapped[str | None] = mapped_column(String(32))
    release_reason: Mapped[str | None] = mapped_column(Text)
    note_id: Mapped[str] = mapped_column(String(100))  # note--<uuid>, stable per signal
    note_versions: Mapped[int] = mapped_column(Integer, default=0)  # note versions published
