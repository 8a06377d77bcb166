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

``latest`` (revision 0014) says whether a row can be the ``match[version]=last`` answer, so the
default read need not look at an object's other versions for every row it serves:

* ``NEWEST`` (1): no version of its id is newer; it is the last version of every caller who sees it;
* ``MAYBE`` (2): newer versions exist, but none that every caller seeing this row also sees (they
  differ in source, marking, named shares...): whether it is someone's last is decided per read;
* ``SUPERSEDED`` (0): a newer version with the same source, marking, shares, type, spec version
  and contribution exists (whoever sees this row sees that one), or a later-stored version of the
  same contribution within the same millisecond hides it: never anyone's last.

Every write of rows keeps it (``taxii_index.refresh_latest``); the default-order pages of
``match[version]=last`` walk the partial index ``ix_taxii_objects_latest`` of the rows above 0.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from vigil.db import ID, Base

STIX_ID = String(300)  # type (up to 250 characters) + "--" + a UUID

# ``taxii_objects.latest`` (see the module's docstring)
SUPERSEDED, NEWEST, MAYBE = 0, 1, 2
# The partial index's predicate, as SQL text: a query uses that index only when its WHERE clause
# holds this very term (SQLite compares the expressions; a bound parameter would not match).
LATEST_ROWS = "latest > 0"


class TaxiiObjectRow(Base):
    __tablename__ = "taxii_objects"
    __table_args__ = (
        Index("ix_taxii_objects_page", "bucket", "date_added", "stix_id", "modified", "seq"),
        Index("ix_taxii_objects_stix_id", "stix_id", "modified"),
        Index(
            "ix_taxii_objects_latest",
            "bucket",
            "date_added",
            "stix_id",
            "modified",
            "seq",
            sqlite_where=text(LATEST_ROWS),
            postgresql_where=text(LATEST_ROWS),
        ),
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
    # SUPERSEDED / NEWEST / MAYBE; the server default serves rows written before a refresh
    latest: Mapped[int] = mapped_column(SmallInteger, server_default=text("1"))


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
