"""``vigil warninglist``: the lists of known-benign or too-broad values, their edits, analysts'
overrides, and a breadth check of signals against a member's own posts."""

from __future__ import annotations

from pathlib import Path

import typer

from vigil.cli.common import DataDirOpt, DbUrlOpt, JsonOpt, open_store, print_rows
from vigil.cli.console import VigilConsole
from vigil.core.time import utcnow

console = VigilConsole()


app = typer.Typer()


wl = typer.Typer(help="Warning lists: values that must not silently become signals.", no_args_is_help=True)
app.add_typer(wl, name="warninglist")


@wl.command("list")
def list_all(
    data_dir: Path | None = DataDirOpt, database_url: str | None = DbUrlOpt, as_json: bool = JsonOpt
) -> None:
    """The lists in force."""
    from vigil.exchange import warninglists

    with open_store(data_dir, database_url) as store:
        rows = [w.to_dict(with_values=False) for w in warninglists.current_lists(store.session).values()]
    print_rows(
        rows, ["name", "title", "kinds", "action", "match", "size", "source"], "Warning lists", as_json
    )


@wl.command("show")
def show(
    name: str = typer.Argument(...),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """One list's values."""
    from vigil.exchange import warninglists

    with open_store(data_dir, database_url) as store:
        found = warninglists.get_list(store.session, name)
    console.print(f"[bold]{found.name}[/] ({found.title}; {found.action.value}, {found.match.value} match)")
    for value in sorted(found.values):
        console.print(f"  {value}")


@wl.command("check")
def check(
    kind: str = typer.Argument(...),
    value: str = typer.Argument(...),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Which lists a value is on (exit 1 if on a blocking one)."""
    from vigil.exchange import warninglists
    from vigil.exchange.values import normalize_value

    parsed, normalized = normalize_value(kind, value)
    with open_store(data_dir, database_url) as store:
        hits = warninglists.hits(store.session, parsed, normalized)
    if not hits:
        console.print(f"{parsed.value} {normalized!r}: on no warning list")
        return
    for hit in hits:
        console.print(
            f"{parsed.value} {normalized!r}: on [bold]{hit.list_name}[/] ({hit.title}): {hit.action.value}"
        )
    if any(h.action is warninglists.Action.BLOCK for h in hits):
        raise typer.Exit(1)


def _edit(
    name: str,
    add: list[str],
    remove: list[str],
    reason: str | None,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    from vigil.exchange import warninglists

    with open_store(data_dir, database_url) as store:
        found = warninglists.edit_list(
            store.session, None, name, add=add, remove=remove, reason=reason, at=utcnow()
        )
    console.print(f"{found.name}: {len(found.values)} value(s)")


@wl.command("add")
def add(
    name: str = typer.Argument(...),
    values: list[str] = typer.Argument(...),
    reason: str | None = typer.Option(None, "--reason"),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Add values to a list (recorded and audited; the file is untouched)."""
    _edit(name, values, [], reason, data_dir, database_url)


@wl.command("remove")
def remove(
    name: str = typer.Argument(...),
    values: list[str] = typer.Argument(...),
    reason: str | None = typer.Option(None, "--reason"),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Remove values from a list."""
    _edit(name, [], values, reason, data_dir, database_url)


@wl.command("override")
def override(
    kind: str = typer.Argument(...),
    value: str = typer.Argument(...),
    org: str = typer.Option(..., "--org", help="Organisation allowed to share the value."),
    reason: str = typer.Option(..., "--reason", help="Why (kept in the audit log)."),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Let an organisation share a listed value anyway."""
    from vigil.exchange import warninglists
    from vigil.exchange.stix_service import local_principal

    with open_store(data_dir, database_url) as store:
        found = warninglists.add_override(
            store.session, local_principal(store, org), kind, value, reason, at=utcnow()
        )
    console.print(
        f"override {found.id}: {found.org_id} may share {found.kind} {found.value!r} (list {found.list_name})"
    )


@wl.command("overrides")
def overrides(
    data_dir: Path | None = DataDirOpt, database_url: str | None = DbUrlOpt, as_json: bool = JsonOpt
) -> None:
    """Every override, with its reason."""
    from vigil.exchange import warninglists

    with open_store(data_dir, database_url) as store:
        from vigil.exchange.access import Principal
        from vigil.exchange.records import OrgKind, Role

        everyone = Principal("local-cli", "", OrgKind.RESEARCH, Role.READ_ONLY, operator=True)
        rows = [vars(o) for o in warninglists.list_overrides(store.session, everyone)]
    print_rows(
        rows, ["id", "org_id", "kind", "value", "list_name", "reason", "created_at"], "Overrides", as_json
    )


@wl.command("breadth")
def breadth(
    posts: Path = typer.Option(..., "--posts", help="Our posts (Vigil's posts table, Parquet)."),
    org: str = typer.Option(..., "--org", help="Organisation whose visible signals are checked."),
    threshold: float = typer.Option(
        0.01, "--threshold", help="Share of posts above which a value is too broad."
    ),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Which domain/hashtag signals would match more than THRESHOLD of these posts (exit 1 if any)."""
    from vigil.exchange import warninglists
    from vigil.exchange.records import SignalKind
    from vigil.exchange.stix_service import local_principal
    from vigil.exchange.store import SignalFilter

    with open_store(data_dir, database_url) as store:
        viewer = local_principal(store, org)
        values: list[tuple[str, str]] = []
        cursor: str | None = None
        while True:
            page = store.list_signals(
                viewer,
                SignalFilter(kinds=(SignalKind.DOMAIN, SignalKind.HASHTAG), include_revoked=False),
                limit=1000,
                cursor=cursor,
            )
            values += [(s.kind.value, s.value) for s in page.items]
            if not page.next_cursor:
                break
            cursor = page.next_cursor
    report = warninglists.breadth(values, posts, threshold)
    rows = [{"kind": k, "value": v, "share": f"{share:.2%}"} for k, v, share in report.too_broad]
    if not as_json:
        console.print(
            f"{len(values)} domain/hashtag signal(s) checked against {report.posts} post(s); "
            f"{len(rows)} above {threshold:.2%}"
        )
    print_rows(rows, ["kind", "value", "share"], "Too broad for these posts", as_json)
    if rows:
        raise typer.Exit(1)
