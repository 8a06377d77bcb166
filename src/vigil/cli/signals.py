"""Signal commands: ``vigil signals types | normalize | hash | derive``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from vigil.cli.console import VigilConsole
from vigil.core.errors import InputError

console = VigilConsole()
group = typer.Typer(help="Signal types: list them, normalize and hash values, derive them from posts.")


app = typer.Typer()


app.add_typer(group, name="signals")


@group.command("types")
def types_command() -> None:
    """List the signal types with their threshold and what they derive from."""
    from vigil.signals import DerivesFromAccount, DerivesFromPost, HashesBytes, HashesText, signal_types

    table = Table(title="Signal types")
    for column in ("name", "default threshold", "derives from", "hashes", "description"):
        table.add_column(column)
    for name, signal_type in signal_types().items():
        sources = [
            w
            for w, cap in (("posts", DerivesFromPost), ("accounts", DerivesFromAccount))
            if isinstance(signal_type, cap)
        ]
        hashes = [
            w for w, cap in (("text", HashesText), ("bytes", HashesBytes)) if isinstance(signal_type, cap)
        ]
        threshold = "exact" if signal_type.default_threshold is None else f"{signal_type.default_threshold:g}"
        table.add_row(
            name, threshold, ", ".join(sources) or "-", ", ".join(hashes) or "-", signal_type.description
        )
    console.print(table)


@group.command("normalize")
def normalize_command(
    signal_type: str = typer.Argument(..., help="Signal type name, e.g. url or image_pdq."),
    values: list[str] = typer.Argument(..., help="Values to normalize."),
) -> None:
    """Print each value in its normalized form (exit 2 naming the first invalid one)."""
    from vigil.signals import get_signal_type

    resolved = get_signal_type(signal_type)
    for value in values:
        typer.echo(resolved.normalize(value))


@group.command("hash")
def hash_command(
    signal_type: str = typer.Argument(..., help="text_exact, text_minhash, image_md5 or image_pdq."),
    text: str | None = typer.Option(None, "--text", help="Text to hash (text types)."),
    file: Path | None = typer.Option(None, "--file", exists=True, dir_okay=False, help="File to hash."),
) -> None:
    """Compute a signal value from text or from a file's bytes."""
    from vigil.signals import HashesBytes, HashesText, get_signal_type

    resolved = get_signal_type(signal_type)
    if (text is None) == (file is None):
        raise InputError("give exactly one of --text or --file")
    if text is not None:
        if not isinstance(resolved, HashesText):
            raise InputError(f"{resolved.name} values are not computed from text")
        typer.echo(resolved.hash_text(text))
        return
    assert file is not None
    if isinstance(resolved, HashesBytes):
        typer.echo(resolved.hash_bytes(file.read_bytes()))
    elif isinstance(resolved, HashesText):
        typer.echo(resolved.hash_text(file.read_text(encoding="utf-8")))
    else:
        raise InputError(f"{resolved.name} values are not computed from files")


@group.command("derive")
def derive_command(
    posts: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="A posts Parquet file (vigil ingest)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the signals Parquet file."),
    types: list[str] | None = typer.Option(None, "--type", "-t", help="Only these types (repeatable)."),
) -> None:
    """Derive signals from every post: one row per (post, type, value)."""
    from vigil.cli.progress import RichProgress
    from vigil.signals.derive import derive_post_signals_file

    with RichProgress() as progress:
        rows = derive_post_signals_file(posts, out, types or None, progress=progress)
    console.print(f"{rows:,} signals written to {out}")
