"""Shared machinery of ``CaseService``: limits, input cleaning, record mapping, and ``CaseBase``
(the session, principal and clock of ``vigil.exchange.service.Service`` plus the case helpers)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.cases.models import CaseActionRow, CaseEventRow, CaseRow, ChecklistItemRow
from vigil.cases.records import (
    Action,
    ActionKind,
    ActionTarget,
    Case,
    ChecklistItem,
    EventKind,
    Status,
    TimelineEvent,
)
from vigil.core.errors import InputError, NotFound
from vigil.exchange import audit
from vigil.exchange.access import Principal
from vigil.exchange.policy import AuditTargets
from vigil.exchange.records import TLP, Marking, Signal
from vigil.exchange.service import Service
from vigil.exchange.store import ExchangeStore, SignalFilter, parse_tlp

MAX_TEXT = 20_000
OWN_MARKING = frozenset({EventKind.COMMENT, EventKind.ACTION})
MAX_LINKS = 10_000


def parse_marking(tlp: str | TLP, shared_with: Iterable[str] = ()) -> Marking:
    """A Marking from a TLP name and org ids (InputError naming the field for an unknown TLP)."""
    return Marking(parse_tlp(tlp), tuple(dict.fromkeys(str(o) for o in shared_with)))


def parse_enum(kind: type[ActionKind] | type[ActionTarget], value: str, field: str) -> Any:
    try:
        return kind(str(value).lower())
    except ValueError:
        known = ", ".join(k.value for k in kind)
        raise InputError(f"unknown {field} {value!r}; known: {known}", field=field) from None


def clean_text(value: str | None, field: str, *, limit: int = MAX_TEXT, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise InputError(f"{field} is required", field=field)
        return None
    clean = str(value).strip()
    if required and not clean:
        raise InputError(f"{field} must not be empty", field=field)
    if len(clean) > limit:
        raise InputError(f"{field} longer than {limit} characters", field=field)
    return clean or None


def case_record(row: CaseRow) -> Case:
    detection = {k: v for k, v in (row.detection or {}).items() if k != "graph"}
    return Case(
        id=row.id,
        title=row.title,
        summary=row.summary,
        attribution=row.attribution,
        confidence=row.confidence,
        techniques=tuple(row.techniques or ()),
        status=Status(row.status),
        org_id=row.org_id,
        marking=Marking(TLP(row.tlp), tuple(row.shared_with or ())),
        owners=tuple(row.owners or ()),
        campaign_id=row.campaign_id,
        playbook_id=row.playbook_id,
        exercise=row.exercise,
        embargo_until=row.embargo_until,
        created_at=row.created_at,
        modified_at=row.modified_at,
        detection=detection,
    )


def event_record(row: CaseEventRow) -> TimelineEvent:
    return TimelineEvent(
        id=row.id,
        case_id=row.case_id,
        at=row.at,
        actor_key_id=row.actor_key_id,
        actor_org_id=row.actor_org_id,
        kind=EventKind(row.kind),
        marking=Marking(TLP(row.tlp), tuple(row.shared_with or ())),
        detail=dict(row.detail or {}),
    )


def action_record(row: CaseActionRow) -> Action:
    return Action(
        id=row.id,
        case_id=row.case_id,
        org_id=row.org_id,
        action=ActionKind(row.action),
        target=ActionTarget(row.target),
        count=row.count,
        platform=row.platform,
        taken_at=row.taken_at,
        statement_url=row.statement_url,
        note=row.note,
        marking=Marking(TLP(row.tlp), tuple(row.shared_with or ())),
        created_at=row.created_at,
    )


def item_record(row: ChecklistItemRow) -> ChecklistItem:
    return ChecklistItem(
        id=row.id,
        case_id=row.case_id,
        position=row.position,
        text=row.text,
        owner=row.owner,
        done_at=row.done_at,
        done_by_key=row.done_by_key,
        done_by_org=row.done_by_org,
    )


class CaseBase(Service):
    """The exchange store and the case helpers every part of ``CaseService`` shares (the row a
    principal may see, timeline entries, audit entries, signals in the principal's view)."""

    def __init__(self, session: Session, principal: Principal | None, *, now: datetime | None = None) -> None:
        super().__init__(session, principal, now=now)
        self.store = ExchangeStore(session, now=now)

    def _check_marking(self, marking: Marking) -> Marking:
        self.check_orgs(marking.shared_with, "shared_with")
        return marking

    def _row(self, case_id: str) -> CaseRow:
        row = self.session.get(CaseRow, case_id)
        if row is None or not self.sees(row.org_id, Marking(TLP(row.tlp), tuple(row.shared_with or ()))):
            raise NotFound(f"no case {case_id!r}", case_id=case_id)
        return row

    def _event(
        self,
        row: CaseRow,
        kind: EventKind,
        detail: dict[str, Any],
        marking: Marking | None = None,
        at: datetime | None = None,
    ) -> TimelineEvent:
        marking = marking or Marking(TLP(row.tlp), tuple(row.shared_with or ()))
        stamp = at or self.now()
        event = CaseEventRow(
            case_id=row.id,
            at=stamp,
            actor_key_id=self.principal.key_id if self.principal else audit.LOCAL_ADMIN,
            actor_org_id=self.principal.org_id if self.principal else None,
            kind=kind.value,
            tlp=marking.tlp.value,
            shared_with=list(marking.shared_with),
            detail=detail,
        )
        self.session.add(event)
        row.modified_at = stamp
        self.session.flush()
        return event_record(event)

    def _audit(self, action: str, row: CaseRow, detail: dict[str, Any] | None = None) -> None:
        audit.record(
            self.session,
            self.principal,
            action,
            at=self.now(),
            target_type="case",
            target_id=row.id,
            tlp=row.tlp,
            detail=detail or {},
        )

    def _require_visible_signals(self, ids: Sequence[str]) -> None:
        """NotFound naming the first of ``ids`` (unique) that the principal may not see or that
        does not exist: the check of a write that links signals.

        It runs inside the write, so nothing changes between the check and the write, and it
        costs one counting statement per 500 ids under the listing's own rule (``count_signals``
        of ``SignalFilter(ids=...)`` counts exactly what ``_signals`` would return) rather than
        the signals' views: building the views of 100 signals (contributions, tags, languages,
        the audit of their reads) held the write lock ~0.7 s on SQLite. Only when some are
        missing are the views read, to name them (the request fails, its transaction rolls back)."""
        principal = self.require_principal()
        for start in range(0, len(ids), 500):
            chunk = tuple(ids[start : start + 500])
            if self.store.count_signals(principal, SignalFilter(ids=chunk)) == len(chunk):
                continue
            visible = {s.id for s in self._signals(ids)}
            missing = [i for i in ids if i not in visible]
            if not missing:  # the same rule, read twice in one transaction: cannot differ
                continue
            raise NotFound(
                f"no signal {missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            )

    def _signals(self, ids: Sequence[str]) -> list[Signal]:
        principal = self.require_principal()
        found: list[Signal] = []
        for start in range(0, len(ids), 500):
            chunk = tuple(ids[start : start + 500])
            cursor: str | None = None
            while True:
                page = self.store.list_signals(principal, SignalFilter(ids=chunk), limit=1000, cursor=cursor)
                found.extend(page.items)
                if not page.more or page.next_cursor is None:
                    break
                cursor = page.next_cursor
        return found


def _visible_cases(session: Session, principal: Principal, ids: Sequence[str]) -> set[str]:
    """Audit-log resolver: the case ids among ``ids`` that ``principal`` may see."""
    service = Service(session, principal)
    rows = session.scalars(select(CaseRow).where(CaseRow.id.in_(list(ids))))
    return {r.id for r in rows if service.sees(r.org_id, Marking(TLP(r.tlp), tuple(r.shared_with or ())))}


AuditTargets.register("case", _visible_cases)
