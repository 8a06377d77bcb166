"""``vigil playbook list|show|validate|exercise``: the election scenario playbooks."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vigil.cases.exercises import run_exercise
from vigil.cases.playbooks import PlaybookLibrary, playbook_dict, validate_files
from vigil.cases.service import CaseService, parse_marking
from vigil.cli.case import AsOrgOpt, DataDirOpt, DbUrlOpt, JsonOpt, ShareOpt, acting, print_case
from vigil.core.errors import InputError
from vigil.core.settings import load_settings

console = Console()
err = Console(stderr=True)

DirOpt = typer.Option([], "--dir", help="Extra playbook directory (repeatable; adds to VIGIL_PLAYBOOK_DIRS).")


def _library(dirs: list[Path]) -> PlaybookLibrary:
    return PlaybookLibrary.load([*load_settings().playbook_dirs, *dirs])


def register(app: typer.Typer) -> None:
    books = typer.Typer(help="Election scenario playbooks and tabletop exercises.", no_args_is_help=True)
    app.add_typer(books, name="playbook")

    @books.command("list")
    def list_cmd(dirs: list[Path] = DirOpt) -> None:
        """Every playbook: shipped ones and those of the configured directories."""
        table = Table(title="Playbooks")
        for column in ("id", "name", "techniques", "steps", "source"):
            table.add_column(column)
        for loaded in _library(dirs).all():
            p = loaded.playbook
            table.add_row(p.id, escape(p.name), ", ".join(p.techniques), str(len(p.checklist)), loaded.source)
        console.print(table)

    @books.command("show")
    def show(playbook_id: str = typer.Argument(...), dirs: list[Path] = DirOpt) -> None:
        """One playbook, as YAML."""
        typer.echo(
            yaml.safe_dump(
                playbook_dict(_library(dirs).get(playbook_id)), sort_keys=False, allow_unicode=True
            )
        )

    @books.command("validate")
    def validate(paths: list[Path] = typer.Argument(..., help="Playbook files or directories.")) -> None:
        """Check playbook files; each error names the file, line and field."""
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
        real: bool = typer.Option(
            False, "--real", help="Activate for a real incident instead of an exercise."
        ),
        dirs: list[Path] = DirOpt,
        data_dir: Path | None = DataDirOpt,
        database_url: str | None = DbUrlOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """Run a tabletop exercise: a case with the playbook's checklist (check items: `vigil case check`)."""
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
