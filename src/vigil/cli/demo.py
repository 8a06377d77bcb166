"""``vigil demo``: the whole flow in one command, on embedded defaults.

1. generate a labelled multi-platform, multilingual data set (``vigil.synth``);
2. set up a coalition: an operator, two member platforms (Examplebook, Chirper) and a government
   partner (Electoral Commission), each with admin, analyst and read-only keys;
3. Examplebook detects campaigns (``vigil.detect``) and opens a case per campaign
   (``vigil.cases.from_detection``: exchange campaign + signals + case), under markings that vary
   (GREEN; AMBER shared with the government; AMBER for platforms only);
4. the government partner shares an Arabic narrative and gives opinions; cases move along;
5. the server starts on 127.0.0.1; Chirper fetches what it may see over TAXII, matches its own
   posts (``vigil.match``) and reports sightings through the API;
6. the dashboard keeps serving (unless ``--no-serve``) and the address and demo keys are printed.

The steps live in ``vigil.cli.demo_run`` (the CLI is the top layer, so it may orchestrate every
package; each step calls the same service the corresponding ``vigil`` command calls). A data
directory holding a demo is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from vigil.cli.console import VigilConsole
from vigil.core.errors import InputError

if TYPE_CHECKING:
    from vigil.cli.demo_run import DemoResult

console = VigilConsole()
app = typer.Typer()


def print_result(result: DemoResult) -> None:
    from vigil.cli import demo_run  # its constants; imported late like the rest of the demo (start-up)

    s = result.summary
    table = Table(title="Vigil demo", show_header=False)
    table.add_column("what")
    table.add_column("value")
    gen = s["generated"]
    table.add_row(
        "data set",
        f"{gen['posts']:,} posts, {gen['accounts']:,} accounts, "
        f"{gen['planted_campaigns']} planted campaigns ({', '.join(gen['posts_by_platform'])})",
    )
    table.add_row("detected campaigns (Examplebook)", str(s["detected_campaigns"]))
    table.add_row(
        "cases opened",
        f"{s['cases']} ({s['warninglisted_items_left_out']} items on a blocking warning list not shared)",
    )
    gov = s["government"]
    table.add_row("government partner", f"{gov['narratives']} narrative shared, {gov['opinions']} opinions")
    ch = s["chirper"]
    table.add_row(
        "Chirper matching",
        f"{ch['signals_fetched']} signals fetched over TAXII, "
        f"{ch['posts_matched']:,} of {ch['posts_read']:,} posts matched {ch['signals_matched']} signals, "
        f"{ch['sightings_reported']} sightings reported",
    )
    cal = s["calendar"]
    table.add_row(
        "election calendar",
        f"{cal['election']}: {cal['dates']} key dates, polling day in {cal['days_to_polling_day']} days",
    )
    m = s["meetings"]
    table.add_row(
        "meetings",
        f"{m['held']} held ({m['updates']} member updates, minutes, {m['action_items']} action items, "
        f"{m['overdue']} overdue), {m['to_come']} to come",
    )
    if "disclosure" in s:
        d = s["disclosure"]
        table.add_row(
            "disclosure",
            f"case 1 disclosed: {d['released']} items released as TLP:CLEAR, "
            f"{d['actions']} takedowns; report in {d['report']}",
        )
    p = s["policies"]
    table.add_row(
        "policy register",
        f"{p['recorded']} versions from {p['members']} members over {p['areas']} areas, "
        f"{p['changes_last_day']} changed in the last day, {p['gaps']} gaps",
    )
    b = s["briefing"]
    table.add_row(
        "government briefing", f"issued to {demo_run.GOVERNMENT}: {b['cases']} cases, {b['signals']} signals"
    )
    table.add_row("took", f"{s['seconds']} s")
    table.add_row("data directory", str(result.data_dir))
    console.print(table)
    where = f"{result.data_dir / demo_run.KEYS_FILE} and, for a shell, {demo_run.ENV_FILE}"
    keys = Table(title=f"Demo keys (also in {where})")
    keys.add_column("organisation")
    keys.add_column("role")
    keys.add_column("API key", overflow="fold", no_wrap=False, min_width=60)
    for org, roles in result.keys.items():
        for role, key in roles.items():
            keys.add_row(org, role, key)
    console.print(keys)


@app.command("demo")
def demo(
    posts: int = typer.Option(60_000, "--posts", help="Posts to generate."),
    data_dir: Path = typer.Option(Path("vigil-demo"), "--data-dir", help="Directory for everything."),
    port: int | None = typer.Option(
        None, "--port", help="Dashboard port (default 8000; free with --no-serve)."
    ),
    seed: int = typer.Option(7, "--seed", help="Seed of the generated data set."),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="Keep serving the dashboard afterwards."),
) -> None:
    """The whole flow: generate, detect, open cases, share, match, report sightings, serve."""
    # Imported here, not at the top: the demo's steps import every package of Vigil, which
    # `vigil --help` must not pay for (tests/cli/test_startup.py).
    from vigil.cli.demo_run import run_demo
    from vigil.cli.progress import RichProgress

    if posts < 1:
        raise InputError(f"--posts must be positive, got {posts}")
    with RichProgress() as progress:
        result, server = run_demo(data_dir, posts=posts, seed=seed, port=port, serve=serve, progress=progress)
    print_result(result)
    if not serve:
        server.stop()
        console.print(f"Serve it later with: vigil serve --data-dir {result.data_dir}")
        return
    console.print(f"[bold]Dashboard: {result.url}/[/]  (sign in with a key above; Ctrl-C stops)")
    try:
        while server.thread.is_alive():
            server.thread.join(timeout=0.5)
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        server.stop()
