"""What the TAXII server may serve one caller: every visible STIX object version, read from the
exchange tables through the same access rule the store uses (``access.visible_clause`` in SQL and
``access.can_see`` per stored version).

Why not ``ExchangeStore.list_signals``: TAXII serves every *version* of every contribution (from
the append-only version table), and audits only what it actually delivers on a page rather than
everything it had to read to build the page. Reads of AMBER and stricter objects are written to
the audit log by ``audit_delivered``.
"""

from __future__ import annotations

import bisect
import heapq
import json
import multiprocessing
import os
import threading
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, exists, func, or_, select, true, update
from sqlalchemy.orm import Session

from vigil.core.errors import InputError, NotFound
from vigil.core.time import utcnow
from vigil.db import Database
from vigil.exchange import audit
from vigil.exchange.access import AUDITED_TLPS, Permission, Principal, can_see, require, visible_clause
from vigil.exchange.models import (
    ApiKeyRow,
    CampaignRow,
    CampaignShareRow,
    ContributionRow,
    ContributionShareRow,
    ContributionVersionRow,
    OpinionHistoryRow,
    OpinionRow,
    OrgRow,
    OrgStatusRow,
    SightingRow,
    SignalRow,
)
from vigil.exchange.policy import may_see_stored_feedback, parse_feedback
from vigil.exchange.records import (
    TLP,
    Campaign,
    Contribution,
    Marking,
    Opinion,
    OpinionValue,
    Organisation,
    OrgKind,
    Sighting,
    Signal,
    SignalKind,
)
from vigil.exchange.stix_apply import ApplyResult, MarkingPolicy, apply_plan
from vigil.exchange.stix_export import (
    StixEntry,
    campaign_entries,
    campaign_object_id,
    contribution_object,
    signal_entries,
    supporting_entries,
)
from vigil.exchange.stix_import import (
    ImportPlan,
    OpinionDraft,
    SightingDraft,
    load_objects,
    marking_of,
    plan_import,
)
from vigil.exchange.stix_markings import TLP_BY_MARKING_ID
from vigil.exchange.store import ExchangeStore
from vigil.exchange.store.languages import legacy_languages, signal_language, snapshot_language
from vigil.exchange.taxii import (
    MAX_PAGE,
    CollectionSpec,
    ObjectQuery,
    Page,
    Status,
    StatusDetail,
    collection_resource,
    collections_for,
    decode_next,
    exact_versions,
    find_collection,
    in_collection,
    page_of,
    paginate,
    select_versions,
    served,
    sort_key,
)
from vigil.exchange.taxii_authorship import authorship_failures
from vigil.exchange.taxii_index import (
    PLANNED,
    Filters,
    Key,
    PostedObject,
    Served,
    is_projected,
    page_params,
    page_rows,
    page_statement,
    plan_mode,
    plan_settings,
    project_contributions,
    raw_rows,
    read_lane,
    served_rows,
    signal_of_object,
    snapshot_contribution,
    store_posted,
)
from vigil.exchange.taxii_models import TaxiiStatusDetailRow, TaxiiStatusRow


@dataclass
class Catalog:
    """Everything one caller may read over TAXII, all versions, in no particular order."""

    orgs: dict[str, Organisation]
    entries: list[StixEntry]
    signal_of_ref: dict[str, str] = field(default_factory=dict)  # contribution object id -> signal id

    def source_kind(self, entry: StixEntry) -> OrgKind | None:
        org = self.orgs.get(str(entry.obj.get("created_by_ref", "")))
        return org.kind if org else None


def _visible(principal: Principal, tlp: Any, org: Any, share_table: Any, share_fk: Any, row_id: Any) -> Any:
    source_kind = select(OrgRow.kind).where(OrgRow.id == org).scalar_subquery()
    listed = exists().where(share_fk == row_id, share_table.org_id == principal.org_id)
    return visible_clause(
        principal.org_id,
        principal.org_kind,
        tlp_col=tlp,
        source_org_col=org,
        source_kind_col=source_kind,
        listed=listed,
    )


def _contribution_visible(principal: Principal) -> ColumnElement[bool]:
    return _visible(  # type: ignore[no-any-return]
        principal,
        ContributionRow.tlp,
        ContributionRow.org_id,
        ContributionShareRow,
        ContributionShareRow.contribution_id,
        ContributionRow.id,
    )


def _campaign_visible(principal: Principal) -> ColumnElement[bool]:
    return _visible(  # type: ignore[no-any-return]
        principal,
        CampaignRow.tlp,
        CampaignRow.org_id,
        CampaignShareRow,
        CampaignShareRow.campaign_id,
        CampaignRow.id,
    )


def _orgs(session: Session) -> dict[str, Organisation]:
    return {
        row.id: Organisation(row.id, row.name, OrgKind(row.kind), row.created_at, row.operator)
        for row in session.scalars(select(OrgRow))
    }


