"""Members' actions on a case (accounts removed, ...) and the case's embargo."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from vigil.cases.embargo import embargo_state
from vigil.cases.models import CaseActionRow
from vigil.cases.records import (
    Action,
    ActionKind,
    ActionTarget,
    Case,
    Embargo,
    EventKind,
    Status,
)
from vigil.cases.service.base import (
    CaseBase,
    action_record,
    case_record,
    clean_text,
    parse_enum,
)
from vigil.core.errors import Conflict, InputError
from vigil.core.time import ensure_utc, isoformat_z
from vigil.exchange.access import Permission, require
from vigil.exchange.policy import embargo_change
from vigil.exchange.records import MAX_DB_INT, TLP, Marking


class ActionsAndEmbargo(CaseBase):
    """Members' recorded actions and the joint-disclosure embargo."""

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
        kind = parse_enum(ActionKind, str(action), "action")
        what = parse_enum(ActionTarget, str(target), "target")
        if not 0 <= int(count) <= MAX_DB_INT:
            raise InputError(f"count must be 0-{MAX_DB_INT}, got {count}", field="count")
        url = clean_text(statement_url, "statement_url", limit=2000)
        if url and not url.startswith(("https://", "http://")):
            raise InputError(f"statement_url must be an http(s) URL, got {url[:80]!r}", field="statement_url")
        self._check_marking(marking)
        now = self.now()
        action_row = CaseActionRow(
            case_id=row.id,
            org_id=self.acting_org(),
            key_id=self.principal.key_id if self.principal else None,
            action=kind.value,
            target=what.value,
            count=int(count),
            platform=clean_text(platform, "platform", limit=100),
            taken_at=ensure_utc(taken_at) if taken_at else now,
            statement_url=url,
            note=clean_text(note, "note"),
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
