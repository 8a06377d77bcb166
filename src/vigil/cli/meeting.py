"""``vigil meeting`` and ``vigil election``: coalition meetings (invitations, member updates, the
pack, minutes, decisions and action items) and the election calendar, acting for an organisation.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from vigil.cli.common import (
    AsOrgOpt,
    DataDirOpt,
    DbUrlOpt,
    JsonOpt,
    ShareOpt,
    TlpOpt,
    acting,
    open_database,
    org_names,
    plain,
)
from vigil.cli.console import VigilConsole
from vigil.core.errors import InputError
from vigil.core.files import write_atomic
from vigil.core.time import isoformat_z, parse_duration, parse_instant

console = VigilConsole()
meeting_app = typer.Typer(help="Coalition meetings: updates, agenda pack, minutes, action items.")
election_app = typer.Typer(
    help="The election calendar: key dates that agendas and the dashboard count down to."
)


def _instant(value: str, option: str) -> datetime:
    """``parse_instant`` whose error names the option, so a user knows which value to fix."""
    try:
        return parse_instant(value)
    except InputError as exc:
        raise InputError(f"{option}: {exc.message}", field=option, value=value) from exc


def _org_id(session: Any, org: str) -> str:
    from vigil.exchange.store import ExchangeStore

    return ExchangeStore(session).get_org(None, org).id


def _invited(session: Any, specs: list[str]) -> dict[str, str]:
    """``ORG`` or ``ORG=ROLE`` (role chair, member or observer) -> {org id: role}."""
    found: dict[str, str] = {}
    for spec in specs:
        org, _, role = spec.partition("=")
        found[_org_id(session, org.strip())] = role.strip() or "member"
    return found


def _format(fmt: str) -> str:
    from vigil.cases.meetings_render import EXPORT_FORMATS

    if fmt not in EXPORT_FORMATS:
        raise InputError(f"unknown format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}", field="format")
    return fmt


def _json_arg(text: str | None, field: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{field} is not valid JSON: {exc}", field=field) from None


app = typer.Typer()


app.add_typer(meeting_app, name="meeting")
app.add_typer(election_app, name="election")


@meeting_app.command("new")
def new(
    title: str = typer.Argument(..., help="Title of the meeting."),
    starts_at: str = typer.Option(..., "--at", help="Start (ISO 8601 UTC, e.g. 2026-12-01T14:00Z)."),
    invite: list[str] = typer.Option(
        [], "--invite", help="ORG or ORG=ROLE (chair, member, observer); repeatable."
    ),
    recurrence: str | None = typer.Option(None, "--every", help="weekly or fortnightly (omit: ad hoc)."),
    occurrences: int = typer.Option(1, "--count", help="How many meetings of a recurring series."),
    as_org: str = AsOrgOpt,
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Schedule a meeting (convened by --as-org) and invite organisations."""
    from vigil.cases.meetings import MeetingService

    with acting(data_dir, database_url, as_org) as (session, principal):
        made = MeetingService(session, principal).create_meeting(
            title,
            _instant(starts_at, "--at"),
            invited=_invited(session, invite),
            recurrence=recurrence,
            occurrences=occurrences,
        )
    for m in made:
        console.print(
            f"{m.id}  {isoformat_z(m.starts_at)}  {escape(m.title)}  ({len(m.invited)} organisations)"
        )


