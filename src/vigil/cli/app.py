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
    "vigil.cli.policy",
    "vigil.cli.push",
    "vigil.cli.serve",
    "vigil.cli.signals",
    "vigil.cli.stix",
    "vigil.cli.warninglist",
]

# The root app. Command groups are registered lazily (build_app): the command line names one group,
# and importing only its module keeps `vigil detect` from importing SQLAlchemy, FastAPI, etc.
# (start-up went from about 1.4 s to a fraction of that). ``app`` (module attribute) is the full app.
_app = typer.Typer(
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


@_app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """Vigil: detect coordinated influence operations, share signals with partners, respond together."""


_registered: set[str] = set()


def _register(modules: list[str]) -> None:
    for name in modules:
        if name not in _registered:
            importlib.import_module(name).register(_app)
            _registered.add(name)


def _top_level_names() -> set[str]:
    names = {c.name for c in _app.registered_commands} | {g.name for g in _app.registered_groups}
    return {n for n in names if n}


def build_app(command: str | None = None) -> typer.Typer:
    """The app, with at least the module providing top-level ``command`` registered.

    A command ``x`` is looked for in ``vigil.cli.x`` first; when that module does not provide it
    (or for ``--help``, no command, an unknown command) every module is registered, so nothing is
    ever missing, only sometimes not imported.
    """
    if command is not None:
        module = f"vigil.cli.{command}"
        if module in COMMAND_MODULES:
            _register([module])
        if command in _top_level_names():
            return _app
    _register(COMMAND_MODULES)
    return _app


def __getattr__(name: str) -> typer.Typer:
    # ``from vigil.cli.app import app`` (tests, embedding) gets the app with every command.
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _command_of(argv: list[str]) -> str | None:
    """The top-level command of a command line (the root takes only flags: --help, --version)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main() -> None:
    """Entry point of the ``vigil`` script: run the app, turning VigilError into an exit code."""
    try:
        # Outside standalone mode click returns (not raises) the code of ``typer.Exit(n)``.
        # An ``app`` assigned to this module (a test's own app) wins over the lazily built one.
        assigned = globals().get("app")
        target = assigned if isinstance(assigned, typer.Typer) else build_app(_command_of(sys.argv[1:]))
        result = target(standalone_mode=False)
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
