"""Federation: this Vigil pulls another one (or any TAXII 2.1 server) into its own exchange.

A **peer** is a TAXII server, an API key there, the collections to read, and the *local*
organisation everything received is contributed as (for example "International coalition" on a
national instance). ``pull`` downloads what changed since the last pull and applies it:

* **Checkpoint.** Per collection, the peer's ``X-TAXII-Date-Added-Last``; the next pull asks
  ``added_after=<it>``, so it transfers only object versions added since. Checkpoints are saved in
  the same transaction as the changes they cover: a pull that fails half-way stores nothing and is
  simply run again.
* **Merging.** On the peer, each member's contribution to a signal is its own indicator. The latest
  version of each is kept (``federation_objects``); the local organisation's contribution is the
  newest one that is not revoked. When every indicator a peer sent for a signal is revoked (or its
  marking was tightened past ``max_tlp``), the local contribution is revoked too, so revocation
  reaches this instance's TAXII clients, match indexes and push subscribers in turn.
* **Markings.** Objects keep their TLP. Objects marked above the peer's ``max_tlp`` (default GREEN)
  are not re-shared: counted as ``withheld``. ``shared_with`` lists name the peer's organisations and
  are dropped, so an AMBER object reaches the local organisation and members of its kind.
* **Never silent.** Objects Vigil cannot represent (an unknown STIX type, an invalid object) are
  listed in the report and written to the audit log (``federation.reject``); values refused by a
  warning list are counted as ``blocked`` with the list named; opinions and sightings are counted as
  ``feedback_skipped``. Everything else in the same pull is applied.

The raw TAXII client is :class:`vigil.exchange.taxii_client.TaxiiClient`, shared with the match
fetch; this module is the adapter (:func:`fetch` reads, :func:`apply` merges).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.core.errors import (
    Conflict,
    InputError,
    NotFound,
    VigilError,
)
from vigil.core.ids import new_id
from vigil.core.settings import Settings, get_settings
from vigil.core.time import isoformat_z, parse_instant, utcnow
from vigil.db import Database
from vigil.exchange import audit
from vigil.exchange.access import Permission, Principal, require
from vigil.exchange.lifecycle_models import FederationCheckpointRow, FederationObjectRow, FederationPeerRow
from vigil.exchange.models import ContributionRow
from vigil.exchange.records import TLP, Marking, Role
from vigil.exchange.secrets_box import load_box, seal_legacy, truncate_wal
from vigil.exchange.stix_apply import signal_id_for
from vigil.exchange.stix_import import SignalDraft, plan_import
from vigil.exchange.stix_markings import tlp_rank
from vigil.exchange.store import ExchangeStore, SignalSubmission, parse_tlp
from vigil.exchange.taxii_client import TaxiiClient, server_root

log = logging.getLogger(__name__)
CHUNK = 500  # ids per IN list


def base_url(url: str) -> str:
    """A peer's base URL (also when given its ``…/taxii2/`` discovery URL)."""
    return server_root(url, field="url")


# ---------------------------------------------------------------------------------------------
# peers


@dataclass(frozen=True)
class Peer:
    id: str
    name: str
    url: str
    collections: tuple[str, ...]
    as_org_id: str
    max_tlp: TLP
    enabled: bool
    created_at: datetime
    last_pull_at: datetime | None
    last_error: str | None

    def to_dict(self) -> dict[str, Any]:
        """Everything but the peer's API key, which never leaves the database."""
        return {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "collections": list(self.collections),
            "as_org_id": self.as_org_id,
            "max_tlp": self.max_tlp.value,
            "enabled": self.enabled,
            "created_at": isoformat_z(self.created_at),
            "last_pull_at": isoformat_z(self.last_pull_at) if self.last_pull_at else None,
            "last_error": self.last_error,
        }


def _peer(row: FederationPeerRow) -> Peer:
    return Peer(
        row.id,
        row.name,
        row.url,
        tuple(row.collections),
        row.as_org_id,
        TLP(row.max_tlp),
        row.enabled,
        row.created_at,
        row.last_pull_at,
        row.last_error,
    )


