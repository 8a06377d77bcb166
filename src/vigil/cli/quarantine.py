"""``vigil quarantine``: the exchange's coalition-wide flood quarantine, over its REST API
(``GET /api/v1/quarantines``, ``GET|POST /api/v1/signals/{id}/quarantine[/release]``; the work is
``vigil.exchange.flood``). These act with a member's API key (``--server``, ``--key``) as the
``vigil match`` commands do, because who may release depends on who the caller is: an admin of an
organisation that contributed the signal, or of the coalition operator. The member's own matcher
quarantine is ``vigil match quarantine``."""

from __future__ import annotations

from typing import Any

import typer

from vigil.cli.common import JsonOpt, print_rows
from vigil.cli.console import VigilConsole

console = VigilConsole()

SERVER = typer.Option(..., "--server", help="Vigil exchange base URL, e.g. https://vigil.example.org.")
KEY = typer.Option(..., "--key", envvar="VIGIL_API_KEY", help="API key (or set VIGIL_API_KEY).")
COLUMNS = ["signal_id", "kind", "value", "state", "reporters", "threshold", "changed_at", "may_release"]

app = typer.Typer()
group = typer.Typer(
    help="Coalition-wide flood quarantine at the exchange: list, show, release (as a reviewer).",
    no_args_is_help=True,
)
app.add_typer(group, name="quarantine")


def _call(server: str, key: str, method: str, path: str, **kwargs: Any) -> Any:
    """One REST call; the exchange's error becomes the matching VigilError (its exit code)."""
    import httpx

    from vigil.core.errors import (
        AuthenticationError,
        Conflict,
        ExternalServiceError,
        InputError,
        NotFound,
        PermissionDenied,
        VigilError,
    )
    from vigil.exchange.taxii_client import server_root

    root = server_root(server)
    try:
        with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {key}"}) as http:
            answer = http.request(method, f"{root}/api/v1{path}", **kwargs)
    except httpx.HTTPError as exc:
        raise ExternalServiceError(f"cannot reach the exchange at {root}: {exc}") from exc
    try:
        body = answer.json()
    except ValueError:
        body = None
    if answer.status_code < 400 and body is not None:
        return body
    message = body.get("message") if isinstance(body, dict) else None
    errors: dict[int, type[VigilError]] = {
        400: InputError,
        401: AuthenticationError,
        403: PermissionDenied,
        404: NotFound,
        409: Conflict,
        422: InputError,
    }
    error = errors.get(answer.status_code, ExternalServiceError)
    raise error(f"{root}: {message or f'HTTP {answer.status_code}: {answer.text[:200]}'}")


@group.command("list")
def list_command(
    server: str = SERVER,
    key: str = KEY,
    limit: int = typer.Option(1000, "--limit", min=1, help="At most this many signals."),
    as_json: bool = JsonOpt,
) -> None:
    """The coalition-quarantined signals your key can see."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(rows) < limit:
        params: dict[str, Any] = {"limit": min(1000, limit - len(rows))}
        if cursor:
            params["cursor"] = cursor
        page = _call(server, key, "GET", "/quarantines", params=params)
        rows += [
            {"kind": item["kind"], "value": item["value"], **item["coalition"]} for item in page["items"]
        ]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    print_rows(rows, COLUMNS, f"Coalition flood quarantine ({len(rows)} signals)", as_json)


@group.command("show")
def show_command(
    signal_id: str = typer.Argument(..., help="The signal's id."),
    server: str = SERVER,
    key: str = KEY,
    as_json: bool = JsonOpt,
) -> None:
    """One signal's coalition quarantine state (none, active or released)."""
    state = _call(server, key, "GET", f"/signals/{signal_id}/quarantine")
    print_rows(
        [state],
        ["signal_id", "state", "reporters", "reporting", "threshold", "changed_at", "released_at",
         "release_reason", "may_release"],
        "Coalition flood quarantine",
        as_json,
    )  # fmt: skip


@group.command("release")
def release_command(
    signal_id: str = typer.Argument(..., help="The signal's id."),
    server: str = SERVER,
    key: str = KEY,
    reason: str | None = typer.Option(None, "--reason", help="Why it is released (audited)."),
    as_json: bool = JsonOpt,
) -> None:
    """Release a coalition-wide quarantine (an admin of a contributing organisation or of the
    coalition operator; others exit 4, a signal not quarantined exits 5)."""
    state = _call(server, key, "POST", f"/signals/{signal_id}/quarantine/release", json={"reason": reason})
    print_rows([state], ["signal_id", "state", "released_at", "release_reason"], "Released", as_json)
