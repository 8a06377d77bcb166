"""Action-item reminders through push webhooks: ``action_item.due_soon`` and ``action_item.overdue``.

``scan_reminders`` looks at every open action item with an owner organisation and a due date,
decides with the pure ``reminder_kind`` whether it is due soon (within the lead time,
``Settings.meeting_reminder_lead_h``) or overdue, and hands one event per item and kind to the
exchange's event-agnostic ``push.enqueue_event`` for the **owner organisation** only. The push
layer then sends it to that organisation's subscriptions that opted into the event type, once
(the key ``action_item|<id>|<kind>`` is unique per subscription), signed like every webhook.

TLP: the owner organisation is reminded only of an item it may see under the meetings' own rule
(``MeetingService.visible_action``: it attends the meeting and the item's marking lets it see it);
the meeting's title is in the payload only if it may see the meeting. Nothing else of the meeting
(updates, minutes, other items) is ever in a reminder.

Policies: ``meeting.policies_due`` asks each invited member the register covers to confirm or
update its policies before a meeting starting within ``POLICY_ASK_HORIZON``, when it has recorded
no policy version since the previous meeting (``MeetingService.policies_due``, the rule of the
overview's card); once per member and meeting. The payload names only the meeting it attends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.cases.meetings import POLICY_ASK_HORIZON, Meeting, MeetingService
from vigil.cases.meetings_models import MeetingActionRow, MeetingRow
from vigil.core.time import ensure_utc, isoformat_z, utcnow
from vigil.exchange import push
from vigil.exchange.access import Principal
from vigil.exchange.models import OrgRow
from vigil.exchange.records import OrgKind, Role

DUE_SOON, OVERDUE = "due_soon", "overdue"


def reminder_kind(status: str, due: datetime | None, now: datetime, lead: timedelta) -> str | None:
    """``overdue`` once past due, ``due_soon`` within ``lead`` of it, else None (pure).

    Only open items with a due date are reminded; "past due" is the same strict ``due < now``
    that flags an item OVERDUE on the dashboard, so both agree at the boundary.
    """
    if status != "open" or due is None:
        return None
    due = ensure_utc(due)
    if due < now:
        return OVERDUE
    if due <= now + lead:
        return DUE_SOON
    return None


def reminder_payload(
    row: MeetingActionRow, meeting: MeetingRow | None, kind: str, now: datetime
) -> dict[str, Any]:
    """What the owner organisation receives about one item (``meeting`` None: title withheld)."""
    due = ensure_utc(row.due) if row.due is not None else now
    seconds = (due - now).total_seconds()
    item: dict[str, Any] = {
        "id": row.id,
        "kind": row.kind,
        "text": row.text,
        "status": row.status,
        "due": isoformat_z(due),
        "owner_org_id": row.owner_org_id,
        "meeting_id": row.meeting_id,
        "tlp": row.tlp,
    }
    if kind == OVERDUE:
        item["overdue_by_h"] = round(-seconds / 3600, 1)
    else:
        item["due_in_h"] = round(seconds / 3600, 1)
    if meeting is not None:
        item["meeting_title"] = meeting.title
        item["meeting_starts_at"] = isoformat_z(meeting.starts_at)
    return {"action_item": item}


@dataclass
class ReminderReport:
    considered: int = 0  # open items with an owner and a due date within the lead time or past it
    due_soon: int = 0
    overdue: int = 0
    withheld: int = 0  # the owner organisation may not see the item: no reminder
    policies_due: int = 0  # (member, meeting) pairs asked to confirm or update their policies
    enqueued: int = 0  # deliveries created (one per opted-in subscription, first time only)
    by_type: dict[str, int] = field(default_factory=dict)


def scan_reminders(session: Session, *, lead: timedelta, now: datetime | None = None) -> ReminderReport:
    """Queue ``action_item.due_soon`` / ``action_item.overdue`` events for the owner organisations
    of open action items; safe to run as often as wanted (each item reminds once per kind)."""
    now = ensure_utc(now) if now is not None else utcnow()
    report = ReminderReport()
    rows = session.scalars(
        select(MeetingActionRow)
        .where(
            MeetingActionRow.status == "open",
            MeetingActionRow.owner_org_id.is_not(None),
            MeetingActionRow.due.is_not(None),
            MeetingActionRow.due <= now + lead,
        )
        .order_by(MeetingActionRow.due, MeetingActionRow.id)
    ).all()
    kinds = {o.id: OrgKind(o.kind) for o in session.scalars(select(OrgRow))}
    services: dict[str, MeetingService] = {}
    for row in rows:
        kind = reminder_kind(row.status, row.due, now, lead)
        if kind is None or row.owner_org_id is None:
            continue
        report.considered += 1
        owner = row.owner_org_id
        if owner not in services:
            reader = Principal(key_id="reminders", org_id=owner, org_kind=kinds[owner], role=Role.READ_ONLY)
            services[owner] = MeetingService(session, reader, now=now)
        service = services[owner]
        if not service.visible_action(row):
            report.withheld += 1
            continue
        meeting = session.get(MeetingRow, row.meeting_id)
        shown = meeting if meeting is not None and service.attends(meeting) else None
        report.due_soon += kind == DUE_SOON
        report.overdue += kind == OVERDUE
        event_type = f"action_item.{kind}"
        made = push.enqueue_event(
            session,
            org_id=owner,
            event_type=event_type,
            key=f"action_item|{row.id}|{kind}",
            payload=reminder_payload(row, shown, kind, now),
            now=now,
        )
        report.enqueued += made
        if made:
            report.by_type[event_type] = report.by_type.get(event_type, 0) + made
    _scan_policies_due(session, report, kinds, now)
    return report


def policies_due_payload(meeting: Meeting, org_id: str, since: datetime) -> dict[str, Any]:
    """What a member receives when asked to confirm or update its policies before a meeting."""
    return {
        "meeting": {
            "id": meeting.id,
            "title": meeting.title,
            "starts_at": isoformat_z(meeting.starts_at),
            "since": isoformat_z(since),  # no policy version recorded by the member since then
        },
        "org_id": org_id,
        "asks": "confirm or update your policies in the register before the meeting",
    }


def _scan_policies_due(
    session: Session, report: ReminderReport, kinds: dict[str, OrgKind], now: datetime
) -> None:
    ahead = session.scalars(
        select(MeetingRow).where(
            MeetingRow.starts_at >= now, MeetingRow.starts_at <= now + POLICY_ASK_HORIZON
        )
    ).all()
    members = sorted({o for m in ahead for o in (m.invited or {}) if o in kinds})
    event_type = "meeting.policies_due"
    for org in members:
        reader = Principal(key_id="reminders", org_id=org, org_kind=kinds[org], role=Role.READ_ONLY)
        service = MeetingService(session, reader, now=now)
        for meeting in service.policies_due():
            report.policies_due += 1
            made = push.enqueue_event(
                session,
                org_id=org,
                event_type=event_type,
                key=f"policies_due|{meeting.id}",
                payload=policies_due_payload(meeting, org, service.since_last(meeting.id)),
                now=now,
            )
            report.enqueued += made
            if made:
                report.by_type[event_type] = report.by_type.get(event_type, 0) + made
