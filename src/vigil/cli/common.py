"""What the command groups share: their common options, opening the local database, printing rows.

Defined once here and imported by every ``vigil.cli`` module. Like every module of the CLI this one
imports only what ``vigil --help`` needs at module level (Typer, the standard library): the
database, the settings and the stores are imported inside the functions that use them, so printing
help never pays for SQLAlchemy or pydantic-settings.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from vigil.cli.console import VigilConsole

if TYPE_CHECKING:
    from vigil.core.settings import Settings
    from vigil.db import Database
    from vigil.exchange.access import Principal
    from vigil.exchange.store import ExchangeStore

console = VigilConsole()
err_console = VigilConsole(stderr=True)

DataDirOpt = typer.Option(None, "--data-dir", help="Data directory (default: VIGIL_DATA_DIR).")
DbUrlOpt = typer.Option(None, "--database-url", help="SQLAlchemy URL (default: SQLite under the data dir).")
AsOrgOpt = typer.Option(..., "--as-org", help="Act and see as this organisation (id or name).")
JsonOpt = typer.Option(False, "--json", help="Print JSON instead of a table.")
TlpOpt = typer.Option("AMBER", "--tlp", help="CLEAR, GREEN, AMBER, AMBER+STRICT or RED.")
ShareOpt = typer.Option(
    [], "--share-with", help="Organisation id an AMBER/RED item also reaches (repeatable)."
)


def settings_for(data_dir: Path | None, database_url: str | None) -> Settings:
    """The settings, with ``--data-dir`` and ``--database-url`` overriding the environment."""
    from vigil.core.settings import load_settings

    overrides: dict[str, Any] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if database_url is not None:
        overrides["database_url"] = database_url
    return load_settings(**overrides)


def open_database(data_dir: Path | None, database_url: str | None, *, auto_upgrade: bool = True) -> Database:
    """The exchange database named by the options (created or migrated unless ``auto_upgrade=False``)."""
    from vigil.db import Database

    return Database(settings_for(data_dir, database_url).effective_database_url, auto_upgrade=auto_upgrade)


@contextmanager
def open_store(data_dir: Path | None, database_url: str | None) -> Iterator[ExchangeStore]:
    """The exchange store in one transaction: a command that fails part-way stores nothing."""
    from vigil.exchange.store import ExchangeStore

    db = open_database(data_dir, database_url)
    try:
        with db.session() as session:
            yield ExchangeStore(session)
    finally:
        db.dispose()


@contextmanager
def acting(data_dir: Path | None, database_url: str | None, org: str) -> Iterator[tuple[Any, Principal]]:
    """A session (one transaction) and the principal acting for ``org``.

    The CLI has direct database access, so it acts as that organisation's admin (key id
    ``local-admin``); what it shows is still only what that organisation may see under TLP.
    """
    from vigil.exchange.access import Principal
    from vigil.exchange.audit import LOCAL_ADMIN
    from vigil.exchange.records import Role
    from vigil.exchange.store import ExchangeStore

    db = open_database(data_dir, database_url)
    try:
        with db.session() as session:
            found = ExchangeStore(session).get_org(None, org)
            principal = Principal(
                key_id=LOCAL_ADMIN,
                org_id=found.id,
                org_kind=found.kind,
                role=Role.ADMIN,
                operator=found.operator,
            )
            yield session, principal
    finally:
        db.dispose()


def org_names(session: Any) -> dict[str, str]:
    """Organisation id -> name, for readable tables."""
    from vigil.exchange.store import ExchangeStore

    return {o.id: o.name for o in ExchangeStore(session).list_orgs(None)}


def plain(value: Any) -> Any:
    """``value`` with instants as ISO 8601 strings, ready for ``json.dumps``."""
    from vigil.core.time import isoformat_z

    if isinstance(value, datetime):
        return isoformat_z(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def when(value: datetime | None) -> str:
    """An instant for a table cell ("-" when there is none)."""
    from vigil.core.time import isoformat_z

    return isoformat_z(value) if value else "-"


def print_rows(rows: list[dict[str, Any]], columns: list[str], title: str, as_json: bool) -> None:
    """``rows`` as JSON (every field) or as a table of ``columns``."""
    from rich.table import Table

    if as_json:
        typer.echo(json.dumps(plain(rows), ensure_ascii=False, indent=2))
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(plain(row.get(c)) if row.get(c) is not None else "") for c in columns))
    console.print(table)


def split_csv(values: list[str] | None) -> tuple[str, ...] | None:
    """Repeatable options that also take comma-separated lists: ``--x a,b --x c`` -> (a, b, c)."""
    if not values:
        return None
    return tuple(v.strip() for value in values for v in value.split(",") if v.strip())
