"""The TAXII object index (``taxii_objects``): writing posted objects and projected contribution
versions, and reading one page of a collection for one caller in SQL.

Reads never loop over the collection in Python: visibility (``access.visible_clause``, the SQL form
of the TLP rule ``policy.may_see`` applies), collection membership, ``match[...]`` filters and the
version selection are one statement, and a page is a keyset scan of
``ix_taxii_objects_page`` from the position in ``next`` (``limit + 1`` rows: the extra one says
whether there is more). The first page and a page a million rows in cost the same.

Contribution versions are projected lazily (``project_contributions``): every write path of the
store appends to the append-only ``contribution_versions``, and the TAXII server copies what is not
yet in the index, as Vigil's STIX object, before it reads. So no write path has to know about TAXII.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, insert, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from vigil.core.time import parse_instant
from vigil.exchange.access import Principal, visible_clause
from vigil.exchange.models import ContributionRow, ContributionVersionRow, OrgRow, SignalRow
from vigil.exchange.records import TLP, Contribution, Marking, Signal, SignalKind
from vigil.exchange.stix_export import contribution_object
from vigil.exchange.store.languages import legacy_languages, snapshot_language
from vigil.exchange.taxii_models import TaxiiObjectRow, TaxiiObjectShareRow

# TLP levels grouped the way collections hold them, so one collection is one index range.
BUCKETS: dict[TLP, str] = {
    TLP.CLEAR: "open",
    TLP.GREEN: "open",
    TLP.AMBER: "amber",
    TLP.AMBER_STRICT: "closed",
    TLP.RED: "closed",
}
PROJECT_BATCH = 2000  # contribution versions per projection transaction
# A version row that commits after a higher id was projected (concurrent PostgreSQL writers) is
# found again as long as it is within this many ids of the newest projected one.
_GAP_WINDOW = 10_000


@dataclass(frozen=True)
class Served:
    """One object version as a page serves it, with its sort key."""

    obj: dict[str, Any]
    date_added: datetime
    modified: datetime
    tlp: TLP
    seq: int = 0  # 0 for objects made on the fly (supporting objects, opinions, sightings)
    shared: bool = False  # supporting objects in every collection

    @property
    def id(self) -> str:
        return str(self.obj["id"])

    @property
    def version(self) -> str:
        return str(self.obj.get("modified") or self.obj.get("created") or self.modified.isoformat())

    @property
    def key(self) -> tuple[datetime, str, datetime, int]:
        return self.date_added, self.id, self.modified, self.seq


Key = tuple[datetime, str, datetime, int]


def object_version(obj: dict[str, Any], date_added: datetime) -> datetime:
    """The TAXII version of an object: ``modified``, else ``created``, else when it was added."""
    for name in ("modified", "created"):
        value = obj.get(name)
        if isinstance(value, str):
            return parse_instant(value)
    return date_added


# ---------------------------------------------------------------------------------------------
# writing


def _insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


@dataclass(frozen=True)
class PostedObject:
    """One object a member posted, ready to store as sent."""

    obj: dict[str, Any]
    text: str
    org_id: str
    tlp: TLP
    signal_id: str | None = None


def store_posted(session: Session, posted: Sequence[PostedObject], date_added: datetime) -> None:
    """Store posted objects as sent; one multi-row statement. An (id, version) the same organisation
    already stored is kept once (TAXII: adding an existing version again changes nothing)."""
    if not posted:
        return
    keys = {(p.obj["id"], object_version(p.obj, date_added), p.org_id) for p in posted}
    existing: set[tuple[str, datetime, str]] = set()
    ids = sorted({k[0] for k in keys})
    for start in range(0, len(ids), 500):
        existing.update(
            session.execute(
                select(TaxiiObjectRow.stix_id, TaxiiObjectRow.modified, TaxiiObjectRow.org_id).where(
                    TaxiiObjectRow.stix_id.in_(ids[start : start + 500]),
                    TaxiiObjectRow.contribution_id.is_(None),
                )
            )
        )
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, datetime, str]] = set()
    for p in posted:
        key = (p.obj["id"], object_version(p.obj, date_added), p.org_id)
        if key in existing or key in seen:
            continue
        seen.add(key)
        rows.append(
            {
                "stix_id": key[0],
                "stix_type": str(p.obj["type"]),
                "spec_version": str(p.obj.get("spec_version", "2.1")),
                "modified": key[1],
                "date_added": date_added,
                "org_id": p.org_id,
                "tlp": p.tlp.value,
                "bucket": BUCKETS[p.tlp],
                "body": p.text,
                "signal_id": p.signal_id,
            }
        )
    if rows:
        session.execute(insert(TaxiiObjectRow), rows)


_project_lock = threading.Lock()
_projected_upto: dict[str, int] = {}  # database URL -> highest contribution version id projected


def project_contributions(session_factory: Any, url: str) -> int:
    """Copy every contribution version not yet in the index into it (Vigil's STIX object for that
    version, its marking and named shares). Cheap when nothing is new: one indexed max() query.
    Runs in its own short transactions (``session_factory()`` gives a committing session context)."""
    with session_factory() as session:
        newest = session.scalar(select(func.max(ContributionVersionRow.id))) or 0
    with _project_lock:
        upto = _projected_upto.get(url)
        if upto is not None and newest <= upto:
            return 0
        floor = 0 if upto is None else max(0, upto - _GAP_WINDOW)
        projected = 0
        while True:
            with session_factory() as session:
                done, last = _project_batch(session, floor)
            projected += done
            if last is None:
                break
            floor = last
        _projected_upto[url] = newest
        return projected


def _project_batch(session: Session, floor: int) -> tuple[int, int | None]:
    """Project up to PROJECT_BATCH missing versions with id > floor; (how many, last id seen)."""
    missing = ~exists().where(
        TaxiiObjectRow.contribution_id == ContributionVersionRow.contribution_id,
        TaxiiObjectRow.contribution_version == ContributionVersionRow.version,
    )
    rows = session.execute(
        select(
            ContributionVersionRow.id,
            ContributionVersionRow.contribution_id,
            ContributionVersionRow.version,
            ContributionVersionRow.modified_at,
            ContributionVersionRow.snapshot,
            ContributionRow.created_at,
            SignalRow.id,
            SignalRow.kind,
            SignalRow.value,
        )
        .join(ContributionRow, ContributionRow.id == ContributionVersionRow.contribution_id)
        .join(SignalRow, SignalRow.id == ContributionRow.signal_id)
        .where(ContributionVersionRow.id > floor, missing)
        .order_by(ContributionVersionRow.id)
        .limit(PROJECT_BATCH)
    ).all()
    if not rows:
        return 0, None
    values: list[dict[str, Any]] = []
    shares: dict[tuple[int, int], list[str]] = {}
    # Languages stored on signal rows before they were per contribution (vigil.exchange.store.languages).
    legacy = legacy_languages(session, {row[6] for row in rows})
    for _row_id, contribution_id, version, modified_at, snap, created_at, signal_id, kind, value in rows:
        contribution = snapshot_contribution(snap, created_at, modified_at, version)
        # each version carries its own contribution's language, never another member's
        contribution.language = snapshot_language(snap, contribution_id, legacy)
        signal = Signal(id=signal_id, kind=SignalKind(kind), value=value)
        obj = contribution_object(signal, contribution)
        tlp = contribution.marking.tlp
        values.append(
            {
                "stix_id": obj["id"],
                "stix_type": obj["type"],
                "spec_version": "2.1",
                "modified": parse_instant(obj["modified"]),
                "date_added": modified_at,
                "org_id": contribution.org_id,
                "tlp": tlp.value,
                "bucket": BUCKETS[tlp],
                "body": json.dumps(obj, ensure_ascii=False, separators=(",", ":")),
                "signal_id": signal_id,
                "contribution_id": contribution_id,
                "contribution_version": version,
            }
        )
        if contribution.marking.shared_with:
            shares[(contribution_id, version)] = list(contribution.marking.shared_with)
    statement = (
        _insert(session)(TaxiiObjectRow)
        .on_conflict_do_nothing(index_elements=["contribution_id", "contribution_version"])
        .returning(TaxiiObjectRow.seq, TaxiiObjectRow.contribution_id, TaxiiObjectRow.contribution_version)
    )
    inserted = session.execute(statement, values).all()
    share_rows = [
        {"object_seq": seq, "org_id": org} for seq, cid, ver in inserted for org in shares.get((cid, ver), ())
    ]
    if share_rows:
        session.execute(insert(TaxiiObjectShareRow), share_rows)
    return len(rows), int(rows[-1][0])


def snapshot_contribution(
    snapshot: dict[str, Any],
    created_at: datetime,
    modified_at: datetime,
    version: int,
    campaigns: Iterable[str] = (),
) -> Contribution:
    """A contribution as one stored version describes it (campaign kept only if in ``campaigns``)."""

    def instant(key: str) -> datetime | None:
        value = snapshot.get(key)
        return parse_instant(value) if value else None

    campaign_id = snapshot.get("campaign_id")
    return Contribution(
        org_id=snapshot["org_id"],
        marking=Marking(TLP(snapshot["tlp"]), tuple(sorted(snapshot.get("shared_with") or ()))),
        confidence=int(snapshot["confidence"]),
        tags=tuple(sorted(snapshot.get("tags") or ())),
        first_seen=instant("first_seen"),
        last_seen=instant("last_seen"),
        campaign_id=campaign_id if campaign_id in set(campaigns) else None,
        description=snapshot.get("description"),
        created_at=created_at,
        modified_at=modified_at,
        valid_until=instant("valid_until"),
        revoked=bool(snapshot.get("revoked")),
        version=version,
    )


# ---------------------------------------------------------------------------------------------
# reading


@dataclass(frozen=True)
class Audience:
    """Which rows a collection holds for one caller, in SQL terms."""

    buckets: tuple[str, ...]
    source_kinds: tuple[str, ...] | None  # None: any source kind
    other_kind_amber: bool = False  # "direct": AMBER from another kind that names the caller


def _conditions(t: Any, principal: Principal, audience: Audience) -> ColumnElement[bool]:
    """Visible to the caller (the TLP rule, per stored version) and held by the collection."""
    same_kind = t.org_id.in_(select(OrgRow.id).where(OrgRow.kind == principal.org_kind.value))
    listed = exists().where(
        TaxiiObjectShareRow.object_seq == t.seq, TaxiiObjectShareRow.org_id == principal.org_id
    )
    visible = visible_clause(
        principal.org_id,
        principal.org_kind,
        tlp_col=t.tlp,
        source_org_col=t.org_id,
        listed=listed,
        same_kind=same_kind,
    )
    held: ColumnElement[bool] = (
        t.bucket.in_(audience.buckets) if len(audience.buckets) > 1 else (t.bucket == audience.buckets[0])
    )
    if audience.source_kinds is not None:
        held = and_(held, t.org_id.in_(select(OrgRow.id).where(OrgRow.kind.in_(audience.source_kinds))))
    if audience.other_kind_amber:
        held = or_(held, and_(t.bucket == "amber", ~same_kind))
    return and_(held, visible)


@dataclass(frozen=True)
class Filters:
    ids: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    spec_versions: frozenset[str] = frozenset()
    versions: tuple[str, ...] = ("last",)
    exact: tuple[datetime, ...] = ()
    added_after: datetime | None = None


def _base(t: Any, principal: Principal, audience: Audience, filters: Filters) -> list[ColumnElement[bool]]:
    where = [_conditions(t, principal, audience)]
    if filters.ids:
        where.append(t.stix_id.in_(sorted(filters.ids)))
    if filters.types:
        where.append(t.stix_type.in_(sorted(filters.types)))
    if filters.spec_versions:
        where.append(t.spec_version.in_(sorted(filters.spec_versions)))
    return where


def _version_choice(t: Any, principal: Principal, audience: Audience, filters: Filters) -> Any:
    """match[version] per object id among the versions the caller may see in this collection."""
    if "all" in filters.versions:
        return None
    choices: list[ColumnElement[bool]] = []
    other = aliased(TaxiiObjectRow)
    scope = [other.stix_id == t.stix_id, *_base(other, principal, audience, filters)]
    if "last" in filters.versions:
        choices.append(t.modified == select(func.max(other.modified)).where(*scope).scalar_subquery())
    if "first" in filters.versions:
        choices.append(t.modified == select(func.min(other.modified)).where(*scope).scalar_subquery())
    if filters.exact:
        choices.append(t.modified.in_(filters.exact))
    return or_(*choices)


def page_rows(
    session: Session,
    principal: Principal,
    audience: Audience,
    filters: Filters,
    after: Key | None,
    limit: int,
) -> list[Served]:
    """Up to ``limit`` object versions after the keyset position ``after``, in (date_added, id,
    version, seq) order: one statement, walking the page index."""
    t = aliased(TaxiiObjectRow)
    where = _base(t, principal, audience, filters)
    choice = _version_choice(t, principal, audience, filters)
    if choice is not None:
        where.append(choice)
    # Two stored versions within one millisecond are one STIX version: the later one is served.
    same = aliased(TaxiiObjectRow)
    where.append(
        ~exists().where(
            same.stix_id == t.stix_id,
            same.modified == t.modified,
            same.org_id == t.org_id,
            same.seq > t.seq,
            same.contribution_id.is_not(None),
            t.contribution_id.is_not(None),
        )
    )
    if filters.added_after is not None:
        where.append(t.date_added > filters.added_after)
    if after is not None:
        where.append(tuple_(t.date_added, t.stix_id, t.modified, t.seq) > tuple_(*after))
    statement = (
        select(t.seq, t.body, t.date_added, t.modified, t.tlp)
        .where(*where)
        .order_by(t.date_added, t.stix_id, t.modified, t.seq)
        .limit(limit)
    )
    return [
        Served(obj=json.loads(body), date_added=date_added, modified=modified, tlp=TLP(tlp), seq=seq)
        for seq, body, date_added, modified, tlp in session.execute(statement)
    ]


def signal_of_object(session: Session, principal: Principal, stix_id: str) -> str | None:
    """The typed signal an indexed object the caller may see stands for (contribution objects, and
    posted objects Vigil understood), for opinions and sightings that refer to it."""
    t = aliased(TaxiiObjectRow)
    everywhere = Audience(("open", "amber", "closed"), None)
    return session.scalar(
        select(t.signal_id)
        .where(t.stix_id == stix_id, t.signal_id.is_not(None), _conditions(t, principal, everywhere))
        .order_by(t.modified.desc())
        .limit(1)
    )
