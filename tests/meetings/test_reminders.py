"""Action-item reminders through push webhooks, against real local receivers (HTTP servers on free
ports that check every signature), on SQLite and PostgreSQL: due-soon and overdue events arrive
signed, once, only at the owner organisation's opted-in subscriptions; the owner is never told of
an item TLP keeps from it; migration 0006 keeps existing subscriptions on signal events only."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.lifecycle.conftest import LOCAL_RECEIVERS, Receiver
from vigil.cases.meetings import MeetingService
from vigil.cases.meetings_reminders import DUE_SOON, OVERDUE, reminder_kind, scan_reminders
from vigil.core.errors import InputError
from vigil.core.settings import load_settings
from vigil.core.time import utcnow
from vigil.db import Database, head_revision, upgrade
from vigil.exchange import push
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore

from ..cases.conftest import Coalition
from ..exchange.conftest import BACKENDS, _make_url

LEAD = timedelta(hours=24)


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    made = {name: Receiver() for name in ("gov_reminders", "gov_signals", "plat_b_reminders")}
    yield made
    for r in made.values():
        r.close()


def _bodies(r: Receiver) -> list[dict[str, Any]]:
    assert all(x.verified for x in r.received), "every webhook must carry a valid signature"
    return [json.loads(x.body) for x in r.received]


NOW = utcnow().replace(microsecond=0)


@pytest.mark.parametrize(
    ("status", "due", "lead", "expected"),
    [
        ("open", None, LEAD, None),  # no due date: nothing to remind of
        ("open", NOW - timedelta(seconds=1), LEAD, OVERDUE),
        ("open", NOW, LEAD, DUE_SOON),  # due this instant: not yet past due (as on the dashboard)
        ("open", NOW, timedelta(0), DUE_SOON),
        ("open", NOW + LEAD, LEAD, DUE_SOON),  # the lead's edge is inside
        ("open", NOW + LEAD + timedelta(seconds=1), LEAD, None),
        ("open", NOW + timedelta(hours=3), timedelta(hours=2), None),
        ("done", NOW - timedelta(days=3), LEAD, None),
        ("dropped", NOW + timedelta(hours=1), LEAD, None),
    ],
)
def test_reminder_kind_rule(status: str, due: Any, lead: timedelta, expected: str | None) -> None:
    assert reminder_kind(status, due, NOW, lead) == expected


def test_reminders_arrive_signed_once_only_at_the_owners_opted_in_subscription(
    coalition: Coalition, receivers: dict[str, Receiver], tmp_path: Path
) -> None:
    c = coalition
    settings = load_settings(data_dir=tmp_path, push_backoff_s=0.01, push_timeout_s=2, **LOCAL_RECEIVERS)
    now = utcnow()
    with c.db.session() as s:
        store = ExchangeStore(s)
        for name, org, events in (
            ("gov_reminders", "gov", ("action_item",)),
            ("gov_signals", "gov", ()),  # an existing-style subscriber: signal events only
            ("plat_b_reminders", "plat_b", ("action_item.overdue", "action_item.due_soon")),
        ):
            sub, secret = push.create_subscription(
                store, c.principal(org), name, receivers[name].url, events=events, settings=settings
            )
            receivers[name].secret = secret
        assert sub.events == push.ACTION_ITEM_EVENTS
        m = MeetingService(s, c.principal("plat_a"))
        [meeting] = m.create_meeting(
            "Election week sync",
            now - timedelta(days=2),
            invited={c.orgs["gov"]: "member", c.orgs["plat_b"]: "member"},
        )
        green = Marking(TLP.GREEN)
        soon = m.add_action(meeting.id, "Send the seed list", owner_org_id=c.orgs["gov"],
                            due=now + timedelta(hours=2), marking=green)  # fmt: skip
        late = m.add_action(meeting.id, "Brief the press office", owner_org_id=c.orgs["gov"],
                            due=now - timedelta(days=1), marking=green)  # fmt: skip
        m.add_action(meeting.id, "Far away", owner_org_id=c.orgs["gov"],
                     due=now + timedelta(days=10), marking=green)  # fmt: skip
        plat_b_late = m.add_action(meeting.id, "Takedown report", owner_org_id=c.orgs["plat_b"],
                                   due=now - timedelta(hours=5), marking=Marking(TLP.AMBER))  # fmt: skip
        # a platform's AMBER item naming the government as owner but not shared with it: TLP wins
        m.add_action(meeting.id, "PLATFORM-ONLY detail", owner_org_id=c.orgs["gov"],
                     due=now - timedelta(days=1), marking=Marking(TLP.AMBER))  # fmt: skip
        # owned by an organisation not invited to the meeting: it sees neither meeting nor item
        m.add_action(meeting.id, "Research memo", owner_org_id=c.orgs["res"],
                     due=now - timedelta(days=1), marking=green)  # fmt: skip
        closed = m.add_action(meeting.id, "Already done", owner_org_id=c.orgs["gov"],
                              due=now - timedelta(days=1), marking=green)  # fmt: skip
        m.set_action_status(closed.id, "done")

    with c.db.session() as s:
        report = scan_reminders(s, lead=LEAD, now=now)
    assert (report.considered, report.due_soon, report.overdue, report.withheld) == (5, 1, 2, 2)
    assert report.enqueued == 3
    assert report.by_type == {"action_item.due_soon": 1, "action_item.overdue": 2}
    sent = push.deliver_due(c.db, settings, now=now)
    assert (sent.attempted, sent.delivered) == (3, 3)

    gov = _bodies(receivers["gov_reminders"])
    by_type = {b["type"]: b for b in gov}
    assert sorted(by_type) == ["action_item.due_soon", "action_item.overdue"]
    assert by_type["action_item.due_soon"]["action_item"]["id"] == soon.id
    assert by_type["action_item.overdue"]["action_item"]["id"] == late.id
    assert by_type["action_item.overdue"]["action_item"]["meeting_title"] == "Election week sync"
    assert by_type["action_item.overdue"]["action_item"]["overdue_by_h"] == pytest.approx(24, abs=0.1)
    assert [x.headers["x-vigil-event"] for x in receivers["gov_reminders"].received] == [
        b["type"] for b in gov
    ]
    assert receivers["gov_signals"].received == []  # did not opt in: nothing new unasked
    [b_body] = _bodies(receivers["plat_b_reminders"])
    assert b_body["action_item"]["id"] == plat_b_late.id and b_body["type"] == "action_item.overdue"
    everything = b"".join(x.body for r in receivers.values() for x in r.received)
    assert b"PLATFORM-ONLY" not in everything and b"Research memo" not in everything

    # Scanning again sends nothing twice; when the due-soon item passes its due date it is
    # reminded once more, as overdue, and only then.
    with c.db.session() as s:
        assert scan_reminders(s, lead=LEAD, now=now + timedelta(minutes=5)).enqueued == 0
    assert push.deliver_due(c.db, settings, now=now + timedelta(minutes=5)).attempted == 0
    later = now + timedelta(hours=3)
    with c.db.session() as s:
        again = scan_reminders(s, lead=LEAD, now=later)
    assert again.by_type == {"action_item.overdue": 1}
    push.deliver_due(c.db, settings, now=later)
    last = _bodies(receivers["gov_reminders"])[-1]
    assert (last["type"], last["action_item"]["id"]) == ("action_item.overdue", soon.id)
    assert len(receivers["gov_reminders"].received) == 3
    with c.db.session() as s:
        listed = push.list_deliveries(s, c.principal("gov"))
    assert {d.event_type for d in listed} == {"action_item.due_soon", "action_item.overdue"}
    assert all(d.signal_id is None for d in listed)


def test_opting_in_later_and_signal_scans_honour_the_event_filter(
    coalition: Coalition, receivers: dict[str, Receiver], tmp_path: Path
) -> None:
    c = coalition
    settings = load_settings(data_dir=tmp_path, push_backoff_s=0.01, push_timeout_s=2, **LOCAL_RECEIVERS)
    now = utcnow()
    r = receivers["gov_reminders"]
    with c.db.session() as s:
        store = ExchangeStore(s)
        sub, r.secret = push.create_subscription(store, c.principal("gov"), "hook", r.url, settings=settings)
        m = MeetingService(s, c.principal("plat_a"))
        [meeting] = m.create_meeting("Sync", now, invited={c.orgs["gov"]: "member"})
        m.add_action(meeting.id, "Late item", owner_org_id=c.orgs["gov"],
                     due=now - timedelta(hours=1), marking=Marking(TLP.GREEN))  # fmt: skip
    with c.db.session() as s:
        assert scan_reminders(s, lead=LEAD).enqueued == 0  # signal events only by default
    with c.db.session() as s:
        changed = push.set_subscription_events(
            s, c.principal("gov"), sub.id, ("action_item.overdue",), at=now
        )
        assert changed.events == ("action_item.overdue",)
        # a reminders-only subscription gets no signal events
        ExchangeStore(s).submit_signal(
            c.principal("plat_a"), "domain", "green.info", marking=Marking(TLP.GREEN)
        )
    with c.db.session() as s:
        assert scan_reminders(s, lead=LEAD).enqueued == 1
    queued, sent = push.run_once(c.db, settings)
    assert queued.enqueued == 0 and sent.delivered == 1
    assert [b["type"] for b in _bodies(r)] == ["action_item.overdue"]
    with c.db.session() as s:
        with pytest.raises(InputError, match=r"unknown event type 'meeting\.created'") as err:
            push.set_subscription_events(s, c.principal("gov"), sub.id, ("meeting.created",), at=now)
        assert err.value.details["field"] == "events"
        with pytest.raises(InputError, match="enqueue_event takes"):
            push.enqueue_event(s, org_id=c.orgs["gov"], event_type="signal.created", key="k", payload={})
        with pytest.raises(InputError, match="event key"):
            push.enqueue_event(s, org_id=c.orgs["gov"], event_type="action_item.overdue", key="", payload={})


def test_parse_events_families_and_default() -> None:
    assert push.parse_events(()) == push.SIGNAL_EVENTS
    assert push.parse_events(["action_item.*"]) == push.ACTION_ITEM_EVENTS
    assert push.parse_events(["all"]) == push.EVENT_TYPES
    assert push.parse_events(["action_item.overdue", "signal.revoked", "signal"]) == (
        *push.SIGNAL_EVENTS,
        "action_item.overdue",
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_migration_0006_keeps_existing_subscribers_on_signal_events(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    db = Database(_make_url(backend, request, tmp_path))
    try:
        upgrade(db.engine, "0005")
        with db.session() as s:
            org = ExchangeStore(s).create_org(None, "Gov", "government")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO push_subscriptions (id, org_id, name, url, secret, kinds, tlps, active,"
                    " created_at, scanned_until) VALUES ('subscription--old', :org, 'old', 'http://x/',"
                    " 's', '[]', '[]', :t, :now, :now)"
                ),
                {"org": org.id, "t": True, "now": utcnow().replace(tzinfo=None)},
            )
        assert upgrade(db.engine) == head_revision()
        with db.session() as s:
            [old] = push.list_subscriptions(s, None)
            assert old.events == push.SIGNAL_EVENTS
            # deliveries of non-signal events have no signal id
            assert push.enqueue_event(s, org_id=org.id, event_type="action_item.overdue", key="k",
                                      payload={}) == 0  # fmt: skip
            push.set_subscription_events(s, None, old.id, ("all",), at=utcnow())
            assert push.enqueue_event(s, org_id=org.id, event_type="action_item.overdue", key="k",
                                      payload={"x": 1}) == 1  # fmt: skip
        with db.session() as s:
            [d] = push.list_deliveries(s, None)
            assert d.signal_id is None and d.event_type == "action_item.overdue"
        # and back: reminder deliveries (no signal) go, the subscription stays
        from alembic import command

        from vigil.db.database import _alembic_config

        config = _alembic_config(db.engine)
        with db.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0005")
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM push_deliveries")).scalar() == 0
            assert conn.execute(text("SELECT id FROM push_subscriptions")).scalars().all() == [old.id]
        assert upgrade(db.engine) == head_revision()
    finally:
        db.dispose()


def test_cli_meeting_remind_and_push_run_send_reminders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receivers: dict[str, Receiver]
) -> None:
    from typer.testing import CliRunner

    from vigil.cli.app import app
    from vigil.core.time import isoformat_z

    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, (result.output, result.exception)
        return " ".join(result.output.split())  # Rich may wrap lines at its console's width

    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VIGIL_PUSH_ALLOW_HTTP", "true")  # the receivers are http://127.0.0.1
    monkeypatch.setenv("VIGIL_PUSH_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("COLUMNS", "200")
    run("org", "create", "Examplebook", "--kind", "platform")
    run("org", "create", "Electoral Commission", "--kind", "government")
    r = receivers["gov_reminders"]
    out = run("push", "subscribe", r.url, "--org", "Electoral Commission", "--event", "action_item")
    assert "action_item.due_soon, action_item.overdue" in out
    secret = re.search(r"secret \(shown once.*?: (\S+)", out)
    sub_id = re.search(r"subscription (\S+) ->", out)
    assert secret and sub_id
    r.secret = secret.group(1)
    now = utcnow()
    made = run("meeting", "new", "Sync", "--at", isoformat_z(now - timedelta(days=1)),
               "--invite", "Electoral Commission", "--as-org", "Examplebook")  # fmt: skip
    mid = made.split()[0]
    run("meeting", "action", mid, "Send seed list", "--owner", "Electoral Commission", "--due",
        isoformat_z(now - timedelta(hours=2)), "--tlp", "GREEN", "--as-org", "Examplebook")  # fmt: skip
    out = run("meeting", "remind")
    assert "1 overdue, 0 due soon" in out and "1 new webhook delivery queued" in out
    assert "0 new webhook deliveries" in run("meeting", "remind")  # once per item and kind
    run("push", "run", "--rounds", "1")
    assert [json.loads(x.body)["action_item"]["text"] for x in r.received] == ["Send seed list"]
    # `push run` scans reminders itself: a due-soon item goes out without `meeting remind`
    run("meeting", "action", mid, "Brief the desk", "--owner", "Electoral Commission", "--due",
        isoformat_z(now + timedelta(hours=3)), "--tlp", "GREEN", "--as-org", "Examplebook")  # fmt: skip
    assert "1 reminders" in run("push", "run", "--rounds", "1")
    assert [json.loads(x.body)["type"] for x in r.received] == ["action_item.overdue", "action_item.due_soon"]
    assert all(x.verified for x in r.received)
    bad = runner.invoke(app, ["push", "events", sub_id.group(1), "--event", "bogus"])
    assert bad.exit_code != 0 and "unknown event type 'bogus'" in str(bad.exception)
