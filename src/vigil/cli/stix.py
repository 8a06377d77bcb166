"""``vigil stix export`` and ``vigil stix import``: STIX 2.1 bundles in and out of the local exchange
database, acting for one member organisation (what it may see; as its contributions)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from vigil.cli.common import open_store
from vigil.cli.console import VigilConsole
from vigil.core.errors import InputError
from vigil.core.files import write_atomic

if TYPE_CHECKING:
    pass

console = VigilConsole()
err = VigilConsole(stderr=True)


app = typer.Typer()


stix_app = typer.Typer(help="STIX 2.1 bundles: export what an organisation sees, import as it.")


@stix_app.command("export")
def export_cmd(
    as_org: str = typer.Option(..., "--as-org", help="Organisation (id or name) whose view to export."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Bundle file (default: standard output)."),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Data directory (default: VIGIL_DATA_DIR)."
    ),
    database_url: str | None = typer.Option(None, "--database-url", help="SQLAlchemy URL of the exchange."),
) -> None:
    """Write a STIX 2.1 bundle of everything ORG may see (TLP enforced as for its API keys)."""
    from vigil.exchange.stix_service import export_for, local_principal

    with open_store(data_dir, database_url) as store:
        bundle = export_for(store, local_principal(store, as_org))
    text = json.dumps(bundle, ensure_ascii=False, indent=2)
    if out is None:
        typer.echo(text)
        return
    write_atomic(out, text + "\n")
    counts: dict[str, int] = {}
    for obj in bundle["objects"]:
        counts[obj["type"]] = counts.get(obj["type"], 0) + 1
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    err.print(f"wrote {len(bundle['objects'])} objects to {out} ({summary})", markup=False, highlight=False)


@stix_app.command("import")
def import_cmd(
    file: Path = typer.Argument(..., help="STIX 2.1 bundle (JSON)."),
    as_org: str = typer.Option(
        ..., "--as-org", help="Organisation (id or name) the content is submitted as."
    ),
    tlp: str = typer.Option("GREEN", "--tlp", help="Marking for objects that carry no TLP marking."),
    allow_unsupported: bool = typer.Option(
        False, "--allow-unsupported", help="Import what Vigil can represent and list the rest."
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Data directory (default: VIGIL_DATA_DIR)."
    ),
    database_url: str | None = typer.Option(None, "--database-url", help="SQLAlchemy URL of the exchange."),
) -> None:
    """Validate FILE and submit its signals, campaigns, opinions and sightings as ORG (all or nothing)."""
    from vigil.exchange.stix_service import import_bundle, local_principal
    from vigil.exchange.store import parse_tlp

    try:
        text = file.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {file}: {exc.strerror}", file=str(file)) from exc
    default_tlp = parse_tlp(tlp)
    with open_store(data_dir, database_url) as store:
        report = import_bundle(
            store,
            local_principal(store, as_org),
            text,
            source=str(file),
            default_tlp=default_tlp,
            allow_unsupported=allow_unsupported,
        )
    table = Table(title=f"Imported {file.name}", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, count in [
        ("signal contributions", report.signals),
        ("campaigns", report.campaigns),
        ("opinions", report.opinions),
        ("sightings", report.sightings),
        ("supporting objects (not stored)", report.supporting),
        ("skipped (unsupported)", len(report.skipped)),
    ]:
        table.add_row(label, f"{count:,}")
    console.print(table)
    for problem in report.skipped[:20]:
        err.print(f"skipped {problem}", markup=False, highlight=False, soft_wrap=True)
    if len(report.skipped) > 20:
        err.print(f"... and {len(report.skipped) - 20} more skipped", highlight=False)
    for warning in report.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)


app.add_typer(stix_app, name="stix")
