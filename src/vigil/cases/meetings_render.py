"""The meeting pack (agenda, member updates, trend briefing) and the minutes as HTML, PDF or
Markdown.

Both are rendered from what ``MeetingService`` returns for one reader, so a reader's copy holds
only what that reader's organisation may see; the document's TLP is the most restrictive item of
that copy (GREEN at least, as both are coalition-internal), on every PDF page's header and footer,
as an HTML banner and as Markdown front matter (``templates/_marking.*``).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.cases.meetings import Agenda, MeetingService
from vigil.cases.policies import PolicySection, PolicyService
from vigil.cases.render import environment, html_to_pdf
from vigil.core.errors import InputError
from vigil.core.time import isoformat_z
from vigil.exchange.models import OrgRow
from vigil.exchange.policy import document_marking

EXPORT_FORMATS = ("html", "pdf", "md")


def org_names(session: Session) -> dict[str, str]:
    return {r.id: r.name for r in session.scalars(select(OrgRow))}


def _pack(
    agenda: Agenda,
    names: dict[str, str],
    reader: str,
    now_iso: str,
    template: str,
    policy: PolicySection | None,
) -> str:
    # the member policy changes (as the reader sees them) count in the pack's marking too
    tlp = document_marking([agenda.tlp, *(policy.tlps if policy else [])])
    return (
        environment()
        .get_template(template)
        .render(a=agenda, names=names, reader=reader, tlp=tlp.value, generated=now_iso, policy=policy)
    )


def pack_html(
    agenda: Agenda, names: dict[str, str], reader: str, *, now_iso: str, policy: PolicySection | None = None
) -> str:
    return _pack(agenda, names, reader, now_iso, "meeting_pack.html", policy)


def pack_markdown(
    agenda: Agenda, names: dict[str, str], reader: str, *, now_iso: str, policy: PolicySection | None = None
) -> str:
    return _pack(agenda, names, reader, now_iso, "meeting_pack.md", policy)


def _minutes(
    service: MeetingService, meeting_id: str, names: dict[str, str], reader: str, template: str
) -> str:
    meeting = service.get_meeting(meeting_id)
    items = service.action_items(meeting_id=meeting_id)
    marks = [a.marking.tlp for a in items] + ([meeting.minutes_marking.tlp] if meeting.minutes else [])
    tlp = document_marking(marks)
    return (
        environment()
        .get_template(template)
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


def minutes_html(service: MeetingService, meeting_id: str, names: dict[str, str], reader: str) -> str:
    return _minutes(service, meeting_id, names, reader, "meeting_minutes.html")


def _check_format(fmt: str) -> None:
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"unknown format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}", field="format")


def to_format(html: str, fmt: str) -> bytes:
    if fmt == "html":
        return html.encode("utf-8")
    if fmt == "pdf":
        return html_to_pdf(html)
    raise InputError(f"unknown format {fmt!r}; use one of html, pdf", field="format")


def render_pack(service: MeetingService, meeting_id: str, fmt: str, reader: str) -> bytes:
    """The meeting pack for the service's principal, as html, pdf or md bytes."""
    _check_format(fmt)
    names = org_names(service.session)
    agenda = service.agenda(meeting_id)
    policy = PolicyService(service.session, service.principal, now=service.now()).meeting_section(meeting_id)
    now_iso = isoformat_z(service.now())
    if fmt == "md":
        return pack_markdown(agenda, names, reader, now_iso=now_iso, policy=policy).encode("utf-8")
    return to_format(pack_html(agenda, names, reader, now_iso=now_iso, policy=policy), fmt)


def render_minutes(service: MeetingService, meeting_id: str, fmt: str, reader: str) -> bytes:
    """The minutes, decisions and action items for the service's principal, as html, pdf or md."""
    _check_format(fmt)
    names = org_names(service.session)
    if fmt == "md":
        return _minutes(service, meeting_id, names, reader, "meeting_minutes.md").encode("utf-8")
    return to_format(minutes_html(service, meeting_id, names, reader), fmt)
