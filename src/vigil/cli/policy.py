"""``vigil policy``: the member policy register (record a member's own policy in one area, the
register now, every version, a diff between two dates, the member x area matrix, readiness by
election day), acting and seeing as one organisation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from vigil.cli.common import AsOrgOpt, DataDirOpt, DbUrlOpt, JsonOpt, acting, org_names, plain
from vigil.cli.console import VigilConsole
from vigil.core.errors import InputError
from vigil.core.files import write_atomic
from vigil.core.time import isoformat_z, parse_instant

if TYPE_CHECKING:
    from vigil.cases.policies import PolicyService, PolicyVersion

console = VigilConsole()
policy_app = typer.Typer(
    help="The member policy register: each platform's election policies and their changes."
)


app = typer.Typer()


app.add_typer(policy_app, name="policy")


def _instant(value: str | None, option: str) -> Any:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except InputError as exc:
        raise InputError(f"{option}: {exc.message}", field=option, value=value) from exc


def _service(session: Any, principal: Any, data_dir: Path | None) -> PolicyService:
    from vigil.cases.policies import PolicyAreas, PolicyService
    from vigil.core.settings import load_settings

    settings = load_settings(**({"data_dir": data_dir} if data_dir is not None else {}))
    return PolicyService(session, principal, areas=PolicyAreas.load(settings.data_dir))


def _org_id(session: Any, org: str | None) -> str | None:
    from vigil.exchange.store import ExchangeStore

    return ExchangeStore(session).get_org(None, org).id if org else None


def when(value: Any) -> str:
    return isoformat_z(value) if value else "-"


def _row(v: PolicyVersion, names: dict[str, str]) -> list[str]:
    return [
        escape(names.get(v.org_id, v.org_id)),
        v.area,
        str(v.version),
        v.status.replace("_", " "),
        f"{when(v.effective_from)} - {when(v.effective_until)}",
        f"TLP:{v.marking.tlp.value}",
        escape((v.summary or "")[:80]),
        when(v.recorded_at),
    ]


def _table(title: str, versions: list[PolicyVersion], names: dict[str, str]) -> Table:
    table = Table(title=title)
    for column in ("member", "area", "version", "status", "effective", "tlp", "summary", "recorded"):
        table.add_column(column)
    for v in versions:
        table.add_row(*_row(v, names))
    return table


@policy_app.command("record")
def record(
    area: str = typer.Argument(..., help="Policy area key (see `vigil policy areas`)."),
    status: str = typer.Argument(..., help="none, announced, in_force, changed or withdrawn."),
    effective_from: str | None = typer.Option(None, "--from", help="Effective from (ISO 8601 UTC)."),
    effective_until: str | None = typer.Option(None, "--until", help="Effective until (ISO 8601 UTC)."),
    source_url: str | None = typer.Option(None, "--url", help="Public source of the policy (http/https)."),
    summary: str | None = typer.Option(None, "--summary", help="What the policy says."),
    language: str | None = typer.Option(None, "--language", help="Language of summary and note: en, fr, ar."),
    tlp: str = typer.Option("GREEN", "--tlp", help="The policy's marking."),
    share_with: list[str] = typer.Option(
        [], "--share-with", help="Org the policy also reaches (repeatable)."
    ),
    note: str | None = typer.Option(None, "--note", help="A note under its own marking."),
    note_tlp: str = typer.Option("AMBER", "--note-tlp", help="The note's marking."),
    note_share_with: list[str] = typer.Option([], "--note-share-with", help="Org the note also reaches."),
    as_org: str = AsOrgOpt,
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Record a new version of this organisation's policy in one area."""
    from vigil.cases.service import parse_marking

    start, end = _instant(effective_from, "--from"), _instant(effective_until, "--until")
    with acting(data_dir, database_url, as_org) as (session, principal):
        v = _service(session, principal, data_dir).record(
            area,
            status,
            effective_from=start,
            effective_until=end,
            source_url=source_url,
            summary=summary,
            language=language,
            marking=parse_marking(tlp, [_org_id(session, o) or o for o in share_with]),
            note=note,
            note_marking=parse_marking(note_tlp, [_org_id(session, o) or o for o in note_share_with]),
        )
    console.print(
        f"recorded {v.area} version {v.version}: {v.status.replace('_', ' ')} (TLP:{v.marking.tlp.value})"
    )


@policy_app.command("areas")
def areas(data_dir: Path | None = DataDirOpt, as_json: bool = JsonOpt) -> None:
    """The policy areas, titled in English, French and Arabic."""
    from vigil.cases.policies import PolicyAreas
    from vigil.core.settings import load_settings

    settings = load_settings(**({"data_dir": data_dir} if data_dir is not None else {}))
    found = PolicyAreas.load(settings.data_dir).areas
    if as_json:
        typer.echo(
            json.dumps([{"key": a.key, "titles": a.titles} for a in found], indent=2, ensure_ascii=False)
        )
        return
    for a in found:
        console.print(f"{a.key}: {escape(a.title('en'))} | {escape(a.title('fr'))} | {escape(a.title('ar'))}")


