"""``CaseService``: every read and write of cases, for the REST routes, the CLI and the dashboard.

Usage::

    with db.session() as session:                      # one transaction
        cases = CaseService(session, principal)        # principal from the API key (None: local admin)
        case = cases.create_case("Network X", marking=Marking(TLP.AMBER), techniques=["T0049"])
        cases.transition(case.id, "investigating")
        cases.record_action(case.id, "removed", "accounts", 41, platform="facebook",
                            marking=Marking(TLP.GREEN))
        cases.set_embargo(case.id, utcnow() + timedelta(days=2))
        cases.embargo(case.id).seconds_remaining
        for event in cases.timeline(case.id): ...

Visibility: the case, each action and each timeline entry carries a TLP marking; what a principal
sees is decided by the exchange's one rule, ``vigil.exchange.access.can_see`` (the source
organisation is the one that wrote the item). A case the principal may not see is NotFound.
Linked signals are shown through the exchange store, i.e. the principal's own view of them.
Writes need the exchange's WRITE permission (analyst or admin) and follow
``vigil.exchange.policy``: the owning organisation (the one that opened the case) alone edits its
fields, moves its status and adds checklist items; any member that sees the case may comment,
record its own actions, link signals it sees and check checklist items (exercises are joint). The
embargo is the owner's; another member changes it only with an admin key and a reason. Disclosing
before the embargo needs an admin and a reason. Every change goes in the exchange's append-only
audit log (``case.*`` actions) as well as on the case timeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.cases import disarm
from vigil.cases.embargo import check_disclosure, embargo_state
from vigil.cases.models import CaseActionRow, CaseEventRow, CaseRow, CaseSignalRow, ChecklistItemRow
from vigil.cases.records import (
    Action,
    ActionKind,
    ActionTarget,
    Case,
    CaseNetwork,
    ChecklistItem,
    Embargo,
    EventKind,
    NetworkEdge,
    NetworkNode,
    Status,
    TimelineEvent,
)
from vigil.cases.workflow import check_transition, parse_status
from vigil.core.errors import Conflict, InputError, NotFound
from vigil.core.ids import new_id
from vigil.core.time import ensure_utc, isoformat_z, utcnow
from vigil.exchange import audit
from vigil.exchange.access import Permission, Principal, require
from vigil.exchange.models import ContributionRow, OrgRow, SignalRow
from vigil.exchange.policy import AuditTargets, Marked, embargo_change, may_see, require_case_owner
from vigil.exchange.records import MAX_DB_INT, TLP, Marking, OrgKind, Signal, SignalKind
from vigil.exchange.store import ExchangeStore, SignalFilter, parse_tlp
from vigil.exchange.store.languages import earliest_languages

MAX_TEXT = 20_000
OWN_MARKING = frozenset({EventKind.COMMENT, EventKind.ACTION})
MAX_LINKS = 10_000


def parse_marking(tlp: str | TLP, shared_with: Iterable[str] = ()) -> Marking:
    """A Marking from a TLP name and org ids (InputError naming the field for an unknown TLP)."""
    return Marking(parse_tlp(tlp), tuple(dict.fromkeys(str(o) for o in shared_with)))


def _enum(kind: type[ActionKind] | type[ActionTarget], value: str, field: str) -> Any:
    try:
        return kind(str(value).lower())
    except ValueError:
        known = ", ".join(k.value for k in kind)
        raise InputError(f"unknown {field} {value!r}; known: {known}", field=field) from None


def _text(value: str | None, field: str, *, limit: int = MAX_TEXT, required: bool = False) -> str | None:
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


def _event_record(row: CaseEventRow) -> TimelineEvent:
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


def _item_record(row: ChecklistItemRow) -> ChecklistItem:
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


class CaseService:
    """Cases for one principal in one session (one transaction; the caller commits)."""

    def __init__(self, session: Session, principal: Principal | None, *, now: datetime | None = None) -> None:
        self.session = session
        self.principal = principal
        self.store = ExchangeStore(session, now=now)
        self._now = now
        self._kinds: dict[str, OrgKind] | None = None

    # -----------------------------------------------------------------------------------------
    # helpers

    def now(self) -> datetime:
        return ensure_utc(self._now) if self._now is not None else utcnow()

    def _org_kind(self, org_id: str) -> OrgKind:
        if self._kinds is None:
            self._kinds = {r.id: OrgKind(r.kind) for r in self.session.scalars(select(OrgRow))}
        return self._kinds.get(org_id, OrgKind.RESEARCH)

    def sees(self, source_org_id: str | None, marking: Marking) -> bool:
        """Whether the principal may see an item written by ``source_org_id`` under ``marking``."""
        return may_see(self.principal, Marked(source_org_id or "", marking), self._org_kind)

    def _acting_org(self) -> str:
        if self.principal is None:
            raise InputError("this operation needs an acting organisation (--as-org)", field="org")
        return self.principal.org_id

    def _check_marking(self, marking: Marking) -> Marking:
        known = set(self.session.scalars(select(OrgRow.id).where(OrgRow.id.in_(marking.shared_with))))
        unknown = [o for o in marking.shared_with if o not in known]
        if unknown:
            raise InputError(
                f"shared_with names unknown organisations: {', '.join(unknown)}", field="shared_with"
            )
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
        return _event_record(event)

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

    # -----------------------------------------------------------------------------------------
    # cases

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
        org_id = self._acting_org()
        clean_title = _text(title, "title", limit=300, required=True)
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
            summary=_text(summary, "summary"),
            attribution=_text(attribution, "attribution", limit=300),
            confidence=int(confidence),
            techniques=list(disarm.normalize_techniques(techniques)),
            status=Status.TRIAGE.value,
            tlp=marking.tlp.value,
            shared_with=list(marking.shared_with),
            owners=[o for o in (_text(x, "owners", limit=200) for x in owners) if o],
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

    def require_principal(self) -> Principal:
        if self.principal is None:
            raise InputError("this operation needs an acting organisation (--as-org)", field="org")
        return self.principal

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
            row.title = _text(title, "title", limit=300, required=True) or row.title
            changed["title"] = row.title
        if summary is not None:
            row.summary = _text(summary, "summary")
            changed["summary"] = row.summary
        if attribution is not None:
            row.attribution = _text(attribution, "attribution", limit=300)
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
            row.owners = [o for o in (_text(x, "owners", limit=200) for x in owners) if o]
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
            detail["reason"] = _text(reason, "reason", limit=2000)
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

    # -----------------------------------------------------------------------------------------
    # comments, signals, actions

    def add_comment(self, case_id: str, text: str, *, marking: Marking | None = None) -> TimelineEvent:
        """A comment on the timeline under its own marking (default: the case's)."""
        require(self.principal, Permission.WRITE)
        row = self._row(case_id)
        body = _text(text, "text", required=True)
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
        visible = {s.id for s in self._signals(ids)}
        missing = [i for i in ids if i not in visible]
        if missing:
            raise NotFound(
                f"no signal {missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            )
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
            CaseSignalRow(case_id=row.id, signal_id=i, org_id=self._acting_org(), added_at=now) for i in new
        )
        if new:
            self._event(row, EventKind.SIGNALS_LINKED, {"count": len(new)})
            self._audit("case.link_signals", row, {"count": len(new)})
        return len(new)

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

    def record_action(
        self,
        case_id: str,
        action: str | ActionKind,
        target: str | ActionTarget,
        count: int,
        *,
        platform: str | None = None,
        taken_at: datetime | None = None,
        statement_url: str | None = None,
        note: str | None = None,
        marking: Marking = Marking(TLP.AMBER),
    ) -> Action:
        """Record the principal organisation's action on its service (accounts removed, ...)."""
        require(self.principal, Permission.WRITE)
        row = self._row(case_id)
        kind = _enum(ActionKind, str(action), "action")
        what = _enum(ActionTarget, str(target), "target")
        if not 0 <= int(count) <= MAX_DB_INT:
            raise InputError(f"count must be 0-{MAX_DB_INT}, got {count}", field="count")
        url = _text(statement_url, "statement_url", limit=2000)
        if url and not url.startswith(("https://", "http://")):
            raise InputError(f"statement_url must be an http(s) URL, got {url[:80]!r}", field="statement_url")
        self._check_marking(marking)
        now = self.now()
        action_row = CaseActionRow(
            case_id=row.id,
            org_id=self._acting_org(),
            key_id=self.principal.key_id if self.principal else None,
            action=kind.value,
            target=what.value,
            count=int(count),
            platform=_text(platform, "platform", limit=100),
            taken_at=ensure_utc(taken_at) if taken_at else now,
            statement_url=url,
            note=_text(note, "note"),
            tlp=marking.tlp.value,
            shared_with=list(marking.shared_with),
            created_at=now,
        )
        self.session.add(action_row)
        self.session.flush()
        self._event(
            row,
            EventKind.ACTION,
            {
                "action_id": action_row.id,
                "action": kind.value,
                "target": what.value,
                "count": action_row.count,
                "platform": action_row.platform,
            },
            marking,
        )
        self._audit("case.action", row, {"action_id": action_row.id, "tlp": marking.tlp.value})
        return action_record(action_row)

    def actions(self, case_id: str) -> list[Action]:
        """Members' actions on the case that the principal may see."""
        require(self.principal, Permission.READ)
        row = self._row(case_id)
        rows = self.session.scalars(
            select(CaseActionRow).where(CaseActionRow.case_id == row.id).order_by(CaseActionRow.id)
        )
        return [a for a in map(action_record, rows) if self.sees(a.org_id, a.marking)]

    # -----------------------------------------------------------------------------------------
    # embargo, timeline

    def set_embargo(self, case_id: str, until: datetime | None, *, reason: str | None = None) -> Case:
        """Set (or clear with None) the agreed joint-disclosure instant.

        The owner changes it freely; another member needs an admin key and ``reason`` (an
        override, recorded on the timeline and in the audit log like every embargo change).
        """
        require(self.principal, Permission.WRITE)
        row = self._row(case_id)
        overridden = embargo_change(self.principal, row.org_id, reason)
        if Status(row.status) in {Status.DISCLOSED, Status.CLOSED}:
            raise Conflict(f"the case is already {row.status}; its embargo can no longer change")
        previous = row.embargo_until
        row.embargo_until = ensure_utc(until) if until else None
        detail: dict[str, Any] = {
            "until": isoformat_z(until) if until else None,
            "previous": isoformat_z(previous) if previous else None,
        }
        if overridden:
            detail["override_reason"] = reason
        self._event(row, EventKind.EMBARGO, detail)
        self._audit("case.embargo", row, {**detail, "override": overridden})
        return case_record(row)

    def embargo(self, case_id: str) -> Embargo:
        """The embargo as of now: its instant and the seconds remaining (0 once passed)."""
        require(self.principal, Permission.READ)
        return embargo_state(self._row(case_id).embargo_until, self.now())

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
            for e in map(_event_record, rows)
            if self.sees(e.actor_org_id if e.kind in OWN_MARKING else row.org_id, e.marking)
        ]

    def record_disclosure(self, case_id: str, detail: dict[str, Any]) -> TimelineEvent:
        """Note on the timeline that a public report was produced (CLEAR: the report is public)."""
        row = self._row(case_id)
        event = self._event(row, EventKind.DISCLOSURE, detail, Marking(TLP.CLEAR))
        self._audit("case.disclosure", row, {"event_id": event.id, **detail})
        return event

    # -----------------------------------------------------------------------------------------
    # checklist (playbooks and exercises)

    def add_checklist(self, case_id: str, items: Sequence[tuple[str, str | None]]) -> list[ChecklistItem]:
        """Append checklist items ``(text, owner)`` to the case."""
        require(self.principal, Permission.WRITE)
        row = self._row(case_id)
        require_case_owner(self.principal, row.org_id, "add checklist items")
        start = len(self.checklist(case_id))
        rows = [
            ChecklistItemRow(case_id=row.id, position=start + i, text=text, owner=owner)
            for i, (text, owner) in enumerate(items)
        ]
        self.session.add_all(rows)
        self.session.flush()
        self._event(row, EventKind.CHECKLIST, {"added": len(rows)})
        self._audit("case.checklist_add", row, {"added": len(rows)})
        return [_item_record(r) for r in rows]

    def checklist(self, case_id: str) -> list[ChecklistItem]:
        """The case's checklist in order (empty unless opened from a playbook)."""
        require(self.principal, Permission.READ)
        row = self._row(case_id)
        rows = self.session.scalars(
            select(ChecklistItemRow)
            .where(ChecklistItemRow.case_id == row.id)
            .order_by(ChecklistItemRow.position)
        )
        return [_item_record(r) for r in rows]

    def check_item(
        self, case_id: str, item_id: int, *, done: bool = True, note: str | None = None
    ) -> ChecklistItem:
        """Check (or uncheck) a checklist item: the principal and the time go on the item and the timeline."""
        require(self.principal, Permission.WRITE)
        row = self._row(case_id)
        item = self.session.get(ChecklistItemRow, item_id) if 1 <= item_id <= MAX_DB_INT else None
        if item is None or item.case_id != row.id:
            raise NotFound(f"case {case_id!r} has no checklist item {item_id}")
        now = self.now()
        if done:
            item.done_at = now
            item.done_by_key = self.principal.key_id if self.principal else audit.LOCAL_ADMIN
            item.done_by_org = self.principal.org_id if self.principal else None
        else:
            item.done_at = item.done_by_key = item.done_by_org = None
        detail: dict[str, Any] = {
            "item_id": item.id,
            "position": item.position,
            "text": item.text,
            "done": done,
        }
        if note:
            detail["note"] = _text(note, "note", limit=2000)
        self._event(row, EventKind.CHECKED, detail, at=now)
        self._audit("case.check_item", row, {"item_id": item.id, "done": done})
        return _item_record(item)

    # -----------------------------------------------------------------------------------------
    # the network picture

    def network(self, case_id: str, *, clear_only: bool = False) -> CaseNetwork:
        """The case's account graph as the principal may see it.

        Nodes and edges come from the detection evidence (under the marking chosen when the case
        was opened from detection) and from linked account signals the principal can see.
        ``clear_only`` keeps only TLP:CLEAR material (for public reports).
        """
        require(self.principal, Permission.READ)
        row = self._row(case_id)
        graph = (row.detection or {}).get("graph") or {}
        graph_marking = Marking(TLP((row.detection or {}).get("tlp", row.tlp)), tuple(row.shared_with or ()))
        nodes: dict[str, NetworkNode] = {}
        edges: list[NetworkEdge] = []
        graph_ok = self.sees(row.org_id, graph_marking) and (not clear_only or graph_marking.tlp is TLP.CLEAR)
        if graph_ok:
            for node in graph.get("nodes", []):
                nodes[node["id"]] = NetworkNode(
                    node["id"], node.get("platform", ""), int(node.get("posts", 0))
                )
        for account in self._linked_accounts(row, clear_only=clear_only):
            if account not in nodes:
                nodes[account] = NetworkNode(account, account.split(":", 1)[0], 0, source="signal")
        if graph_ok:
            edges = [
                NetworkEdge(a, b, float(w)) for a, b, w in graph.get("edges", []) if a in nodes and b in nodes
            ]
        return CaseNetwork(nodes=sorted(nodes.values(), key=lambda n: n.id), edges=edges)

    def _linked_accounts(self, row: CaseRow, *, clear_only: bool) -> list[str]:
        ids = list(
            self.session.scalars(select(CaseSignalRow.signal_id).where(CaseSignalRow.case_id == row.id))
        )
        if not ids:
            return []
        if clear_only:
            return clear_values(self.session, ids, {SignalKind.ACCOUNT}).get(SignalKind.ACCOUNT, [])
        if self.principal is None:
            stmt = select(SignalRow.value).where(
                SignalRow.id.in_(ids), SignalRow.kind == SignalKind.ACCOUNT.value
            )
            return list(self.session.scalars(stmt))
        return [s.value for s in self._signals(ids) if s.kind is SignalKind.ACCOUNT]