def _campaigns(session: Session, principal: Principal) -> list[Campaign]:
    rows = list(session.scalars(select(CampaignRow).where(_campaign_visible(principal))))
    shares: dict[str, list[str]] = defaultdict(list)
    if rows:
        for share in session.scalars(
            select(CampaignShareRow).where(CampaignShareRow.campaign_id.in_([r.id for r in rows]))
        ):
            shares[share.campaign_id].append(share.org_id)
    return [
        Campaign(
            id=r.id,
            name=r.name,
            description=r.description,
            attribution=r.attribution,
            org_id=r.org_id,
            marking=Marking(TLP(r.tlp), tuple(sorted(shares[r.id]))),
            techniques=tuple(r.techniques or ()),
            created_at=r.created_at,
            modified_at=r.modified_at,
        )
        for r in rows
    ]


def _version_rows(session: Session, principal: Principal, *where: ColumnElement[bool]) -> Iterator[Any]:
    """Every stored version of the contributions the caller may see (and ``where``), oldest first,
    as (snapshot, version, modified_at, contribution id, created_at, signal id, kind, value)."""
    rows = session.execute(
        select(
            ContributionVersionRow.snapshot,
            ContributionVersionRow.version,
            ContributionVersionRow.modified_at,
            ContributionRow.id,
            ContributionRow.created_at,
            SignalRow.id,
            SignalRow.kind,
            SignalRow.value,
        )
        .join(ContributionRow, ContributionRow.id == ContributionVersionRow.contribution_id)
        .join(SignalRow, SignalRow.id == ContributionRow.signal_id)
        .where(_contribution_visible(principal), *where)
        .order_by(ContributionVersionRow.modified_at, ContributionVersionRow.id)
    )
    # rows unpack like tuples (SQLAlchemy 2.1); Any because mypy cannot carry a Row's column types
    # through a returned Result
    yield from rows


def load_catalog(session: Session, principal: Principal) -> Catalog:
    """Build the caller's catalog: visible campaigns, every visible version of every visible
    contribution, and the current opinions and sightings of the signals the caller sees."""
    orgs = _orgs(session)
    campaigns = _campaigns(session, principal)
    campaign_ids = {c.id: campaign_object_id(c) for c in campaigns}
    rows = list(_version_rows(session, principal))
    signals: dict[str, Signal] = {}
    history: dict[str, list[Contribution]] = defaultdict(list)
    latest: dict[int, tuple[str, Contribution]] = {}
    legacy = legacy_languages(session)  # languages stored on signal rows before they were per contribution
    for snapshot, version, modified_at, contribution_id, created_at, signal_id, kind, value in rows:
        source = orgs.get(snapshot["org_id"])
        # Each stored version is checked on its own marking: a version that was RED stays hidden
        # from readers of the later GREEN version.
        if source is None or not can_see(
            principal.org_id,
            principal.org_kind,
            source_org_id=source.id,
            source_kind=source.kind,
            tlp=TLP(snapshot["tlp"]),
            shared_with=snapshot.get("shared_with") or (),
        ):
            continue
        contribution = snapshot_contribution(snapshot, created_at, modified_at, version, set(campaign_ids))
        # each version carries its own contribution's language, never another member's
        contribution.language = snapshot_language(snapshot, contribution_id, legacy)
        history[signal_id].append(contribution)
        latest[contribution_id] = (signal_id, contribution)  # rows come oldest version first
        if signal_id not in signals:
            signals[signal_id] = Signal(id=signal_id, kind=SignalKind(kind), value=value)
    for signal_id, contribution in latest.values():
        signals[signal_id].contributions.append(contribution)
    for signal in signals.values():
        signal.language = signal_language(signal.contributions, principal.org_id)
    seen: dict[str, set[int]] = defaultdict(set)
    for contribution_id, (signal_id, _) in latest.items():
        seen[signal_id].add(contribution_id)
    _attach_opinions_and_sightings(session, principal, signals, seen, orgs)

    # Keyed by (id, version): STIX versions have millisecond precision, so two stored versions in
    # the same millisecond are one STIX version, and the later one (current last) wins.
    versions: dict[tuple[str, str], StixEntry] = {}
    signal_of_ref: dict[str, str] = {}
    for signal_id, signal in signals.items():
        for old in history[signal_id]:
            obj = contribution_object(signal, old)
            signal_of_ref[obj["id"]] = signal_id
            versions[(obj["id"], obj["modified"])] = StixEntry(
                obj=obj, date_added=old.modified_at, tlp=old.marking.tlp
            )
        versions.update(((e.id, e.version), e) for e in signal_entries(signal, campaign_ids))
    for campaign in campaigns:
        versions.update(((e.id, e.version), e) for e in campaign_entries(campaign))
    techniques = {t for c in campaigns for t in c.techniques}
    entries = [*supporting_entries(orgs.values(), techniques), *versions.values()]
    return Catalog(orgs=orgs, entries=entries, signal_of_ref=signal_of_ref)


