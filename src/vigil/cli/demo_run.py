"""The steps of ``vigil demo`` (see ``vigil.cli.demo``): generate, set up a coalition, detect, open
cases, share, match over TAXII, meet, record policies, disclose, brief.

The CLI is the top layer, so this module may orchestrate every package; each step calls the same
service the corresponding ``vigil`` command calls. Only the ``demo`` command imports this module
(when it runs), so its imports sit at the top like any library module's.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import uvicorn
from sqlalchemy.orm import Session

from vigil.cases.briefing import BriefingService
from vigil.cases.disclosure import DisclosureService
from vigil.cases.from_detection import DetectedCampaign, load_detected, open_case
from vigil.cases.meetings import MeetingService
from vigil.cases.policies import PolicyService
from vigil.cases.records import Case
from vigil.cases.service import CaseService
from vigil.cli.serve import check_port
from vigil.core.errors import Conflict, VigilError
from vigil.core.files import write_atomic
from vigil.core.progress import Progress
from vigil.core.settings import Settings, load_settings
from vigil.core.time import utcnow
from vigil.db import Database, upgrade
from vigil.detect.pipeline import detect
from vigil.exchange import warninglists
from vigil.exchange.access import Principal
from vigil.exchange.records import TLP, Marking, SignalKind
from vigil.exchange.store import ExchangeStore, SignalFilter
from vigil.exchange.values import normalize_value
from vigil.match.fetch import fetch_signals
from vigil.match.matcher import match_posts
from vigil.match.sightings import SightingLedger, report_sightings, sightings_from_summary
from vigil.match.state import open_index
from vigil.synth.config import GeneratorConfig
from vigil.synth.generator import generate
from vigil.web.app import create_app
from vigil.web.pages.detections import detections_dir

MARKER = "demo.json"
KEYS_FILE = "demo-keys.json"
ENV_FILE = "demo.env"  # the URL and keys as shell variables
OPERATOR, EXAMPLEBOOK, CHIRPER, GOVERNMENT = (
    "Vigil Coalition",
    "Examplebook",
    "Chirper",
    "Electoral Commission",
)
ELECTION = "General election"
DISCLOSURE_FILE = "disclosure-report.html"  # the public report of the case taken to disclosure
CHIRPER_PLATFORM = "telegram"  # Chirper's own posts are the data set's telegram posts


@dataclass
class DemoResult:
    data_dir: Path
    url: str
    keys: dict[str, dict[str, str]]  # org name -> role -> key
    orgs: dict[str, str]  # org name -> id
    summary: dict[str, Any] = field(default_factory=dict)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _refuse_existing(data_dir: Path) -> None:
    if (data_dir / MARKER).exists():
        raise Conflict(
            f"{data_dir} already holds a demo ({MARKER}); serve it again with "
            f"`vigil serve --data-dir {data_dir}`, or choose another --data-dir"
        )
    if (data_dir / "vigil.db").exists():
        raise Conflict(
            f"{data_dir} already holds an exchange database (vigil.db); choose an empty --data-dir"
        )


class _Server:
    """uvicorn in a background thread, so the demo can talk to its own server over HTTP."""

    def __init__(self, settings: Settings) -> None:
        config = uvicorn.Config(
            create_app(settings), host=settings.host, port=settings.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="vigil-demo-server", daemon=True)

    def start(self, timeout: float = 30.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise VigilError("the demo server did not start (is the port free?)")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _coalition(db: Database) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    orgs: dict[str, str] = {}
    keys: dict[str, dict[str, str]] = {}
    with db.session() as session:
        store = ExchangeStore(session)
        for name, kind, operator in (
            (OPERATOR, "research", True),
            (EXAMPLEBOOK, "platform", False),
            (CHIRPER, "platform", False),
            (GOVERNMENT, "government", False),
        ):
            org = store.create_org(None, name, kind, operator=operator)
            orgs[name] = org.id
            roles = ("admin",) if operator else ("admin", "analyst", "read-only")
            keys[name] = {
                role: store.create_key(None, org.id, role, name=f"demo {role}")[1] for role in roles
            }
    return orgs, keys


def _principal(db: Database, key: str) -> Principal:
    with db.session() as session:
        return ExchangeStore(session).authenticate(key)


def _open_cases(
    db: Database, detect_dir: Path, orgs: dict[str, str], keys: dict[str, dict[str, str]]
) -> tuple[list[Case], int]:
    """Examplebook opens one case per detected campaign, under varying markings, and moves them on."""
    document = json.loads((detect_dir / "campaigns.json").read_text("utf-8"))
    analyst = _principal(db, keys[EXAMPLEBOOK]["analyst"])
    markings = [
        Marking(TLP.GREEN),
        Marking(TLP.AMBER, (orgs[GOVERNMENT],)),  # the government partner is named
        Marking(TLP.AMBER),  # platforms only: the government never sees it
    ]
    cases = []
    skipped = 0
    for i, campaign in enumerate(document.get("campaigns", [])):
        detected = load_detected(detect_dir, campaign["campaign_id"])
        readable = [i["value"] for i in detected.items if i["kind"] in {"domain", "hashtag", "url"}]
        top = readable[0] if readable else None
        title = f"Campaign #{campaign['rank']}: {', '.join(detected.platforms)}" + (
            f" · {top}" if top else ""
        )
        with db.session() as session:
            skipped += _drop_blocked(session, detected)
            service = CaseService(session, analyst)
            case = open_case(service, detected, markings[i % len(markings)], title=title, confidence=70)
            if i % 3 != 2:
                service.transition(case.id, "investigating", reason="detection evidence reviewed")
            if i == 0:
                service.add_comment(case.id, "Same links pushed on two platforms within minutes.")
            if i == 1:  # case 0 goes through to disclosure (_disclose), so the embargo is on case 1
                service.set_embargo(case.id, utcnow() + timedelta(days=2))
            cases.append(service.get_case(case.id))
    return cases, skipped


def _drop_blocked(session: Session, detected: DetectedCampaign) -> int:
    """Leave out items on a blocking warning list (a news site a campaign linked to is no signal);
    a real analyst would review them, the demo just does not share them."""
    kept = []
    for item in detected.items:
        kind, value = normalize_value(SignalKind(item["kind"]), item["value"])
        hits = warninglists.hits(session, kind, value)
        if not any(h.action is warninglists.Action.BLOCK for h in hits):
            kept.append(item)
    dropped = len(detected.items) - len(kept)
    detected.items = kept
    return dropped


def _government_input(db: Database, keys: dict[str, dict[str, str]], detect_dir: Path) -> dict[str, int]:
    """The government partner shares a narrative (Arabic when the data has one) and gives opinions."""
    document = json.loads((detect_dir / "campaigns.json").read_text("utf-8"))
    posts = [p for c in document.get("campaigns", []) for p in c.get("sample_posts", []) if p.get("text")]
    chosen = next((p for p in posts if p.get("lang") == "ar"), posts[0] if posts else None)
    gov = _principal(db, keys[GOVERNMENT]["analyst"])
    opinions = 0
    with db.session() as session:
        store = ExchangeStore(session)
        if chosen is not None:
            store.submit_signal(
                gov,
                SignalKind.NARRATIVE,
                chosen["text"],
                marking=Marking(TLP.GREEN),
                confidence=60,
                tags=("election-integrity",),
                language=chosen.get("lang"),
                description="Narrative reported to the commission's hotline; seen in coordinated posts.",
            )
        page = store.list_signals(gov, SignalFilter(tlps=(TLP.GREEN,)), limit=20)
        for n, signal in enumerate(s for s in page.items if s.kind is not SignalKind.NARRATIVE):
            if n >= 6:
                break
            store.set_opinion(
                gov, signal.id, "confirmed" if n % 3 else "disputed", "checked against hotline reports"
            )
            opinions += 1
    return {"narratives": 1 if chosen is not None else 0, "opinions": opinions}


def _chirper_posts(posts: Path, out: Path) -> Path:
    table = pq.read_table(str(posts))
    table = table.filter(pc.equal(table.column("platform"), CHIRPER_PLATFORM))
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, str(out))
    return out


def _match(
    data_dir: Path, url: str, key: str, posts: Path, settings: Settings, progress: Progress
) -> dict[str, Any]:
    """Chirper: fetch over TAXII, match its posts, report sightings (as ``vigil match`` does)."""
    index_dir = data_dir / "chirper" / "match-index"
    fetched = fetch_signals(index_dir, url, key, settings=settings, progress=progress)
    index = open_index(index_dir, settings=settings)
    run = match_posts(posts, index, data_dir / "chirper" / "matches", progress=progress)
    reported = 0
    if run.summary_path is not None:
        with SightingLedger.of_index(index_dir) as ledger:
            result = report_sightings(url, key, sightings_from_summary(run.summary_path), ledger=ledger)
        reported = result.reported
    return {
        "signals_fetched": fetched.signals_indexed,
        "posts_read": run.posts_read,
        "posts_matched": run.posts_matched,
        "signals_matched": run.signals_matched,
        "sightings_reported": reported,
    }


def _chirper_opinions(db: Database, keys: dict[str, dict[str, str]]) -> int:
    chirper = _principal(db, keys[CHIRPER]["analyst"])
    done = 0
    with db.session() as session:
        store = ExchangeStore(session)
        page = store.list_signals(chirper, SignalFilter(), limit=500)
        for signal in page.items:
            if any(s.org_id == chirper.org_id for s in signal.sightings) and done < 10:
                store.set_opinion(chirper, signal.id, "confirmed", "sighted on Chirper")
                done += 1
    return done


def _election_calendar(db: Database, keys: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The government partner's election calendar, counting down from today."""
    gov = _principal(db, keys[GOVERNMENT]["analyst"])
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    dates = (
        ("registration_deadline", 9, "Voter registration closes"),
        ("debate", 12, "Televised leaders' debate"),
        ("early_voting", 16, "Early and postal voting opens"),
        ("election_day", 23, "Polling day"),
        ("certification", 37, "Results certified"),
    )
    with db.session() as session:
        service = MeetingService(session, gov)
        for kind, days, title in dates:
            service.add_election_date(ELECTION, kind, today + timedelta(days=days), title)
        countdown = service.countdown(limit=len(dates))
    return {
        "election": ELECTION,
        "dates": len(dates),
        "next": countdown[0][0].title if countdown else None,
        "days_to_polling_day": next((days for d, days in countdown if d.kind == "election_day"), None),
    }


