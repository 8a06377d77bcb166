"""``vigil federation``: peers this instance pulls from over TAXII 2.1, and the pull itself
(``pull`` once, or ``run --interval 5m`` forever). Logic in ``vigil.exchange.federation``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from vigil.cli.common import DataDirOpt, DbUrlOpt, JsonOpt, open_database, open_store, print_rows
from vigil.cli.console import VigilConsole
from vigil.core.errors import VigilError
from vigil.core.time import parse_duration

if TYPE_CHECKING:
    from vigil.core.settings import Settings
    from vigil.exchange import federation

console = VigilConsole()
err = VigilConsole(stderr=True)


def _show(report: federation.PullReport, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    console.print(
        f"[bold]{report.peer}[/]: {report.objects_received} object(s) received "
        f"({', '.join(f'{n} {t}' for t, n in sorted(report.by_type.items())) or 'nothing new'}); "
        f"new {report.new}, updated {report.updated}, revoked {report.revoked}, "
        f"unchanged {report.unchanged}, "
        f"expired {report.expired}, withheld above max TLP {report.withheld}, "
        f"opinions/sightings skipped {report.feedback_skipped}"
    )
    for line in report.blocked:
        err.print(f"  blocked by a warning list: {line}")
    for line in report.rejected:
        err.print(f"  rejected: {line}")


def _settings(data_dir: Path | None, database_url: str | None) -> Settings:
    """The settings of this command (their key opens and seals peers' API keys)."""
    from vigil.core.settings import load_settings

    overrides = {k: v for k, v in (("data_dir", data_dir), ("database_url", database_url)) if v is not None}
    return load_settings(**overrides)


app = typer.Typer()


fed = typer.Typer(help="Pull signals from other Vigil instances (TAXII 2.1).", no_args_is_help=True)
app.add_typer(fed, name="federation")


@fed.command("add-peer")
def add_peer(
    name: str = typer.Argument(..., help="A name for the peer."),
    url: str = typer.Option(..., "--url", help="The peer's base URL (or its /taxii2/ URL)."),
    key: str = typer.Option(..., "--key", help="API key on the peer (stored sealed in the database)."),
    as_org: str = typer.Option(..., "--as-org", help="Local organisation its signals are contributed as."),
    collection: list[str] = typer.Option(
        [], "--collection", help="Collection id or alias (repeat); default all."
    ),
    max_tlp: str = typer.Option("GREEN", "--max-tlp", help="Most restricted TLP re-shared here."),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Register a peer."""
    from vigil.exchange import federation

    with open_store(data_dir, database_url) as store:
        peer = federation.add_peer(
            store,
            None,
            name,
            url,
            key,
            as_org=as_org,
            collections=collection,
            max_tlp=max_tlp,
            settings=_settings(data_dir, database_url),
        )
    console.print(f"peer [bold]{peer.name}[/] ({peer.id}) added: {peer.url} as {peer.as_org_id}")


@fed.command("list")
def list_peers(
    data_dir: Path | None = DataDirOpt, database_url: str | None = DbUrlOpt, as_json: bool = JsonOpt
) -> None:
    """Peers, when they were last pulled and the last error."""
    from vigil.exchange import federation

    with open_store(data_dir, database_url) as store:
        rows = [p.to_dict() for p in federation.list_peers(store.session, None)]
    print_rows(
        rows,
        ["name", "url", "as_org_id", "max_tlp", "enabled", "last_pull_at", "last_error"],
        "Peers",
        as_json,
    )


@fed.command("remove-peer")
def remove_peer(
    name: str = typer.Argument(...),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Stop pulling from a peer (what it sent stays)."""
    from vigil.exchange import federation

    with open_store(data_dir, database_url) as store:
        federation.remove_peer(store, None, name)
    console.print(f"peer {name} disabled")


@fed.command("pull")
def pull(
    peer: str | None = typer.Argument(None, help="Peer name (default: every enabled peer)."),
    once: bool = typer.Option(True, "--once/--no-once", help="Pull once and exit (the default)."),
    full: bool = typer.Option(False, "--full", help="Ignore checkpoints and re-apply everything."),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Pull what changed since the last checkpoint; prints counts per peer."""
    from vigil.exchange import federation

    del once  # kept for the documented `--once`; `run` is the loop
    settings = _settings(data_dir, database_url)
    db = open_database(data_dir, database_url)
    try:
        if peer is not None:
            _show(federation.pull(db, peer, full=full, settings=settings), as_json)
            return
        failed = False
        for result in federation.pull_all(db, settings=settings):
            if isinstance(result, VigilError):
                err.print(f"[red]pull failed:[/] {result.message}")
                failed = True
            else:
                _show(result, as_json)
        if failed:
            raise typer.Exit(6)
    finally:
        db.dispose()


@fed.command("run")
def run(
    interval: str = typer.Option("5m", "--interval", help="Time between pulls, e.g. 60s, 5m."),
    rounds: int = typer.Option(0, "--rounds", min=0, help="Stop after this many rounds (0: never)."),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Pull every enabled peer, then wait, forever: a failing peer is reported and retried."""
    from vigil.exchange import federation

    seconds = parse_duration(interval).total_seconds()
    settings = _settings(data_dir, database_url)
    db = open_database(data_dir, database_url)
    done = 0
    try:
        while True:
            for result in federation.pull_all(db, settings=settings):
                if isinstance(result, VigilError):
                    err.print(f"[red]pull failed:[/] {result.message}")
                else:
                    _show(result, False)
            done += 1
            if rounds and done >= rounds:
                return
            time.sleep(seconds)
    finally:
        db.dispose()
