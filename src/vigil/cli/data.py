"""Data commands: ``vigil generate`` (labelled synthetic data) and ``vigil ingest`` (any layout -> schema)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from vigil.cli.progress import RichProgress
from vigil.core.errors import InputError
from vigil.ingest.adapters import ADAPTERS
from vigil.ingest.pipeline import IngestSummary, ingest

console = Console()


def register(app: typer.Typer) -> None:
    """Attach this group's commands to the root app."""
    _register_ingest(app)


def _parse_mapping(items: list[str] | None) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items or []:
        field, sep, column = item.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise InputError(f"--map {item!r}: expected FIELD=COLUMN, e.g. --map post_id=id")
        mapping[field.strip()] = column.strip()
    return mapping


def print_ingest_summary(summary: IngestSummary) -> None:
    """What was read and written, as a Rich table."""
    top_languages = ", ".join(f"{code} {n:,}" for code, n in list(summary.languages.items())[:6])
    table = Table(title="Ingested", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("source rows", f"{summary.rows_read:,}"),
        ("posts", f"{summary.posts:,}"),
        ("accounts", f"{summary.accounts:,}"),
        ("platforms", ", ".join(f"{name} {count:,}" for name, count in summary.platforms.items()) or "-"),
        ("languages given", f"{summary.languages_given:,}"),
        ("languages detected", f"{summary.languages_detected:,}"),
        ("top languages", top_languages or "-"),
        ("URLs", f"{summary.urls:,}"),
        ("shortened URLs", f"{summary.shorteners:,}"),
    ]  # fmt: skip
    if summary.duplicate_posts:
        rows.append(("duplicate (platform, post_id)", f"{summary.duplicate_posts:,}"))
    rows.extend((f"skipped: {reason}", f"{count:,}") for reason, count in summary.skipped.items())
    rows.append(("seconds", f"{summary.seconds:.1f}"))
    rows.append(("posts file", str(summary.posts_path)))
    rows.append(("accounts file", str(summary.accounts_path)))
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def _register_ingest(app: typer.Typer) -> None:
    layouts = ", ".join(ADAPTERS)

    @app.command("ingest")
    def ingest_command(
        inputs: list[Path] = typer.Argument(
            ..., help="Source files (all of one layout).", show_default=False
        ),
        layout: str = typer.Option(..., "--layout", "-l", help=f"Source layout: {layouts}."),
        fmt: str = typer.Option("auto", "--format", "-f", help="auto (by extension), csv, jsonl or parquet."),
        out: Path = typer.Option(
            ..., "--out", "-o", help="Directory for posts.parquet and accounts.parquet."
        ),
        mapping: list[str] | None = typer.Option(
            None, "--map", "-m", help="FIELD=COLUMN: read a Vigil field from another column (repeatable)."
        ),
        platform: str | None = typer.Option(
            None, "--platform", help="Platform name when no column gives it."
        ),
        time_format: str = typer.Option(
            "auto",
            "--time-format",
            help="auto, iso, unix, unix_ms or a strptime pattern like %d/%m/%Y %H:%M.",
        ),
        list_separator: str | None = typer.Option(
            None, "--list-sep", help="Separator of list columns given as text (default: spaces , ; |)."
        ),
        detect_language: bool = typer.Option(
            True, "--detect-language/--no-detect-language", help="Identify languages of posts without one."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON instead of a table."),
    ) -> None:
        """Read posts in any supported layout and write Vigil's posts and accounts tables."""
        with RichProgress() as progress:
            summary = ingest(
                inputs,
                layout=layout,
                fmt=fmt,
                out_dir=out,
                mapping=_parse_mapping(mapping),
                platform=platform,
                time_format=time_format,
                list_separator=list_separator,
                detect_language=detect_language,
                progress=progress,
            )
        if as_json:
            typer.echo(json.dumps(summary.as_dict(), indent=2, ensure_ascii=False))
        else:
            print_ingest_summary(summary)
