"""``vigil disarm list|show`` (the DISARM catalogue) and ``vigil misp export|import`` (MISP feeds and
events in and out of the local exchange database, acting for one member organisation)."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from vigil.cli.common import open_store
from vigil.cli.console import VigilConsole
from vigil.core.errors import InputError

if TYPE_CHECKING:
    from vigil.exchange import misp

console = VigilConsole()
err = VigilConsole(stderr=True)


def _write_feed(feed: misp.MispFeed, out: Path) -> None:
    """Write the feed into a new directory and move it into place: all files or none."""
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} exists and is not empty; give a new directory for the feed", file=str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkdtemp: its 0700 would stay on the feed; os.mkdir applies the user's umask.
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex}"
    os.mkdir(tmp, 0o777)
    try:
        for name, text in feed.files():
            (tmp / name).write_text(text, "utf-8")
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


app = typer.Typer()


disarm_app = typer.Typer(help="The DISARM framework catalogue of influence-operation techniques.")


@disarm_app.command("list")
def list_cmd(
    query: str = typer.Argument("", help="Words to find in a technique's id, name or description."),
    tactic: str | None = typer.Option(None, "--tactic", help="Tactic id (TA06) or name (develop-content)."),
    limit: int = typer.Option(50, "--limit", min=1, help="Show at most this many."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List DISARM techniques, optionally matching QUERY and/or in one tactic."""
    from vigil.exchange import disarm

    cat = disarm.catalogue()
    found = cat.search(query, tactic=tactic)
    if as_json:
        rows = [{"id": t.id, "name": t.name, "tactics": list(t.tactics)} for t in found[:limit]]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"DISARM techniques ({len(found)} of {len(cat)})", caption=disarm.ATTRIBUTION)
    table.add_column("id")
    table.add_column("name")
    table.add_column("tactic")
    for t in found[:limit]:
        table.add_row(t.id, t.name, ", ".join(f"{x.id} {x.name}" for x in cat.tactic_of(t)))
    console.print(table)
    if len(found) > limit:
        err.print(f"... {len(found) - limit} more (use --limit)", highlight=False)


@disarm_app.command("show")
def show_cmd(technique: str = typer.Argument(..., help="Technique id, e.g. T0049 or T0049.001.")) -> None:
    """Show one DISARM technique: name, tactic, description, sub-techniques."""
    from vigil.exchange import disarm

    cat = disarm.catalogue()
    t = cat.get(technique)
    console.print(f"[bold]{t.id}[/bold] {t.name}", highlight=False)
    for x in cat.tactic_of(t):
        console.print(f"tactic: {x.id} {x.name}", highlight=False)
    if t.parent:
        console.print(f"refines: {cat.label(t.parent)}", highlight=False)
    children = cat.children(t.id)
    if children:
        console.print("sub-techniques: " + "; ".join(f"{c.id} {c.name}" for c in children), highlight=False)
    if t.url:
        console.print(t.url, highlight=False)
    console.print()
    console.print(t.description, highlight=False, markup=False)
    err.print(disarm.ATTRIBUTION, highlight=False)


misp_app = typer.Typer(help="MISP feeds and events: export what an organisation sees, import as it.")


@misp_app.command("export")
def export_cmd(
    out: Path = typer.Argument(
        ..., help="New directory for the feed (manifest.json, <uuid>.json, hashes.csv)."
    ),
    as_org: str = typer.Option(..., "--as-org", help="Organisation (id or name) whose view to export."),
    campaign: str | None = typer.Option(None, "--campaign", help="Only this campaign (id)."),
    tlp: list[str] = typer.Option([], "--tlp", help="Only contributions with this marking (repeatable)."),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Data directory (default: VIGIL_DATA_DIR)."
    ),
    database_url: str | None = typer.Option(None, "--database-url", help="SQLAlchemy URL of the exchange."),
) -> None:
    """Write a MISP feed of everything ORG may see: one event per campaign plus one for the rest."""
    from vigil.exchange import misp
    from vigil.exchange.stix_service import local_principal
    from vigil.exchange.store import parse_tlp

    levels = [parse_tlp(t) for t in tlp]
    with open_store(data_dir, database_url) as store:
        feed = misp.export_feed(store, local_principal(store, as_org), campaign_id=campaign, tlps=levels)
    _write_feed(feed, out)
    attributes = sum(len(e["Event"]["Attribute"]) for e in feed.events.values())
    err.print(f"wrote {len(feed.events)} events ({attributes} attributes) to {out}", highlight=False)


@misp_app.command("import")
def import_cmd(
    files: list[Path] = typer.Argument(..., help="MISP event JSON files ({'Event': {...}})."),
    as_org: str = typer.Option(
        ..., "--as-org", help="Organisation (id or name) the signals are submitted as."
    ),
    tlp: str = typer.Option("GREEN", "--tlp", help="Marking for events and attributes without a tlp tag."),
    allow_unsupported: bool = typer.Option(
        False, "--allow-unsupported", help="Import what Vigil can represent and list the rest."
    ),
    no_campaign: bool = typer.Option(False, "--no-campaign", help="Do not make each event a campaign."),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Data directory (default: VIGIL_DATA_DIR)."
    ),
    database_url: str | None = typer.Option(None, "--database-url", help="SQLAlchemy URL of the exchange."),
) -> None:
    """Submit each MISP event's attributes as ORG's signals (all files or nothing)."""
    from vigil.exchange import misp
    from vigil.exchange.stix_service import local_principal
    from vigil.exchange.store import parse_tlp

    default_tlp = parse_tlp(tlp)
    events = []
    for file in files:
        try:
            events.append((file, misp.load_event(file.read_bytes(), str(file))))
        except OSError as exc:
            raise InputError(f"cannot read {file}: {exc.strerror}", file=str(file)) from exc
    reports = []
    with open_store(data_dir, database_url) as store:
        principal = local_principal(store, as_org)
        for file, data in events:
            try:
                report = misp.import_event(
                    store,
                    principal,
                    data,
                    default_tlp=default_tlp,
                    allow_unsupported=allow_unsupported,
                    as_campaign=not no_campaign,
                )
            except InputError as exc:
                raise InputError(f"{file}: {exc.message}", file=str(file)) from exc
            reports.append((file, report))
    table = Table(title="Imported MISP events")
    for column in ("file", "event", "signals", "campaign", "techniques", "skipped"):
        table.add_column(column)
    for file, r in reports:
        table.add_row(
            file.name,
            r.event_uuid,
            str(r.signals),
            r.campaign_id or "-",
            " ".join(r.techniques) or "-",
            str(len(r.skipped)),
        )
    console.print(table)
    for _, r in reports:
        for line in [*(f"skipped {s}" for s in r.skipped), *(f"warning: {w}" for w in r.warnings)]:
            err.print(line, markup=False, highlight=False, soft_wrap=True)


app.add_typer(disarm_app, name="disarm")
app.add_typer(misp_app, name="misp")
