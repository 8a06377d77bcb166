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

import contextlib
import json
import threading
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    case,
    event,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from vigil.core.time import ensure_utc, parse_instant
from vigil.db import Database
from vigil.exchange.access import Principal, visible_clause
from vigil.exchange.models import (
    ContributionRow,
    ContributionShareRow,
    ContributionVersionRow,
    OrgRow,
    SignalRow,
)
from vigil.exchange.records import TLP, Contribution, Marking, OrgKind, Signal, SignalKind
from vigil.exchange.stix_export import contribution_object
from vigil.exchange.store.languages import legacy_languages, snapshot_language
from vigil.exchange.taxii_models import (
    MAYBE,
    NEWEST,
    SUPERSEDED,
    TaxiiObjectRow,
    TaxiiObjectShareRow,
)

# TLP levels grouped the way collections hold them, so one collection is one index range.
BUCKETS: dict[TLP, str] = {
    TLP.CLEAR: "open",
    TLP.GREEN: "open",
    TLP.AMBER: "amber",
    TLP.AMBER_STRICT: "closed",
    TLP.RED: "closed",
}
PROJECT_BATCH = 2000  # contribution versions built per read snapshot (Python work, no lock)
# index rows inserted per write transaction: 2,000 at once held SQLite's write lock up to 0.74 s
# at a load of 3-4 (#23); 250 keep a transaction near 100 ms there
PROJECT_WRITE = 250
# A version row that commits after a higher id was projected (concurrent PostgreSQL writers) is
# found again as long as it is within this many ids of the newest projected one.
_GAP_WINDOW = 10_000


@dataclass(slots=True)
class Served:
    """One object version as a page serves it, with its sort key. Objects read from the index keep
    their JSON text (``raw``) and are parsed only if something needs a property: a page is sent as
    the stored texts joined, never parsed and dumped again. Not changed once made (``replace``
    makes a new one); not a frozen dataclass because building one was a third of a page's CPU
    (15 against 7 microseconds, 101 per page)."""

    raw: dict[str, Any] | str
    date_added: datetime
    modified: datetime
    tlp: TLP
    seq: int = 0  # 0 for objects made on the fly (supporting objects, opinions, sightings)
    shared: bool = False  # supporting objects in every collection
    stix_id: str = ""
    stix_type: str = ""
    _parsed: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def obj(self) -> dict[str, Any]:
        if isinstance(self.raw, dict):
            return self.raw
        if self._parsed is None:
            self._parsed = json.loads(self.raw)
        return self._parsed

    @property
    def text(self) -> str:
        return self.raw if isinstance(self.raw, str) else json.dumps(self.raw, ensure_ascii=False)

    @property
    def id(self) -> str:
        return self.stix_id or str(self.obj["id"])

    @property
    def type(self) -> str:
        return self.stix_type or str(self.obj["type"])

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
    rows = posted_rows(posted, date_added, existing)
    if rows:
        session.execute(insert(TaxiiObjectRow), rows)
        refresh_latest(session, {row["stix_id"] for row in rows})


def posted_rows(
    posted: Sequence[PostedObject], date_added: datetime, existing: Collection[tuple[str, datetime, str]] = ()
) -> list[dict[str, Any]]:
    """The ``taxii_objects`` rows ``store_posted`` writes for ``posted`` (one per (id, version,
    organisation) not in ``existing``)."""
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
    return rows


_project_lock = threading.Lock()
_projected_upto: dict[str, int] = {}  # database URL -> highest contribution version id projected


def is_projected(db: Database, newest: int) -> bool:
    """Whether this process has projected every contribution version up to id ``newest`` (read by
    the caller in its own transaction), so a read can go ahead without ``project_contributions``."""
    upto = _projected_upto.get(db.url)
    return upto is not None and newest <= upto


