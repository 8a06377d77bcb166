"""``vigil playbook list|show|validate|exercise``: the election scenario playbooks, and when each
is next due for an exercise (``vigil playbook list``)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from vigil.cli.common import (
    AsOrgOpt,
    DataDirOpt,
    DbUrlOpt,
    JsonOpt,
    ShareOpt,
    acting,
    open_database,
    plain,
)
from vigil.cli.console import VigilConsole
from vigil.core.errors import InputError
from vigil.core.time import isoformat_z

if TYPE_CHECKING:
    from vigil.cases.exercises import PlaybookSchedule
    from vigil.cases.playbooks import PlaybookLibrary

console = VigilConsole()
err = VigilConsole(stderr=True)

DirOpt = typer.Option([], "--dir", help="Extra playbook directory (repeatable; adds to VIGIL_PLAYBOOK_DIRS).")


def _library(dirs: list[Path]) -> PlaybookLibrary:
    from vigil.cases.playbooks import PlaybookLibrary
    from vigil.core.settings import load_settings

    return PlaybookLibrary.load([*load_settings().playbook_dirs, *dirs])


def _schedule(
    library: PlaybookLibrary, as_org: str | None, data_dir: Path | None, database_url: str | None
) -> list[PlaybookSchedule]:
    """The exercise schedule as ``as_org`` sees it, or from every exercise (local administrator)."""
    from vigil.cases.meetings import MeetingService

    if as_org is not None:
        with acting(data_dir, database_url, as_org) as (session, principal):
            return MeetingService(session, principal, playbooks=library).exercise_schedule()
    db = open_database(data_dir, database_url)
    try:
        with db.session() as session:
            return MeetingService(session, None, playbooks=library).exercise_schedule()
    finally:
        db.dispose()


def _next(s: PlaybookSchedule) -> str:
    if s.due:
        return "[red]DUE[/red]"
    return isoformat_z(s.next_due)[:10] if s.next_due else "-"


app = typer.Typer()


books = typer.Typer(help="Election scenario playbooks and tabletop exercises.", no_args_is_help=True)
app.add_typer(books, name="playbook")


@books.command("list")
def list_cmd(
    dirs: list[Path] = DirOpt,
    as_org: str | None = typer.Option(
        None, "--as-org", help="See the exercise schedule as this organisation (default: every exercise)."
    ),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Every playbook (shipped and configured), its exercise cadence, last exercise and next due date."""

    library = _library(dirs)
    schedule = {s.playbook_id: s for s in _schedule(library, as_org, data_dir, database_url)}
    if as_json:
        typer.echo(json.dumps([plain(asdict(s)) for s in schedule.values()], indent=2, ensure_ascii=False))
        return
    table = Table(title="Playbooks")
    for column in ("id", "name", "steps", "every", "before elections", "last exercised", "next due"):
        table.add_column(column)
    for loaded in library.all():
        p, s = loaded.playbook, schedule[loaded.playbook.id]
        table.add_row(
            p.id,
            escape(p.name),
            str(len(p.checklist)),
            s.every or "-",
            s.before_elections or "-",
            isoformat_z(s.last_exercised)[:10] if s.last_exercised else "never",
            _next(s) if s.every else "no schedule",
        )
    console.print(table)
    # the reasons are sentences: below the table, where no column width cuts them
    for s in (x for x in schedule.values() if x.due):
        console.print(f"[red]due[/red] {s.playbook_id}: {escape(s.reason)}")
    for loaded in library.all():
        if loaded.source != "package":
            console.print(f"{loaded.playbook.id} from {escape(loaded.source)}")


@books.command("show")
def show(playbook_id: str = typer.Argument(...), dirs: list[Path] = DirOpt) -> None:
    """One playbook, as YAML."""
    import yaml

    from vigil.cases.playbooks import playbook_dict

    typer.echo(
        yaml.safe_dump(playbook_dict(_library(dirs).get(playbook_id)), sort_keys=False, allow_unicode=True)
    )


@books.command("validate")
def validate(paths: list[Path] = typer.Argument(..., help="Playbook files or directories.")) -> None:
    """Check playbook files; each error names the file, line and field."""
    from vigil.cases.playbooks import validate_files

    failed = 0
    for name, result in validate_files(paths):
        if isinstance(result, Exception):
            failed += 1
            err.print(f"[red]invalid[/] {escape(str(result))}", highlight=False, soft_wrap=True)
        else:
            console.print(f"[green]ok[/] {escape(name)}: {result.id} ({len(result.checklist)} steps)")
    if failed:
        # An error (not typer.Exit) so `main()` ends with the InputError exit code, 2.
        raise InputError(f"{failed} invalid playbook file(s)")


@books.command("exercise")
def exercise(
    playbook_id: str = typer.Argument(...),
    as_org: str = AsOrgOpt,
    title: str | None = typer.Option(None, "--title"),
    tlp: str = typer.Option("GREEN", "--tlp"),
    share_with: list[str] = ShareOpt,
    real: bool = typer.Option(False, "--real", help="Activate for a real incident instead of an exercise."),
    dirs: list[Path] = DirOpt,
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Run a tabletop exercise: a case with the playbook's checklist (check items: `vigil case check`)."""
    from vigil.cases.exercises import run_exercise
    from vigil.cases.service import CaseService, parse_marking
    from vigil.cli.case import print_case

    book = _library(dirs).get(playbook_id)
    with acting(data_dir, database_url, as_org) as (session, principal):
        service = CaseService(session, principal)
        case = run_exercise(
            service, book, title=title, marking=parse_marking(tlp, share_with), exercise=not real
        )
        items = service.checklist(case.id)
    print_case(case, as_json, "Exercise opened" if not real else "Playbook activated")
    if not as_json:
        table = Table(title="Checklist")
        for column in ("item", "text", "owner"):
            table.add_column(column)
        for i in items:
            table.add_row(str(i.id), escape(i.text), i.owner or "-")
        console.print(table)
