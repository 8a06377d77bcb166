"""``vigil case``: cases on the local exchange database, acting for an organisation (``--as-org``).

The CLI has direct database access, so it acts as that organisation's admin (key id
``local-admin``); what it shows is still only what that organisation may see under TLP.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    org_names,
    plain,
    when,
)
from vigil.cli.console import VigilConsole
from vigil.core.files import write_atomic
from vigil.core.time import isoformat_z, parse_duration, parse_instant, utcnow

if TYPE_CHECKING:
    from vigil.cases.records import Case

console = VigilConsole()


def print_case(case: Case, as_json: bool, title: str = "Case") -> None:
    if as_json:
        typer.echo(json.dumps(plain(asdict(case)), indent=2, ensure_ascii=False))
        return
    table = Table(title=title, show_header=False)
    for key, value in (
        ("id", case.id),
        ("title", case.title),
        ("status", case.status.value),
        (
            "TLP",
            case.marking.tlp.value
            + (f" (+{len(case.marking.shared_with)} orgs)" if case.marking.shared_with else ""),
        ),
        ("attribution", f"{case.attribution or '-'} (confidence {case.confidence})"),
        ("techniques", ", ".join(case.techniques) or "-"),
        ("owners", ", ".join(case.owners) or "-"),
        ("campaign", case.campaign_id or "-"),
        ("embargo until", when(case.embargo_until)),
        ("opened", f"{when(case.created_at)} by {case.org_id}"),
    ):
        table.add_row(key, escape(str(value)))
    console.print(table)


def _until(until: str | None, within: str | None) -> datetime | None:
    if until and within:
        raise typer.BadParameter("give --until or --in, not both")
    if until:
        return parse_instant(until)
    if within:
        return utcnow() + parse_duration(within)
    return None


app = typer.Typer()


case_app = typer.Typer(help="Cases: workflow, coordinated action, embargo, disclosure.", no_args_is_help=True)
app.add_typer(case_app, name="case")


@case_app.command("create")
def create(
    title: str = typer.Argument(..., help="Case title."),
    as_org: str = AsOrgOpt,
    tlp: str = TlpOpt,
    share_with: list[str] = ShareOpt,
    summary: str | None = typer.Option(None, "--summary"),
    attribution: str | None = typer.Option(None, "--attribution", help='e.g. "Iran-based", "unattributed".'),
    confidence: int = typer.Option(50, "--confidence", min=0, max=100),
    technique: list[str] = typer.Option([], "--technique", help="DISARM id such as T0049 (repeatable)."),
    owner: list[str] = typer.Option([], "--owner", help="Owner (repeatable)."),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Open a case (status triage)."""
    from vigil.cases.service import CaseService, parse_marking

    with acting(data_dir, database_url, as_org) as (session, principal):
        case = CaseService(session, principal).create_case(
            title,
            marking=parse_marking(tlp, share_with),
            summary=summary,
            attribution=attribution,
            confidence=confidence,
            techniques=technique,
            owners=owner,
        )
    print_case(case, as_json, "Case opened")


