"""Tables of the TAXII server (revision 0011): the object index every TAXII read pages through, and
the add-objects status resources.

``taxii_objects`` holds one row per STIX object version a collection can serve:

* objects posted over TAXII, **as sent** (the JSON text of the object, its own id and version), with
  the TLP that was enforced on them and the posting organisation as their source; objects Vigil
  understands also carry the id of the typed signal they were linked to (``signal_id``);
* one row per stored version of every contribution (``contribution_id``, ``contribution_version``):
  Vigil's own indicators and attack-patterns, projected from ``contribution_versions`` by
  ``vigil.exchange.taxii_index.project_contributions``.

Visibility (the TLP rule of ``vigil.exchange.access``) and collection membership are computed in
SQL from ``tlp``, ``org_id`` (joined to ``orgs`` for its kind) and ``taxii_object_shares``. Pages are
keyset scans of the ``(bucket, date_added, stix_id, modified, seq)`` index: ``bucket`` groups the TLP
levels the way collections do, so a collection's scan walks one index range in order.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vigil.db import ID, Base

STIX_ID = String(300)  # type (up to 250 characters) + "--" + a UUID


class TaxiiObjectRow(Base):
    __tablename__ = "taxii_objects"
    __table_args__ = (
        Index("ix_taxii_objects_page", "bucket", "date_added", "stix_id", "modified", "seq"),
        Index("ix_taxii_objects_stix_id", "stix_id", "modified"),
        UniqueConstraint("contribution_id", "contribution_version"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stix_id: Mapped[str] = mapped_column(STIX_ID)
    stix_type: Mapped[str] = mapped_column(String(250))
    spec_version: Mapped[str] = mapped_column(String(16))
    modified: Mapped[datetime]  # the version (modified, else created, else date_added)
    date_added: Mapped[datetime]
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"))  # the source whose marking applies
    tlp: Mapped[str] = mapped_column(String(20))
    bucket: Mapped[str] = mapped_column(String(10))  # "open" (CLEAR/GREEN), "amber", "closed"
    body: Mapped[str] = mapped_column(Text)  # the object's JSON text
    signal_id: Mapped[str | None] = mapped_column(ID)  # the typed signal a posted object was linked to
    contribution_id: Mapped[int | None] = mapped_column(Integer)
    contribution_version: Mapped[int | None] = mapped_column(Integer)


class TaxiiObjectShareRow(Base):
    """Organisations a (contribution) object version is shared with by name."""

    __tablename__ = "taxii_object_shares"

    object_seq: Mapped[int] = mapped_column(
        ForeignKey("taxii_objects.seq", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[str] = mapped_column(ID, primary_key=True, index=True)


class TaxiiStatusRow(Base):
    """One add-objects request: counts kept up to date while its chunks are committed."""

    __tablename__ = "taxii_statuses"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(ID, index=True)
    collection: Mapped[str] = mapped_column(String(64))
    request_timestamp: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))  # pending | complete
    total_count: Mapped[int] = mapped_column(Integer)
    success_count: Mapped[int] = mapped_column(Integer)
    failure_count: Mapped[int] = mapped_column(Integer)
    pending_count: Mapped[int] = mapped_column(Integer)


class TaxiiStatusDetailRow(Base):
    """One object of an add-objects request: success, failure or (not yet committed) pending."""

    __tablename__ = "taxii_status_details"

    status_id: Mapped[str] = mapped_column(
        ForeignKey("taxii_statuses.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_id: Mapped[str] = mapped_column(STIX_ID)
    version: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(10))  # success | failure | pending
    message: Mapped[str | None] = mapped_column(Text)
