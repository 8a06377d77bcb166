"""Cases themselves: open, read, list, edit, move along the workflow, comment, link signals,
the timeline and disclosures."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, cast, func, not_, or_, select

from vigil.cases import disarm
from vigil.cases.embargo import check_disclosure
from vigil.cases.models import CaseEventRow, CaseRow, CaseSignalRow
from vigil.cases.records import (
    Case,
    EventKind,
    Status,
    TimelineEvent,
)
from vigil.cases.service.base import (
    MAX_LINKS,
    OWN_MARKING,
    CaseBase,
    case_record,
    clean_text,
    event_record,
)
from vigil.cases.workflow import check_transition, parse_status
from vigil.core.errors import InputError
from vigil.core.ids import new_id
from vigil.core.tables import TablePage, check_table_args, clamp_page
from vigil.core.time import ensure_utc
from vigil.exchange.access import Permission, require, visible_clause
from vigil.exchange.models import OrgRow, SignalRow
from vigil.exchange.policy import require_case_owner
from vigil.exchange.records import TLP, Marking, OrgKind, Signal, SignalKind
from vigil.exchange.store.languages import earliest_languages

# The case list's sortable columns (the ``sort`` parameter), each an SQL ordering; "opened_by"
# sorts by the organisation's name, as shown, not its id.
CASE_SORTS: dict[str, Any] = {
    "title": func.lower(CaseRow.title),
    "status": CaseRow.status,
    "opened_by": OrgRow.name,
    "marking": CaseRow.tlp,
    "confidence": CaseRow.confidence,
    "embargo": CaseRow.embargo_until,
    "changed": CaseRow.modified_at,
    "opened": CaseRow.created_at,
}
CASE_PAGE_SIZES = (10, 25, 50, 100)


# One page of the cases a principal may see, with the count of all of them (same filters): the
# table contract every server-sorted list of the dashboard shares.
CasePage = TablePage[Case]


class Cases(CaseBase):
    """Open, read, list, edit and move cases; comments, linked signals, the timeline."""

    def create_case(
        self,
        title: str,
        *,
        marking: Marking = Marking(TLP.AMBER),
        summary: str | None = None,
        attribution: str | None = None,
        confidence: int = 50,
        techniques: Sequence[str] = (),
        owners: Sequence[str] = (),
        campaign_id: str | None = None,
        playbook_id: str | None = None,
        exercise: bool = False,
        detection: dict[str, Any] | None = None,
    ) -> Case:
        """Open a case (status ``triage``) for the principal's organisation; the timeline starts."""
        require(self.principal, Permission.WRITE)
        org_id = self.acting_org()
        clean_title = clean_text(title, "title", limit=300, required=True)
        assert clean_title is not None
        if not 0 <= int(confidence) <= 100:
            raise InputError(f"confidence must be 0-100, got {confidence}", field="confidence")
        self._check_marking(marking)
        if campaign_id is not None:
            self.store.get_campaign(self.require_principal(), campaign_id)  # NotFound unless visible
        now = self.now()
        row = CaseRow(
            id=new_id("case"),
            org_id=org_id,
            title=clean_title,
            summary=clean_text(summary, "summary"),
            attribution=clean_text(attribution, "attribution", limit=300),
            confidence=int(confidence),
            techniques=list(disarm.normalize_techniques(techniques)),
            status=Status.TRIAGE.value,
            tlp=marking.tlp.value,
            shared_with=list(marking.shared_with),
            owners=[o for o in (clean_text(x, "owners", limit=200) for x in owners) if o],
            campaign_id=campaign_id,
            playbook_id=playbook_id,
            exercise=exercise,
            detection=detection or {},
            embargo_until=None,
            created_at=now,
            modified_at=now,
        )
        self.session.add(row)
        self.session.flush()
        self._event(row, EventKind.CREATED, {"title": row.title, "status": row.status}, at=now)
        self._audit("case.create", row, {"title": row.title})
        return case_record(row)

    def get_case(self, case_id: str) -> Case:
        """The case, or NotFound if it does not exist or the principal may not see it."""
        require(self.principal, Permission.READ)
        return case_record(self._row(case_id))

    def list_cases(
        self,
        *,
        status: Sequence[str | Status] = (),
        text: str | None = None,
        exercise: bool | None = None,
        modified_after: datetime | None = None,
    ) -> list[Case]:
        """Cases the principal may see, most recently changed first."""
        require(self.principal, Permission.READ)
        stmt = select(CaseRow).order_by(CaseRow.modified_at.desc(), CaseRow.id)
        if status:
            stmt = stmt.where(CaseRow.status.in_([parse_status(s).value for s in status]))
        if exercise is not None:
            stmt = stmt.where(CaseRow.exercise == exercise)
        if modified_after is not None:
            stmt = stmt.where(CaseRow.modified_at > modified_after)
        needle = text.lower() if text else None
        found = []
        for row in self.session.scalars(stmt):
            if not self.sees(row.org_id, Marking(TLP(row.tlp), tuple(row.shared_with or ()))):
                continue
            if needle and needle not in f"{row.title}\n{row.summary or ''}\n{row.attribution or ''}".lower():
                continue
            found.append(case_record(row))
        return found

    def page_cases(
        self,
        *,
        status: Sequence[str | Status] = (),
        text: str | None = None,
        sort: str = "changed",
        order: str = "desc",
        page: int = 1,
        size: int = 25,
    ) -> CasePage:
        """One page of the cases the principal may see, sorted and counted in SQL.

        Visibility is ``visible_clause`` (the SQL form of the rule ``list_cases`` applies row by
        row), so the count and the pages are over visible cases only: a hidden case shifts no
        page and adds nothing to the total. Ties sort by id, so pages never overlap.
        """
        require(self.principal, Permission.READ)
        check_table_args(CASE_SORTS, sort, order, page, size, CASE_PAGE_SIZES)
        where: list[ColumnElement[bool]] = []
        if self.principal is not None:
            where.append(self._visible_sql())
        if status:
            where.append(CaseRow.status.in_([parse_status(s).value for s in status]))
        if text:
            needle = text.lower()
            where.append(
                or_(
                    *(
                        func.lower(col).contains(needle, autoescape=True)
                        for col in (CaseRow.title, CaseRow.summary, CaseRow.attribution)
                    )
                )
            )
        total = int(self.session.scalar(select(func.count()).select_from(CaseRow).where(*where)) or 0)
        page = clamp_page(total, page, size)
        key = CASE_SORTS[sort]
        ordering = [key.asc() if order == "asc" else key.desc(), CaseRow.id]
        stmt = (
            select(CaseRow)
            .outerjoin(OrgRow, OrgRow.id == CaseRow.org_id)
            .where(*where)
            .order_by(*ordering)
            .limit(size)
            .offset((page - 1) * size)
        )
        items = [case_record(row) for row in self.session.scalars(stmt)]
        return TablePage(items=items, total=total, page=page, size=size, sort=sort, order=order)

    def _visible_sql(self) -> ColumnElement[bool]:
        """``can_see`` for case rows in SQL. ``shared_with`` is a JSON list of org ids: the viewer
        is listed when its quoted id is in the JSON text (ids are checked known orgs, so no other
        element can hold that quoted string)."""
        principal = self.require_principal()
        same_kind: ColumnElement[bool] = CaseRow.org_id.in_(
            select(OrgRow.id).where(OrgRow.kind == principal.org_kind.value)
        )
        if principal.org_kind is OrgKind.RESEARCH:
            # ``Service.org_kind`` reads an unknown source organisation as research
            same_kind = or_(same_kind, not_(CaseRow.org_id.in_(select(OrgRow.id))))
        listed = cast(CaseRow.shared_with, String).contains(f'"{principal.org_id}"', autoescape=True)
        return visible_clause(
            principal.org_id,
            principal.org_kind,
            tlp_col=CaseRow.tlp,
            source_org_col=CaseRow.org_id,
            listed=listed,
            same_kind=same_kind,
        )

    def update_case(
        self,
        case_id: str,
        *,
        title: str | None = None,
        summary: str | None = None,
        attribution: str | None = None,
        confidence: int | None = None,
        techniques: Sequence[str] | None = None,
        owners: Sequence[str] | None = None,
    ) -> Case:
        """Change descriptive fields (owner only); each change is a timeline entry listing the fields."""
        require(self.principal, Permission.WRITE)
        row = self._row(case_id)
        require_case_owner(self.principal, row.org_id, "edit the case")
        changed: dict[str, Any] = {}
        if title is not None:
            row.title = clean_text(title, "title", limit=300, required=True) or row.title
            changed["title"] = row.title
        if summary is not None:
            row.summary = clean_text(summary, "summary")
            changed["summary"] = row.summary
        if attribution is not None:
            row.attribution = clean_text(attribution, "attribution", limit=300)
            changed["attribution"] = row.attribution
        if confidence is not None:
            if not 0 <= int(confidence) <= 100:
                raise InputError(f"confidence must be 0-100, got {confidence}", field="confidence")
            row.confidence = int(confidence)
            changed["confidence"] = row.confidence
        if techniques is not None:
            row.techniques = list(disarm.normalize_techniques(techniques))
            changed["techniques"] = row.techniques
        if owners is not None:
            row.owners = [o for o in (clean_text(x, "owners", limit=200) for x in owners) if o]
            changed["owners"] = row.owners
        if changed:
            self._event(row, EventKind.UPDATED, changed)
            self._audit("case.update", row, {"fields": sorted(changed)})
        return case_record(row)

    def transition(
        self,
        case_id: str,
        target: str | Status,
        *,
        reason: str | None = None,
        override_reason: str | None = None,
    ) -> Case:
        """Move the case along the workflow (Conflict for a move ``TRANSITIONS`` does not allow).

        Moving to ``disclosed`` before the embargo needs an admin and ``override_reason``.
        """
        require(self.principal, Permission.WRITE)
        row = self._row(case_id)
        require_case_owner(self.principal, row.org_id, "change its status")
        new = parse_status(target)
        current = Status(row.status)
        check_transition(current, new)
        detail: dict[str, Any] = {"from": current.value, "to": new.value}
        if reason:
            detail["reason"] = clean_text(reason, "reason", limit=2000)
        overridden = new is Status.DISCLOSED and check_disclosure(
            row.embargo_until, self.now(), self.principal, override_reason
        )
        if overridden:
            detail["embargo_override"] = override_reason
            self._audit("case.embargo_override", row, {"reason": override_reason})
        row.status = new.value
        self._event(row, EventKind.STATUS, detail)
        self._audit("case.transition", row, {"from": current.value, "to": new.value})
        return case_record(row)

    def add_comment(self, case_id: str, text: str, *, marking: Marking | None = None) -> TimelineEvent:
        """A comment on the timeline under its own marking (default: the case's)."""
        require(self.principal, Permission.WRITE)
        row = self._row(case_id)
        body = clean_text(text, "text", required=True)
        event = self._event(
            row, EventKind.COMMENT, {"text": body}, self._check_marking(marking) if marking else None
        )
        self._audit("case.comment", row, {"event_id": event.id, "tlp": event.marking.tlp.value})
        return event

    def link_signals(self, case_id: str, signal_ids: Sequence[str]) -> int:
        """Link exchange signals the principal can see; returns how many were newly linked."""
        require(self.principal, Permission.WRITE)
        row = self._row(case_id)
        ids = list(dict.fromkeys(signal_ids))
        if len(ids) > MAX_LINKS:
            raise InputError(f"at most {MAX_LINKS} signals per request, got {len(ids)}", field="signal_ids")
        self._require_visible_signals(ids)
        already = set(
            self.session.scalars(
                select(CaseSignalRow.signal_id).where(
                    CaseSignalRow.case_id == row.id, CaseSignalRow.signal_id.in_(ids)
                )
            )
        )
        new = [i for i in ids if i not in already]
        now = self.now()
        self.session.add_all(
            CaseSignalRow(case_id=row.id, signal_id=i, org_id=self.acting_org(), added_at=now) for i in new
        )
        if new:
            self._event(row, EventKind.SIGNALS_LINKED, {"count": len(new)})
            self._audit("case.link_signals", row, {"count": len(new)})
        return len(new)

    def linked_signals(self, case_id: str) -> list[Signal]:
        """The case's linked signals in the principal's view (signals it may not see are left out)."""
        require(self.principal, Permission.READ)
        row = self._row(case_id)
        ids = list(
            self.session.scalars(select(CaseSignalRow.signal_id).where(CaseSignalRow.case_id == row.id))
        )
        if self.principal is None:
            # languages live on contributions, not on the shared signal row (exchange.store.languages)
            languages = earliest_languages(self.session, ids)
            return [
                Signal(id=s.id, kind=SignalKind(s.kind), value=s.value, language=languages.get(s.id))
                for s in self.session.scalars(select(SignalRow).where(SignalRow.id.in_(ids)))
            ]
        return self._signals(ids)

    def linked_signals_of(self, cases: Sequence[Case]) -> dict[str, list[Signal]]:
        """``linked_signals`` of each of these cases (as read by the principal: a listing's), the
        links found in one query and the signals they name read once for all, not once a case
        (an export of every case). Each case's in ``linked_signals``' order: the reader's change
        time of each signal, then id."""
        if self.principal is None:
            return {c.id: self.linked_signals(c.id) for c in cases}
        require(self.principal, Permission.READ)
        links: dict[str, list[str]] = {c.id: [] for c in cases}
        for start in range(0, len(cases), 500):
            chunk = [c.id for c in cases[start : start + 500]]
            for case_id, signal_id in self.session.execute(
                select(CaseSignalRow.case_id, CaseSignalRow.signal_id).where(CaseSignalRow.case_id.in_(chunk))
            ):
                links[case_id].append(signal_id)
        read = {s.id: s for s in self._signals(list(dict.fromkeys(i for ids in links.values() for i in ids)))}
        return {
            case_id: sorted((read[i] for i in ids if i in read), key=_changed_then_id)
            for case_id, ids in links.items()
        }

    def timeline(self, case_id: str) -> list[TimelineEvent]:
        """Every timeline entry of the case the principal may see, oldest first."""
        require(self.principal, Permission.READ)
        row = self._row(case_id)
        rows = self.session.scalars(
            select(CaseEventRow).where(CaseEventRow.case_id == row.id).order_by(CaseEventRow.id)
        )
        # Comments and actions carry their writer's marking; every other entry is under the case's
        # marking, whose source is the organisation that opened the case.
        return [
            e
            for e in map(event_record, rows)
            if self.sees(e.actor_org_id if e.kind in OWN_MARKING else row.org_id, e.marking)
        ]

    def record_disclosure(self, case_id: str, detail: dict[str, Any]) -> TimelineEvent:
        """Note on the timeline that a public report was produced (CLEAR: the report is public)."""
        row = self._row(case_id)
        event = self._event(row, EventKind.DISCLOSURE, detail, Marking(TLP.CLEAR))
        self._audit("case.disclosure", row, {"event_id": event.id, **detail})
        return event


def _changed_then_id(signal: Signal) -> tuple[datetime, str]:
    """The signal listing's default order (the reader's change time, then id)."""
    assert signal.modified_at is not None  # a reader's view always has it (its latest contribution)
    return ensure_utc(signal.modified_at), signal.id