# What changes whenever any key is revoked or any organisation's status changes (keys are never
# un-revoked; a status row is added, moved or deleted): the credentials' part of the fingerprint.
# A principal cached by the web layer (the TAXII key cache) carries the stamp it was authenticated
# at; every read compares it with the stamp in its own snapshot, so a key revoked, or an
# organisation suspended, by any process (another server worker, the CLI) is refused at once.
_CREDENTIALS = (
    select(func.count(ApiKeyRow.revoked_at)).scalar_subquery(),
    select(func.count(OrgStatusRow.org_id)).scalar_subquery(),
    select(func.max(OrgStatusRow.changed_at)).scalar_subquery(),
)
_CREDENTIALS_STAMP = select(*_CREDENTIALS)

_FINGERPRINT = select(
    select(func.max(ContributionVersionRow.id)).scalar_subquery(),
    select(func.max(OpinionHistoryRow.id)).scalar_subquery(),
    select(func.max(SightingRow.id)).scalar_subquery(),
    select(func.count(CampaignRow.id)).scalar_subquery(),
    select(func.max(CampaignRow.modified_at)).scalar_subquery(),
    select(func.count(OrgRow.id)).scalar_subquery(),
    *_CREDENTIALS,  # last: ``credentials_of``
)


def credentials_stamp(session: Session) -> tuple[object, ...]:
    """The credentials' stamp in this session's snapshot (read beside an authentication)."""
    return tuple(raw_rows(session, _CREDENTIALS_STAMP, {})[0])


def credentials_of(fingerprint: tuple[object, ...]) -> tuple[object, ...]:
    """The credentials' stamp within a ``_fingerprint``."""
    return fingerprint[len(fingerprint) - len(_CREDENTIALS) :]


_FINGERPRINT_PLANNED = {
    mode: select(*plan_settings(mode), *_FINGERPRINT.selected_columns) for mode in ("page", "by_id")
}


def _fingerprint(session: Session, filters: Filters | None = None) -> tuple[object, ...]:
    """Changes whenever anything a catalog is built from changes (every write appends a row or
    moves a timestamp), so a cached catalog is reused only while it is exact. Runs on every TAXII
    read: run on the session's driver connection (``raw_rows``), which skips SQLAlchemy's
    per-statement work. Only compared for equality, so the driver's values serve as they come.
    ``filters``: a page read follows in this transaction; on PostgreSQL this statement also gives
    the transaction that read's plan settings (``taxii_index.page_rows``)."""
    if filters is None or session.get_bind().dialect.name != "postgresql":
        return tuple(raw_rows(session, _FINGERPRINT, {})[0])
    mode = plan_mode(filters)
    row = raw_rows(session, _FINGERPRINT_PLANNED[mode], {})[0]
    session.info[PLANNED] = mode
    return tuple(row[len(row) - len(_FINGERPRINT.selected_columns) :])


_lane_statements: dict[int, Any] = {}


def _lane_statement(page: Any) -> Any:
    """The change fingerprint and a page statement (``taxii_index.page_statement``) as one
    statement, so that both read one snapshot with no transaction around them (``ReadLane``): one
    fingerprint row joined with the page's rows (NULLs when the page is empty)."""
    found = _lane_statements.get(id(page))  # page statements are kept, so their ids are not reused
    if found is None:
        fingerprint = _FINGERPRINT.subquery("fp")
        rows = page.subquery("p")
        found = (
            select(*fingerprint.c, *rows.c)
            .select_from(fingerprint.outerjoin(rows, true()))
            .order_by(rows.c.date_added, rows.c.stix_id, rows.c.modified, rows.c.seq)
        )
        _lane_statements[id(page)] = found
    return found


class CatalogCache:
    """Catalogs per (organisation, its kind) while the database has not changed: TAXII clients page
    through a collection with many requests, and rebuilding the catalog each time dominates."""

    def __init__(self, capacity: int = 64) -> None:
        self._items: OrderedDict[tuple[object, ...], Catalog] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, session: Session, principal: Principal) -> Catalog:
        key = (principal.org_id, principal.org_kind, *_fingerprint(session))
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        catalog = load_catalog(session, principal)
        with self._lock:
            self._items[key] = catalog
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return catalog


