"""The ``vigil`` command: a Typer app assembled from one module per command group.

Each module in ``COMMAND_MODULES`` defines ``register(app)``; errors from the whole of Vigil are
translated here, once, into a readable message on stderr and the error's exit code.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console
from rich.markup import escape

from vigil import __version__
from vigil.core.errors import VigilError

# Add a command group by writing cli/<name>.py with a ``register(app)`` function and listing it here.
COMMAND_MODULES = [
    "vigil.cli.brief",
    "vigil.cli.case",
    "vigil.cli.data",
    "vigil.cli.demo",
    "vigil.cli.detect",
    "vigil.cli.exchange",
    "vigil.cli.federation",
    "vigil.cli.interop",
    "vigil.cli.match",
    "vigil.cli.meeting",
    "vigil.cli.playbook",
    "vigil.cli.push",
    "vigil.cli.serve",
    "vigil.cli.signals",
    "vigil.cli.stix",
    "vigil.cli.warninglist",
]

app = typer.Typer(
    name="vigil",
    help="Vigil: detect coordinated influence operations, share signals with partners, respond together.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vigil {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """Vigil: detect coordinated influence operations, share signals with partners, respond together."""


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    """Entry point of the ``vigil`` script: run the app, turning VigilError into an exit code."""
    try:
        # Outside standalone mode click returns (not raises) the code of ``typer.Exit(n)``.
        result = app(standalone_mode=False)
    except VigilError as exc:
        # escape: messages quote user data such as STIX patterns, whose [brackets] are not markup
        err_console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except typer.TyperException as exc:
        # Usage errors (unknown command, bad option). Typer vendors click, so these are not
        # click.ClickException; they still carry show() and an exit code.
        show = getattr(exc, "show", None)
        if show is None:
            raise
        show()
        sys.exit(int(getattr(exc, "exit_code", 2)))
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
