"""Matching commands: ``vigil match fetch | run | retro | queue | quarantine | benign | status``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from vigil.cli.console import VigilConsole
from vigil.core.errors import ExternalServiceError, InputError

if TYPE_CHECKING:
    from datetime import datetime

    from vigil.match.matcher import MatchRun
    from vigil.match.rules import RuleSet

console = VigilConsole()
group = typer.Typer(help="Match our posts against partners' signals fetched over TAXII; act and report.")

INDEX = typer.Option(..., "--index", help="Match index directory (created by the first fetch).")
SERVER_HELP = "Vigil exchange base URL, e.g. https://vigil.example.org (its TAXII root also works)."
KEY_HELP = "API key of your organisation (or set VIGIL_API_KEY)."


app = typer.Typer()


app.add_typer(group, name="match")


@group.command("fetch")
def fetch_command(
    server: str = typer.Option(..., "--server", help=SERVER_HELP),
    key: str = typer.Option(..., "--key", envvar="VIGIL_API_KEY", help=KEY_HELP),
    index: Path = INDEX,
    collection: list[str] = typer.Option(
        [], "--collection", "-c", help="Collection alias or id (repeatable); default: all you can read."
    ),
    page_size: int = typer.Option(1000, "--page-size", min=1, max=100_000, help="Objects per TAXII page."),
    full: bool = typer.Option(
        False, "--full", help="Ignore checkpoints: download everything and drop what is no longer visible."
    ),
    retro_posts: Path | None = typer.Option(
        None,
        "--retro-posts",
        help="Then match what arrived against these stored posts (`vigil match retro`; needs --retro-out).",
    ),
    retro_out: Path | None = typer.Option(None, "--retro-out", help="Output directory of that retro run."),
    retro_days: int = typer.Option(30, "--retro-days", min=1, help="Stored posts of the last N days."),
    retro_report: bool = typer.Option(
        False, "--retro-report", help="Report sightings of what the retro run finds (with --server/--key)."
    ),
) -> None:
    """Download what is new since the last fetch (added_after checkpoints) and update the index.

    Opinions and sightings come with it (for the decay score), coalition quarantine notes are
    applied, other members' shared benign entries go into the benign bank. With --retro-posts the
    signals that arrived are then matched against stored posts (see `vigil match retro`)."""
    from vigil.cli.progress import RichProgress
    from vigil.core.settings import load_settings
    from vigil.match.fetch import fetch_signals

    if retro_posts is not None and retro_out is None:
        raise InputError("--retro-posts needs --retro-out")
    with RichProgress() as progress:
        report = fetch_signals(
            index,
            server,
            key,
            collections=collection,
            page_size=page_size,
            full=full,
            settings=load_settings(),
            progress=progress,
        )
    kind = "full re-sync" if report.full else "first fetch" if report.first_fetch else "incremental fetch"
    console.print(f"{kind} from {report.server}: {report.objects_received:,} objects received")
    table = Table(title="Collections")
    table.add_column("collection")
    table.add_column("objects", justify="right")
    table.add_column("next added_after")
    for alias, count in report.collections.items():
        table.add_row(alias, f"{count:,}", report.checkpoints.get(alias, "-"))
    console.print(table)
    console.print(
        f"contributions: {report.new:,} new, {report.updated:,} updated, {report.revoked:,} revoked, "
        f"{report.unchanged:,} unchanged, {report.not_matchable:,} not matchable (narrative/technique)"
    )
    console.print(
        f"index: +{report.index_added:,} signals, -{report.index_removed_revoked:,} revoked, "
        f"-{report.index_removed_expired:,} expired"
        + (f", -{report.index_removed_invisible:,} no longer visible" if report.full else "")
        + f"; {report.signals_indexed:,} signals indexed "
        + "("
        + ", ".join(f"{k} {v:,}" for k, v in report.by_type.items())
        + ")"
    )
    console.print(
        f"feedback: {report.opinions:,} opinions, {report.sightings:,} sightings stored"
        + (f" ({report.feedback_unresolved:,} about nothing we hold)" if report.feedback_unresolved else "")
        + f"; {report.arrived:,} signals arrived (for `vigil match retro`)"
    )
    if report.coalition:
        console.print(
            f"coalition quarantine: {report.coalition.get('quarantined', 0):,} quarantined, "
            f"{report.coalition.get('released', 0):,} released"
        )
    if report.benign_added or report.benign_removed:
        console.print(
            f"shared benign entries: +{report.benign_added:,}, -{report.benign_removed:,} (benign bank)"
        )
    for problem in report.unusable[:20]:
        console.print(f"[yellow]skipped[/] {problem}", highlight=False)
    if len(report.unusable) > 20:
        console.print(f"[yellow]... and {len(report.unusable) - 20} more skipped objects[/]")
    if retro_posts is not None and retro_out is not None:
        _retro(index, retro_posts, retro_out, retro_days, None, None, retro_report, server, key, 20)


@group.command("run")
def run_command(
    posts: Path = typer.Argument(..., help="Posts Parquet file (POSTS schema) or a directory of them."),
    index: Path = INDEX,
    out: Path = typer.Option(..., "--out", help="Output directory for matches.parquet and summary.parquet."),
    rules: Path | None = typer.Option(None, "--rules", help="Actioner rule file (YAML)."),
    report: bool = typer.Option(False, "--report", help="Post sightings of matched signals to the exchange."),
    server: str | None = typer.Option(None, "--server", help=SERVER_HELP + " Needed with --report."),
    key: str | None = typer.Option(None, "--key", envvar="VIGIL_API_KEY", help=KEY_HELP),
    top: int = typer.Option(20, "--top", min=0, help="Summary rows to print."),
    flood_per_hour: int = typer.Option(
        1000, "--flood-per-hour", min=0, help="Quarantine a signal above this many posts in an hour (0: off)."
    ),
    flood_share: float = typer.Option(
        0.02,
        "--flood-share",
        min=0,
        max=1,
        help="Quarantine a signal above this share of posts read (0: off).",
    ),
) -> None:
    """Match posts against the index; write matches, apply rules, optionally report sightings.

    Signals that flood (see --flood-per-hour, --flood-share) are quarantined: their matches are
    written but not acted on until released with `vigil match quarantine --release`. Values in the
    benign bank (`vigil match benign`) match nothing. Each match's decay score counts the opinions
    fetched with the index (confirmations, false positives, disputes)."""
    from vigil.cli.progress import RichProgress
    from vigil.core.ids import new_id
    from vigil.core.settings import load_settings
    from vigil.match.benign import BenignBank
    from vigil.match.feedback import FeedbackLedger
    from vigil.match.matcher import match_posts
    from vigil.match.quarantine import FloodGuard, FloodPolicy, QuarantineStore
    from vigil.match.rules import load_rules
    from vigil.match.state import locked, open_index, read_state

    ruleset = load_rules(rules) if rules is not None else None  # a bad rule file fails before any work
    if report and (not server or not key):
        raise InputError("--report needs --server and --key (or VIGIL_API_KEY)")
    read_state(index)  # no index here: say so before anything is created
    policy = FloodPolicy(max_per_hour=flood_per_hour or None, max_share=flood_share or None)
    with locked(index, exclusive=False):
        settings = load_settings()
        loaded = open_index(index, settings=settings)
        feedback = FeedbackLedger.of_index(loaded).feedback()
        with (
            RichProgress() as progress,
            BenignBank.of_index(index, settings) as benign,
            QuarantineStore.of_index(index) as store,
        ):
            guard = FloodGuard(store, policy, run_id=new_id("match-run"))
            run = match_posts(
                posts, loaded, out, progress=progress, benign=benign, guard=guard, feedback=feedback
            )
            quarantined = store.active()
    _after_run(run, index, top, ruleset, quarantined, report, server, key)


def _after_run(
    run: MatchRun,
    index: Path,
    top: int,
    ruleset: RuleSet | None,
    quarantined: set[str],
    report: bool,
    server: str | None,
    key: str | None,
) -> None:
    """Print a run, act on it with the rules, tell the sources of quarantines, report sightings."""
    from vigil.cli.progress import RichProgress
    from vigil.match.actioner import ReviewQueue, run_actions
    from vigil.match.sightings import SightingLedger, report_sightings, sightings_from_summary

    console.print(
        f"{run.posts_read:,} posts read, {run.posts_matched:,} matched {run.signals_matched:,} signals "
        f"({run.matches:,} match rows: "
        + (", ".join(f"{k} {v:,}" for k, v in sorted(run.by_type.items())) or "none")
        + ")"
    )
    if run.suppressed_benign:
        console.print(f"{run.suppressed_benign:,} post values were in the benign bank (not matched)")
    for signal_id in run.quarantined:
        console.print(f"[yellow]quarantined (flood):[/] {signal_id}", highlight=False)
    if run.skipped_expired:
        console.print(f"{run.skipped_expired:,} hits on signals expired since the last fetch were ignored")
    console.print(f"matches: {run.matches_path}\nsummary: {run.summary_path}")
    _print_summary(run.summary_path, top)
    failed = False
    if ruleset is not None and run.matches_path is not None:
        with ReviewQueue.of_index(index) as queue:
            actions = run_actions(
                run.matches_path, ruleset, run_id=run.run_id, queue=queue, quarantined=quarantined
            )
        table = Table(title="Rules")
        for column in (
            "rule",
            "selected",
            "held: RED",
            "held: low conf.",
            "held: flood",
            "queued",
            "queued before",
            "posted",
            "not posted",
        ):
            table.add_column(column, justify="left" if column == "rule" else "right")
        for name, o in actions.rules.items():
            table.add_row(
                name,
                f"{o.selected:,}",
                f"{o.excluded_red:,}",
                f"{o.excluded_low_confidence:,}",
                f"{o.held_quarantined:,}",
                f"{o.queued_new:,}",
                f"{o.queued_before:,}",
                f"{o.webhook_delivered:,}",
                f"{o.webhook_failed + o.webhook_undelivered:,}",
            )
        console.print(table)
        for o in actions.rules.values():
            for error in o.errors:
                console.print(f"[red]webhook failed:[/] {error}", highlight=False)
        failed = actions.failed
    if report and run.quarantined:
        from vigil.match.quarantine import QuarantineStore, notify_sources

        assert server is not None and key is not None
        with QuarantineStore.of_index(index) as store:
            held = {q.signal_id: q for q in store.items()}
        for signal_id in run.quarantined:
            q = held[signal_id]
            notify_sources(server, key, signal_id, "quarantined", posts=q.posts, reason=q.reason)
        console.print(f"sources notified of {len(run.quarantined)} quarantined signal(s)")
    if report and run.summary_path is not None:
        assert server is not None and key is not None
        with SightingLedger.of_index(index) as ledger, RichProgress() as progress:
            result = report_sightings(
                server, key, sightings_from_summary(run.summary_path), ledger=ledger, progress=progress
            )
        console.print(
            f"sightings reported: {result.reported:,} (covering {result.posts:,} posts); "
            f"{result.already_reported:,} reported before; "
            f"{len(result.not_visible):,} signals no longer visible; {len(result.failed):,} failed"
        )
        for problem in result.failed:
            console.print(f"[red]sighting failed:[/] {problem}", highlight=False)
        failed = failed or bool(result.failed)
    if failed:
        raise ExternalServiceError("some actions or sightings failed; see above (matches were written)")


@group.command("retro")
def retro_command(
    index: Path = INDEX,
    posts: Path = typer.Option(
        ..., "--posts", help="Stored posts: a POSTS Parquet file or a directory of them."
    ),
    out: Path = typer.Option(..., "--out", help="Output directory for matches.parquet and summary.parquet."),
    days: int = typer.Option(30, "--days", min=1, help="Match only posts created in the last N days."),
    since: str | None = typer.Option(
        None,
        "--since",
        help="Signals that arrived in fetches after this time (ISO 8601); default: the last retro run's "
        "checkpoint, or every fetch on record.",
    ),
    rules: Path | None = typer.Option(None, "--rules", help="Actioner rule file (YAML)."),
    report: bool = typer.Option(False, "--report", help="Post sightings of what was found to the exchange."),
    server: str | None = typer.Option(None, "--server", help=SERVER_HELP + " Needed with --report."),
    key: str | None = typer.Option(None, "--key", envvar="VIGIL_API_KEY", help=KEY_HELP),
    top: int = typer.Option(20, "--top", min=0, help="Summary rows to print."),
) -> None:
    """Retroactive matching: signals that arrived since the last retro run, against stored posts.

    Only the new signals are matched (a small index of them), against the posts of the last
    --days days; the benign bank and quarantines apply as in `vigil match run`. The checkpoint
    (DIR/retro.json) moves on once the run is written."""
    from vigil.core.time import parse_instant
    from vigil.match.rules import load_rules

    ruleset = load_rules(rules) if rules is not None else None
    if report and (not server or not key):
        raise InputError("--report needs --server and --key (or VIGIL_API_KEY)")
    start = parse_instant(since) if since else None
    _retro(index, posts, out, days, start, ruleset, report, server, key, top)


def _retro(
    index: Path,
    posts: Path,
    out: Path,
    days: int,
    start: datetime | None,
    ruleset: RuleSet | None,
    report: bool,
    server: str | None,
    key: str | None,
    top: int,
) -> None:
    from vigil.cli.progress import RichProgress
    from vigil.core.settings import load_settings
    from vigil.match.benign import BenignBank
    from vigil.match.quarantine import QuarantineStore
    from vigil.match.retro import retro_arrivals
    from vigil.match.state import locked, open_index, read_state

    read_state(index)
    with locked(index, exclusive=False):
        settings = load_settings()
        loaded = open_index(index, settings=settings)
        with (
            RichProgress() as progress,
            BenignBank.of_index(index, settings) as benign,
            QuarantineStore.of_index(index) as store,
        ):
            result = retro_arrivals(
                index, loaded, posts, out, days=days, since=start, benign=benign, progress=progress
            )
            quarantined = store.active()
    covered = f"after {result.since:%Y-%m-%d %H:%M:%S} UTC" if result.since else "on record"
    console.print(
        f"{result.signals:,} active signals arrived in fetches {covered}; posts of the last {days} days"
    )
    if result.run is None:
        console.print("nothing new to match")
        return
    _after_run(result.run, index, top, ruleset, quarantined, report, server, key)


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_summary(path: Path | None, top: int) -> None:
    import pyarrow.parquet as pq

    if path is None or top == 0:
        return
    rows = pq.read_table(str(path)).slice(0, top).to_pylist()
    if not rows:
        return
    table = Table(title=f"Matched signals (top {len(rows)})")
    for column in (
        "type",
        "value",
        "platform",
        "posts",
        "accounts",
        "first seen",
        "last seen",
        "campaign",
        "TLP",
    ):
        table.add_column(column, no_wrap=column in ("type", "value", "first seen", "last seen"))
    for row in rows:
        value = row["signal_value"]
        table.add_row(
            row["signal_type"],
            _short(value, 30),
            row["platform"],
            f"{row['posts']:,}",
            f"{row['accounts']:,}",
            row["first_seen"].strftime("%Y-%m-%d %H:%M") if row["first_seen"] else "-",
            row["last_seen"].strftime("%Y-%m-%d %H:%M") if row["last_seen"] else "-",
            ", ".join(row["campaigns"]) or "-",
            ", ".join(row["tlps"]) or "-",
        )
    console.print(table)


@group.command("queue")
def queue_command(
    index: Path = INDEX,
    status: str = typer.Option("open", "--status", help="open, closed or all."),
    rule: str | None = typer.Option(None, "--rule", help="Only this rule's items."),
    limit: int = typer.Option(50, "--limit", min=1, help="Items to show."),
    close: list[int] = typer.Option([], "--close", help="Mark these item ids closed (repeatable)."),
) -> None:
    """Show the review queue (and close items an analyst has dealt with)."""
    from vigil.match.actioner import ReviewQueue

    if not (Path(index) / "queue.sqlite").exists():
        raise InputError(f"no review queue in {index} (run `vigil match run --rules ...` with a queue rule)")
    with ReviewQueue.of_index(index) as queue:
        if close:
            changed = queue.set_status(close, "closed")
            console.print(f"closed {changed} item(s)")
        items = queue.items(status=None if status == "all" else status, rule=rule, limit=limit)
        counts = queue.counts()
    table = Table(
        title=f"Review queue ({', '.join(f'{k} {v}' for k, v in sorted(counts.items())) or 'empty'})"
    )
    for column in (
        "id",
        "rule",
        "status",
        "post",
        "account",
        "posted",
        "type",
        "signal",
        "dist.",
        "campaign",
        "TLP conf.",
    ):
        table.add_column(column, no_wrap=column in ("id", "posted", "signal", "dist."))
    for item in items:
        table.add_row(
            str(item["id"]),
            item["rule"],
            item["status"],
            f"{item['platform']}:{item['post_id']}",
            item["account_handle"] or item["account_id"] or "-",
            (item["created_at"] or "-")[5:16].replace("T", " "),
            item["signal_type"],
            _short(str(item["signal_value"]), 20),
            f"{item['distance']:.3g}",
            item["campaign_name"] or item["campaign_id"] or "-",
            f"{item['tlp'] or '-'} {'' if item['confidence'] is None else item['confidence']}",
        )
    console.print(table)


@group.command("quarantine")
def quarantine_command(
    index: Path = INDEX,
    release: list[str] = typer.Option([], "--release", help="Release this signal id (repeatable)."),
    by: str | None = typer.Option(None, "--by", help="Who reviewed it (needed with --release)."),
    note: str | None = typer.Option(None, "--note", help="Why it is released."),
    show_all: bool = typer.Option(False, "--all", help="Released signals too."),
    server: str | None = typer.Option(
        None, "--server", help=SERVER_HELP + " Tells the sources of a release."
    ),
    key: str | None = typer.Option(None, "--key", envvar="VIGIL_API_KEY", help=KEY_HELP),
) -> None:
    """Signals in flood quarantine (held from the actioner); release them after review."""
    from vigil.match.quarantine import QuarantineStore, notify_sources

    if release and not by:
        raise InputError("--release needs --by (who reviewed it)")
    with QuarantineStore.of_index(index) as store:
        for signal_id in release:
            store.release(signal_id, actor=by or "", note=note)
            console.print(f"released {signal_id}")
            if server and key:
                notified = notify_sources(server, key, signal_id, "released", reason=note)
                console.print(f"  sources notified: {', '.join(notified) or 'none'}")
        items = store.items(status=None if show_all else "quarantined")
    table = Table(title="Flood quarantine")
    for column in ("signal", "scope", "type", "value", "status", "since", "reason", "sources"):
        table.add_column(column)
    for q in items:
        table.add_row(
            q.signal_id,
            q.scope,
            q.signal_type,
            _short(q.signal_value, 20),
            q.status,
            q.quarantined_at[:16],
            q.reason,
            ", ".join(q.org_ids),
        )
    console.print(table)


@group.command("benign")
def benign_command(
    index: Path = INDEX,
    kind: str | None = typer.Option(None, "--kind", help="Signal type of the values to --add."),
    add: list[str] = typer.Option([], "--add", help="Add this value (repeatable; needs --kind)."),
    import_file: Path | None = typer.Option(None, "--import", help="Import a warning-list-format YAML file."),
    remove: list[int] = typer.Option([], "--remove", help="Remove the entry with this id (repeatable)."),
    tlp: str = typer.Option("GREEN", "--tlp", help="TLP of added entries (who they may be shared with)."),
    label: str | None = typer.Option(None, "--label", help="Why the added values are benign."),
    share: bool = typer.Option(
        False, "--share", help="Publish your entries whose TLP allows it to the exchange (TAXII)."
    ),
    server: str | None = typer.Option(None, "--server", help=SERVER_HELP + " Needed with --share."),
    key: str | None = typer.Option(None, "--key", envvar="VIGIL_API_KEY", help=KEY_HELP),
    collection: str | None = typer.Option(
        None, "--collection", help="With --share: only the entries that belong in this collection."
    ),
    pull_lists: bool = typer.Option(
        False, "--pull-lists", help="Pull the coalition's warning lists from the exchange into the bank."
    ),
    list_names: list[str] = typer.Option(
        [],
        "--list",
        help="With --pull-lists: only this warning list (repeatable; default: every block list, "
        "whose values are known benign; a flag list is pulled only when named).",
    ),
    trust: list[str] = typer.Option(
        [], "--trust", help="Apply the benign entries this organisation shares (its id; repeatable)."
    ),
    untrust: list[str] = typer.Option(
        [], "--untrust", help="Stop applying this organisation's shared entries (repeatable)."
    ),
) -> None:
    """The benign bank: values whose matches are suppressed (near-matches of hashes included).

    --share publishes your own entries as STIX indicators (indicator_types ["benign"]) with their
    TLP: CLEAR/GREEN to the coalition collection, AMBER to your AMBER audience; AMBER+STRICT and
    RED ones stay here. Members' fetches put them in their benign banks.

    Entries another member shares are listed but suppress nothing until you --trust that member:
    a benign entry silences every bank, so no member can silence the others' signals alone.

    --pull-lists takes the coalition's warning lists (its known-benign values) as entries of
    source coalition:<list>; pulling again makes them the list as it is now (values removed
    from the list leave the bank; your own and other members' entries stay)."""
    from vigil.match.benign import BenignBank, share_entries
    from vigil.match.benign import pull_lists as pull

    if add and not kind:
        raise InputError("--add needs --kind")
    if share and (not server or not key):
        raise InputError("--share needs --server and --key (or VIGIL_API_KEY)")
    if pull_lists and (not server or not key):
        raise InputError("--pull-lists needs --server and --key (or VIGIL_API_KEY)")
    if list_names and not pull_lists:
        raise InputError("--list needs --pull-lists")
    failed: list[str] = []
    with BenignBank.of_index(index) as bank:
        if add and kind:
            console.print(f"{bank.add(kind, add, label=label, tlp=tlp)} entr(ies) added")
        if import_file is not None:
            console.print(f"{bank.import_list(import_file, tlp=tlp)} entr(ies) imported")
        for entry_id in remove:
            bank.remove(entry_id)
            console.print(f"removed entry {entry_id}")
        for org_id in trust:
            bank.trust(org_id)
            console.print(f"trusted: benign entries shared by {org_id} now apply", highlight=False)
        for org_id in untrust:
            if not bank.untrust(org_id):
                raise InputError(f"--untrust {org_id}: that organisation is not trusted", field="untrust")
            console.print(f"untrusted: entries shared by {org_id} no longer apply", highlight=False)
        if pull_lists:
            assert server is not None and key is not None
            pulled = pull(bank, server, key, list_names)
            for name, (values, added, dropped) in pulled.lists.items():
                skipped = pulled.skipped_kinds.get(name)
                console.print(
                    f"warning list {name}: {values:,} value(s), +{added:,} new, -{dropped:,} removed"
                    + (f" (kinds not matchable, skipped: {', '.join(skipped)})" if skipped else ""),
                    highlight=False,
                )
            if pulled.flag_only:
                console.print(
                    f"not pulled (flag lists: too broad, not known benign; name them with --list): "
                    f"{', '.join(pulled.flag_only)}",
                    highlight=False,
                )
        if share:
            assert server is not None and key is not None
            shared = share_entries(bank, server, key, collection=collection)
            console.print(
                f"shared: {shared.published:,} entr(ies) published, {shared.revoked:,} revoked, "
                f"{shared.kept_back:,} kept back (AMBER+STRICT/RED)"
                + "".join(f"; {alias} {n:,}" for alias, n in shared.by_collection.items())
            )
            failed = shared.failed
            for problem in failed:
                console.print(f"[red]not shared:[/] {problem}", highlight=False)
        entries = bank.entries()
        trusted = bank.trusted()
        applied = {e.id for e in entries if bank.applies(e, trusted)}
    table = Table(title=f"Benign bank ({len(entries)} entries, {len(applied)} applied)")
    for column in ("id", "type", "value", "label", "TLP", "source", "applies"):
        table.add_column(column)
    for e in entries:
        table.add_row(
            str(e.id),
            e.kind,
            _short(e.value, 40),
            e.label or "-",
            e.tlp,
            e.source,
            "yes" if e.id in applied else "no (--trust the sharer)",
        )
    console.print(table)
    if failed:
        raise ExternalServiceError(f"{len(failed)} entr(ies) not shared; see above")


@group.command("status")
def status_command(index: Path = INDEX) -> None:
    """Where the index comes from, its checkpoints, and what it holds."""
    from vigil.match.state import read_state

    state = read_state(index)
    console.print(f"server: {state.get('server')}\nlast fetch: {state.get('last_fetch')}")
    table = Table(title="Checkpoints (next fetch asks added_after)")
    table.add_column("collection")
    table.add_column("added_after")
    collections = state.get("collections") or {}
    for collection_id, checkpoint in sorted((state.get("checkpoints") or {}).items()):
        table.add_row(collections.get(collection_id, collection_id), checkpoint)
    console.print(table)
    counts = state.get("counts") or {}
    by_type = Table(title="Indexed signals")
    by_type.add_column("type")
    by_type.add_column("signals", justify="right")
    for name, count in (counts.get("by_type") or {}).items():
        by_type.add_row(name, f"{count:,}")
    console.print(by_type)
    console.print(
        f"{counts.get('signals_indexed', 0):,} signals indexed from {counts.get('contributions', 0):,} "
        "contributions (revoked and expired ones are kept on record, out of the index)"
    )
    from vigil.match.feedback import FeedbackLedger
    from vigil.match.retro import read_checkpoint

    tallies = FeedbackLedger.of_generation(Path(index) / state["generation"]).counts().values()
    console.print(
        f"feedback fetched on {len(tallies):,} signals: "
        f"{sum(t.confirmations for t in tallies):,} confirmations, "
        f"{sum(t.false_positives for t in tallies):,} false positives, "
        f"{sum(t.disputes for t in tallies):,} disputes, {sum(t.sightings for t in tallies):,} sightings"
    )
    checkpoint = read_checkpoint(index)
    console.print(f"retroactive matching covered fetches up to: {checkpoint or 'none yet'}")