def _attach_opinions_and_sightings(
    session: Session,
    principal: Principal,
    signals: dict[str, Signal],
    seen: dict[str, set[int]],
    orgs: dict[str, Organisation],
) -> None:
    """Attach the feedback the caller may see (``vigil.exchange.policy.may_see_feedback``):
    ``seen`` maps each signal to the contributions the caller sees."""
    if not signals:
        return

    def kind_of(org_id: str) -> OrgKind:
        org = orgs.get(org_id)
        return org.kind if org is not None else OrgKind.RESEARCH

    def visible(signal_id: str, giver: str, basis: list[dict[str, Any]] | None) -> bool:
        return may_see_stored_feedback(principal, giver, basis, seen.get(signal_id, set()), kind_of)

    ids = list(signals)
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        for op in session.scalars(select(OpinionRow).where(OpinionRow.signal_id.in_(chunk))):
            if visible(op.signal_id, op.org_id, op.basis):
                signals[op.signal_id].opinions.append(
                    Opinion(
                        op.org_id,
                        OpinionValue(op.value),
                        op.comment,
                        op.created_at,
                        parse_feedback(op.basis)[1],
                    )
                )
        for si in session.scalars(
            select(SightingRow).where(SightingRow.signal_id.in_(chunk)).order_by(SightingRow.id)
        ):
            if visible(si.signal_id, si.org_id, si.basis):
                signals[si.signal_id].sightings.append(
                    Sighting(
                        si.org_id,
                        si.count,
                        si.first_seen,
                        si.last_seen,
                        si.platform,
                        si.created_at,
                        parse_feedback(si.basis)[1],
                    )
                )


def _type_of(entry: StixEntry | Served) -> str:
    return entry.type if isinstance(entry, Served) else str(entry.obj["type"])


def audit_delivered(
    session: Session, principal: Principal, entries: Sequence[StixEntry | Served], at: datetime
) -> None:
    """Record reads of AMBER, AMBER+STRICT and RED objects the caller actually received."""
    targets = [(_type_of(e), e.id, e.tlp.value) for e in entries if not e.shared and e.tlp in AUDITED_TLPS]
    audit.record_many(session, principal, "taxii.read", targets, at=at)


# ---------------------------------------------------------------------------------------------
# objects made on the fly: supporting objects, campaigns, campaign links, opinions, sightings

# The only STIX types ``load_extras`` produces: a query for other types never needs them.
EXTRA_TYPES = frozenset(
    {
        "marking-definition",
        "identity",
        "extension-definition",
        "attack-pattern",
        "campaign",
        "threat-actor",
        "relationship",
        "opinion",
        "sighting",
    }
)


@dataclass
class Extras:
    """What one caller may read that is not in the object index, sorted per collection on demand."""

    orgs: dict[str, Organisation]
    entries: list[Served]
    by_collection: dict[str, list[Served]] = field(default_factory=dict)
    selected: dict[tuple[object, ...], list[Served]] = field(default_factory=dict)

    def source_kind(self, entry: Served) -> OrgKind | None:
        org = self.orgs.get(str(entry.obj.get("created_by_ref", "")))
        return org.kind if org else None

    def of(self, spec: CollectionSpec, principal: Principal) -> list[Served]:
        found = self.by_collection.get(spec.alias)
        if found is None:
            found = sorted(in_collection(self.entries, spec, self.source_kind, principal), key=sort_key)
            self.by_collection[spec.alias] = found
        return found

    def matching(self, spec: CollectionSpec, principal: Principal, query: ObjectQuery) -> list[Served]:
        """``select_versions`` of this collection's extras, once per filter: these extras are
        fixed (a change in the database makes new ones), and a client pages with one filter."""
        key = (spec.alias, query.ids, query.types, query.spec_versions, query.versions, query.added_after)
        found = self.selected.get(key)
        if found is None:
            found = select_versions(self.of(spec, principal), query)
            if len(self.selected) >= 256:
                self.selected.clear()
            self.selected[key] = found
        return found


def load_extras(session: Session, principal: Principal) -> Extras:
    """Supporting objects, visible campaigns (with attribution and techniques), and for signals
    with feedback or a campaign link the opinions, sightings and relationships the caller may see.
    Contribution objects themselves are in the index, so only those signals are read here."""
    orgs = _orgs(session)
    campaigns = _campaigns(session, principal)
    campaign_ids = {c.id: campaign_object_id(c) for c in campaigns}
    involved = or_(
        ContributionRow.campaign_id.is_not(None),
        ContributionRow.signal_id.in_(select(OpinionRow.signal_id)),
        ContributionRow.signal_id.in_(select(SightingRow.signal_id)),
    )
    rows = list(_version_rows(session, principal, involved))
    signals: dict[str, Signal] = {}
    latest: dict[int, tuple[str, Contribution]] = {}
    for snapshot, version, modified_at, contribution_id, created_at, signal_id, kind, value in rows:
        source = orgs.get(snapshot["org_id"])
        if source is None or not can_see(
            principal.org_id,
            principal.org_kind,
            source_org_id=source.id,
            source_kind=source.kind,
            tlp=TLP(snapshot["tlp"]),
            shared_with=snapshot.get("shared_with") or (),
        ):
            continue
        contribution = snapshot_contribution(snapshot, created_at, modified_at, version, set(campaign_ids))
        latest[contribution_id] = (signal_id, contribution)
        if signal_id not in signals:
            signals[signal_id] = Signal(id=signal_id, kind=SignalKind(kind), value=value)
    for signal_id, contribution in latest.values():
        signals[signal_id].contributions.append(contribution)
    seen: dict[str, set[int]] = defaultdict(set)
    for contribution_id, (signal_id, _) in latest.items():
        seen[signal_id].add(contribution_id)
    _attach_opinions_and_sightings(session, principal, signals, seen, orgs)
    versions: dict[tuple[str, str], StixEntry] = {}
    for signal in signals.values():
        for entry in signal_entries(signal, campaign_ids):
            if entry.obj["type"] not in ("indicator", "attack-pattern"):  # those are in the index
                versions[(entry.id, entry.version)] = entry
    for campaign in campaigns:
        versions.update(((e.id, e.version), e) for e in campaign_entries(campaign))
    techniques = {t for c in campaigns for t in c.techniques}
    entries = [served(e) for e in (*supporting_entries(orgs.values(), techniques), *versions.values())]
    return Extras(orgs=orgs, entries=entries)


