"""The register in the meeting rhythm: the agenda's numbered item for policy changes since the
last meeting (counted per member within each reader's TLP), the reminder to confirm or update
one's policies before a meeting (until the member records a version), and the meeting's "pack
TLP" equal to the marking of the pack that reader downloads (a stricter policy note included)."""

from __future__ import annotations

import re
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from vigil.cases.meetings import Meeting, MeetingService
from vigil.cases.meetings_reminders import scan_reminders
from vigil.cases.meetings_render import render_pack
from vigil.cases.policies import PolicyService
from vigil.core.settings import load_settings
from vigil.core.time import utcnow
from vigil.exchange import push
from vigil.exchange.lifecycle_models import DeliveryRow, SubscriptionRow
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore

from ..cases.conftest import Coalition
from ..cases.test_api import Members, _ok
from ..cases.test_document_markings import _marking_of
from ..lifecycle.conftest import LOCAL_RECEIVERS

POLICY_ITEM = "Member policy changes since the last meeting"


def _series(c: Coalition, now: datetime) -> list[Meeting]:
    """Two weekly meetings convened by plat_a: one 5 days ago, the next in 2 days."""
    with c.db.session() as s:
        return MeetingService(s, c.principal("plat_a"), now=now - timedelta(days=30)).create_meeting(
            "Policy rhythm", now - timedelta(days=5), recurrence="weekly", occurrences=2,
            invited={c.orgs["gov"]: "member", c.orgs["plat_b"]: "member"},
        )  # fmt: skip


def _record_three(c: Coalition, at: datetime) -> None:
    """plat_a records a GREEN, an AMBER and a RED policy, plus a RED note on the GREEN one."""
    with c.db.session() as s:
        p = PolicyService(s, c.principal("plat_a"), now=at)
        p.record(
            "political_ads",
            "in_force",
            summary="GREEN-POLICY",
            note="RED-NOTE",
            note_marking=Marking(TLP.RED),
        )
        p.record("hack_and_leak", "announced", summary="AMBER-POLICY", marking=Marking(TLP.AMBER))
        p.record("synthetic_media", "in_force", summary="RED-POLICY", marking=Marking(TLP.RED))


def test_agenda_counts_policy_changes_within_each_readers_tlp(coalition: Coalition) -> None:
    c = coalition
    now = utcnow()
    meetings = _series(c, now)
    with c.db.session() as s:  # before the last meeting: not a change since it
        PolicyService(s, c.principal("plat_b"), now=now - timedelta(days=9)).record(
            "political_ads", "in_force"
        )
    _record_three(c, now - timedelta(days=1))
    plat_a = c.orgs["plat_a"]
    for label, seen in (("gov", 1), ("plat_b", 2), ("plat_a", 3)):
        with c.db.session() as s:
            agenda = MeetingService(s, c.principal(label), now=now).agenda(meetings[1].id)
        assert POLICY_ITEM in agenda.items
        assert agenda.items.index(POLICY_ITEM) == agenda.items.index("Decisions and new action items") - 1
        assert agenda.policy_changes == {plat_a: seen}, label
        assert agenda.policy_asked == [c.orgs["plat_b"]], label  # invited, no change since the last


@pytest.mark.parametrize("fmt", ["html", "md"])
def test_pack_tlp_of_the_agenda_equals_the_downloaded_packs_marking(coalition: Coalition, fmt: str) -> None:
    c = coalition
    now = utcnow()
    meetings = _series(c, now)
    _record_three(c, now - timedelta(days=1))
    for label, expected in (("gov", TLP.GREEN), ("plat_b", TLP.AMBER), ("plat_a", TLP.RED)):
        with c.db.session() as s:
            service = MeetingService(s, c.principal(label), now=now)
            badge = service.agenda(meetings[1].id).tlp
            marking, _ = _marking_of(render_pack(service, meetings[1].id, fmt, label), fmt)
        assert badge == marking == expected, label


def test_invited_member_is_reminded_to_confirm_its_policies_until_it_records_one(
    coalition: Coalition,
) -> None:
    c = coalition
    now = utcnow()
    meetings = _series(c, now)
    with c.db.session() as s:  # a meeting beyond the reminder horizon is not reminded yet
        MeetingService(s, c.principal("plat_a"), now=now).create_meeting(
            "Far away", now + timedelta(days=20), invited={c.orgs["plat_b"]: "member"}
        )
        # recorded before the last meeting: not a confirmation for the next one
        PolicyService(s, c.principal("plat_b"), now=now - timedelta(days=9)).record(
            "political_ads", "in_force"
        )

    def due(label: str) -> list[str]:
        with c.db.session() as s:
            return [
                m.id
                for m in MeetingService(s, c.principal(label), now=now)
                .reminders(timedelta(hours=24))
                .policies_due
            ]

    assert due("plat_b") == [meetings[1].id]
    assert due("gov") == []  # a government member with no policy recorded is not asked
    assert due("plat_a") == [meetings[1].id]  # the convener chairs it: a platform asked as well
    with c.db.session() as s:
        PolicyService(s, c.principal("plat_b"), now=now - timedelta(hours=1)).record(
            "political_ads", "in_force", summary="confirmed"
        )
    assert due("plat_b") == []


