"""The meeting pack (agenda, member updates, trend briefing) and the minutes as HTML or PDF.

Both are rendered from what ``MeetingService`` returns for one reader, so a reader's copy holds
only what that reader's organisation may see; the document is headed with the most restrictive
marking it contains.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.cases.meetings import Agenda, MeetingService
from vigil.cases.render import environment, html_to_pdf
from vigil.core.errors import InputError
from vigil.core.time import isoformat_z
from vigil.exchange.access import most_restrictive
from vigil.exchange.models import OrgRow
from vigil.exchange.records import TLP

EXPORT_FORMATS = ("html", "pdf")


def org_names(session: Session) -> dict[str, str]:
    return {r.id: r.name for r in session.scalars(select(OrgRow))}


def pack_html(agenda: Agenda, names: dict[str, str], reader: str, *, now_iso: str) -> str:
    marks = [u.marking.tlp for u in agenda.updates] + [a.marking.tlp for a in agenda.action_items]
    tlp = most_restrictive(marks) or TLP.GREEN
    return (
        environment()
        .get_template("meeting_pack.html")
        .render(a=agenda, names=names, reader=reader, tlp=tlp.value, generated=now_iso)
    )


def minutes_html(service: MeetingService, meeting_id: str, names: dict[str, str], reader: str) -> str:
    meeting = service.get_meeting(meeting_id)
    items = service.action_items(meeting_id=meeting_id)
    marks = [a.marking.tlp for a in items] + ([meeting.minutes_marking.tlp] if meeting.minutes else [])
    tlp = most_restrictive(marks) or TLP.GREEN
    return (
        environment()
        .get_template("meeting_minutes.html")
        .render(
            m=meeting,
            decisions=[i for i in items if i.kind == "decision"],
            actions=[i for i in items if i.kind == "action"],
            names=names,
            reader=reader,
            tlp=tlp.value,
            generated=isoformat_z(service.now()),
        )
    )


def to_format(html: str, fmt: str) -> bytes:
    if fmt == "html":
        return html.encode("utf-8")
    if fmt == "pdf":
        return html_to_pdf(html)
    raise InputError(f"unknown format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}", field="format")


def render_pack(service: MeetingService, meeting_id: str, fmt: str, reader: str) -> bytes:
    """The meeting pack for the service's principal, as html or pdf bytes."""
    names = org_names(service.session)
    agenda = service.agenda(meeting_id)
    return to_format(pack_html(agenda, names, reader, now_iso=isoformat_z(service.now())), fmt)


def render_minutes(service: MeetingService, meeting_id: str, fmt: str, reader: str) -> bytes:
    """The minutes, decisions and action items for the service's principal, as html or pdf bytes."""
    return to_format(minutes_html(service, meeting_id, org_names(service.session), reader), fmt)
