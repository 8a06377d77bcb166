"""The append-only audit log: who did what, when, and who read AMBER/RED material.

Only two functions touch the table: ``record`` (insert, in the caller's transaction, so an
action and its audit entry commit or roll back together) and ``query``. There is deliberately no
update or delete path; the initial migration also installs database triggers refusing both.

In a read session (``Database.reading``: the API's and the pages' GETs) an entry cannot be written
in the read's transaction, which holds no write lock: the entries of the request are kept and
inserted in one statement by the short write transaction that follows the read (``after_read``).
That transaction failing fails the request, so a read is never answered without its entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, and_, exists, func, insert, or_, select
from sqlalchemy.orm import Session, aliased

from vigil.core.errors import InputError
from vigil.db import after_read
from vigil.exchange.models import AuditRow, OrgRow

if TYPE_CHECKING:
    from vigil.exchange.access import Principal

LOCAL_ADMIN = "local-admin"
ANONYMOUS = "anonymous"  # a failed sign-in with a key that does not exist

# (target_type, target_id, tlp) or (target_type, target_id, tlp, subject_org_id)
Target = (
    tuple[str, str, str | None] | tuple[str, str, str | None, str | None]
)  # actor_key_id of the CLI acting with direct database access


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor_key_id: str | None
    actor_org_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    tlp: str | None
    detail: dict[str, Any] = field(default_factory=dict)
    subject_org_id: str | None = None  # whose AMBER/RED material a read touched
    # True when the entry is about an object the reader may not see: its id and detail are
    # withheld (vigil.exchange.policy), the action, actor, time and TLP remain.
    redacted: bool = False


@dataclass(frozen=True)
class AuditFilter:
    """Filters for ``query``; ``before_id`` pages backwards (entries come newest first)."""

    actor_org_id: str | None = None
    involving_org_id: str | None = None  # entries this org did, or reads of this org's material
    actor_key_id: str | None = None
    action: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    limit: int = 100
    # ``AUDIT_SORTS`` key and direction (ties by id, the order entries were recorded); ``after_id``
    # is a keyset cursor (the entries after that one in this order), ``offset`` skips entries
    sort: str = "time"
    order: str = "desc"
    after_id: int | None = None
    offset: int = 0


# Sort keys of the audit log. Every one is a field an entry keeps even when it is redacted (time,
# acting organisation, action, object *type*), so where an entry sorts tells nothing the page does
# not show: sorting by object id would place an entry about a hidden object next to the ids around
# its own, and signal ids are hashes of guessable values. Entries about one object: ``target_id``.
AUDIT_SORTS = ("time", "actor", "action", "object")


def _actor(principal: Principal | None) -> tuple[str, str | None]:
    if principal is None:
        return LOCAL_ADMIN, None
    return principal.key_id, principal.org_id


def record(
    session: Session,
    principal: Principal | None,
    action: str,
    *,
    at: datetime,
    target_type: str | None = None,
    target_id: str | None = None,
    tlp: str | None = None,
    detail: dict[str, Any] | None = None,
    subject_org_id: str | None = None,
) -> None:
    """Append one entry (``principal`` None means the local administrator)."""
    key_id, org_id = _actor(principal)
    record_actor(
        session,
        action,
        at=at,
        actor_key_id=key_id,
        actor_org_id=org_id,
        target_type=target_type,
        target_id=target_id,
        tlp=tlp,
        detail=detail,
        subject_org_id=subject_org_id,
    )


def record_actor(
    session: Session,
    action: str,
    *,
    at: datetime,
    actor_key_id: str | None,
    actor_org_id: str | None,
    target_type: str | None = None,
    target_id: str | None = None,
    tlp: str | None = None,
    detail: dict[str, Any] | None = None,
    subject_org_id: str | None = None,
) -> None:
    """Append one entry whose actor is not an authenticated principal: a failed sign-in (the key
    tried, if it exists; ``ANONYMOUS`` otherwise) or a session the server ended (idle or too old)."""
    entry = {
        "at": at,
        "actor_key_id": actor_key_id,
        "actor_org_id": actor_org_id,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "tlp": tlp,
        "detail": detail or {},
        "subject_org_id": subject_org_id,
    }
    deferred = _deferred(session)
    if deferred is not None:
        deferred.append(entry)
    else:
        session.add(AuditRow(**entry))


_DEFERRED = "vigil_audit_deferred"  # Session.info key: a read session's entries, in order


def _deferred(session: Session) -> list[dict[str, Any]] | None:
    """The entries a read session keeps for after the read (None: write in ``session`` itself).
    The first one registers the insert of all of them with ``after_read``."""
    writes = after_read(session)
    if writes is None:
        return None
    entries: list[dict[str, Any]] | None = session.info.get(_DEFERRED)
    if entries is None:
        entries = session.info[_DEFERRED] = []
        kept = entries
        writes.append(lambda writer: _insert(writer, kept))
    return entries


def _insert(session: Session, entries: list[dict[str, Any]]) -> None:
    if entries:
        session.execute(insert(AuditRow), entries)


def record_many(
    session: Session,
    principal: Principal | None,
    action: str,
    targets: Sequence[Target],
    *,
    at: datetime,
) -> None:
    """Append one entry per target, in one statement (used for listings). A target is
    ``(target_type, target_id, tlp)`` or ``(target_type, target_id, tlp, subject_org_id)``."""
    if not targets:
        return
    key_id, org_id = _actor(principal)
    entries: list[dict[str, Any]] = [
        {
            "at": at,
            "actor_key_id": key_id,
            "actor_org_id": org_id,
            "action": action,
            "target_type": target[0],
            "target_id": target[1],
            "tlp": target[2],
            "detail": {},
            "subject_org_id": target[3] if len(target) > 3 else None,
        }
        for target in targets
    ]
    deferred = _deferred(session)
    if deferred is not None:
        deferred.extend(entries)
    else:
        _insert(session, entries)


def _sort_key(sort: str, row: type[AuditRow], org: type[OrgRow]) -> Any:
    """The column an audit sort orders by (None: by id alone, the recording order)."""
    if sort == "time":
        return None
    if sort == "actor":
        return func.coalesce(org.name, "")
    if sort == "action":
        return row.action
    if sort == "object":
        return func.coalesce(row.target_type, "")
    raise InputError(f"unknown sort column {sort!r}; known: {', '.join(AUDIT_SORTS)}", field="sort")


def _sorted(filters: AuditFilter) -> Select[AuditRow]:
    """``_matching`` in the filter's sort and order, from its keyset cursor and offset."""
    if filters.order not in ("asc", "desc"):
        raise InputError(f"order must be asc or desc, got {filters.order!r}", field="order")
    desc = filters.order == "desc"
    key = _sort_key(filters.sort, AuditRow, OrgRow)
    stmt = _matching(filters)
    if filters.sort == "actor":
        stmt = stmt.outerjoin(OrgRow, OrgRow.id == AuditRow.actor_org_id)
    if filters.after_id is not None:
        # the cursor entry's key read within the same filters (the reader's scope): an id outside
        # them finds no key, and the page is empty rather than placed by an entry one may not see
        row, org = aliased(AuditRow), aliased(OrgRow)
        scoped = _matching(replace(filters, before_id=None), row).where(row.id == filters.after_id)
        if key is None:
            stmt = stmt.where(
                (AuditRow.id < filters.after_id if desc else AuditRow.id > filters.after_id),
                exists(scoped),
            )
        else:
            if filters.sort == "actor":
                scoped = scoped.outerjoin(org, org.id == row.actor_org_id)
            after = scoped.with_only_columns(_sort_key(filters.sort, row, org)).scalar_subquery()
            beyond = key < after if desc else key > after
            tie = AuditRow.id < filters.after_id if desc else AuditRow.id > filters.after_id
            stmt = stmt.where(or_(beyond, and_(key == after, tie)))
    ids = AuditRow.id.desc() if desc else AuditRow.id.asc()
    ordering = [ids] if key is None else [key.desc() if desc else key.asc(), ids]
    return stmt.order_by(*ordering).offset(filters.offset)


