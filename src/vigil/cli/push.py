"""``vigil push``: webhook subscriptions, deliveries, the dead-letter list, and the delivery worker
(``run``). Logic in ``vigil.exchange.push``; ``run`` also queues the meetings' action-item
reminders (``vigil.cases.meetings_reminders``) each round, which only the CLI layer may combine.
``generate-key``, ``rotate-key`` and ``rekey`` manage the key sealing webhook secrets and peer API
keys (``vigil.exchange.secrets_box``)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from vigil.cli.common import DataDirOpt, DbUrlOpt, JsonOpt, open_database, open_store, print_rows
from vigil.cli.console import VigilConsole
from vigil.core.time import parse_duration, utcnow

if TYPE_CHECKING:
    from vigil.core.settings import Settings
    from vigil.exchange import secrets_box

console = VigilConsole()
EventOpt = typer.Option(
    [],
    "--event",
    help="Event type or family (repeat): signal, action_item, meeting, all, or e.g. action_item.overdue; "
    "default: the signal events.",
)


def _settings(data_dir: Path | None, database_url: str | None) -> Settings:
    from vigil.core.settings import load_settings

    overrides = {k: v for k, v in (("data_dir", data_dir), ("database_url", database_url)) if v is not None}
    return load_settings(**overrides)


def _reseal(
    box: secrets_box.SecretBox, data_dir: Path | None, database_url: str | None
) -> secrets_box.ResealReport:
    from vigil.exchange import secrets_box

    db = open_database(data_dir, database_url)
    try:
        with db.session() as session:
            done = secrets_box.reseal_all(session, box)
        secrets_box.truncate_wal(db)
        return done
    finally:
        db.dispose()


app = typer.Typer()


push_app = typer.Typer(
    help="Signed webhooks for new, changed and revoked signals and action-item reminders.",
    no_args_is_help=True,
)
app.add_typer(push_app, name="push")


@push_app.command("subscribe")
def subscribe(
    url: str = typer.Argument(
        ..., help="Receiver URL: https, public addresses (see push_allow_http, push_allow_private)."
    ),
    org: str = typer.Option(..., "--org", help="Subscribing organisation (id or name)."),
    name: str = typer.Option("webhook", "--name"),
    kind: list[str] = typer.Option([], "--kind", help="Signal kind (repeat); default all."),
    tlp: list[str] = typer.Option([], "--tlp", help="TLP (repeat); default all the org may see."),
    campaign: str | None = typer.Option(None, "--campaign", help="Only this campaign's signals."),
    event: list[str] = EventOpt,
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Create a subscription; prints its secret once."""
    from vigil.exchange import push
    from vigil.exchange.stix_service import local_principal

    with open_store(data_dir, database_url) as store:
        principal = local_principal(store, org)
        sub, secret = push.create_subscription(
            store,
            principal,
            name,
            url,
            kinds=tuple(kind),
            tlps=tuple(tlp),
            campaign_id=campaign,
            events=tuple(event),
            settings=_settings(data_dir, database_url),
        )
    console.print(f"subscription {sub.id} -> {sub.url} (events: {', '.join(sub.events)})")
    console.print(f"secret (shown once; verify X-Vigil-Signature with it): [bold]{secret}[/]")


@push_app.command("list")
def list_subs(
    data_dir: Path | None = DataDirOpt, database_url: str | None = DbUrlOpt, as_json: bool = JsonOpt
) -> None:
    """Every subscription (secrets are never shown again)."""
    from vigil.exchange import push

    with open_store(data_dir, database_url) as store:
        rows = [s.to_dict() for s in push.list_subscriptions(store.session, None)]
    print_rows(
        rows,
        ["id", "org_id", "name", "url", "events", "kinds", "tlps", "active"],
        "Subscriptions",
        as_json,
    )