class ExtrasCache:
    """Extras per (organisation, its kind) while the database has not changed."""

    def __init__(self, capacity: int = 64) -> None:
        self._items: OrderedDict[tuple[object, ...], Extras] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def peek(self, principal: Principal, fingerprint: tuple[object, ...]) -> Extras | None:
        """The extras held for this caller at this ``fingerprint``, if any (the read lane's: a
        miss is read by the ORM path, which fills the cache)."""
        key = (principal.org_id, principal.org_kind, *fingerprint)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
        return found

    def get(
        self, session: Session, principal: Principal, fingerprint: tuple[object, ...] | None = None
    ) -> Extras:
        """``fingerprint``: the database's ``_fingerprint`` already read in this session."""
        key = (principal.org_id, principal.org_kind, *(fingerprint or _fingerprint(session)))
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        extras = load_extras(session, principal)
        with self._lock:
            self._items[key] = extras
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return extras


# ---------------------------------------------------------------------------------------------
# the service

# posted objects stored per transaction (one multi-row statement): chunks of 500 held SQLite's
# write lock up to 0.74 s at a load of 3-4 (#23); 100 keep a transaction near 100 ms there
RAW_CHUNK = 100
DRAFT_CHUNK = 10  # typed submissions (signals, opinions, sightings) per transaction


# Envelopes of at least this many objects are validated in a separate process: stix2-validator
# costs about 10 ms of CPU per object, and in the server's process a 1,000-object envelope held the
# GIL for seconds, so every other request of that process waited behind it.
POOL_THRESHOLD = 50
_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def _validator() -> ProcessPoolExecutor:
    """One validator process per server process (started on the first large envelope): on two
    cores, validation takes one and the server keeps the other for readers."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            )
        return _pool


def _exit_with_parent(parent: int) -> None:
    """In the validator process: exit when the server process is gone. A server killed without
    its shutdown (SIGKILL, a crash) would otherwise leave the validator running."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="vigil-validator-watchdog").start()


def _plan(objects: list[Any]) -> ImportPlan:
    """``plan_import`` of an envelope: small ones here, large ones in the validator process (the
    same function; its plan comes back pickled)."""
    global _pool
    if len(objects) < POOL_THRESHOLD:
        return plan_import(objects)
    try:
        return _validator().submit(plan_import, objects).result()
    except BrokenProcessPool:  # the validator process died (killed, out of memory): start anew
        with _pool_lock:
            _pool = None
        return _validator().submit(plan_import, objects).result()


def _filters(query: ObjectQuery) -> Filters:
    return Filters(
        ids=query.ids,
        types=query.types,
        spec_versions=query.spec_versions,
        versions=query.versions,
        exact=exact_versions(query),
        added_after=query.added_after,
    )


def _needs_extras(query: ObjectQuery) -> bool:
    if query.types and not (query.types & EXTRA_TYPES):
        return False
    return not (query.ids and all(i.split("--", 1)[0] not in EXTRA_TYPES for i in query.ids))


def _merged(rows: list[Served], extras: list[Served], after: Key | None, limit: int) -> list[Served]:
    """The first ``limit`` of a page's indexed ``rows`` and the ``extras`` after ``after``."""
    start = bisect.bisect_right(extras, after, key=sort_key) if after is not None else 0
    if start >= len(extras):
        return rows  # nothing made on the fly sorts after this position (most pages)
    return list(heapq.merge(rows, extras[start : start + limit], key=sort_key))[:limit]


def _version_of(obj: Any) -> str:
    if not isinstance(obj, dict):
        return ""
    return str(obj.get("modified") or obj.get("created") or "")[:40]


def _detail_id(obj: Any, index: int) -> str:
    found = obj.get("id") if isinstance(obj, dict) else None
    return str(found)[:300] if isinstance(found, str) and found else f"object #{index}"