@meeting_app.command("list")
def list_(
    as_org: str = AsOrgOpt,
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Meetings this organisation convenes or is invited to."""
    from vigil.cases.meetings import MeetingService

    with acting(data_dir, database_url, as_org) as (session, principal):
        meetings = MeetingService(session, principal).list_meetings()
    if as_json:
        typer.echo(json.dumps([plain(asdict(m)) for m in meetings], indent=2, ensure_ascii=False))
        return
    table = Table(title=f"Meetings ({len(meetings)})")
    for column in ("id", "starts", "title", "recurrence", "invited"):
        table.add_column(column)
    for m in meetings:
        table.add_row(
            m.id, isoformat_z(m.starts_at), escape(m.title), m.recurrence or "ad hoc", str(len(m.invited))
        )
    console.print(table)


@meeting_app.command("update")
def update(
    meeting_id: str = typer.Argument(...),
    sees: str | None = typer.Option(None, "--sees", help='JSON object, e.g. {"narratives": ["..."]}.'),
    expects: str | None = typer.Option(
        None, "--expects", help='JSON list, e.g. [{"on": "2026-12-01", "event": "debate", "risk": "..."}].'
    ),
    asks: str | None = typer.Option(None, "--asks", help="What this organisation asks of the others."),
    tlp: str = TlpOpt,
    share_with: list[str] = ShareOpt,
    as_org: str = AsOrgOpt,
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """File this organisation's update (figures pre-filled from its activity since the last meeting)."""
    from vigil.cases.meetings import MeetingService
    from vigil.cases.service import parse_marking

    sees_value = _json_arg(sees, "sees")
    expects_value = _json_arg(expects, "expects")
    if sees_value is not None and not isinstance(sees_value, dict):
        raise InputError("sees must be a JSON object", field="sees")
    if expects_value is not None and not isinstance(expects_value, list):
        raise InputError("expects must be a JSON list", field="expects")
    with acting(data_dir, database_url, as_org) as (session, principal):
        shared = [_org_id(session, o) for o in share_with]
        u = MeetingService(session, principal).file_update(
            meeting_id, sees=sees_value, expects=expects_value, asks=asks, marking=parse_marking(tlp, shared)
        )
    f = u.figures
    console.print(
        f"update filed (TLP:{u.marking.tlp.value}): {f['signals_total']} signals, "
        f"{len(f['cases_opened'])} cases opened, actions {f['actions'] or '-'} since {f['since']}"
    )


@meeting_app.command("pack")
def pack(
    meeting_id: str = typer.Argument(...),
    fmt: str = typer.Option("html", "--format", help="html, pdf or md."),
    out: Path = typer.Option(..., "--out", help="Output file."),
    as_org: str = AsOrgOpt,
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Write the meeting pack (agenda, updates, briefing) as this organisation may see it."""
    from vigil.cases.meetings import MeetingService
    from vigil.cases.meetings_render import render_pack

    _format(fmt)
    with acting(data_dir, database_url, as_org) as (session, principal):
        service = MeetingService(session, principal)
        body = render_pack(
            service, meeting_id, fmt, org_names(session).get(principal.org_id, principal.org_id)
        )
    write_atomic(out, body)
    console.print(f"wrote {out} ({len(body):,} bytes)")


@meeting_app.command("minutes")
def minutes(
    meeting_id: str = typer.Argument(...),
    text: str | None = typer.Option(None, "--text", help="Record these minutes (the convener only)."),
    tlp: str = TlpOpt,
    share_with: list[str] = ShareOpt,
    fmt: str = typer.Option("html", "--format", help="html, pdf or md."),
    out: Path | None = typer.Option(None, "--out", help="Write the minutes document here."),
    as_org: str = AsOrgOpt,
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Record the minutes (--text) and/or export them (--out) as this organisation may see them."""
    from vigil.cases.meetings import MeetingService
    from vigil.cases.meetings_render import render_minutes
    from vigil.cases.service import parse_marking

    _format(fmt)
    if text is None and out is None:
        raise InputError("give --text to record minutes, --out to export them, or both", field="text")
    with acting(data_dir, database_url, as_org) as (session, principal):
        service = MeetingService(session, principal)
        if text is not None:
            shared = [_org_id(session, o) for o in share_with]
            service.record_minutes(meeting_id, text, marking=parse_marking(tlp, shared))
        body = (
            render_minutes(
                service, meeting_id, fmt, org_names(session).get(principal.org_id, principal.org_id)
            )
            if out is not None
            else b""
        )
    if text is not None:
        console.print("minutes recorded")
    if out is not None:
        write_atomic(out, body)
        console.print(f"wrote {out} ({len(body):,} bytes)")


@meeting_app.command("action")
def action(
    meeting_id: str = typer.Argument(...),
    text: str = typer.Argument(..., help="What is to be done (or what was decided, with --decision)."),
    owner: str | None = typer.Option(None, "--owner", help="Owner organisation (id or name)."),
    due: str | None = typer.Option(None, "--due", help="Due instant (ISO 8601 UTC)."),
    decision: bool = typer.Option(False, "--decision", help="Record a decision rather than an action item."),
    tlp: str = TlpOpt,
    share_with: list[str] = ShareOpt,
    as_org: str = AsOrgOpt,
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Record a decision or an action item with owner organisation and due date."""
    from vigil.cases.meetings import MeetingService
    from vigil.cases.service import parse_marking

    with acting(data_dir, database_url, as_org) as (session, principal):
        shared = [_org_id(session, o) for o in share_with]
        item = MeetingService(session, principal).add_action(
            meeting_id,
            text,
            owner_org_id=_org_id(session, owner) if owner else None,
            due=_instant(due, "--due") if due else None,
            kind="decision" if decision else "action",
            marking=parse_marking(tlp, shared),
        )
    console.print(f"{item.kind} {item.id} recorded ({item.status})")


@meeting_app.command("actions")
def actions(
    open_only: bool = typer.Option(False, "--open", help="Only open action items."),
    as_org: str = AsOrgOpt,
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Decisions and action items this organisation may see, due first; overdue ones flagged."""
    from vigil.cases.meetings import MeetingService

    with acting(data_dir, database_url, as_org) as (session, principal):
        items = MeetingService(session, principal).action_items(open_only=open_only)
        names = org_names(session)
    if as_json:
        typer.echo(json.dumps([plain(asdict(i)) for i in items], indent=2, ensure_ascii=False))
        return
    table = Table(title=f"Action items ({len(items)})")
    for column in ("id", "kind", "text", "owner", "due", "status"):
        table.add_column(column)
    for i in items:
        status = "[red]OVERDUE[/red]" if i.overdue else i.status
        owner = names.get(i.owner_org_id or "", "-")
        due = isoformat_z(i.due) if i.due else "-"
        table.add_row(str(i.id), i.kind, escape(i.text), escape(owner), due, status)
    console.print(table)


@meeting_app.command("done")
def done(
    action_id: int = typer.Argument(...),
    status: str = typer.Option("done", "--status", help="done, dropped or open."),
    as_org: str = AsOrgOpt,
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Close (or reopen) an action item."""
    from vigil.cases.meetings import MeetingService

    with acting(data_dir, database_url, as_org) as (session, principal):
        item = MeetingService(session, principal).set_action_status(action_id, status)
    console.print(f"action {item.id}: {item.status}")


@meeting_app.command("remind")
def remind(
    lead: str | None = typer.Option(
        None, "--lead", help="Due-soon lead time, e.g. 24h or 2d (default: VIGIL_MEETING_REMINDER_LEAD_H)."
    ),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Queue action_item.due_soon / action_item.overdue webhooks for the owner organisations
    (each item once per kind; `vigil push run` sends them, and runs this scan itself each round)."""
    from vigil.cases.meetings_reminders import scan_reminders
    from vigil.core.settings import load_settings

    overrides = {k: v for k, v in (("data_dir", data_dir), ("database_url", database_url)) if v is not None}
    window = (
        parse_duration(lead)
        if lead is not None
        else timedelta(hours=load_settings(**overrides).meeting_reminder_lead_h)
    )
    db = open_database(data_dir, database_url)
    try:
        with db.session() as session:
            report = scan_reminders(session, lead=window)
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(asdict(report), indent=2))
        return

    def n(count: int, one: str, many: str) -> str:
        return f"{count} {one if count == 1 else many}"

    console.print(
        f"{n(report.considered, 'open action item', 'open action items')} due within "
        f"{window.total_seconds() / 3600:g} h or overdue: "
        f"{report.overdue} overdue, {report.due_soon} due soon, "
        f"{report.withheld} not visible to their owner; "
        f"{n(report.enqueued, 'new webhook delivery', 'new webhook deliveries')} queued"
    )


@election_app.command("add")
def election_add(
    election: str = typer.Argument(..., help='Name of the election, e.g. "General 2026".'),
    kind: str = typer.Argument(
        ...,
        help="registration_deadline, convention, debate, early_voting, election_day, certification, other.",
    ),
    at: str = typer.Argument(..., help="Date or instant (ISO 8601 UTC)."),
    title: str | None = typer.Option(None, "--title"),
    as_org: str = AsOrgOpt,
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Add a key date to the election calendar."""
    from vigil.cases.meetings import MeetingService

    with acting(data_dir, database_url, as_org) as (session, principal):
        d = MeetingService(session, principal).add_election_date(election, kind, _instant(at, "AT"), title)
    console.print(f"{d.election}: {d.kind} on {isoformat_z(d.at)}")


@election_app.command("list")
def election_list(
    election: str | None = typer.Option(None, "--election"),
    as_org: str = AsOrgOpt,
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Key dates in time order, with the days left to each."""
    from vigil.cases.meetings import MeetingService

    with acting(data_dir, database_url, as_org) as (session, principal):
        service = MeetingService(session, principal)
        dates = service.election_dates(election=election)
        now = service.now()
    if as_json:
        typer.echo(json.dumps([{**plain(asdict(d)), "days_left": d.days_left(now)} for d in dates], indent=2))
        return
    table = Table(title=f"Election calendar ({len(dates)})")
    for column in ("date", "election", "kind", "title", "days left"):
        table.add_column(column)
    for d in dates:
        table.add_row(
            isoformat_z(d.at), escape(d.election), d.kind, escape(d.title or ""), str(d.days_left(now))
        )
    console.print(table)