@case_app.command("list")
def list_cmd(
    as_org: str = AsOrgOpt,
    status: list[str] = typer.Option([], "--status", help="Only these statuses (repeatable)."),
    q: str | None = typer.Option(None, "--q", help="Text in title, summary or attribution."),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Cases this organisation may see, most recently changed first."""
    from vigil.cases.service import CaseService

    with acting(data_dir, database_url, as_org) as (session, principal):
        cases = CaseService(session, principal).list_cases(status=status, text=q)
    if as_json:
        typer.echo(json.dumps([plain(asdict(c)) for c in cases], indent=2, ensure_ascii=False))
        return
    table = Table(title=f"Cases ({len(cases)})")
    for column in ("id", "title", "status", "TLP", "attribution", "embargo until", "changed"):
        table.add_column(column)
    for c in cases:
        table.add_row(
            c.id, escape(c.title[:50]), c.status.value, c.marking.tlp.value,
            escape(c.attribution or "-"), when(c.embargo_until), when(c.modified_at),
        )  # fmt: skip
    console.print(table)


@case_app.command("show")
def show(
    case_id: str = typer.Argument(...),
    as_org: str = AsOrgOpt,
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """A case with its embargo, actions, checklist and timeline (what this organisation may see)."""
    from vigil.cases.service import CaseService

    with acting(data_dir, database_url, as_org) as (session, principal):
        service = CaseService(session, principal)
        case = service.get_case(case_id)
        embargo = service.embargo(case_id)
        actions = service.actions(case_id)
        items = service.checklist(case_id)
        events = service.timeline(case_id)
        names = org_names(session)
    if as_json:
        document = {
            "case": asdict(case),
            "embargo": {"until": embargo.until, "seconds_remaining": embargo.seconds_remaining},
            "actions": [asdict(a) for a in actions],
            "checklist": [asdict(i) for i in items],
            "timeline": [asdict(e) for e in events],
        }
        typer.echo(json.dumps(plain(document), indent=2, ensure_ascii=False))
        return
    print_case(case, False)
    if embargo.active:
        console.print(f"embargo: [bold]{embargo.seconds_remaining}[/] s remaining")
    if actions:
        table = Table(title="Actions")
        for column in ("org", "action", "count", "platform", "taken", "TLP", "statement"):
            table.add_column(column)
        for a in actions:
            table.add_row(
                names.get(a.org_id, a.org_id), f"{a.target.value} {a.action.value}", str(a.count),
                a.platform or "-", when(a.taken_at), a.marking.tlp.value, a.statement_url or "-",
            )  # fmt: skip
        console.print(table)
    if items:
        table = Table(title="Checklist")
        for column in ("item", "text", "owner", "done"):
            table.add_column(column)
        for i in items:
            who = names.get(i.done_by_org or "", i.done_by_org or "-")
            done = f"{when(i.done_at)} by {who}" if i.done_at else ""
            table.add_row(str(i.id), escape(i.text), i.owner or "-", done)
        console.print(table)
    print_timeline(events, names)


def print_timeline(events: list[Any], names: dict[str, str]) -> None:
    table = Table(title="Timeline")
    for column in ("at", "who", "what", "TLP", "detail"):
        table.add_column(column)
    for e in events:
        detail = ", ".join(f"{k}={v}" for k, v in e.detail.items())
        who = names.get(e.actor_org_id or "", e.actor_org_id or "-")
        table.add_row(
            when(e.at),
            f"{who} ({e.actor_key_id})",
            e.kind.value,
            e.marking.tlp.value,
            escape(detail[:80]),
        )
    console.print(table)


@case_app.command("timeline")
def timeline(
    case_id: str = typer.Argument(...),
    as_org: str = AsOrgOpt,
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The case's timeline: who did what, when."""
    from vigil.cases.service import CaseService

    with acting(data_dir, database_url, as_org) as (session, principal):
        events = CaseService(session, principal).timeline(case_id)
        names = org_names(session)
    if as_json:
        typer.echo(json.dumps([plain(asdict(e)) for e in events], indent=2, ensure_ascii=False))
    else:
        print_timeline(events, names)


@case_app.command("transition")
def transition(
    case_id: str = typer.Argument(...),
    status: str = typer.Argument(..., help="triage, investigating, coordinated-action, disclosed, closed."),
    as_org: str = AsOrgOpt,
    reason: str | None = typer.Option(None, "--reason"),
    override_reason: str | None = typer.Option(
        None, "--override-reason", help="Disclose before the embargo (recorded on the timeline)."
    ),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Move a case along the workflow."""
    from vigil.cases.service import CaseService

    with acting(data_dir, database_url, as_org) as (session, principal):
        case = CaseService(session, principal).transition(
            case_id, status, reason=reason, override_reason=override_reason
        )
    console.print(f"case {case.id} is now [bold]{case.status.value}[/]")


@case_app.command("comment")
def comment(
    case_id: str = typer.Argument(...),
    text: str = typer.Argument(...),
    as_org: str = AsOrgOpt,
    tlp: str | None = typer.Option(None, "--tlp", help="Default: the case's marking."),
    share_with: list[str] = ShareOpt,
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Comment on a case under a TLP marking."""
    from vigil.cases.service import CaseService, parse_marking

    with acting(data_dir, database_url, as_org) as (session, principal):
        event = CaseService(session, principal).add_comment(
            case_id, text, marking=parse_marking(tlp, share_with) if tlp else None
        )
    console.print(f"comment {event.id} added (TLP:{event.marking.tlp.value})")


@case_app.command("action")
def action(
    case_id: str = typer.Argument(...),
    as_org: str = AsOrgOpt,
    kind: str = typer.Option(..., "--action", help="removed, labelled or demoted."),
    target: str = typer.Option("accounts", "--target", help="accounts, pages, channels, groups or posts."),
    count: int = typer.Option(..., "--count", min=0),
    platform: str | None = typer.Option(None, "--platform"),
    taken_at: str | None = typer.Option(None, "--date", help="When (ISO 8601; default now)."),
    statement_url: str | None = typer.Option(None, "--statement-url"),
    note: str | None = typer.Option(None, "--note"),
    tlp: str = TlpOpt,
    share_with: list[str] = ShareOpt,
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Record your organisation's action on the case."""
    from vigil.cases.service import CaseService, parse_marking

    with acting(data_dir, database_url, as_org) as (session, principal):
        done = CaseService(session, principal).record_action(
            case_id,
            kind,
            target,
            count,
            platform=platform,
            taken_at=parse_instant(taken_at) if taken_at else None,
            statement_url=statement_url,
            note=note,
            marking=parse_marking(tlp, share_with),
        )
    console.print(
        f"recorded: {done.count} {done.target.value} {done.action.value} (TLP:{done.marking.tlp.value})"
    )


@case_app.command("embargo")
def embargo(
    case_id: str = typer.Argument(...),
    as_org: str = AsOrgOpt,
    until: str | None = typer.Option(None, "--until", help="ISO 8601 instant."),
    within: str | None = typer.Option(None, "--in", help="From now, e.g. 48h."),
    clear: bool = typer.Option(False, "--clear", help="Remove the embargo."),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Show, set or clear the joint-disclosure embargo."""
    from vigil.cases.service import CaseService

    instant = _until(until, within)
    with acting(data_dir, database_url, as_org) as (session, principal):
        service = CaseService(session, principal)
        if instant is not None or clear:
            service.set_embargo(case_id, instant)
        state = service.embargo(case_id)
    if state.until is None:
        console.print("no embargo")
    else:
        console.print(f"embargo until {isoformat_z(state.until)}: {state.seconds_remaining} s remaining")


@case_app.command("check")
def check(
    case_id: str = typer.Argument(...),
    item: int = typer.Argument(..., help="Checklist item id (from `vigil case show`)."),
    as_org: str = AsOrgOpt,
    undo: bool = typer.Option(False, "--undo"),
    note: str | None = typer.Option(None, "--note"),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Check off (or --undo) a checklist item; the timeline records who and when."""
    from vigil.cases.service import CaseService

    with acting(data_dir, database_url, as_org) as (session, principal):
        done = CaseService(session, principal).check_item(case_id, item, done=not undo, note=note)
    console.print(f"item {done.id}: {'done at ' + when(done.done_at) if done.done_at else 'not done'}")


@case_app.command("from-detection")
def from_detection(
    detect_dir: Path = typer.Argument(..., help="A `vigil detect --out` directory."),
    campaign: str = typer.Option(..., "--campaign", help="Campaign id or rank (1 = top)."),
    as_org: str = AsOrgOpt,
    tlp: str = TlpOpt,
    share_with: list[str] = ShareOpt,
    title: str | None = typer.Option(None, "--title"),
    attribution: str | None = typer.Option(None, "--attribution"),
    technique: list[str] = typer.Option([], "--technique", help="DISARM id (repeatable)."),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Open a case from a detected campaign and publish its accounts, URLs, domains and hashes."""
    from vigil.cases.from_detection import load_detected, open_case
    from vigil.cases.service import CaseService, parse_marking

    detected = load_detected(detect_dir, campaign)
    with acting(data_dir, database_url, as_org) as (session, principal):
        service = CaseService(session, principal)
        case = open_case(
            service,
            detected,
            parse_marking(tlp, share_with),
            title=title,
            attribution=attribution,
            techniques=tuple(technique),
        )
        n_signals = len(service.linked_signals(case.id))
    print_case(case, as_json, "Case opened from detection")
    if not as_json:
        console.print(
            f"published {n_signals} signals (TLP:{case.marking.tlp.value}) in campaign {case.campaign_id}"
        )


@case_app.command("disclose")
def disclose(
    case_id: str = typer.Argument(...),
    as_org: str = AsOrgOpt,
    out: Path = typer.Option(..., "--out", help="Output file."),
    fmt: str = typer.Option("html", "--format", help="html, pdf or md."),
    draft: bool = typer.Option(False, "--draft", help="Watermarked draft (allowed during the embargo)."),
    override_reason: str | None = typer.Option(None, "--override-reason"),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Write the public disclosure report (TLP:CLEAR material only)."""
    from vigil.cases.disclosure import DisclosureService

    with acting(data_dir, database_url, as_org) as (session, principal):
        body = DisclosureService(session, principal).render(
            case_id, fmt, draft=draft, override_reason=override_reason
        )
    write_atomic(out, body)
    console.print(f"wrote {out} ({len(body):,} bytes, {fmt})")