def add_peer(
    store: ExchangeStore,
    principal: Principal | None,
    name: str,
    url: str,
    api_key: str,
    *,
    as_org: str,
    collections: Sequence[str] = (),
    max_tlp: str | TLP = TLP.GREEN,
    settings: Settings | None = None,
) -> Peer:
    """Register a peer (operator admins or the local administrator only). Its API key is stored
    sealed with the key of ``settings`` (default: the process settings)."""
    require(principal, Permission.OPERATE)
    if not name.strip() or len(name) > 200:
        raise InputError("peer name must be 1-200 characters", field="name")
    if not api_key.strip():
        raise InputError("the peer's API key is required", field="key")
    if store.session.scalar(select(FederationPeerRow).where(FederationPeerRow.name == name.strip())):
        raise Conflict(f"a peer named {name.strip()!r} exists already")
    org = store.get_org(None, as_org)
    row = FederationPeerRow(
        id=new_id("peer"),
        name=name.strip(),
        url=base_url(url),
        api_key=load_box(settings or get_settings()).seal(api_key.strip()),
        collections=[str(c) for c in collections],
        as_org_id=org.id,
        max_tlp=parse_tlp(max_tlp).value,
        enabled=True,
        created_at=store.now(),
    )
    store.session.add(row)
    store.session.flush()
    audit.record(
        store.session,
        principal,
        "federation.add_peer",
        at=store.now(),
        target_type="peer",
        target_id=row.id,
        detail={"name": row.name, "url": row.url, "as_org": org.id, "max_tlp": row.max_tlp},
    )
    return _peer(row)


def list_peers(session: Session, principal: Principal | None) -> list[Peer]:
    require(principal, Permission.OPERATE)
    return [_peer(r) for r in session.scalars(select(FederationPeerRow).order_by(FederationPeerRow.name))]


def _peer_row(session: Session, name_or_id: str) -> FederationPeerRow:
    row = session.scalar(
        select(FederationPeerRow).where(
            (FederationPeerRow.name == name_or_id) | (FederationPeerRow.id == name_or_id)
        )
    )
    if row is None:
        raise NotFound(f"no federation peer {name_or_id!r}", peer=name_or_id)
    return row


def remove_peer(store: ExchangeStore, principal: Principal | None, name_or_id: str) -> Peer:
    """Stop pulling from a peer. What it sent stays (revoke it by hand if needed)."""
    require(principal, Permission.OPERATE)
    row = _peer_row(store.session, name_or_id)
    row.enabled = False
    audit.record(
        store.session,
        principal,
        "federation.disable_peer",
        at=store.now(),
        target_type="peer",
        target_id=row.id,
    )
    return _peer(row)


# ---------------------------------------------------------------------------------------------
# pulling


@dataclass
class PullReport:
    peer: str
    collections: dict[str, int] = field(default_factory=dict)  # collection -> objects received
    objects_received: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    new: int = 0  # local contributions created
    updated: int = 0
    revoked: int = 0  # local contributions revoked because the peer revoked (or withheld) all
    unchanged: int = 0  # indicator versions we already had
    expired: int = 0  # applied signals whose valid_until has passed
    withheld: int = 0  # marked above max_tlp: not re-shared here
    blocked: list[str] = field(default_factory=list)  # refused by a warning list (value, list)
    rejected: list[str] = field(default_factory=list)  # unknown type, invalid, unusable
    feedback_skipped: int = 0  # opinions and sightings are not federated
    checkpoints: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "peer": self.peer,
            "collections": self.collections,
            "objects_received": self.objects_received,
            "by_type": dict(self.by_type),
            "new": self.new,
            "updated": self.updated,
            "revoked": self.revoked,
            "unchanged": self.unchanged,
            "expired": self.expired,
            "withheld": self.withheld,
            "blocked": self.blocked,
            "rejected": self.rejected,
            "feedback_skipped": self.feedback_skipped,
            "checkpoints": self.checkpoints,
        }