class TaxiiService:
    """The TAXII operations for one authenticated caller. Reads run in read-only transactions
    (they never wait for a writer); the audit entries of a page and every write run in their own
    short write transactions."""

    def __init__(
        self,
        db: Database,
        principal: Principal,
        *,
        page_size: int = MAX_PAGE,
        cache: ExtrasCache | None = None,
        credentials: tuple[object, ...] | None = None,
        lane: bool = False,
    ) -> None:
        self.db = db
        self.principal = principal
        self.page_size = page_size
        self.cache = cache if cache is not None else ExtrasCache()
        # The credentials' stamp ``principal`` was authenticated at, when it comes from a cache:
        # reads re-check the key in their own snapshot if it moved (``_check_credentials``), and
        # leave the stamp they checked at here (the cache keeps it).
        self.credentials = credentials
        # Reads of a cached principal on the read lane (``taxii_index.ReadLane``) when they can
        # (the fast lane's requests); anything else on an ORM read session.
        self.lane = lane

    def collections(self) -> list[dict[str, Any]]:
        require(self.principal, Permission.READ)
        return [collection_resource(spec, self.principal) for spec in collections_for(self.principal)]

    def collection(self, collection_id: str) -> CollectionSpec:
        require(self.principal, Permission.READ)
        spec = find_collection(self.principal, collection_id)
        if spec is None:
            raise NotFound(f"no collection {collection_id!r}", collection=collection_id)
        return spec

    def _project(self) -> None:
        project_contributions(self.db)

    def _read(self, spec: CollectionSpec, query: ObjectQuery, after: Key | None, limit: int) -> list[Served]:
        """Up to ``limit`` items after ``after``, in one read transaction: one statement reads the
        database's change fingerprint (which says whether contribution versions are waiting to be
        projected into the index, and whether the cached extras still hold), one reads the page."""
        if self.lane and self.credentials is not None:
            found = self._read_lane(spec, query, after, limit)
            if found is not None:
                return found
        filters = _filters(query)
        with self.db.read_session() as session:
            fingerprint = _fingerprint(session, filters)
            self._check_credentials(session, fingerprint)
            if is_projected(self.db, int(cast(int | None, fingerprint[0]) or 0)):
                return self._candidates(session, spec, query, after, limit, fingerprint)
        self._project()  # in its own short write transactions, then read a snapshot that has them
        with self.db.read_session() as session:
            fingerprint = _fingerprint(session, filters)
            self._check_credentials(session, fingerprint)
            return self._candidates(session, spec, query, after, limit, fingerprint)

    def _read_lane(
        self, spec: CollectionSpec, query: ObjectQuery, after: Key | None, limit: int
    ) -> list[Served] | None:
        """``_read`` as one statement on the read lane, or None when the ORM path must read: the
        credentials' stamp moved (it authenticates the key again in its snapshot), contribution
        versions wait to be projected, the caller's extras are not cached at this fingerprint, no
        lane connection is free, or the driver failed (the ORM path reads again and answers the
        error as it always does)."""
        filters = _filters(query)
        lane = read_lane(self.db)
        statement = _lane_statement(
            page_statement(self.principal.org_kind, spec.audience, filters, after is not None)
        )
        try:
            rows = lane.rows(
                plan_mode(filters), statement, page_params(self.principal, filters, after, limit)
            )
        except lane.errors:
            return None
        if not rows:
            return None
        width = len(_FINGERPRINT.selected_columns)
        fingerprint = tuple(rows[0][:width])
        if credentials_of(fingerprint) != self.credentials:
            return None
        if not is_projected(self.db, int(cast(int | None, fingerprint[0]) or 0)):
            return None
        items = served_rows(rows, width) if rows[0][width] is not None else []
        if not _needs_extras(query):
            return items
        extras = self.cache.peek(self.principal, fingerprint)
        if extras is None:
            return None
        return _merged(items, extras.matching(spec, self.principal, query), after, limit)

    def _check_credentials(self, session: Session, fingerprint: tuple[object, ...]) -> None:
        """A cached principal whose stamp moved (some key revoked, some organisation's status
        changed, by any process) is authenticated again by its key id in this snapshot:
        AuthenticationError if its own key or organisation was the one stopped."""
        if self.credentials is None:
            return
        stamp = credentials_of(fingerprint)
        if stamp != self.credentials:
            self.principal = ExchangeStore(session).principal_of_key(self.principal.key_id)
            self.credentials = stamp

    def _candidates(
        self,
        session: Session,
        spec: CollectionSpec,
        query: ObjectQuery,
        after: Key | None,
        limit: int,
        fingerprint: tuple[object, ...],
    ) -> list[Served]:
        """Up to ``limit`` items after ``after``: the index's page merged with the extras'."""
        rows = page_rows(session, self.principal, spec.audience, _filters(query), after, limit)
        if not _needs_extras(query):
            return rows
        extras = self.cache.get(session, self.principal, fingerprint).matching(spec, self.principal, query)
        return _merged(rows, extras, after, limit)

    def _listing(self, collection_id: str, query: ObjectQuery) -> Page:
        spec = self.collection(collection_id)
        limit = query.limit or self.page_size
        after = decode_next(query.next) if query.next else None
        return page_of(self._read(spec, query, after, limit + 1), limit)

    def _deliver(self, page: Page) -> Page:
        if any(not e.shared and e.tlp in AUDITED_TLPS for e in page.items):
            with self.db.session() as session:
                audit_delivered(session, self.principal, page.items, utcnow())
        return page

    def objects(self, collection_id: str, query: ObjectQuery) -> Page:
        return self._deliver(self._listing(collection_id, query))

    def manifest(self, collection_id: str, query: ObjectQuery) -> Page:
        # A manifest names objects without their content: nothing to audit.
        return self._listing(collection_id, query)

    def object(self, collection_id: str, object_id: str, query: ObjectQuery) -> Page:
        narrowed = replace(query, ids=frozenset({object_id}))
        page = self._listing(collection_id, narrowed)
        if not page.items and query.next is None:
            raise NotFound(f"no object {object_id!r} in collection {collection_id}", object=object_id)
        return self._deliver(page)

    def versions(self, collection_id: str, object_id: str, query: ObjectQuery) -> Page:
        spec = self.collection(collection_id)
        narrowed = replace(query, ids=frozenset({object_id}), versions=("all",), next=None, limit=None)
        found = self._read(spec, narrowed, None, 100_000)
        if not found:
            raise NotFound(f"no object {object_id!r} in collection {spec.alias}", object=object_id)
        # Versions are listed oldest first; the position in ``next`` is the version itself.
        by_version = sorted((replace(e, date_added=e.modified) for e in found), key=sort_key)
        return paginate(by_version, query, self.page_size)

    # -- writes ------------------------------------------------------------------------------

    def add_objects(self, collection_id: str, body: bytes) -> Status:
        """Store every valid object of an envelope as sent, as the caller, in the collection's
        audience; objects Vigil understands are also submitted as typed signals (campaigns,
        opinions, sightings) and linked. Validation runs before any transaction; writes are
        committed in chunks, and the persisted status says what is done, failed or pending."""
        spec = self.collection(collection_id)
        require(self.principal, Permission.WRITE)
        objects = load_objects(body, "envelope")
        plan = _plan(objects)  # stix2-validator on every object, outside any transaction
        invalid = {p.index: p.message for p in plan.invalid}
        unsupported = {p.index: p.message for p in plan.unsupported}
        by_id = {o["id"]: o for i, o in enumerate(objects) if i not in invalid}
        policy = MarkingPolicy(default=spec.write_tlp, allowed=spec.tlps, where=f"collection {spec.alias}")
        status = Status(id=str(uuid.uuid4()), org_id=self.principal.org_id, request_timestamp=utcnow())
        outcomes: dict[int, tuple[str, str | None]] = {}
        accepted: list[tuple[int, dict[str, Any], TLP]] = []
        self._project()  # every contribution object so far is in the index, so its creator is known
        with self.db.read_session() as session:
            refused = authorship_failures(
                session, self.principal, [(i, o) for i, o in enumerate(objects) if i not in invalid]
            )
        for index, obj in enumerate(objects):
            if index in invalid or index in refused:
                outcomes[index] = ("failure", invalid.get(index) or refused[index])
                continue
            tlp, why = marking_of(obj, by_id)
            if why is None:
                try:
                    tlp = policy.resolve(tlp)
                except InputError as exc:
                    why = exc.message
            if why is not None or tlp is None:
                outcomes[index] = ("failure", why)
                continue
            if obj["id"] in TLP_BY_MARKING_ID:
                outcomes[index] = ("success", "TLP marking-definition: served in every collection already")
                continue
            accepted.append((index, obj, tlp))
        details = [
            TaxiiStatusDetailRow(
                status_id=status.id,
                position=index,
                object_id=_detail_id(obj, index),
                version=_version_of(obj),
                outcome=outcomes.get(index, ("pending", None))[0],
                message=outcomes.get(index, ("", None))[1],
            )
            for index, obj in enumerate(objects)
        ]
        with self.db.session() as session:
            session.add(
                TaxiiStatusRow(
                    id=status.id,
                    org_id=status.org_id,
                    collection=spec.alias,
                    request_timestamp=status.request_timestamp,
                    status="pending",
                    total_count=len(details),
                    success_count=0,
                    failure_count=0,
                    pending_count=len(details),
                )
            )
            session.flush()  # the status row before its details (foreign key)
            session.add_all(details)
            _recount(session, status.id)
            audit.record(
                session,
                self.principal,
                "taxii.add",
                at=status.request_timestamp,
                target_type="taxii-status",
                target_id=status.id,
                detail={"collection": spec.alias, "objects": len(objects), "accepted": len(accepted)},
            )
        self._project()  # opinions and sightings may refer to any contribution object served so far
        linked = self._apply_drafts(plan, {obj["id"] for _, obj, _ in accepted}, policy)
        for start in range(0, len(accepted), RAW_CHUNK):
            chunk = accepted[start : start + RAW_CHUNK]
            posted = [
                PostedObject(
                    obj=obj,
                    text=json.dumps(obj, ensure_ascii=False, separators=(",", ":")),
                    org_id=self.principal.org_id,
                    tlp=tlp,
                    signal_id=linked.signal_ids.get(obj["id"]),
                )
                for _, obj, tlp in chunk
            ]
            updates = []
            for index, obj, _ in chunk:
                message = linked.messages.get(obj["id"])
                if message is None and index in unsupported:
                    message = f"stored as sent (no typed equivalent in Vigil: {unsupported[index]})"
                updates.append({"p": index, "o": "success", "m": message})
            with self.db.session() as session:
                store_posted(session, posted, utcnow())
                _settle(session, status.id, updates)
        return self.status(status.id)

    def _apply_drafts(self, plan: ImportPlan, accepted: set[str], policy: MarkingPolicy) -> _Linked:
        """Submit the typed drafts of accepted objects in small transactions (campaigns first)."""
        linked = _Linked()
        known = ApplyResult()
        parts: list[ImportPlan] = []
        campaigns = [d for d in plan.campaigns if d.source_id in accepted]
        if campaigns:
            parts.append(ImportPlan(campaigns=campaigns))
        signals = [d for d in plan.signals if d.source_id in accepted]
        parts += [
            ImportPlan(signals=signals[i : i + DRAFT_CHUNK]) for i in range(0, len(signals), DRAFT_CHUNK)
        ]
        feedback: list[OpinionDraft | SightingDraft] = [
            *(d for d in plan.opinions if d.source_id in accepted),
            *(d for d in plan.sightings if d.source_id in accepted),
        ]
        for i in range(0, len(feedback), DRAFT_CHUNK):
            some = feedback[i : i + DRAFT_CHUNK]
            parts.append(
                ImportPlan(
                    opinions=[d for d in some if isinstance(d, OpinionDraft)],
                    sightings=[d for d in some if isinstance(d, SightingDraft)],
                )
            )
        for part in parts:
            with self.db.session() as session:
                store = ExchangeStore(session)
                result = apply_plan(
                    store,
                    self.principal,
                    part,
                    policy,
                    resolve=lambda ref, s=session: signal_of_object(s, self.principal, ref),  # type: ignore[misc]
                    atomic=False,
                    known=known,
                )
            known.signal_ids.update(result.signal_ids)
            known.campaign_ids.update(result.campaign_ids)
            for outcome in result.outcomes:
                if not outcome.ok:
                    linked.messages[outcome.source_id] = (
                        f"stored as sent; not linked to a Vigil signal: {outcome.message}"
                    )
                elif outcome.message:
                    linked.messages[outcome.source_id] = outcome.message
        linked.signal_ids.update(known.signal_ids)
        return linked

    def status(self, status_id: str) -> Status:
        """A status resource; only the organisation that posted may read it."""
        with self.db.read_session() as session:
            row = session.get(TaxiiStatusRow, status_id)
            if row is None or row.org_id != self.principal.org_id:
                raise NotFound(f"no status {status_id!r}", status=status_id)
            status = Status(id=row.id, org_id=row.org_id, request_timestamp=row.request_timestamp)
            for detail in session.scalars(
                select(TaxiiStatusDetailRow)
                .where(TaxiiStatusDetailRow.status_id == status_id)
                .order_by(TaxiiStatusDetailRow.position)
            ):
                item = StatusDetail(detail.object_id, detail.version, detail.message)
                {"success": status.successes, "failure": status.failures}.get(
                    detail.outcome, status.pendings
                ).append(item)
        return status


