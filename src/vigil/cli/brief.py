"""``vigil brief``: the periodic trend briefing for one organisation, as HTML, PDF or Markdown."""

from __future__ import annotations

from pathlib import Path

import typer

from vigil.cli.common import AsOrgOpt, DataDirOpt, DbUrlOpt, acting
from vigil.cli.console import VigilConsole
from vigil.core.errors import InputError
from vigil.core.files import write_atomic
from vigil.core.time import isoformat_z, parse_duration

console = VigilConsole()


app = typer.Typer()


@app.command("brief")
def brief(
    since: str = typer.Option("7d", "--since", help="Period back from now, e.g. 7d or 24h."),
    as_org: str = AsOrgOpt,
    fmt: str = typer.Option("html", "--format", help="html, pdf or md."),
    out: Path = typer.Option(..., "--out", help="Output file."),
    record: bool = typer.Option(
        True, "--record/--preview", help="Store the briefing so the next one reports what changed since."
    ),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Write the trend briefing for an organisation (only what it may see under TLP)."""
    from vigil.cases.briefing import BriefingService
    from vigil.cases.render import FORMATS, render_briefing

    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}", field="format")
    period = parse_duration(since)
    with acting(data_dir, database_url, as_org) as (session, principal):
        service = BriefingService(session, principal)
        built = service.issue(period) if record else service.build(period)
        body = render_briefing(built, fmt)
    write_atomic(out, body)
    console.print(
        f"wrote {out} ({len(body):,} bytes): {len(built.new_cases)} new and "
        f"{len(built.active_cases)} active cases, {built.signals_total} signals "
        f"since {isoformat_z(built.since)}" + (f"; recorded as {built.id}" if built.id else "")
    )
