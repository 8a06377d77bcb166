"""A case's checklist (playbooks and exercises) and its network picture; ``clear_values`` (what may
go into a public report)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.cases.models import CaseRow, CaseSignalRow, ChecklistItemRow
from vigil.cases.records import (
    CaseNetwork,
    ChecklistItem,
    EventKind,
    NetworkEdge,
    NetworkNode,
)
from vigil.cases.service.base import (
    CaseBase,
    clean_text,
    item_record,
)
from vigil.core.errors import NotFound
from vigil.exchange import audit
from vigil.exchange.access import Permission, require
from vigil.exchange.models import ContributionRow, SignalRow
from vigil.exchange.policy import require_case_owner
from vigil.exchange.records import MAX_DB_INT, TLP, Marking, Signal, SignalKind


class ChecklistAndNetwork(CaseBase):
    """The checklist and the account network of a case."""

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
        return [item_record(r) for r in rows]

    def checklist(self, case_id: str) -> list[ChecklistItem]:
        """The case's checklist in order (empty unless opened from a playbook)."""
        require(self.principal, Permission.READ)
        row = self._row(case_id)
        rows = self.session.scalars(
            select(ChecklistItemRow)
            .where(ChecklistItemRow.case_id == row.id)
            .order_by(ChecklistItemRow.position)
        )
        return [item_record(r) for r in rows]

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
            detail["note"] = clean_text(note, "note", limit=2000)
        self._event(row, EventKind.CHECKED, detail, at=now)
        self._audit("case.check_item", row, {"item_id": item.id, "done": done})
        return item_record(item)

    def network(
        self, case_id: str, *, clear_only: bool = False, linked: Sequence[Signal] | None = None
    ) -> CaseNetwork:
        """The case's account graph as the principal may see it.

        Nodes and edges come from the detection evidence (under the marking chosen when the case
        was opened from detection) and from linked account signals the principal can see.
        ``clear_only`` keeps only TLP:CLEAR material (for public reports). ``linked``: the case's
        ``linked_signals`` for this principal when the caller has already read them (the case
        page shows both), so they are not read a second time.
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
        if linked is not None and not clear_only and self.principal is not None:
            accounts = [s.value for s in linked if s.kind is SignalKind.ACCOUNT]
        else:
            accounts = self._linked_accounts(row, clear_only=clear_only)
        for account in accounts:
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
