"""What the TAXII server may serve one caller: every visible STIX object version, read from the
exchange tables through the same access rule the store uses (``access.visible_clause`` in SQL and
``access.can_see`` per stored version).

Why not ``ExchangeStore.list_signals``: TAXII serves every *version* of every contribution (from
the append-only version table), and audits only what it actually delivers on a page rather than
everything it had to read to build the page. Reads of AMBER and stricter objects are written to
the audit log by ``audit_delivered``.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from vigil.core.errors import NotFound
from vigil.core.time import parse_instant
from vigil.exchange import audit
from vigil.exchange.access import AUDITED_TLPS, Permission, Principal, can_see, require, visible_clause
from vigil.exchange.models import (
    CampaignRow,
    CampaignShareRow,
    ContributionRow,
    ContributionShareRow,
    ContributionVersionRow,
    OpinionHistoryRow,
    OpinionRow,
    OrgRow,
    SightingRow,
    SignalRow,
)
from vigil.exchange.policy import Basis, may_see_feedback
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
from vigil.exchange.stix_apply import MarkingPolicy, apply_plan
from vigil.exchange.stix_export import (
    StixEntry,
    campaign_entries,
    campaign_object_id,
    contribution_object,
    signal_entries,
    supporting_entries,
)
from vigil.exchange.stix_import import load_objects, plan_import
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
    find_collection,
    in_collection,
    paginate,
    select_versions,
)


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


def _snapshot_contribution(
    snapshot: dict[str, Any], created_at: datetime, modified_at: datetime, version: int, campaigns: set[str]
) -> Contribution:
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


def load_catalog(session: Session, principal: Principal) -> Catalog:
    """Build the caller's catalog: visible campaigns, every visible version of every visible
    contribution, and the current opinions and sightings of the signals the caller sees."""
    orgs = _orgs(session)
    campaigns = _campaigns(session, principal)
    campaign_ids = {c.id: campaign_object_id(c) for c in campaigns}
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
        .where(_contribution_visible(principal))
        .order_by(ContributionVersionRow.modified_at, ContributionVersionRow.id)
    ).all()
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
        contribution = _snapshot_contribution(snapshot, created_at, modified_at, version, set(campaign_ids))
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


def _fingerprint(session: Session) -> tuple[object, ...]:
    """Changes whenever anything a catalog is built from changes (every write appends a row or
    moves a timestamp), so a cached catalog is reused only while it is exact."""
    return tuple(
        session.execute(
            select(
                select(func.max(ContributionVersionRow.id)).scalar_subquery(),
                select(func.max(OpinionHistoryRow.id)).scalar_subquery(),
                select(func.max(SightingRow.id)).scalar_subquery(),
                select(func.count(CampaignRow.id)).scalar_subquery(),
                select(func.max(CampaignRow.modified_at)).scalar_subquery(),
                select(func.count(OrgRow.id)).scalar_subquery(),
            )
        ).one()
    )


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
        parsed = [Basis.from_json(b) for b in basis or ()]
        return may_see_feedback(principal, giver, parsed, seen.get(signal_id, set()), kind_of)

    ids = list(signals)
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        for op in session.scalars(select(OpinionRow).where(OpinionRow.signal_id.in_(chunk))):
            if visible(op.signal_id, op.org_id, op.basis):
                signals[op.signal_id].opinions.append(
                    Opinion(op.org_id, OpinionValue(op.value), op.comment, op.created_at)
                )
        for si in session.scalars(
            select(SightingRow).where(SightingRow.signal_id.in_(chunk)).order_by(SightingRow.id)
        ):
            if visible(si.signal_id, si.org_id, si.basis):
                signals[si.signal_id].sightings.append(
                    Sighting(si.org_id, si.count, si.first_seen, si.last_seen, si.platform, si.created_at)
                )


def audit_delivered(session: Session, principal: Principal, entries: list[StixEntry], at: datetime) -> None:
    """Record reads of AMBER, AMBER+STRICT and RED objects the caller actually received."""
    targets = [
        (str(e.obj["type"]), e.id, e.tlp.value) for e in entries if not e.shared and e.tlp in AUDITED_TLPS
    ]
    audit.record_many(session, principal, "taxii.read", targets, at=at)


class StatusBook:
    """Add-objects results kept in memory for ``GET status/{id}``: requests are processed before the
    202 answer, so a status is final when it is created. Bounded; only the posting organisation may
    read one. (Kept in process memory: run one server process per database, or put statuses in
    the database before scaling out.)"""

    def __init__(self, capacity: int = 10_000) -> None:
        self._items: OrderedDict[str, Status] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def add(self, status: Status) -> None:
        with self._lock:
            self._items[status.id] = status
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)

    def get(self, principal: Principal, status_id: str) -> Status:
        with self._lock:
            status = self._items.get(status_id)
        if status is None or status.org_id != principal.org_id:
            raise NotFound(f"no status {status_id!r}", status=status_id)
        return status


class TaxiiService:
    """The TAXII operations for one authenticated caller within one transaction."""

    def __init__(
        self,
        store: ExchangeStore,
        principal: Principal,
        *,
        page_size: int = MAX_PAGE,
        cache: CatalogCache | None = None,
    ) -> None:
        self.store = store
        self.principal = principal
        self.page_size = page_size
        self.cache = cache
        self._catalog: Catalog | None = None

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            require(self.principal, Permission.READ)
            if self.cache is not None:
                self._catalog = self.cache.get(self.store.session, self.principal)
            else:
                self._catalog = load_catalog(self.store.session, self.principal)
        return self._catalog

    def collections(self) -> list[dict[str, Any]]:
        require(self.principal, Permission.READ)
        return [collection_resource(spec, self.principal) for spec in collections_for(self.principal)]

    def collection(self, collection_id: str) -> CollectionSpec:
        require(self.principal, Permission.READ)
        spec = find_collection(self.principal, collection_id)
        if spec is None:
            raise NotFound(f"no collection {collection_id!r}", collection=collection_id)
        return spec

    def _entries(self, spec: CollectionSpec) -> list[StixEntry]:
        catalog = self.catalog
        return in_collection(catalog.entries, spec, catalog.source_kind, self.principal)

    def _deliver(self, page: Page) -> Page:
        audit_delivered(self.store.session, self.principal, page.items, self.store.now())
        return page

    def objects(self, collection_id: str, query: ObjectQuery) -> Page:
        spec = self.collection(collection_id)
        selected = select_versions(self._entries(spec), query)
        return self._deliver(paginate(selected, query, self.page_size))

    def manifest(self, collection_id: str, query: ObjectQuery) -> Page:
        spec = self.collection(collection_id)
        # A manifest names objects without their content: nothing to audit.
        return paginate(select_versions(self._entries(spec), query), query, self.page_size)

    def object(self, collection_id: str, object_id: str, query: ObjectQuery) -> Page:
        spec = self.collection(collection_id)
        narrowed = replace(query, ids=frozenset({object_id}))
        selected = select_versions(self._entries(spec), narrowed)
        if not selected and query.next is None:
            raise NotFound(f"no object {object_id!r} in collection {spec.alias}", object=object_id)
        return self._deliver(paginate(selected, narrowed, self.page_size))

    def versions(self, collection_id: str, object_id: str, query: ObjectQuery) -> Page:
        spec = self.collection(collection_id)
        narrowed = replace(query, ids=frozenset({object_id}), versions=("all",))
        selected = select_versions(self._entries(spec), narrowed)
        if not selected and query.next is None:
            raise NotFound(f"no object {object_id!r} in collection {spec.alias}", object=object_id)
        selected.sort(key=lambda e: parse_instant(e.version))
        return paginate(selected, narrowed, self.page_size)

    def add_objects(self, collection_id: str, body: bytes) -> Status:
        """Import an envelope into the collection as the caller; one status detail per object."""
        spec = self.collection(collection_id)
        require(self.principal, Permission.WRITE)
        objects = load_objects(body, "envelope")
        status = Status(
            id=str(uuid.uuid4()), org_id=self.principal.org_id, request_timestamp=self.store.now()
        )
        plan = plan_import(objects)
        versions = {
            str(o.get("id")): str(o.get("modified") or o.get("created") or "")
            for o in objects
            if isinstance(o, dict)
        }
        for problem in plan.problems():
            detail_id = problem.object_id or f"object #{problem.index}"
            status.failures.append(StatusDetail(detail_id, versions.get(detail_id, ""), problem.message))
        for supporting in plan.supporting:
            status.successes.append(
                StatusDetail(
                    supporting, versions.get(supporting, ""), "accepted: supporting object, not stored"
                )
            )
        policy = MarkingPolicy(default=spec.write_tlp, allowed=spec.tlps, where=f"collection {spec.alias}")
        result = apply_plan(
            self.store,
            self.principal,
            plan,
            policy,
            resolve=self.catalog.signal_of_ref.get,
            atomic=False,
        )
        for outcome in result.outcomes:
            detail = StatusDetail(outcome.source_id, versions.get(outcome.source_id, ""), outcome.message)
            (status.successes if outcome.ok else status.failures).append(detail)
        self._catalog = None  # what was just written is visible to the next read
        return status
