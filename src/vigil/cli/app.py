"""The ``vigil`` command: a Typer app assembled from one module per command group.

Each module of ``vigil.cli`` defines ``app``, a Typer holding its commands and sub-apps at module
level; the root merges them. Every such module imports at module level only what ``vigil --help``
needs (Typer, Rich, the standard library), and each command imports its implementation when it
runs, so ``vigil --help`` and ``vigil CMD --help`` never import SQLAlchemy, DuckDB or SciPy
(tests/cli/test_startup.py checks; bench/startup.py measures). Errors from the whole of Vigil are
translated here, once, into a readable message on stderr and the error's exit code.
"""

from __future__ import annotations

import copy
import sys

import typer
from rich.console import Console
from rich.markup import escape
from typer._click.core import Context
from typer.core import TyperGroup, TyperOption
from typer.main import get_command_name
from typer.models import CommandInfo, TyperInfo

from vigil import __version__
from vigil.cli import (
    brief,
    case,
    data,
    demo,
    detect,
    exchange,
    federation,
    interop,
    match,
    meeting,
    playbook,
    policy,
    push,
    quarantine,
    serve,
    signals,
    stix,
    warninglist,
)
from vigil.core.errors import VigilError

# Add a command group by writing cli/<name>.py with a module-level ``app`` and listing it here.
COMMAND_MODULES = (
    brief, case, data, demo, detect, exchange, federation, interop, match, meeting, playbook, policy,
    push, quarantine, serve, signals, stix, warninglist,
)  # fmt: skip

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


for _module in COMMAND_MODULES:
    app.add_typer(_module.app)


def _entries(typer_app: typer.Typer) -> tuple[dict[str, CommandInfo], dict[str, TyperInfo]]:
    """The top-level commands and named groups of ``typer_app`` (merged, nameless sub-apps flattened)."""
    commands: dict[str, CommandInfo] = {}
    groups: dict[str, TyperInfo] = {}
    for info in typer_app.registered_commands:
        if info.callback is not None:
            commands[info.name or get_command_name(info.callback.__name__)] = info
    for group in typer_app.registered_groups:
        name = group.name or (group.typer_instance.info.name if group.typer_instance else None)
        if isinstance(name, str):
            groups[name] = group
        elif group.typer_instance is not None:
            more_commands, more_groups = _entries(group.typer_instance)
            commands |= more_commands
            groups |= more_groups
    return commands, groups


class _Group(TyperGroup):
    """Typer's group whose --help flag defaults to False instead of None.

    Typer coerces an option's value through a pydantic TypeAdapter unless it is already a bool; its
    help flag defaults to None, so merely passing through a group (``vigil case create --help``)
    imported pydantic (~0.1 s) before the help could be shown.
    """

    def get_help_option(self, ctx: Context) -> TyperOption | None:
        option = super().get_help_option(ctx)
        if option is not None and option.default is None:
            option.default = False
        return option


def _fast_help(group: TyperInfo) -> TyperInfo:
    quick = copy.copy(group)
    quick.cls = _Group
    return quick


def _stub(group: TyperInfo) -> TyperInfo:
    """``group`` without its commands: enough for the root's help, which lists only its name and help."""
    assert group.typer_instance is not None
    empty = copy.copy(group.typer_instance)
    empty.registered_commands = []
    empty.registered_groups = []
    stub = copy.copy(group)
    stub.typer_instance = empty
    return stub


def for_command_line(typer_app: typer.Typer, argv: list[str]) -> typer.Typer:
    """``typer_app`` reduced to what ``argv`` can reach.

    Typer turns every command of an app into a Click command (reading each function's signature)
    before parsing the command line: for Vigil's ~170 commands that is a fifth of ``vigil --help``'s
    time. The command line names at most one top-level command, so only that one is kept; with no
    command (``vigil --help``) the groups are kept without their commands, as the root's help lists
    only their names and help. An unknown command gets the whole app, so Click's error and its
    suggestions are the usual ones. An app without a callback is left whole: Typer would run a
    lone command left in it as the app itself.
    """
    if typer_app.registered_callback is None:
        return typer_app
    commands, groups = _entries(typer_app)
    name = _command_of(argv)
    pruned = copy.copy(typer_app)
    pruned.info = _fast_help(typer_app.info)
    if name is None:
        pruned.registered_commands = list(commands.values())
        pruned.registered_groups = [_stub(g) for g in groups.values()]
    elif name in commands:
        pruned.registered_commands, pruned.registered_groups = [commands[name]], []
    elif name in groups:
        pruned.registered_commands, pruned.registered_groups = [], [_fast_help(groups[name])]
    else:
        return typer_app
    return pruned


def _command_of(argv: list[str]) -> str | None:
    """The top-level command of a command line (the root takes only flags: --help, --version)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main() -> None:
    """Entry point of the ``vigil`` script: run the app, turning VigilError into an exit code."""
    try:
        # Outside standalone mode click returns (not raises) the code of ``typer.Exit(n)``.
        result = for_command_line(app, sys.argv[1:])(standalone_mode=False)
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