def test_policy_reminder_is_queued_as_a_push_event_once_for_the_asked_member(
    coalition: Coalition, tmp_path: Path
) -> None:
    c = coalition
    now = utcnow()
    meetings = _series(c, now)
    settings = load_settings(data_dir=tmp_path, **LOCAL_RECEIVERS)
    with c.db.session() as s:
        store = ExchangeStore(s)
        for label in ("plat_b", "gov"):
            push.create_subscription(
                store, c.principal(label), f"{label} meetings", "http://127.0.0.1:9/hook",
                events=("meeting",), settings=settings,
            )  # fmt: skip
        PolicyService(s, c.principal("gov"), now=now - timedelta(days=2)).record("political_ads", "none")

    def queued() -> list[tuple[str, dict[str, Any]]]:
        with c.db.session() as s:
            rows = s.scalars(select(DeliveryRow).where(DeliveryRow.event_type == "meeting.policies_due"))
            subs = {sub.id: sub.org_id for sub in s.scalars(select(SubscriptionRow))}
            return [(subs[r.subscription_id], r.payload) for r in rows]

    with c.db.session() as s:
        report = scan_reminders(s, lead=timedelta(hours=24), now=now)
    assert report.policies_due == 2  # plat_a (chair) and plat_b; gov recorded since the last one
    [(org, payload)] = queued()  # only plat_b subscribed among those asked
    assert org == c.orgs["plat_b"] and payload["meeting"]["id"] == meetings[1].id
    with c.db.session() as s:  # scanning again sends nothing new
        assert scan_reminders(s, lead=timedelta(hours=24), now=now).enqueued == 0
        PolicyService(s, c.principal("plat_b"), now=now - timedelta(minutes=5)).record(
            "political_ads", "in_force"
        )
    with c.db.session() as s:
        assert scan_reminders(s, lead=timedelta(hours=24), now=now).policies_due == 1  # plat_a only


def _signed_in(members: Members, label: str) -> httpx.Client:
    client = httpx.Client(base_url=members.live.base_url, timeout=60, follow_redirects=False)
    assert client.post("/login", data={"api_key": members.keys[(label, "analyst")]}).status_code == 303
    return client


def test_agenda_item_badge_and_reminder_over_http(members: Members) -> None:
    ids = members.ids
    start = datetime.now(UTC) - timedelta(hours=1)
    with members.client("plat_a") as a:
        series = _ok(a.post("/api/v1/meetings", json={
            "title": "HTTP policy rhythm", "starts_at": start.isoformat(), "recurrence": "weekly",
            "occurrences": 2, "invited": {ids["gov"]: "member", ids["plat_b"]: "member"}}), 201)  # fmt: skip
        for body in (
            {
                "area": "political_ads",
                "status": "in_force",
                "note": "RED-NOTE",
                "note_marking": {"tlp": "RED"},
            },
            {"area": "hack_and_leak", "status": "announced", "marking": {"tlp": "AMBER"}},
            {"area": "synthetic_media", "status": "in_force", "marking": {"tlp": "RED"}},
        ):
            _ok(a.post("/api/v1/policies", json=body), 201)
    # the first meeting started an hour ago: the changes are since the one before it (none: 7 days)
    meeting = series[1]["id"]
    for label, seen, tlp in (("gov", 1, TLP.GREEN), ("plat_b", 2, TLP.AMBER), ("plat_a", 3, TLP.RED)):
        with members.client(label) as api, closing(_signed_in(members, label)) as web:
            agenda = _ok(api.get(f"/api/v1/meetings/{meeting}/agenda"))
            assert agenda["items"][6] == POLICY_ITEM and agenda["policy_changes"] == {ids["plat_a"]: seen}
            pack = api.get(f"/api/v1/meetings/{meeting}/pack", params={"format": "html"})
            assert agenda["tlp"] == _marking_of(pack.content, "html")[0].value == tlp.value, label
            page = web.get(f"/meetings/{meeting}").text
            badge = re.search(r'data-testid="pack-tlp"[^>]*>\s*<span[^>]*>TLP:([A-Z+]+)<', page)
            assert badge and badge.group(1) == tlp.value, label
            assert re.search(
                rf'data-policy-org="{ids["plat_a"]}">.*?<strong class="num">{seen}</strong>', page
            )
            overview = web.get("/").text
            asked = f'data-meeting="{meeting}"' in overview
            assert asked == (label == "plat_b"), label  # plat_a recorded; gov has no policy to confirm