def project_contributions(db: Database) -> int:
    """Copy every contribution version not yet in the index into it (Vigil's STIX object for that
    version, its marking and named shares). Cheap when nothing is new: one indexed max() query in a
    read-only transaction. Projects in its own short write transactions."""
    url = db.url
    with db.read_session() as session:
        newest = session.scalar(select(func.max(ContributionVersionRow.id))) or 0
    with _project_lock:
        upto = _projected_upto.get(url)
        if upto is not None and newest <= upto:
            return 0
        floor = 0 if upto is None else max(0, upto - _GAP_WINDOW)
        projected = 0
        while True:
            # built from a read snapshot (Python work, no write lock), then inserted in a short
            # write transaction (ON CONFLICT DO NOTHING: another process may have projected them)
            with db.read_session() as session:
                done, last, values, shares = _project_batch(session, floor)
            for start in range(0, len(values), PROJECT_WRITE):
                with db.session() as session:
                    _store_projected(session, values[start : start + PROJECT_WRITE], shares)
            projected += done
            if last is None:
                break
            floor = last
        _projected_upto[url] = newest
        return projected


def _project_batch(
    session: Session, floor: int
) -> tuple[int, int | None, list[dict[str, Any]], dict[tuple[int, int], list[str]]]:
    """Up to PROJECT_BATCH missing versions with id > floor, built: (how many, last id seen, the
    index rows, their named shares by (contribution, version)) for ``_store_projected``."""
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
        return 0, None, [], {}
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
    return len(rows), int(rows[-1][0]), values, shares


def _store_projected(
    session: Session, values: list[dict[str, Any]], shares: dict[tuple[int, int], list[str]]
) -> None:
    statement = (
        _insert(session)(TaxiiObjectRow)
        .on_conflict_do_nothing(index_elements=["contribution_id", "contribution_version"])
        .returning(
            TaxiiObjectRow.seq,
            TaxiiObjectRow.contribution_id,
            TaxiiObjectRow.contribution_version,
            TaxiiObjectRow.stix_id,
        )
    )
    inserted = session.execute(statement, values).all()
    share_rows = [
        {"object_seq": seq, "org_id": org}
        for seq, cid, ver, _ in inserted
        for org in shares.get((cid, ver), ())
    ]
    if share_rows:
        session.execute(insert(TaxiiObjectShareRow), share_rows)
    refresh_latest(session, {row[3] for row in inserted})  # after the shares: they are compared


# ---------------------------------------------------------------------------------------------
# the latest-version flag (``taxii_objects.latest``, taxii_models)

REFRESH_CHUNK = 500  # ids per UPDATE
LATEST_LOCKS = 64  # PostgreSQL advisory locks the ids are hashed to (at most this many held at once)
_LATEST_LOCK_BASE = 0x5649_4C00  # + the id's lock number: keys of no other lock of Vigil's


def latest_value(t: Any) -> Any:
    """``t.latest`` as it should be, computed from the other rows of ``t``'s id (SQL; migration
    0014's backfill runs the same expression, as SQL text)."""
    o = _objects().alias("o")
    a = _shares().alias("a")
    b = _shares().alias("b")

    def some(table: Any, *where: Any) -> Any:
        # correlated to every enclosing table but its own (an UPDATE's target is not correlated
        # automatically at this depth)
        return select(literal_column("1")).select_from(table).where(*where).correlate_except(table).exists()

    shadowed = and_(
        t.c.contribution_id.is_not(None),
        some(
            o,
            o.c.stix_id == t.c.stix_id,
            o.c.modified == t.c.modified,
            o.c.org_id == t.c.org_id,
            o.c.seq > t.c.seq,
            o.c.contribution_id.is_not(None),
        ),
    )
    newer = some(o, o.c.stix_id == t.c.stix_id, o.c.modified > t.c.modified)
    # a newer version every caller who sees ``t`` (in any collection, with any filter) also sees
    same_newer = some(
        o,
        o.c.stix_id == t.c.stix_id,
        o.c.modified > t.c.modified,
        o.c.org_id == t.c.org_id,
        o.c.tlp == t.c.tlp,
        o.c.spec_version == t.c.spec_version,
        o.c.stix_type == t.c.stix_type,
        or_(
            o.c.contribution_id == t.c.contribution_id,
            and_(o.c.contribution_id.is_(None), t.c.contribution_id.is_(None)),
        ),
        ~some(a, a.c.object_seq == t.c.seq, ~some(b, b.c.object_seq == o.c.seq, b.c.org_id == a.c.org_id)),
        ~some(b, b.c.object_seq == o.c.seq, ~some(a, a.c.object_seq == t.c.seq, a.c.org_id == b.c.org_id)),
    )
    return case((shadowed, SUPERSEDED), (~newer, NEWEST), (same_newer, SUPERSEDED), else_=MAYBE)