def _draft_record(draft: SignalDraft, tlp: TLP) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return isoformat_z(value) if value else None

    return {
        "kind": draft.kind.value,
        "value": draft.value,
        "tlp": tlp.value,
        "confidence": draft.confidence,
        "tags": list(draft.tags),
        "description": draft.description,
        "language": draft.language,
        "first_seen": iso(draft.first_seen),
        "last_seen": iso(draft.last_seen),
        "valid_until": iso(draft.valid_until),
    }


def _time(value: Any) -> datetime | None:
    return parse_instant(value) if isinstance(value, str) else None


def fetch(
    peer: Peer, api_key: str, checkpoints: dict[str, str], *, transport: httpx.BaseTransport | None = None
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    """Objects added since the checkpoints, per collection id, and the new checkpoints."""
    received: dict[str, list[dict[str, Any]]] = {}
    new_checkpoints = dict(checkpoints)
    with TaxiiClient(peer.url, api_key, transport=transport) as reader:
        root = reader.api_root()
        readable = [c for c in reader.collections(root) if c.get("can_read")]
        if peer.collections:
            wanted = set(peer.collections)
            chosen = [c for c in readable if c.get("id") in wanted or c.get("alias") in wanted]
            missing = wanted - {c.get("id") for c in chosen} - {c.get("alias") for c in chosen}
            if missing:
                raise NotFound(
                    f"peer {peer.name} has no readable collection {', '.join(sorted(map(str, missing)))}"
                )
        else:
            chosen = readable
        for collection in chosen:
            cid = str(collection["id"])
            objects: list[dict[str, Any]] = []
            for page in reader.object_pages(root, cid, added_after=checkpoints.get(cid)):
                objects.extend(page.objects)
                if page.date_added_last:
                    new_checkpoints[cid] = page.date_added_last
            received[cid] = objects
    return received, new_checkpoints


def pull(
    db: Database,
    peer_name: str,
    *,
    transport: httpx.BaseTransport | None = None,
    now: datetime | None = None,
    full: bool = False,
    settings: Settings | None = None,
) -> PullReport:
    """Bring this instance up to date with one peer; see the module docstring. ``full`` ignores
    the checkpoints, re-applies everything the peer serves (after a warning-list override) and
    withdraws what the peer no longer shows us. The peer's API key is opened with the key of
    ``settings`` (default: the process settings)."""
    box = load_box(settings or get_settings())
    with db.session() as session:
        row = _peer_row(session, peer_name)
        if not row.enabled:
            raise Conflict(f"peer {row.name!r} is disabled")
        legacy = seal_legacy(session, box)  # values stored before revision 0007 are sealed now
        peer, api_key = _peer(row), box.open(row.api_key, what=f"the API key of peer {row.name!r}")
        checkpoints = {
            c.collection_id: c.added_after
            for c in session.scalars(
                select(FederationCheckpointRow).where(FederationCheckpointRow.peer_id == row.id)
            )
        }
    if legacy.changed:
        truncate_wal(db)
    try:
        received, new_checkpoints = fetch(peer, api_key, {} if full else checkpoints, transport=transport)
    except VigilError as exc:
        with db.session() as session:
            failed = _peer_row(session, peer.id)
            failed.last_error = exc.message
            audit.record(
                session,
                None,
                "federation.pull_failed",
                at=utcnow(),
                target_type="peer",
                target_id=peer.id,
                detail={"error": exc.message},
            )
        raise
    with db.session() as session:
        report = apply(ExchangeStore(session, now=now), peer, received, full=full)
        for cid, added_after in new_checkpoints.items():
            checkpoint = session.get(FederationCheckpointRow, (peer.id, cid))
            if checkpoint is None:
                checkpoint = FederationCheckpointRow(peer_id=peer.id, collection_id=cid)
                session.add(checkpoint)
            checkpoint.added_after = added_after
            checkpoint.updated_at = utcnow()
        report.checkpoints = new_checkpoints
        stored = _peer_row(session, peer.id)
        stored.last_pull_at = utcnow()
        stored.last_error = None
        summary = report.to_dict()
        summary.pop("checkpoints")
        summary["rejected"] = summary["rejected"][:20]
        audit.record(
            session,
            None,
            "federation.pull",
            at=utcnow(),
            target_type="peer",
            target_id=peer.id,
            detail=summary,
        )
    if report.rejected or report.blocked:
        log.warning(
            "federation pull from %s: %d object(s) rejected, %d blocked by warning lists",
            peer.name,
            len(report.rejected),
            len(report.blocked),
        )
    return report


def apply(
    store: ExchangeStore, peer: Peer, received: dict[str, list[dict[str, Any]]], *, full: bool = False
) -> PullReport:
    """Record what the peer sent and bring the local organisation's contributions in line."""
    session = store.session
    report = PullReport(peer=peer.name)
    org = store.get_org(None, peer.as_org_id)
    principal = Principal(
        key_id=f"federation:{peer.name}"[:32], org_id=org.id, org_kind=org.kind, role=Role.ANALYST
    )
    now = store.now()
    objects: dict[str, dict[str, Any]] = {}
    for cid, items in received.items():
        report.collections[cid] = len(items)
        for obj in items:
            report.objects_received += 1
            report.by_type[str(obj.get("type")) if isinstance(obj, dict) else "?"] += 1
            if isinstance(obj, dict) and isinstance(obj.get("id"), str):
                objects.setdefault(obj["id"], obj)  # an object may be in several collections
    plan = plan_import(list(objects.values()))
    for problem in plan.problems():
        report.rejected.append(str(problem))
        audit.record(
            session,
            principal,
            "federation.reject",
            at=now,
            target_type="peer",
            target_id=peer.id,
            detail={
                "object": problem.object_id,
                "type": problem.object_type,
                "reason": problem.message[:500],
            },
        )
    report.feedback_skipped = len(plan.opinions) + len(plan.sightings)
    affected: set[str] = set()
    known = [d.source_id for d in plan.signals]
    for start in range(0, len(known), CHUNK):  # loaded once: session.get below finds them in the session
        session.scalars(
            select(FederationObjectRow).where(
                FederationObjectRow.peer_id == peer.id,
                FederationObjectRow.stix_id.in_(known[start : start + CHUNK]),
            )
        ).all()
    for draft in plan.signals:
        tlp = draft.tlp or TLP.GREEN
        withheld = tlp_rank(tlp) > tlp_rank(peer.max_tlp)
        if withheld:
            report.withheld += 1
        try:
            signal_id = signal_id_for(draft.kind.value, draft.value)
        except VigilError as exc:
            report.rejected.append(f"{draft.source_id}: {exc.message}")
            continue
        modified = _time(objects[draft.source_id].get("modified")) or now
        row = session.get(FederationObjectRow, (peer.id, draft.source_id))
        if row is not None and row.modified >= modified:
            report.unchanged += 1
            if full:
                affected.add(row.signal_id)  # e.g. a value a warning list refused, now overridden
            continue
        if row is None:
            row = FederationObjectRow(peer_id=peer.id, stix_id=draft.source_id)
            session.add(row)
        row.signal_id = signal_id
        row.modified = modified
        # A marking tightened past what we re-share counts as a withdrawal here.
        row.revoked = draft.revoked or withheld
        row.obj = _draft_record(draft, tlp)
        row.received_at = now
        affected.add(signal_id)
    if full:
        # Everything the peer still shows us was just received: what it no longer shows (a marking
        # tightened past our key, access withdrawn) is withdrawn here too. Incremental pulls cannot
        # see this, as nothing new is added for us to receive.
        gone = session.scalars(
            select(FederationObjectRow).where(
                FederationObjectRow.peer_id == peer.id,
                FederationObjectRow.revoked.is_(False),
                FederationObjectRow.stix_id.not_in(list(objects)),
            )
        ).all()
        for row in gone:
            row.revoked = True
            row.received_at = now
            affected.add(row.signal_id)
    session.flush()
    _reconcile(store, principal, peer, sorted(affected), report)
    return report


def _reconcile(
    store: ExchangeStore, principal: Principal, peer: Peer, signal_ids: list[str], report: PullReport
) -> None:
    """Bring the local organisation's contribution to each signal in line with the peer's
    indicators for it: one bulk submission for the new and changed ones (the store checks each as
    ``submit_signal`` would; refused ones are reported, the rest stored), then the revocations."""
    session = store.session
    rows: dict[str, list[FederationObjectRow]] = defaultdict(list)
    mine: dict[str, ContributionRow] = {}
    for start in range(0, len(signal_ids), CHUNK):
        chunk = signal_ids[start : start + CHUNK]
        for row in session.scalars(
            select(FederationObjectRow).where(
                FederationObjectRow.peer_id == peer.id, FederationObjectRow.signal_id.in_(chunk)
            )
        ):
            rows[row.signal_id].append(row)
        for contribution in session.scalars(
            select(ContributionRow).where(
                ContributionRow.org_id == principal.org_id, ContributionRow.signal_id.in_(chunk)
            )
        ):
            mine[contribution.signal_id] = contribution
    wanted: list[tuple[str, SignalSubmission]] = []
    revoke: list[str] = []
    for signal_id in signal_ids:
        active = [r for r in rows[signal_id] if not r.revoked]
        current = mine.get(signal_id)
        if active:
            latest = max(active, key=lambda r: r.modified).obj
            if current is not None and _same(current, latest):
                continue  # e.g. a full pull, or another member's indicator revoked: no new version
            wanted.append((signal_id, _submission(latest)))
        elif current is not None and current.revoked_at is None:
            revoke.append(signal_id)
    if wanted:
        result = store.submit_signals(principal, [w for _, w in wanted], atomic=False)
        for (signal_id, submission), item in zip(wanted, result.items, strict=True):
            if item.error is None:
                report.new += item.created
                report.updated += not item.created
                if submission.valid_until is not None and submission.valid_until <= store.now():
                    report.expired += 1
            else:
                _refused(report, signal_id, rows[signal_id], item.error)
    for signal_id in revoke:
        try:
            with session.begin_nested():
                store.revoke_signal(principal, signal_id)
            report.revoked += 1
        except VigilError as exc:
            _refused(report, signal_id, rows[signal_id], exc)


def _submission(latest: dict[str, Any]) -> SignalSubmission:
    return SignalSubmission(
        latest["kind"],
        latest["value"],
        Marking(TLP(latest["tlp"])),
        confidence=50 if latest.get("confidence") is None else int(latest["confidence"]),
        tags=[t for t in latest.get("tags") or [] if not str(t).startswith("warninglist:")],
        first_seen=_time(latest.get("first_seen")),
        last_seen=_time(latest.get("last_seen")),
        description=latest.get("description"),
        language=latest.get("language"),
        valid_until=_time(latest.get("valid_until")),
    )


def _refused(report: PullReport, signal_id: str, rows: list[FederationObjectRow], exc: VigilError) -> None:
    if isinstance(exc, Conflict):
        value = rows[0].obj.get("value") if rows else signal_id
        report.blocked.append(f"{value}: on warning list {exc.details.get('warninglist')!r}")
    elif isinstance(exc, InputError):
        report.rejected.append(f"{signal_id}: {exc.message}")
    else:
        raise exc


def _same(mine: ContributionRow, latest: dict[str, Any]) -> bool:
    """Whether the local contribution already says what the peer's latest indicator says."""
    confidence = 50 if latest.get("confidence") is None else int(latest["confidence"])
    return (
        mine.revoked_at is None
        and mine.tlp == latest["tlp"]
        and mine.confidence == confidence
        and mine.description == latest.get("description")
        and mine.valid_until == _time(latest.get("valid_until"))
        and mine.first_seen == _time(latest.get("first_seen"))
        and mine.last_seen == _time(latest.get("last_seen"))
    )


def pull_all(
    db: Database, *, transport: httpx.BaseTransport | None = None, settings: Settings | None = None
) -> list[PullReport | VigilError]:
    """Pull every enabled peer once; a failing peer is reported and does not stop the others."""
    with db.session() as session:
        names = [
            r.name
            for r in session.scalars(select(FederationPeerRow).where(FederationPeerRow.enabled.is_(True)))
        ]
    results: list[PullReport | VigilError] = []
    for name in names:
        try:
            results.append(pull(db, name, transport=transport, settings=settings))
        except VigilError as exc:
            log.error("federation pull from %s failed: %s", name, exc.message)
            results.append(exc)
    return results