def _visible_cases(session: Session, principal: Principal, ids: Sequence[str]) -> set[str]:
    """Audit-log resolver: the case ids among ``ids`` that ``principal`` may see."""
    service = CaseService(session, principal)
    rows = session.scalars(select(CaseRow).where(CaseRow.id.in_(list(ids))))
    return {r.id for r in rows if service.sees(r.org_id, Marking(TLP(r.tlp), tuple(r.shared_with or ())))}


AuditTargets.register("case", _visible_cases)


def clear_values(
    session: Session, signal_ids: Sequence[str], kinds: Iterable[SignalKind]
) -> dict[SignalKind, list[str]]:
    """Values of the given signals that some member contributed as TLP:CLEAR (and has not revoked).

    This is what may go into a public report: material a member has already released as CLEAR.
    """
    wanted = [k.value for k in kinds]
    stmt = (
        select(SignalRow.kind, SignalRow.value)
        .join(ContributionRow, ContributionRow.signal_id == SignalRow.id)
        .where(
            SignalRow.id.in_(list(signal_ids)),
            SignalRow.kind.in_(wanted),
            ContributionRow.tlp == TLP.CLEAR.value,
            ContributionRow.revoked_at.is_(None),
        )
        .distinct()
        .order_by(SignalRow.kind, SignalRow.value)
    )
    found: dict[SignalKind, list[str]] = {}
    for kind, value in session.execute(stmt):
        found.setdefault(SignalKind(kind), []).append(value)
    return found