@push_app.command("events")
def events_cmd(
    subscription: str = typer.Argument(..., help="Subscription id."),
    event: list[str] = EventOpt,
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Choose the event types a subscription receives (e.g. opt into action-item reminders)."""
    from vigil.exchange import push

    with open_store(data_dir, database_url) as store:
        sub = push.set_subscription_events(store.session, None, subscription, tuple(event), at=utcnow())
    console.print(f"subscription {sub.id} receives: {', '.join(sub.events)}")


@push_app.command("deliveries")
def deliveries(
    status: str | None = typer.Option(None, "--status", help="pending, delivered or dead."),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Deliveries, newest first."""
    from vigil.exchange import push

    with open_store(data_dir, database_url) as store:
        rows = [d.to_dict() for d in push.list_deliveries(store.session, None, status=status, limit=limit)]
    columns = ["id", "event_type", "signal_id", "status", "attempts", "next_attempt_at", "last_error"]
    print_rows(rows, columns, "Deliveries", as_json)


@push_app.command("dead-letters")
def dead_letters(
    data_dir: Path | None = DataDirOpt, database_url: str | None = DbUrlOpt, as_json: bool = JsonOpt
) -> None:
    """Deliveries that failed every attempt (their payload is kept: `vigil push retry ID`)."""
    from vigil.exchange import push

    with open_store(data_dir, database_url) as store:
        rows = [d.to_dict() for d in push.list_deliveries(store.session, None, status=push.DEAD)]
    print_rows(
        rows,
        ["id", "subscription_id", "event_type", "signal_id", "attempts", "last_error"],
        "Dead letters",
        as_json,
    )


@push_app.command("retry")
def retry(
    delivery: int = typer.Argument(..., help="Delivery id of a dead letter."),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Queue a dead letter again."""
    from vigil.exchange import push

    with open_store(data_dir, database_url) as store:
        push.requeue(store.session, None, delivery, at=utcnow())
    console.print(f"delivery {delivery} queued again")


@push_app.command("run")
def run(
    interval: str = typer.Option("10s", "--interval", help="Time between rounds."),
    rounds: int = typer.Option(0, "--rounds", min=0, help="Stop after this many rounds (0: never)."),
    data_dir: Path | None = DataDirOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Turn changes and action-item reminders into deliveries and send what is due, every interval."""
    from vigil.cases.meetings_reminders import scan_reminders
    from vigil.exchange import push

    settings = _settings(data_dir, database_url)
    seconds = parse_duration(interval).total_seconds()
    lead = timedelta(hours=settings.meeting_reminder_lead_h)
    db = open_database(data_dir, database_url)
    done = 0
    try:
        while True:
            with db.session() as session:
                reminders = scan_reminders(session, lead=lead)
            queued, sent = push.run_once(db, settings)
            if queued.enqueued or reminders.enqueued or sent.attempted:
                console.print(
                    f"queued {queued.enqueued} signal events, {reminders.enqueued} reminders; "
                    f"sent {sent.attempted}: delivered {sent.delivered}, "
                    f"retrying {sent.retrying}, dead letters {sent.dead}"
                )
                for line in sent.errors:
                    console.print(f"  [yellow]{line}[/]")
            done += 1
            if rounds and done >= rounds:
                return
            time.sleep(seconds)
    finally:
        db.dispose()


@push_app.command("generate-key")
def generate_key() -> None:
    """Print a new random key (for VIGIL_SECRET_KEY or a line of the key file)."""
    from vigil.exchange import secrets_box

    typer.echo(secrets_box.generate_key())


@push_app.command("rekey")
def rekey(data_dir: Path | None = DataDirOpt, database_url: str | None = DbUrlOpt) -> None:
    """Seal every webhook secret and peer API key again with the first key (after adding one)."""
    from vigil.exchange import secrets_box

    box = secrets_box.load_box(_settings(data_dir, database_url))
    done = _reseal(box, data_dir, database_url)
    console.print(
        f"sealed {done.subscriptions} webhook secret(s) and {done.peers} peer API key(s) "
        f"with the first of {box.key_count} key(s) in {box.source}"
    )


@push_app.command("rotate-key")
def rotate_key(data_dir: Path | None = DataDirOpt, database_url: str | None = DbUrlOpt) -> None:
    """Put a new key first in the key file and re-seal everything with it (old keys stay after
    it until you delete them)."""
    from vigil.exchange import secrets_box

    settings = _settings(data_dir, database_url)
    path = secrets_box.add_key(settings)
    done = _reseal(secrets_box.load_box(settings), data_dir, database_url)
    console.print(
        f"new key first in {path}; sealed {done.subscriptions} webhook secret(s) and "
        f"{done.peers} peer API key(s) with it. Old keys stay after it: delete them once every "
        "process runs with the new file."
    )
