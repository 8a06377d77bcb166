"""Data commands: ``vigil generate`` (labelled synthetic data) and ``vigil ingest`` (any layout -> schema)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from vigil.cli.console import VigilConsole
from vigil.core.errors import InputError
from vigil.core.time import parse_instant

if TYPE_CHECKING:
    from vigil.ingest.pipeline import IngestSummary
    from vigil.synth import GenerationSummary

console = VigilConsole()
app = typer.Typer()

# The --help texts name the layouts, platforms and styles; importing the adapters or the generator
# to list them would cost start-up (pyarrow, tldextract, numpy), so they are named here and
# tests/cli/test_startup.py checks that they match the real registries.
LAYOUTS = ("twitter-io", "generic", "vigil", "german-elections")
PLATFORMS = ("twitter", "facebook", "telegram")
STYLE_NAMES = (
    "link_burst",
    "reshare_ring",
    "copy_paste",
    "translated",
    "image_reuse",
    "hashtag_push",
    "slow_covert",
    "cross_platform",
)


def _parse_mapping(items: list[str] | None) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items or []:
        field, sep, column = item.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise InputError(f"--map {item!r}: expected FIELD=COLUMN, e.g. --map post_id=id")
        mapping[field.strip()] = column.strip()
    return mapping


def print_ingest_summary(summary: IngestSummary, *, keep_duplicates: bool = False) -> None:
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
        label = "duplicate posts kept" if keep_duplicates else "duplicate posts dropped"
        rows.append((label, f"{summary.duplicate_posts:,}"))
    rows.extend((f"skipped: {reason}", f"{count:,}") for reason, count in summary.skipped.items())
    for column, values in summary.unmapped.items():
        shown = ", ".join(f"{value!r} {n:,}" for value, n in list(values.items())[:5])
        more = f" (+{len(values) - 5} more values)" if len(values) > 5 else ""
        rows.append((f"unmapped: {column}", f"{sum(values.values()):,}: {shown}{more}"))
    rows.append(("seconds", f"{summary.seconds:.1f}"))
    rows.append(("posts file", str(summary.posts_path)))
    rows.append(("accounts file", str(summary.accounts_path)))
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


@app.command("ingest")
def ingest_command(
    inputs: list[Path] = typer.Argument(..., help="Source files (all of one layout).", show_default=False),
    layout: str = typer.Option(..., "--layout", "-l", help=f"Source layout: {', '.join(LAYOUTS)}."),
    fmt: str = typer.Option("auto", "--format", "-f", help="auto (by extension), csv, jsonl or parquet."),
    out: Path = typer.Option(..., "--out", "-o", help="Directory for posts.parquet and accounts.parquet."),
    mapping: list[str] | None = typer.Option(
        None, "--map", "-m", help="FIELD=COLUMN: read a Vigil field from another column (repeatable)."
    ),
    platform: str | None = typer.Option(None, "--platform", help="Platform name when no column gives it."),
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
    keep_duplicates: bool = typer.Option(
        False, "--keep-duplicates", help="Keep posts whose (platform, post_id) was already read."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON instead of a table."),
) -> None:
    """Read posts in any supported layout and write Vigil's posts and accounts tables."""
    from vigil.cli.progress import RichProgress
    from vigil.ingest.pipeline import ingest

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
            keep_duplicates=keep_duplicates,
            progress=progress,
        )
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), indent=2, ensure_ascii=False))
    else:
        print_ingest_summary(summary, keep_duplicates=keep_duplicates)


# --- vigil generate -----------------------------------------------------------------------------


def _csv_option(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(x.strip() for x in value.split(",") if x.strip())


def print_generate_summary(summary: GenerationSummary) -> None:
    """What ``vigil generate`` wrote: totals, then one row per planted campaign."""
    table = Table(title=f"Generated {summary.out_dir}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    by_platform = ", ".join(f"{name} {n:,}" for name, n in summary.posts_by_platform.items())
    rows = [
        ("posts", f"{summary.posts:,}"),
        ("posts by platform", by_platform),
        ("accounts", f"{summary.accounts:,}"),
        ("campaign accounts", f"{summary.campaign_accounts:,}"),
        ("campaign posts", f"{summary.campaign_posts:,}"),
        ("campaigns", f"{len(summary.campaigns):,}"),
        ("chunks", f"{summary.chunks:,}"),
        ("seconds", f"{summary.seconds:.1f}"),
        ("posts/s", f"{summary.posts / max(summary.seconds, 1e-9):,.0f}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    camp = Table(title="Planted campaigns")
    for col in ("id", "style", "platforms", "accounts", "posts", "active (UTC)"):
        camp.add_column(col, justify="right" if col in ("accounts", "posts") else "left", no_wrap=True)
    for c in summary.campaigns:
        span = f"{str(c['first_post'])[5:16]} → {str(c['last_post'])[5:16]}".replace("T", " ")
        camp.add_row(
            str(c["id"]).removeprefix("campaign-"),
            str(c["style"]),
            ",".join(c["platforms"]),  # type: ignore[arg-type]
            str(c["accounts"]),
            str(c["posts"]),
            span,
        )
    console.print(camp)


@app.command("generate")
def generate_command(
    posts: int = typer.Option(100_000, "--posts", "-n", help="Exact number of posts to write."),
    seed: int = typer.Option(0, "--seed", "-s", help="Random seed: same seed and options, same bytes."),
    out: Path = typer.Option(..., "--out", "-o", help="Directory for the four output files."),
    platforms: str | None = typer.Option(
        None, "--platforms", help=f"Comma-separated platforms (default {','.join(PLATFORMS)})."
    ),
    styles: str | None = typer.Option(
        None, "--styles", help=f"Comma-separated campaign styles (default all: {','.join(STYLE_NAMES)})."
    ),
    campaigns: int | None = typer.Option(
        None, "--campaigns", "-k", help="Number of planted campaigns (default grows with --posts)."
    ),
    difficulty: str = typer.Option("normal", "--difficulty", "-d", help="easy, normal or hard."),
    start: str = typer.Option("2024-10-01", "--start", help="First day (UTC), ISO 8601."),
    days: int = typer.Option(14, "--days", help="Length of the period in days."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON instead of tables."),
) -> None:
    """Write a labelled synthetic election data set: organic posts plus planted campaigns."""
    from vigil.cli.progress import RichProgress
    from vigil.synth import GeneratorConfig, generate

    config = GeneratorConfig(
        posts=posts,
        seed=seed,
        platforms=_csv_option(platforms) or PLATFORMS,
        styles=_csv_option(styles) or STYLE_NAMES,
        campaigns=campaigns,
        difficulty=difficulty,
        start=parse_instant(start),
        days=days,
    )
    with RichProgress() as progress:
        summary = generate(config, out, progress=progress)
    if as_json:
        document = {
            "out_dir": str(summary.out_dir),
            "posts": summary.posts,
            "posts_by_platform": summary.posts_by_platform,
            "accounts": summary.accounts,
            "campaign_accounts": summary.campaign_accounts,
            "campaign_posts": summary.campaign_posts,
            "campaigns": [{k: c[k] for k in ("id", "style", "accounts", "posts")} for c in summary.campaigns],
            "seconds": round(summary.seconds, 2),
        }
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print_generate_summary(summary)