@dataclass
class _Linked:
    signal_ids: dict[str, str] = field(default_factory=dict)  # posted object id -> signal id
    messages: dict[str, str] = field(default_factory=dict)  # posted object id -> status message


def _settle(session: Session, status_id: str, updates: list[dict[str, Any]]) -> None:
    """Mark some objects of a status done (one statement) and update its counts."""
    if updates:
        table = cast(Table, TaxiiStatusDetailRow.__table__)
        session.connection().execute(
            update(table)
            .where(table.c.status_id == status_id, table.c.position == bindparam("p"))
            .values(outcome=bindparam("o"), message=bindparam("m")),
            updates,
        )
    _recount(session, status_id)


def _recount(session: Session, status_id: str) -> None:
    session.flush()
    counts: dict[str, int] = {
        outcome: count
        for outcome, count in session.execute(
            select(TaxiiStatusDetailRow.outcome, func.count())
            .where(TaxiiStatusDetailRow.status_id == status_id)
            .group_by(TaxiiStatusDetailRow.outcome)
        )
    }
    pending = counts.get("pending", 0)
    session.execute(
        update(TaxiiStatusRow)
        .where(TaxiiStatusRow.id == status_id)
        .values(
            success_count=counts.get("success", 0),
            failure_count=counts.get("failure", 0),
            pending_count=pending,
            status="pending" if pending else "complete",
        )
    )