def query(session: Session, filters: AuditFilter) -> list[AuditEntry]:
    """Entries matching ``filters``, newest first unless the filter sorts otherwise. Access checks
    are the store's job."""
    stmt = _sorted(filters).limit(filters.limit)
    return [
        AuditEntry(
            id=row.id,
            at=row.at,
            actor_key_id=row.actor_key_id,
            actor_org_id=row.actor_org_id,
            action=row.action,
            target_type=row.target_type,
            target_id=row.target_id,
            tlp=row.tlp,
            detail=dict(row.detail or {}),
            subject_org_id=row.subject_org_id,
        )
        for row in session.scalars(stmt)
    ]


def count(session: Session, filters: AuditFilter) -> int:
    """How many entries ``query`` would page through (``limit`` aside)."""
    return int(session.scalar(select(func.count()).select_from(_matching(filters).subquery())) or 0)


def id_at(session: Session, filters: AuditFilter, offset: int) -> int | None:
    """The id of the entry ``offset`` places from the newest (None: there are fewer)."""
    stmt = _matching(filters).with_only_columns(AuditRow.id).order_by(AuditRow.id.desc())
    found = session.scalar(stmt.offset(offset).limit(1))
    return int(found) if found is not None else None


def _matching(filters: AuditFilter, row: type[AuditRow] = AuditRow) -> Select[AuditRow]:
    """The filters' WHERE clauses over ``AuditRow`` (or an alias of it)."""
    stmt = select(row)
    if filters.actor_org_id is not None:
        stmt = stmt.where(row.actor_org_id == filters.actor_org_id)
    if filters.involving_org_id is not None:
        stmt = stmt.where(
            or_(
                row.actor_org_id == filters.involving_org_id,
                row.subject_org_id == filters.involving_org_id,
            )
        )
    if filters.actor_key_id is not None:
        stmt = stmt.where(row.actor_key_id == filters.actor_key_id)
    if filters.action is not None:
        stmt = stmt.where(row.action == filters.action)
    if filters.target_id is not None:
        stmt = stmt.where(row.target_id == filters.target_id)
    if filters.since is not None:
        stmt = stmt.where(row.at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(row.at < filters.until)
    if filters.before_id is not None:
        stmt = stmt.where(row.id < filters.before_id)
    return stmt