def _meetings(db: Database, orgs: dict[str, str], keys: dict[str, dict[str, str]]) -> dict[str, Any]:
    """A weekly sync convened by Examplebook: two held (updates, minutes, decisions, action items,
    one overdue) and two to come."""
    convener = _principal(db, keys[EXAMPLEBOOK]["analyst"])
    members = {org: _principal(db, keys[org]["analyst"]) for org in (CHIRPER, GOVERNMENT)}
    now = utcnow()
    first = now.replace(hour=14, minute=0, second=0, microsecond=0) - timedelta(days=8)
    green, platforms_only = Marking(TLP.GREEN), Marking(TLP.AMBER)
    with db.session() as session:
        chair = MeetingService(session, convener)
        series = chair.create_meeting(
            "Weekly coalition sync",
            first,
            invited={orgs[CHIRPER]: "member", orgs[GOVERNMENT]: "member"},
            recurrence="weekly",
            occurrences=4,
        )
        held = series[:2]
        services = {EXAMPLEBOOK: chair} | {
            org: MeetingService(session, principal) for org, principal in members.items()
        }
        updates = 0
        for n, meeting in enumerate(held):
            services[EXAMPLEBOOK].file_update(
                meeting.id,
                sees={"narratives": ["postal voting fraud", "foreign observers barred"]},
                asks="Seed accounts of the channels resharing the campaign links",
                marking=platforms_only,  # platforms only: the government's pack never shows it
            )
            services[CHIRPER].file_update(
                meeting.id,
                sees={"narratives": ["postal voting fraud"]},
                asks="Hash lists for the reused images" if n == 0 else None,
                marking=green,
            )
            services[GOVERNMENT].file_update(
                meeting.id,
                expects=[
                    {"on": "registration deadline", "event": "Spike in deadline rumours", "risk": "high"}
                ],
                asks="Early warning of false polling-place information",
                marking=green,
            )
            updates += 3
            chair.record_minutes(
                meeting.id,
                (
                    "Examplebook presented the detected campaigns and the cases opened from them. "
                    "Chirper matched the shared signals against its channels. The Electoral Commission "
                    "walked through the calendar up to polling day."
                )
                if n == 0
                else (
                    "Campaign #1 was taken down on Examplebook and Chirper; the public disclosure "
                    "report is out. Sightings on Chirper are being confirmed."
                ),
                marking=green,
            )
        actions = [
            # (meeting, text, owner, due in days, kind, status)
            (held[0], "Share the hotline's postal-voting reports", GOVERNMENT, -2, "action", "open"),
            (held[0], "Review the image-reuse network", EXAMPLEBOOK, -4, "action", "done"),
            (
                held[0],
                "Release campaign #1's accounts as TLP:CLEAR after the takedown",
                None,
                None,
                "decision",
                "done",
            ),
            (held[1], "Check the fetched signals against Chirper's channels", CHIRPER, 1, "action", "open"),
            (held[1], "Brief the commission on the week's trends", EXAMPLEBOOK, 5, "action", "open"),
        ]
        overdue = 0
        for meeting, text, owner, due_days, kind, status in actions:
            item = chair.add_action(
                meeting.id,
                text,
                owner_org_id=orgs[owner] if owner else None,
                due=now + timedelta(days=due_days) if due_days is not None else None,
                kind=kind,
                marking=green,
            )
            if kind == "action" and status != "open":
                item = chair.set_action_status(item.id, status)
            overdue += int(item.overdue)
    return {
        "held": len(held),
        "to_come": len(series) - len(held),
        "updates": updates,
        "action_items": len(actions),
        "overdue": overdue,
    }