def refresh_latest(session: Session, stix_ids: Collection[str]) -> None:
    """Set ``latest`` right on every row of ``stix_ids``, after rows of them were written (added,
    or deleted) in this transaction and before it commits; rows already right are not written.

    PostgreSQL: concurrent transactions writing versions of one id would each miss the other's
    uncommitted row; each takes transaction-level advisory locks on its ids' lock numbers (in
    order, so two never wait on each other), and reads the rows after it holds them: a transaction
    that waited sees what the other committed and corrects its rows too. SQLite: one writer."""
    ids = sorted(set(stix_ids))
    if not ids:
        return
    if session.get_bind().dialect.name == "postgresql":
        numbers = sorted({zlib.crc32(i.encode()) % LATEST_LOCKS for i in ids})
        session.execute(
            text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k ORDER BY k"),
            {"keys": [_LATEST_LOCK_BASE + n for n in numbers]},
        )
    t = _objects()
    value = latest_value(t)
    for start in range(0, len(ids), REFRESH_CHUNK):
        session.execute(
            update(t)
            .where(t.c.stix_id.in_(ids[start : start + REFRESH_CHUNK]), t.c.latest != value)
            .values(latest=value)
        )


def snapshot_contribution(
    snapshot: dict[str, Any],
    created_at: datetime,
    modified_at: datetime,
    version: int,
    campaigns: Collection[str] = (),
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
        campaign_id=campaign_id if campaign_id in campaigns else None,
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


def _conditions(t: Any, viewer_kind: OrgKind, audience: Audience, by_id: bool = False) -> ColumnElement[bool]:
    """Visible to the caller (the TLP rule, per stored version) and held by the collection. The
    caller's organisation is the bind parameter ``viewer``; its kind is part of the statement.
    ``by_id``: the query names ids, so the collection is said with ``tlp`` rather than ``bucket``
    (the same rows) and the planner looks the ids up instead of walking the collection."""
    viewer = cast(str, bindparam("viewer", type_=String))
    shares = _shares()
    same_kind = t.c.org_id.in_(select(_orgs().c.id).where(_orgs().c.kind == viewer_kind.value))
    listed = exists().where(shares.c.object_seq == t.c.seq, shares.c.org_id == viewer)
    visible = visible_clause(
        viewer, viewer_kind, tlp_col=t.c.tlp, source_org_col=t.c.org_id, listed=listed, same_kind=same_kind
    )
    held: ColumnElement[bool]
    if by_id:
        held = t.c.tlp.in_(sorted(tlp.value for tlp, bucket in BUCKETS.items() if bucket in audience.buckets))
    elif len(audience.buckets) > 1:
        held = t.c.bucket.in_(audience.buckets)
    else:
        held = t.c.bucket == audience.buckets[0]
    if audience.source_kinds is not None:
        kinds = select(_orgs().c.id).where(_orgs().c.kind.in_(audience.source_kinds))
        held = and_(held, t.c.org_id.in_(kinds))
    if audience.other_kind_amber:
        amber = t.c.tlp == TLP.AMBER.value if by_id else t.c.bucket == "amber"
        held = or_(held, and_(amber, ~same_kind))
    # A contribution's versions are served only while the contribution itself (its current
    # marking) is visible too, as everywhere else: tightening a marking withdraws its history.
    current = cast(Table, ContributionRow.__table__).alias("current")
    current_shares = cast(Table, ContributionShareRow.__table__)
    current_visible = visible_clause(
        viewer,
        viewer_kind,
        tlp_col=current.c.tlp,
        source_org_col=current.c.org_id,
        listed=exists().where(
            current_shares.c.contribution_id == current.c.id, current_shares.c.org_id == viewer
        ),
        same_kind=current.c.org_id.in_(select(_orgs().c.id).where(_orgs().c.kind == viewer_kind.value)),
    )
    still = or_(
        t.c.contribution_id.is_(None),
        exists().where(current.c.id == t.c.contribution_id, current_visible),
    )
    return and_(held, visible, still)


def _objects() -> Table:
    return cast(Table, TaxiiObjectRow.__table__)


def _shares() -> Table:
    return cast(Table, TaxiiObjectShareRow.__table__)


def _orgs() -> Table:
    return cast(Table, OrgRow.__table__)


@dataclass(frozen=True)
class Filters:
    ids: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    spec_versions: frozenset[str] = frozenset()
    versions: tuple[str, ...] = ("last",)
    exact: tuple[datetime, ...] = ()
    added_after: datetime | None = None

    def shape(self) -> tuple[object, ...]:
        """What the statement's structure depends on (values are bind parameters)."""
        selectors = tuple(sorted({v for v in self.versions if v in ("last", "first", "all")}))
        return bool(self.ids), bool(self.types), bool(self.spec_versions), selectors, bool(self.exact)

    def params(self) -> dict[str, Any]:
        return {
            "ids": sorted(self.ids),
            "types": sorted(self.types),
            "specs": sorted(self.spec_versions),
            "exact": list(self.exact),
            "added_after": self.added_after,
        }


def _base(
    t: Any, viewer_kind: OrgKind, audience: Audience, filters: Filters, by_id: bool = False
) -> list[ColumnElement[bool]]:
    where = [_conditions(t, viewer_kind, audience, by_id=by_id or bool(filters.ids))]
    if filters.ids:
        where.append(t.c.stix_id.in_(bindparam("ids", expanding=True)))
    if filters.types:
        where.append(t.c.stix_type.in_(bindparam("types", expanding=True)))
    if filters.spec_versions:
        where.append(t.c.spec_version.in_(bindparam("specs", expanding=True)))
    return where


def _last_only(filters: Filters) -> bool:
    """match[version]=last and no other selector (the default)."""
    return set(filters.versions) == {"last"} and not filters.exact


def _version_choice(t: Any, viewer_kind: OrgKind, audience: Audience, filters: Filters) -> Any:
    """match[version] per object id among the versions the caller may see in this collection."""
    if "all" in filters.versions:
        return None
    choices: list[ColumnElement[bool]] = []
    other = _objects().alias("other")
    # by_id: the versions of one id are found through the stix_id index, never the page index
    scope = [other.c.stix_id == t.c.stix_id, *_base(other, viewer_kind, audience, filters, by_id=True)]
    # "t is the last (first) version the caller may see" as "no later (earlier) version the caller
    # may see": the same rows as comparing with a max() over the visible versions, but for an
    # object with one version it is a single probe of the (stix_id, modified) index that finds
    # nothing, and the visibility of other versions is evaluated only when there are some.
    if "last" in filters.versions:
        # The stored flag (``taxii_objects.latest``): a superseded row is nobody's last and the
        # newest version of an id is the last of everyone who sees it, so only rows with newer
        # versions some callers may not see are probed. ``latest > 0`` with the 0 in the SQL text
        # (not a parameter), at the top of the WHERE clause when it is the only choice: the partial
        # page index's own predicate (LATEST_ROWS), which the planners match as written.
        choices.append(
            and_(
                t.c.latest > literal_column(str(SUPERSEDED)),
                or_(
                    t.c.latest == literal_column(str(NEWEST)),
                    ~exists().where(other.c.modified > t.c.modified, *scope),
                ),
            )
        )
    if "first" in filters.versions:
        choices.append(~exists().where(other.c.modified < t.c.modified, *scope))
    if filters.exact:
        choices.append(t.c.modified.in_(bindparam("exact", expanding=True)))
    return or_(*choices)


_statements: dict[tuple[object, ...], Any] = {}
_PG_PAGE = text(
    "SELECT set_config('enable_sort', 'off', true), set_config('plan_cache_mode', 'force_generic_plan', true)"
)
_PG_BY_ID = text("SELECT set_config('plan_cache_mode', 'force_generic_plan', true)")
PLANNED = "vigil_taxii_plan"  # Session.info key: the plan settings this transaction already has


def plan_mode(filters: Filters) -> str:
    """Which of the PostgreSQL plan settings a page read with ``filters`` runs under."""
    return "by_id" if filters.ids else "page"


def plan_settings(mode: str) -> list[Any]:
    """The ``set_config`` columns of ``mode`` (transaction-local), for a statement that runs before
    the page's (the change fingerprint) to carry them: one round trip fewer per request."""
    return [func.set_config(name, value, True) for name, value in PLAN_SETTINGS[mode]]


# PostgreSQL's plan settings of a page read (see ``page_rows``) and of a read by id
PLAN_SETTINGS = {
    "page": (("enable_sort", "off"), ("plan_cache_mode", "force_generic_plan")),
    "by_id": (("plan_cache_mode", "force_generic_plan"),),
}


_statements_lock = threading.Lock()


def page_statement(viewer_kind: OrgKind, audience: Audience, filters: Filters, after: bool) -> Any:
    """The page query for one shape of request, built once: building it costs more than running it."""
    key = (viewer_kind, audience, filters.shape(), filters.added_after is not None, after)
    with _statements_lock:
        found = _statements.get(key)
    if found is not None:
        return found
    t = _objects().alias("t")
    where = _base(t, viewer_kind, audience, filters)
    choice = _version_choice(t, viewer_kind, audience, filters)
    if choice is not None:
        where.append(choice)
    # Two stored versions of a contribution within one millisecond are one STIX version: the
    # later one is served. (match[version]=last alone: ``latest`` is 0 on the hidden one.)
    if not _last_only(filters):
        same = _objects().alias("same")
        where.append(
            or_(
                t.c.contribution_id.is_(None),  # posted objects: no probe
                ~exists().where(
                    same.c.stix_id == t.c.stix_id,
                    same.c.modified == t.c.modified,
                    same.c.org_id == t.c.org_id,
                    same.c.seq > t.c.seq,
                    same.c.contribution_id.is_not(None),
                ),
            )
        )
    if filters.added_after is not None:
        where.append(t.c.date_added > bindparam("added_after", type_=TaxiiObjectRow.date_added.type))
    if after:
        where.append(
            tuple_(t.c.date_added, t.c.stix_id, t.c.modified, t.c.seq)
            > tuple_(
                bindparam("a_date", type_=TaxiiObjectRow.date_added.type),
                bindparam("a_id", type_=String),
                bindparam("a_mod", type_=TaxiiObjectRow.modified.type),
                bindparam("a_seq", type_=Integer),
            )
        )
    statement = (
        select(
            t.c.seq,
            t.c.body,
            # the driver's values, converted by ``_utc`` (see there)
            type_coerce(t.c.date_added, String).label("date_added"),
            type_coerce(t.c.modified, String).label("modified"),
            t.c.tlp,
            t.c.stix_id,
            t.c.stix_type,
        )
        .where(*where)
        .order_by(t.c.date_added, t.c.stix_id, t.c.modified, t.c.seq)
        .limit(bindparam("limit", type_=Integer))
    )
    with _statements_lock:
        _statements[key] = statement
    return statement


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
    statement = page_statement(principal.org_kind, audience, filters, after is not None)
    planned = session.info.get(PLANNED) == plan_mode(filters)  # by the fingerprint's statement
    if session.get_bind().dialect.name == "postgresql" and not planned:
        # PostgreSQL underestimates how many rows pass the visibility clause and would scan and
        # sort the whole collection for a LIMIT; walking the page index in order is what keeps a
        # page's cost flat. And this statement (about 30 subplans) took longer to plan than to run
        # (3.3 ms of backend CPU a page, 1.5 ms with the generic plan of the prepared statement,
        # which walks the same indexes). Transaction-local: both end with the read transaction.
        session.connection().execute(_PG_BY_ID if filters.ids else _PG_PAGE)
    return served_rows(raw_rows(session, statement, page_params(principal, filters, after, limit)))


def page_params(principal: Principal, filters: Filters, after: Key | None, limit: int) -> dict[str, Any]:
    """The bind parameters of a page statement (``page_statement``)."""
    params = {"viewer": principal.org_id, "limit": limit, **filters.params()}
    if after is not None:
        params.update(a_date=after[0], a_id=after[1], a_mod=after[2], a_seq=after[3])
    return params


def served_rows(rows: Sequence[Sequence[Any]], skip: int = 0) -> list[Served]:
    """A page statement's rows (from column ``skip`` on) as ``Served`` items."""
    tlps = _TLPS
    utc = _utc
    return [
        Served(
            row[skip + 1],
            utc(row[skip + 2]),
            utc(row[skip + 3]),
            tlps[row[skip + 4]],
            seq=row[skip],
            stix_id=row[skip + 5],
            stix_type=row[skip + 6],
        )
        for row in rows
    ]


@dataclass(frozen=True)
class _Rendered:
    """A statement rendered once for one dialect and one length of each list parameter: its SQL
    text, the parameters fixed in it (already converted for the driver), and where each request
    parameter goes."""

    sql: str
    fixed: dict[str, Any]
    expansion: dict[str, list[str]]  # list parameter -> its rendered names
    processors: dict[str, Any]  # rendered name -> the type's conversion for the driver
    names: tuple[str, ...]  # the statement's parameters, in order
    positional: bool  # the driver takes them as a sequence (else by name)
    # The statement itself: the cache is keyed by its id, and an id is reused once its object is
    # freed (a statement built per call, as a test does, got another statement's SQL run). Held
    # here, it cannot be freed while its entry exists; the identity check says so too.
    source: Any


# Least recently used first. A hit moves its entry to the end; past RENDERED_MAX the oldest goes:
# clearing everything at the bound (as before) made every hot statement render again at once
# whenever many shapes (match[id] lists of many lengths) passed through.
_rendered: OrderedDict[tuple[int, str, tuple[int, ...]], _Rendered] = OrderedDict()
RENDERED_MAX = 1000


def _render(statement: Any, dialect: Any, params: dict[str, Any]) -> _Rendered:
    lists = tuple(len(v) for v in params.values() if isinstance(v, list))
    key = (id(statement), dialect.name, lists)
    found = _rendered.get(key)
    if found is not None and found.source is statement:
        with contextlib.suppress(KeyError):  # another thread may have evicted it meanwhile
            _rendered.move_to_end(key)
        return found
    compiled = statement.compile(dialect=dialect)
    state = compiled.construct_expanded_state(params)
    expansion = {name: list(names) for name, names in state.parameter_expansion.items()}
    given = {n for name in params for n in expansion.get(name, [name])}
    # the types' conversions for the driver (SQLite: instants as the text they are stored as); the
    # expanded state carries only those of the list parameters' rendered names
    processors = {**compiled._bind_processors, **state.processors}
    fixed = {
        name: (processors[name](value) if name in processors else value)
        for name, value in state.parameters.items()
        if name not in given
    }
    positional = state.positiontup is not None
    names = tuple(state.positiontup if state.positiontup is not None else state.parameters)
    found = _Rendered(state.statement, fixed, expansion, processors, names, positional, statement)
    with _statements_lock:
        _rendered[key] = found
        _rendered.move_to_end(key)
        while len(_rendered) > RENDERED_MAX:
            _rendered.popitem(last=False)
    return found


def raw_rows(session: Session, statement: Any, params: dict[str, Any]) -> list[Any]:
    """``statement``'s rows, run on the session's DBAPI connection (in its transaction) from SQL
    rendered once per shape of parameters. Through SQLAlchemy's execution (parameter processing,
    rendering the list parameters of about 30 subqueries into the SQL text, the result's metadata)
    a page's statement cost as much again as SQLite's own work for it."""
    connection = session.connection()
    return driver_rows(connection.connection.dbapi_connection, connection.dialect, statement, params)


def driver_rows(dbapi_connection: Any, dialect: Any, statement: Any, params: dict[str, Any]) -> list[Any]:
    """``statement``'s rows run on a DBAPI connection (``raw_rows``, ``ReadLane``)."""
    rendered = _render(statement, dialect, params)
    values = dict(rendered.fixed)
    processors = rendered.processors
    for name, value in params.items():
        names = rendered.expansion.get(name)
        if names is None:
            values[name] = processors[name](value) if name in processors and value is not None else value
        else:
            for each, item in zip(names, value, strict=True):
                values[each] = processors[each](item) if each in processors else item
    cursor = dbapi_connection.cursor()
    try:
        if rendered.positional:
            cursor.execute(rendered.sql, [values[name] for name in rendered.names])
        else:
            cursor.execute(rendered.sql, {name: values[name] for name in rendered.names})
        return list(cursor.fetchall())
    finally:
        cursor.close()


_TLPS = {t.value: t for t in TLP}
_UTC: dict[Any, datetime] = {}  # driver value -> aware UTC datetime


def _utc(raw: Any) -> datetime:
    """A stored instant as the UTC datetime type reads it (SQLite: its text, PostgreSQL: an aware
    datetime), once per distinct value: converting two instants per row through SQLAlchemy's
    result processing was a sixth of a page's CPU, and a page's ``date_added`` mostly repeats
    (objects of one POST share it). A bounded process-wide memo; dict operations are atomic."""
    found = _UTC.get(raw)
    if found is None:
        found = ensure_utc(datetime.fromisoformat(raw) if isinstance(raw, str) else raw)
        if len(_UTC) >= 100_000:
            _UTC.clear()
        _UTC[raw] = found
    return found


def signal_of_object(session: Session, principal: Principal, stix_id: str) -> str | None:
    """The typed signal an indexed object the caller may see stands for (contribution objects, and
    posted objects Vigil understood), for opinions and sightings that refer to it."""
    t = _objects().alias("t")
    everywhere = Audience(("open", "amber", "closed"), None)
    statement = (
        select(t.c.signal_id)
        .where(
            t.c.stix_id == stix_id, t.c.signal_id.is_not(None), _conditions(t, principal.org_kind, everywhere)
        )
        .order_by(t.c.modified.desc())
        .limit(1)
    )
    return session.scalar(statement, {"viewer": principal.org_id})


# ---------------------------------------------------------------------------------------------
# the read lane: TAXII's hot reads on dedicated read-only driver connections

LANE_CONNECTIONS = 8  # per process and plan mode at most; beyond, a read takes the ORM path


class ReadLane:
    """Driver connections kept for the TAXII fast lane's reads, each read one statement.

    An ORM read session cost a quarter of a page's CPU (the session, its transaction, the pool's
    checkout and reset, begin and rollback events), and on PostgreSQL its ROLLBACK made psycopg
    deallocate every prepared statement of the connection (``DEALLOCATE ALL``), so the ~30-subplan
    page statement was parsed and planned again on every read: 4-6 ms of backend CPU a page. Here a
    read is one statement (the change fingerprint and the page joined, so both come from one
    snapshot) on a connection taken from a list and put back, which keeps its prepared statements:

    * SQLite: ``PRAGMA query_only`` set once (a write fails at once); outside an explicit
      transaction the statement reads one WAL snapshot and takes no write lock.
    * PostgreSQL: autocommit with ``default_transaction_read_only`` (each statement is its own
      read-only transaction: no BEGIN or ROLLBACK round trip), no pre-ping (a dead connection
      fails the read, which is dropped and answered by the ORM path), statements prepared from
      their first execution, and the page's plan settings (``plan_settings``) set once for the
      session: connections are kept per plan mode.

    Nothing here decides what a caller may see; the statements are the ORM path's own.
    """

    def __init__(self, engine: Any) -> None:
        self._engine = weakref.ref(engine)  # the lanes are kept per engine, weakly
        self.dialect = engine.dialect
        self.errors: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._free: dict[str, list[Any]] = {"page": [], "by_id": []}
        # An in-memory SQLite database exists only on the pool's own connection: nothing to keep.
        self._usable = engine.dialect.name != "sqlite" or engine.url.database not in (None, "", ":memory:")
        self._open = {"page": 0, "by_id": 0}
        self._lock = threading.Lock()

    def rows(self, mode: str, statement: Any, params: dict[str, Any]) -> list[Any] | None:
        """The statement's rows, or None when no connection is free (the caller takes the ORM
        path). Driver errors go up (``self.errors``); the connection is then closed."""
        connection = self._checkout(mode)
        if connection is None:
            return None
        ok = False
        try:
            found = driver_rows(connection, self.dialect, statement, params)
            ok = True
            return found
        finally:
            self._checkin(mode, connection, ok)

    def _checkout(self, mode: str) -> Any:
        try:
            return self._free[mode].pop()  # list.pop and append are atomic: no lock on this path
        except IndexError:
            pass
        with self._lock:
            if self._open[mode] >= LANE_CONNECTIONS or not self._usable:
                return None
            self._open[mode] += 1
        try:
            return self._connect(mode)
        except BaseException:
            with self._lock:
                self._open[mode] -= 1
            raise

    def _connect(self, mode: str) -> Any:
        # A connection made by the engine (its connect events: SQLite's WAL and pragmas, the
        # PostgreSQL options), then detached: the lane owns it, the pool makes another.
        engine = self._engine()
        if engine is None:
            raise RuntimeError("the read lane's engine is gone")
        pooled = engine.raw_connection()
        dbapi, driver = pooled.dbapi_connection, pooled.driver_connection
        pooled.detach()
        try:
            dbapi.rollback()  # nothing is open; makes sure of it before the mode changes
            cursor = dbapi.cursor()
            if self.dialect.name == "postgresql":
                driver.autocommit = True
                cursor.execute("SET default_transaction_read_only = on")
                for name, value in PLAN_SETTINGS[mode]:
                    cursor.execute(f"SET {name} = {value}")
                # prepared from the first execution (psycopg waits for the fifth by default): each
                # of the lane's connections would otherwise plan the page statement five times
                driver.prepare_threshold = 0
            else:
                cursor.execute("PRAGMA query_only = 1")
            cursor.close()
        except BaseException:
            dbapi.close()
            raise
        return dbapi

    def _checkin(self, mode: str, connection: Any, ok: bool) -> None:
        if ok:
            self._free[mode].append(connection)
            return
        with self._lock:
            self._open[mode] -= 1
        with contextlib.suppress(self.errors):  # already broken
            connection.close()

    def close(self) -> None:
        """Close the idle connections (the engine was disposed); ones in use close when they fail."""
        for mode, free in self._free.items():
            while free:
                connection = free.pop()
                with self._lock:
                    self._open[mode] -= 1
                with contextlib.suppress(self.errors):
                    connection.close()


_lanes: weakref.WeakKeyDictionary[Any, ReadLane] = weakref.WeakKeyDictionary()


def read_lane(db: Database) -> ReadLane:
    """The process's read lane of ``db``'s engine (its idle connections closed by ``dispose``)."""
    engine = db.engine
    found = _lanes.get(engine)
    if found is not None:
        return found
    with _statements_lock:
        found = _lanes.get(engine)
        if found is None:
            lane = found = _lanes[engine] = ReadLane(engine)
            event.listen(engine, "engine_disposed", lambda _engine: lane.close())
    return found
