"""Exchange administration on the local database: ``vigil org``, ``vigil key``, ``vigil db`` and
``vigil audit``. These act as the trusted local administrator (whoever can open the database), so
they work before any key exists: ``vigil org create`` then ``vigil key create`` bootstraps a server.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from vigil.cli.common import DataDirOpt, DbUrlOpt, JsonOpt, open_store, plain, print_rows
from vigil.cli.console import VigilConsole
from vigil.core.time import isoformat_z, parse_duration, parse_instant, utcnow

if TYPE_CHECKING:
    pass

console = VigilConsole()
err = VigilConsole(stderr=True)


app = typer.Typer()


org_app = typer.Typer(help="Member organisations of the exchange.", no_args_is_help=True)
key_app = typer.Typer(help="API keys (shown once at creation; only a hash is stored).", no_args_is_help=True)
db_app = typer.Typer(help="The exchange database.", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(key_app, name="key")
app.add_typer(db_app, name="db")


@org_app.command("create")
def org_create(
    name: str = typer.Argument(..., help="Unique organisation name."),
    kind: str = typer.Option(..., "--kind", help="platform, government or research."),
    operator: bool = typer.Option(False, "--operator", help="The coalition operator (onboards members)."),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Add a member organisation."""
    with open_store(data_dir, database_url) as store:
        org = store.create_org(None, name, kind, operator=operator)
    print_rows(
        [asdict(org)], ["id", "name", "kind", "operator", "created_at"], "Organisation created", as_json
    )


@org_app.command("list")
def org_list(
    data_dir: Path | None = DataDirOpt, database_url: str | None = DbUrlOpt, as_json: bool = JsonOpt
) -> None:
    """Every member organisation."""
    with open_store(data_dir, database_url) as store:
        orgs = store.list_orgs(None)
    print_rows(
        [asdict(o) for o in orgs],
        ["id", "name", "kind", "operator", "status", "created_at"],
        "Organisations",
        as_json,
    )


def _lifecycle(verb: str, help_text: str) -> None:
    @org_app.command(verb, help=help_text)
    def move(
        org: str = typer.Argument(..., help="Organisation id or name."),
        reason: str = typer.Option(..., "--reason", help="Why (recorded in the audit log)."),
        data_dir: Path | None = DataDirOpt,
        database_url: str | None = DbUrlOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        with open_store(data_dir, database_url) as store:
            method = {
                "suspend": store.suspend_org,
                "reactivate": store.reactivate_org,
                "offboard": store.offboard_org,
            }[verb]
            changed = method(None, org, reason=reason)
        print_rows(
            [asdict(changed)], ["id", "name", "kind", "status"], f"Organisation {changed.status}", as_json
        )


_lifecycle("suspend", "Suspend an organisation: its keys stop at once; its contributions stay as marked.")
_lifecycle("reactivate", "Reactivate a suspended organisation (its unrevoked, unexpired keys work again).")
_lifecycle("offboard", "Offboard an organisation (final): every key and contribution revoked.")


@key_app.command("create")
def key_create(
    org: str = typer.Option(..., "--org", help="Organisation id or name."),
    role: str = typer.Option("analyst", "--role", help="admin, analyst or read-only."),
    name: str = typer.Option("", "--name", help="What the key is for."),
    expires: str | None = typer.Option(None, "--expires", help="Lifetime such as 90d or 12h."),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create an API key and print it once."""
    expires_at = utcnow() + parse_duration(expires) if expires else None
    with open_store(data_dir, database_url) as store:
        info, key = store.create_key(None, org, role, name=name, expires_at=expires_at)
    if as_json:
        typer.echo(json.dumps(plain({**asdict(info), "key": key}), indent=2))
        return
    console.print(f"key id [bold]{info.id}[/] for {info.org_id} (role {info.role.value})")
    console.print("[yellow]Store this key now; it cannot be shown again:[/]")
    typer.echo(key)


@key_app.command("list")
def key_list(
    org: str | None = typer.Option(None, "--org", help="Organisation id or name (default: all)."),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Keys and their state (never the secrets)."""
    with open_store(data_dir, database_url) as store:
        keys = store.list_keys(None, org)
    columns = ["id", "org_id", "name", "role", "created_at", "expires_at", "revoked_at"]
    print_rows([asdict(k) for k in keys], columns, "API keys", as_json)


@key_app.command("revoke")
def key_revoke(
    key_id: str = typer.Argument(..., help="The key id (from `vigil key list`)."),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Revoke a key: requests with it are refused (401) at once."""
    with open_store(data_dir, database_url) as store:
        info = store.revoke_key(None, key_id)
    assert info.revoked_at is not None
    console.print(f"revoked key {info.id} at {isoformat_z(info.revoked_at)}")


@db_app.command("upgrade")
def db_upgrade(data_dir: Path | None = DataDirOpt, database_url: str | None = DbUrlOpt) -> None:
    """Create or migrate the database to the newest schema."""
    from vigil.core.settings import load_settings
    from vigil.db import Database, current_revision, upgrade

    overrides: dict[str, Any] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if database_url is not None:
        overrides["database_url"] = database_url
    db = Database(load_settings(**overrides).effective_database_url)
    try:
        before = current_revision(db.engine)
        after = upgrade(db.engine)
    finally:
        db.dispose()
    console.print(f"database {db.engine.url!r}: revision {before or '(empty)'} -> {after}")


@app.command("audit")
def audit_cmd(
    org: str | None = typer.Option(None, "--org", help="Acting organisation id."),
    involving: str | None = typer.Option(
        None, "--involving", help="Organisation id: its actions and reads of its AMBER/RED material."
    ),
    action: str | None = typer.Option(None, "--action", help="e.g. signal.read, key.revoke."),
    target: str | None = typer.Option(None, "--target", help="Target id."),
    since: str | None = typer.Option(None, "--since", help="ISO 8601 instant."),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The exchange's audit log, newest first."""
    from vigil.exchange.audit import AuditFilter

    filters = AuditFilter(
        actor_org_id=org,
        involving_org_id=involving,
        action=action,
        target_id=target,
        since=parse_instant(since) if since else None,
        limit=limit,
    )
    with open_store(data_dir, database_url) as store:
        entries = store.query_audit(None, filters)
    columns = ["id", "at", "actor_key_id", "actor_org_id", "action", "target_id", "tlp", "subject_org_id"]
    print_rows([asdict(e) for e in entries], columns, "Audit log", as_json)