@policy_app.command("list")
def list_(
    member: str | None = typer.Option(None, "--member", help="Only this member (id or name)."),
    at: str | None = typer.Option(None, "--at", help="The register as it stood then (default now)."),
    as_org: str = AsOrgOpt,
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The register: each member's current policy per area, as this organisation may see it."""

    when = _instant(at, "--at")
    with acting(data_dir, database_url, as_org) as (session, principal):
        service = _service(session, principal, data_dir)
        org = _org_id(session, member)
        found = [v for (o, _), v in sorted(service.state_at(when).items()) if org is None or o == org]
        names = org_names(session)
    if as_json:
        typer.echo(json.dumps([plain(service.as_json(v)) for v in found], indent=2, ensure_ascii=False))
        return
    console.print(_table(f"Policies ({len(found)})", found, names))


@policy_app.command("history")
def history(
    member: str | None = typer.Option(None, "--member", help="Only this member (id or name)."),
    area: str | None = typer.Option(None, "--area", help="Only this policy area."),
    as_org: str = AsOrgOpt,
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Every version this organisation may see, oldest first (who recorded it, when)."""

    with acting(data_dir, database_url, as_org) as (session, principal):
        service = _service(session, principal, data_dir)
        found = service.history(org_id=_org_id(session, member), area=area)
        names = org_names(session)
    if as_json:
        typer.echo(json.dumps([plain(service.as_json(v)) for v in found], indent=2, ensure_ascii=False))
        return
    console.print(_table(f"Policy versions ({len(found)})", found, names))


@policy_app.command("diff")
def diff(
    since: str = typer.Option(..., "--since", help="From (ISO 8601 UTC)."),
    until: str | None = typer.Option(None, "--until", help="To (default now)."),
    as_org: str = AsOrgOpt,
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """What changed in the register between two dates."""

    start, end = _instant(since, "--since"), _instant(until, "--until")
    with acting(data_dir, database_url, as_org) as (session, principal):
        service = _service(session, principal, data_dir)
        changes = service.diff(start, end)
        names = org_names(session)
    if as_json:
        out = [
            {
                "org_id": c.org_id,
                "area": c.area,
                "fields": list(c.fields),
                "before": plain(service.as_json(c.before)) if c.before else None,
                "after": plain(service.as_json(c.after)),
            }
            for c in changes
        ]
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    for c in changes:
        was = c.before.status.replace("_", " ") if c.before else "(not recorded)"
        console.print(
            f"{escape(names.get(c.org_id, c.org_id))}  {c.area}: {was} -> {c.after.status.replace('_', ' ')}"
            f"  ({', '.join(c.fields)})"
        )
    if not changes:
        console.print("no changes")


@policy_app.command("matrix")
def matrix(
    election: str | None = typer.Option(None, "--election", help="Readiness by this election's day instead."),
    as_org: str = AsOrgOpt,
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Member x area: the current status of each cell (GAP where nothing is in force), or with
    --election, whether each policy is in force by election day."""

    with acting(data_dir, database_url, as_org) as (session, principal):
        service = _service(session, principal, data_dir)
        m = service.matrix()
        r = service.readiness(election) if election else None
        names = org_names(session)
    keys = [a.key for a in m.areas]
    gaps = set(m.gaps)
    if as_json:
        body: dict[str, Any] = {
            "members": m.members,
            "areas": keys,
            "tlp": m.tlp.value,
            "cells": {
                o: {a: (v.status if v else None) for a, v in row.items()} for o, row in m.cells.items()
            },
            "gaps": [list(g) for g in m.gaps],
        }
        if r is not None:
            body |= {"election": r.election, "day": isoformat_z(r.day), "in_force": r.in_force}
        typer.echo(json.dumps(body, indent=2, ensure_ascii=False))
        return
    title = (
        f"Policy matrix (TLP:{m.tlp.value})"
        if r is None
        else f"In force by {r.election} ({isoformat_z(r.day)})"
    )
    # areas as rows, members as columns: a coalition has a handful of members and ten or so areas
    table = Table(title=title)
    table.add_column("area")
    for org in m.members:
        table.add_column(escape(names.get(org, org)), no_wrap=True)
    for key in keys:
        cells = []
        for org in m.members:
            if r is not None:
                cells.append("yes" if r.in_force[org][key] else "NO")
                continue
            v = m.cells[org][key]
            status = v.status.replace("_", " ") if v else "-"
            cells.append(f"GAP {status}" if (org, key) in gaps else status)
        table.add_row(key, *cells)
    console.print(table)


@policy_app.command("export")
def export(
    out: Path = typer.Option(..., "--out", help="Write the STIX 2.1 bundle (JSON) here."),
    as_org: str = AsOrgOpt,
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Every policy version and note this organisation may see, as a STIX 2.1 bundle."""
    from vigil.cases.policies_stix import policy_bundle

    with acting(data_dir, database_url, as_org) as (session, principal):
        found = policy_bundle(_service(session, principal, data_dir))
    body = json.dumps(found, indent=2, ensure_ascii=False).encode("utf-8")
    write_atomic(out, body)
    console.print(f"wrote {out} ({len(found['objects'])} STIX objects)")
