"""``MeetingService``: coalition meetings, member updates, agendas, minutes, decisions and action
items, and the election calendar, for the CLI, the REST routes and the dashboard.

Usage::

    with db.session() as session:
        meetings = MeetingService(session, principal)
        [m] = meetings.create_meeting("Weekly sync", starts_at, invited={gov_id: "member"})
        meetings.file_update(m.id, sees={"notes": "..."}, asks="...", marking=Marking(TLP.AMBER))
        agenda = meetings.agenda(m.id)        # updates, briefing, embargoes, action items, dates
        meetings.add_action(m.id, "Share the seed list", owner_org_id=gov_id, due=...)
        meetings.record_minutes(m.id, "...", marking=Marking(TLP.GREEN))

Visibility: a meeting is visible to its convening organisation and the invited ones (the local
administrator, ``principal=None``, sees all). Updates, action items and minutes carry their own TLP
marking and are filtered with the exchange's one rule, ``can_see``, through ``Service.sees``
(the source is the organisation that wrote the item). So a government reader of a pack never
receives a platform's AMBER update unless the platform listed it in ``shared_with``.

``MeetingService`` is one class over ``vigil.cases.calendar.MeetingCalendar`` (meetings and the
election calendar, which the policy register also reads), written in parts over ``base.MeetingBase``
(records, playbooks, exercise schedule): ``updates`` (member updates and their pre-filled
figures), ``actions`` (decisions, action items, reminders) and ``agenda`` (minutes, the agenda).
"""

from vigil.cases.calendar import (
    DEFAULT_LOOKBACK,
    ELECTION_KINDS,
    MAX_OCCURRENCES,
    MAX_TEXT,
    MEETING_ROLES,
    RECURRENCES,
    ElectionDate,
    Meeting,
    MeetingCalendar,
)
from vigil.cases.meetings.actions import ActionItems
from vigil.cases.meetings.agenda import AgendaAndMinutes
from vigil.cases.meetings.base import (
    ACTION_KINDS,
    ACTION_STATUSES,
    DATES_HORIZON,
    EMBARGO_HORIZON,
    POLICY_ASK_HORIZON,
    ActionItem,
    Agenda,
    MeetingBase,
    MemberUpdate,
    Reminders,
)
from vigil.cases.meetings.updates import MemberUpdates


class MeetingService(AgendaAndMinutes):
    """Meetings for one principal in one session (``None``: the trusted local administrator)."""


__all__ = [
    "ACTION_KINDS",
    "ACTION_STATUSES",
    "DATES_HORIZON",
    "DEFAULT_LOOKBACK",
    "ELECTION_KINDS",
    "EMBARGO_HORIZON",
    "MAX_OCCURRENCES",
    "MAX_TEXT",
    "MEETING_ROLES",
    "POLICY_ASK_HORIZON",
    "RECURRENCES",
    "ActionItem",
    "ActionItems",
    "Agenda",
    "ElectionDate",
    "Meeting",
    "MeetingBase",
    "MeetingCalendar",
    "MeetingService",
    "MemberUpdate",
    "MemberUpdates",
    "Reminders",
]
