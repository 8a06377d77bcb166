"""The demo fills every page a newcomer opens: the election calendar with a countdown, two meetings
held (updates, minutes, action items, one overdue), a case taken through to disclosure with items
released as TLP:CLEAR, and a briefing issued to the government partner.

Read from the demo's own database with the services the dashboard uses, and from the dashboard
itself over HTTP (``tests.web.fixtures``: one ``vigil demo --no-serve`` and one ``vigil serve``).
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from vigil.cases.briefing import BriefingService
from vigil.cases.disclosure import DisclosureService
from vigil.cases.meetings import MeetingService
from vigil.cases.service import CaseService
from vigil.core.time import utcnow
from vigil.db import Database
from vigil.exchange.records import TLP
from vigil.exchange.store import ExchangeStore


def _signed_in(server: str, key: str) -> httpx.Client:
    client = httpx.Client(base_url=server, timeout=30, follow_redirects=False)
    answer = client.post("/login", data={"api_key": key, "next": "/"})
    if answer.status_code != 303:
        client.close()
        raise AssertionError(f"sign-in answered {answer.status_code}: {answer.text[:300]}")
    return client


def test_the_demo_fills_meetings_calendar_disclosure_and_briefing(demo_run: dict[str, Any]) -> None:
    keys = demo_run["keys"]
    db = Database(f"sqlite:///{demo_run['data_dir'] / 'vigil.db'}")
    try:
        with db.session() as session:
            store = ExchangeStore(session)
            examplebook = store.authenticate(keys["Examplebook"]["analyst"])
            government = store.authenticate(keys["Electoral Commission"]["analyst"])
            now = utcnow()

            meetings = MeetingService(session, government)  # an invited member, not the convener
            held = [m for m in meetings.list_meetings() if m.starts_at < now]
            assert len(held) == 2 and len(meetings.list_meetings()) > 2
            for meeting in held:
                assert meeting.minutes  # GREEN minutes: the government partner reads them
                seen = meetings.updates(meeting.id)
                # three members filed; Examplebook's platforms-only AMBER update is not for it
                assert len(seen) == 2
                assert all(u.marking.tlp is TLP.GREEN for u in seen)
                assert len(MeetingService(session, examplebook).updates(meeting.id)) == 3
                assert meetings.action_items(meeting_id=meeting.id)
            items = meetings.action_items()
            overdue = [a for a in items if a.overdue]
            assert len(overdue) == 1 and overdue[0].owner_org_id == government.org_id
            assert {a.status for a in items} >= {"open", "done"}

            countdown = meetings.countdown()
            kinds = {d.kind: days for d, days in countdown}
            assert "election_day" in kinds and kinds["election_day"] > 0

            cases = CaseService(session, examplebook)
            disclosed = [c for c in cases.list_cases() if c.status.value == "disclosed"]
            assert len(disclosed) == 1
            case_id = disclosed[0].id
            assert [e for e in cases.timeline(case_id) if e.kind.value == "disclosure"]
            report = DisclosureService(session, government).build(case_id, draft=True)
            assert report.samples.get("account") and report.accounts_shown > 0
            assert {a["platform"] for a in report.actions_by_platform} == {"Examplebook", "Chirper"}
            assert len(report.statements) == 2

            briefing = BriefingService(session, government).last_issued()
            assert briefing is not None and briefing.org_id == government.org_id
    finally:
        db.dispose()
    html = (demo_run["data_dir"] / "disclosure-report.html").read_text("utf-8")
    assert "TLP:CLEAR" in html
    for value in report.samples["account"][:3]:
        assert value in html
    summary = demo_run["demo"]["summary"]
    assert summary["meetings"]["overdue"] == 1 and summary["disclosure"]["released"] > 0


def test_the_dashboard_pages_show_them(server: str, demo_run: dict[str, Any]) -> None:
    client = _signed_in(server, demo_run["keys"]["Electoral Commission"]["analyst"])
    try:
        page = client.get("/meetings").text
        assert "Weekly coalition sync" in page and "Polling day" in page
        assert re.search(r'data-kind="election_day"><strong class="num">\d+</strong> days', page)
        case_id = demo_run["demo"]["summary"]["disclosure"]["case"]
        report = client.get(f"/cases/{case_id}/report")
        assert report.status_code == 200
        assert "Examplebook" in report.text and "accounts removed" in report.text
        briefings = client.get("/briefings")
        assert briefings.status_code == 200 and "Electoral Commission" in briefings.text
    finally:
        client.close()  # not `with`: httpx refuses to enter a client that already sent a request


def test_the_demo_fills_the_policy_register(demo_run: dict[str, Any], server: str) -> None:
    """Three members' election policies: a matrix with gaps, changes since the last sync for the
    next one, and the page showing French and Arabic summaries in their own direction."""
    from vigil.cases.policies import PolicyService

    keys = demo_run["keys"]
    db = Database(f"sqlite:///{demo_run['data_dir'] / 'vigil.db'}")
    try:
        with db.session() as session:
            store = ExchangeStore(session)
            government = store.authenticate(keys["Electoral Commission"]["analyst"])
            policies = PolicyService(session, government)
            versions = policies.history()
            assert len({v.org_id for v in versions}) == 3 and len(versions) >= 10
            assert {v.language for v in versions} >= {"fr", "ar"}
            matrix = policies.matrix()
            assert matrix.gaps and any(v is not None for row in matrix.cells.values() for v in row.values())
            now = utcnow()
            upcoming = [m for m in MeetingService(session, government).list_meetings() if m.starts_at > now]
            _, _, changes = policies.since_meeting(upcoming[0].id)
            assert changes, "the next sync has policy changes since the last one"
    finally:
        db.dispose()
    client = _signed_in(server, keys["Electoral Commission"]["analyst"])
    try:
        page = client.get("/policies")
        assert page.status_code == 200
        assert "Les contenus trompeurs" in page.text
        assert re.search(r'dir="rtl"[^>]*>[^<]*يعاقب', page.text)
    finally:
        client.close()