def _policies(db: Database, keys: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Each member's election policies in the register: a history before the meetings, a change
    between them and changes since the last one, so the matrix, the readiness view and the next
    pack have content. One summary in French and one in Arabic show both directions."""
    now = utcnow()
    polling = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=23)
    # (member, days ago recorded, area, status, effective in days from now, summary, language, note)
    records: tuple[tuple[str, float, str, str, int, str, str | None, str | None], ...] = (
        (
            EXAMPLEBOOK,
            30,
            "political_ads",
            "announced",
            10,
            "No new political and issue ads in the final week before polling day.",
            None,
            None,
        ),
        (
            EXAMPLEBOOK,
            30,
            "misleading_labels",
            "in_force",
            -60,
            "Fact-checked false claims about voting get a label and reduced distribution.",
            None,
            None,
        ),
        (
            EXAMPLEBOOK,
            30,
            "coordinated_inauthentic_behaviour",
            "in_force",
            -365,
            "Networks that coordinate to mislead about who runs them are removed.",
            None,
            "Takedown reviews share case ids with the coalition before any public report.",
        ),
        (
            EXAMPLEBOOK,
            0.1,
            "premature_victory",
            "in_force",
            0,
            "Posts claiming victory before official results carry a label linking to the commission.",
            None,
            None,
        ),
        (
            CHIRPER,
            30,
            "election_misinformation",
            "in_force",
            -120,
            "Les contenus trompeurs sur la date, le lieu ou les modalités du vote sont retirés.",
            "fr",
            None,
        ),
        (
            CHIRPER,
            30,
            "state_media_labels",
            "in_force",
            -400,
            "State-affiliated media accounts are labelled in their profile and posts.",
            None,
            None,
        ),
        (
            CHIRPER,
            5,
            "political_ads",
            "changed",
            -5,
            "Political ads allowed only from verified advertisers; the library shows their spend.",
            None,
            "Verification queue is two weeks behind; raise at the next sync.",
        ),
        (
            CHIRPER,
            0.1,
            "synthetic_media",
            "announced",
            7,
            "Manipulated audio or video of candidates gets a label; deceptive cases are removed.",
            None,
            None,
        ),
        (
            GOVERNMENT,
            30,
            "voter_suppression",
            "in_force",
            -700,
            "يعاقب القانون الانتخابي على تخويف الناخبين ونشر معلومات كاذبة عن مكان الاقتراع وموعده.",
            "ar",
            None,
        ),
        (
            GOVERNMENT,
            5,
            "candidate_verification",
            "in_force",
            -3,
            "The commission publishes the official accounts of every registered candidate.",
            None,
            None,
        ),
    )
    recorded = 0
    # Principals first: each lookup is its own session, and SQLite lets one writer at a time.
    principals = {org: _principal(db, keys[org]["analyst"]) for org in (EXAMPLEBOOK, CHIRPER, GOVERNMENT)}
    with db.session() as session:
        for org, days_ago, area, status, effective_in, summary, language, note in records:
            service = PolicyService(session, principals[org], now=now - timedelta(days=days_ago))
            service.record(
                area,
                status,
                effective_from=polling - timedelta(days=23 - effective_in),
                source_url=f"https://{org.lower().replace(' ', '-')}.example/election-policies#{area}",
                summary=summary,
                language=language,
                marking=Marking(TLP.GREEN),
                note=note,
                note_marking=Marking(TLP.AMBER) if note else None,
            )
            recorded += 1
        gov = PolicyService(session, principals[GOVERNMENT], now=now)
        matrix = gov.matrix()
        changes = gov.diff(now - timedelta(days=1))
    members = {org for org, *_ in records}
    return {
        "members": len(members),
        "recorded": recorded,
        "areas": len(gov.areas.keys()),
        "changes_last_day": len(changes),
        "gaps": len(matrix.gaps),
    }


def _disclose(
    db: Database, data_dir: Path, orgs: dict[str, str], keys: dict[str, dict[str, str]], case_id: str
) -> dict[str, Any]:
    """Case 1 taken through to disclosure: both platforms record CLEAR takedowns, Examplebook
    releases the case's accounts, domains, URLs and hashtags as TLP:CLEAR, the final public report
    is written and the case is marked disclosed."""
    clear = Marking(TLP.CLEAR)
    analyst = _principal(db, keys[EXAMPLEBOOK]["analyst"])
    chirper = _principal(db, keys[CHIRPER]["analyst"])
    public = {SignalKind.ACCOUNT, SignalKind.DOMAIN, SignalKind.URL, SignalKind.HASHTAG}
    with db.session() as session:
        cases = CaseService(session, analyst)
        store = ExchangeStore(session)
        case = cases.get_case(case_id)
        if case.status.value == "triage":
            cases.transition(case_id, "investigating", reason="detection evidence reviewed")
        cases.transition(case_id, "coordinated-action", reason="takedowns agreed at the weekly sync")
        released = 0
        for signal in cases.linked_signals(case_id):
            if signal.kind not in public:
                continue
            mine = next((c for c in signal.contributions if c.org_id == analyst.org_id), None)
            if mine is None:
                continue
            store.submit_signal(  # the same contribution, released: its TLP becomes CLEAR
                analyst,
                signal.kind,
                signal.value,
                marking=clear,
                confidence=mine.confidence,
                tags=mine.tags,
                first_seen=mine.first_seen,
                last_seen=mine.last_seen,
                campaign_id=mine.campaign_id,
                description=mine.description,
            )
            released += 1
        accounts = sum(1 for s in cases.linked_signals(case_id) if s.kind is SignalKind.ACCOUNT)
        cases.record_action(
            case_id,
            "removed",
            "accounts",
            accounts,
            platform=EXAMPLEBOOK,
            statement_url="https://examplebook.example/newsroom/coordinated-inauthentic-behaviour",
            note="Removed for coordinated inauthentic behaviour",
            marking=clear,
        )
        CaseService(session, chirper).record_action(
            case_id,
            "removed",
            "channels",
            max(1, accounts // 4),
            platform=CHIRPER,
            statement_url="https://chirper.example/transparency/takedowns",
            marking=clear,
        )
        cases.transition(case_id, "disclosed", reason="public report published")
        report = DisclosureService(session, analyst).render(case_id, "html")
    path = data_dir / DISCLOSURE_FILE
    write_atomic(path, report)
    return {"case": case_id, "released": released, "actions": 2, "report": DISCLOSURE_FILE}


def _government_briefing(db: Database, keys: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The weekly briefing issued to the government partner (what its analysts may see)."""
    gov = _principal(db, keys[GOVERNMENT]["analyst"])
    with db.session() as session:
        briefing = BriefingService(session, gov).issue(timedelta(days=7))
    cases = {c.id for c in [*briefing.new_cases, *briefing.active_cases]}
    return {"id": briefing.id, "cases": len(cases), "signals": briefing.signals_total}


def run_demo(
    data_dir: Path, *, posts: int, seed: int, port: int | None, serve: bool, progress: Progress
) -> tuple[DemoResult, _Server]:
    """Every step of the demo; returns the result and the running server (the caller stops it).

    If a step fails in a directory the demo created (or found empty), the directory is removed so
    the next run starts clean; a directory that held anything else is never touched.
    """
    data_dir = data_dir.resolve()
    _refuse_existing(data_dir)
    if port is not None or serve:
        check_port("127.0.0.1", port or 8000)  # before minutes of work, not after
    fresh = not data_dir.exists() or not any(data_dir.iterdir())
    try:
        return _run_steps(data_dir, posts=posts, seed=seed, port=port, serve=serve, progress=progress)
    except BaseException:
        if fresh and data_dir.is_dir():
            shutil.rmtree(data_dir, ignore_errors=True)
        raise


def _run_steps(
    data_dir: Path, *, posts: int, seed: int, port: int | None, serve: bool, progress: Progress
) -> tuple[DemoResult, _Server]:
    started = time.monotonic()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = load_settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'vigil.db'}",
        host="127.0.0.1",
        port=port or (free_port() if not serve else 8000),
    )
    summary: dict[str, Any] = {}

    gen = generate(GeneratorConfig(posts=posts, seed=seed), data_dir / "generated", progress)
    summary["generated"] = {
        "posts": gen.posts,
        "accounts": gen.accounts,
        "planted_campaigns": len(gen.campaigns),
        "posts_by_platform": gen.posts_by_platform,
    }

    db = Database(settings.effective_database_url)
    try:
        upgrade(db.engine)
        orgs, keys = _coalition(db)
        detect_dir = detections_dir(settings, orgs[EXAMPLEBOOK]) / "demo"
        found = detect(
            data_dir / "generated" / "posts.parquet",
            detect_dir,
            progress=progress,
            accounts_path=data_dir / "generated" / "accounts.parquet",
            settings=settings,
        )
        summary["detected_campaigns"] = found.campaign_set.campaigns.num_rows
        cases, skipped = _open_cases(db, detect_dir, orgs, keys)
        summary["warninglisted_items_left_out"] = skipped
        summary["cases"] = len(cases)
        summary["case_markings"] = [
            {
                "id": c.id,
                "title": c.title,
                "status": c.status.value,
                "tlp": c.marking.tlp.value,
                "shared_with": list(c.marking.shared_with),
            }
            for c in cases
        ]
        summary["government"] = _government_input(db, keys, detect_dir)
    finally:
        db.dispose()

    server = _Server(settings)
    server.start()
    url = f"http://{settings.host}:{settings.port}"
    try:
        chirper_posts = _chirper_posts(
            data_dir / "generated" / "posts.parquet", data_dir / "chirper" / "posts.parquet"
        )
        summary["chirper"] = _match(
            data_dir, url, keys[CHIRPER]["analyst"], chirper_posts, settings, progress
        )
        db = Database(settings.effective_database_url)
        try:
            summary["chirper"]["opinions"] = _chirper_opinions(db, keys)
            summary["calendar"] = _election_calendar(db, keys)
            if cases:
                summary["disclosure"] = _disclose(db, data_dir, orgs, keys, cases[0].id)
                summary["case_markings"][0]["status"] = "disclosed"
            summary["meetings"] = _meetings(db, orgs, keys)
            summary["policies"] = _policies(db, keys)
            summary["briefing"] = _government_briefing(db, keys)
        finally:
            db.dispose()
    except BaseException:
        server.stop()
        raise
    summary["seconds"] = round(time.monotonic() - started, 1)
    result = DemoResult(data_dir=data_dir, url=url, keys=keys, orgs=orgs, summary=summary)
    _write_files(result)
    return result, server


def _write_files(result: DemoResult) -> None:
    keys_path = result.data_dir / KEYS_FILE
    fd = os.open(keys_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"url": result.url, "keys": result.keys}, handle, indent=2)
    # The same as shell variables, for the README's tour: `. vigil-demo/demo.env`, then
    # $DEMO_URL and $CHIRPER_ANALYST_KEY (ORGANISATION_ROLE_KEY, upper case, _ for other characters).
    lines = [f"DEMO_URL={shlex.quote(result.url)}"]
    for org, roles in result.keys.items():
        for role, key in roles.items():
            name = re.sub(r"[^A-Z0-9]+", "_", f"{org}_{role}_key".upper())
            lines.append(f"{name}={shlex.quote(key)}")
    fd = os.open(result.data_dir / ENV_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    marker = {"url": result.url, "orgs": result.orgs, "summary": result.summary, "keys_file": KEYS_FILE}
    (result.data_dir / MARKER).write_text(json.dumps(marker, indent=2, ensure_ascii=False) + "\n", "utf-8")
