"""MeetingService on real databases: pre-filled updates, the agenda, action items, the calendar,
and TLP for every kind of reader."""

from __future__ import annotations

from datetime import timedelta

import pytest

from vigil.cases.meetings import MeetingService
from vigil.cases.service import CaseService
from vigil.core.errors import InputError, NotFound
from vigil.core.time import utcnow
from vigil.exchange.records import TLP, Marking, Role
from vigil.exchange.store import ExchangeStore

from ..cases.conftest import Coalition


def _weekly(c: Coalition, first_at: object) -> list[str]:
    with c.db.session() as s:
        made = MeetingService(s, c.principal("plat_a")).create_meeting(
            "Weekly election sync",
            first_at,  # type: ignore[arg-type]
            invited={c.orgs["plat_b"]: "member", c.orgs["gov"]: "member", c.orgs["res"]: "observer"},
            recurrence="weekly",
            occurrences=2,
        )
    return [m.id for m in made]


def test_update_is_prefilled_from_activity_since_the_last_meeting(coalition: Coalition) -> None:
    c = coalition
    now = utcnow()
    first, second = _weekly(c, now - timedelta(days=3))
    a = c.principal("plat_a")
    old = now - timedelta(days=12)
    with c.db.session() as s:
        ExchangeStore(s, now=old).submit_signal(a, "domain", "old-news.com", marking=Marking(TLP.GREEN))
        CaseService(s, a, now=old).create_case("Old network", marking=Marking(TLP.GREEN))
    with c.db.session() as s:
        store = ExchangeStore(s)
        store.submit_signal(a, "domain", "fresh-news.com", marking=Marking(TLP.GREEN), language="fr")
        store.submit_signal(a, "hashtag", "#votez", marking=Marking(TLP.GREEN), language="fr")
        cases = CaseService(s, a)
        case = cases.create_case("New network", marking=Marking(TLP.GREEN), techniques=["T0049"])
        cases.record_action(
            case.id, "removed", "accounts", 41, platform="facebook", marking=Marking(TLP.GREEN)
        )
        # another member's activity never counts for plat_a
        store.submit_signal(c.principal("plat_b"), "domain", "other-site.com", marking=Marking(TLP.GREEN))
    with c.db.session() as s:
        update = MeetingService(s, a).file_update(
            second,
            sees={"narratives": ["postal voting fraud"]},
            expects=[{"on": "2026-12-01", "event": "debate", "risk": "deepfake clips"}],
            asks="seed accounts from plat_b",
            marking=Marking(TLP.AMBER),
        )
    f = update.figures
    assert f["signals_total"] == 2
    assert f["signals_by_kind"] == {"domain": 1, "hashtag": 1}
    assert f["signals_by_language"] == {"fr": 2}
    assert [x["title"] for x in f["cases_opened"]] == ["New network"]
    assert f["techniques"] == ["T0049"]
    assert f["actions"] == {"removed": 41}
    assert update.expects == [{"on": "2026-12-01", "event": "debate", "risk": "deepfake clips"}]
    # the first meeting looks back a default week: the 12-day-old activity is outside it too
    with c.db.session() as s:
        assert MeetingService(s, a).prefill(first)["signals_total"] == 0


def test_agenda_assembles_updates_briefing_cases_items_and_dates(coalition: Coalition) -> None:
    c = coalition
    now = utcnow()
    [meeting] = [m for m in _weekly(c, now + timedelta(days=1))][:1]
    a, gov = c.principal("plat_a"), c.principal("gov")
    with c.db.session() as s:
        cases = CaseService(s, a)
        near = cases.create_case("Embargoed network", marking=Marking(TLP.GREEN))
        cases.set_embargo(near.id, now + timedelta(days=2))
        far = cases.create_case("Later network", marking=Marking(TLP.GREEN))
        cases.set_embargo(far.id, now + timedelta(days=30))
        ExchangeStore(s).submit_signal(a, "domain", "agenda-site.com", marking=Marking(TLP.GREEN))
        m = MeetingService(s, a)
        m.file_update(meeting, sees={"notes": "growth in fr"}, marking=Marking(TLP.GREEN))
        m.add_election_date("General 2026", "debate", now + timedelta(days=5), "Second debate")
        m.add_election_date("General 2026", "election_day", now + timedelta(days=400))
        m.add_action(
            meeting,
            "Share seed list",
            owner_org_id=c.orgs["gov"],
            due=now + timedelta(days=3),
            marking=Marking(TLP.GREEN),
        )
    with c.db.session() as s:
        agenda = MeetingService(s, gov).agenda(meeting)
    assert [u.org_id for u in agenda.updates] == [c.orgs["plat_a"]]
    assert set(agenda.missing_updates) == {c.orgs["plat_b"], c.orgs["gov"], c.orgs["res"]}
    assert agenda.briefing is not None and agenda.briefing["signals_total"] >= 1
    assert [x.title for x in agenda.embargo_cases] == ["Embargoed network"]
    assert [x.text for x in agenda.action_items] == ["Share seed list"]
    assert [d.title for d in agenda.election_dates] == ["Second debate"]


def test_overdue_action_items_show_as_such(coalition: Coalition) -> None:
    c = coalition
    now = utcnow()
    [meeting, _] = _weekly(c, now - timedelta(days=8))
    with c.db.session() as s:
        m = MeetingService(s, c.principal("plat_a"))
        late = m.add_action(
            meeting,
            "Late",
            owner_org_id=c.orgs["gov"],
            due=now - timedelta(days=1),
            marking=Marking(TLP.GREEN),
        )
        m.add_action(meeting, "On time", due=now + timedelta(days=1), marking=Marking(TLP.GREEN))
        done = m.add_action(meeting, "Done late", due=now - timedelta(days=2), marking=Marking(TLP.GREEN))
        m.set_action_status(done.id, "done")
        decision = m.add_action(meeting, "We publish jointly", kind="decision", marking=Marking(TLP.GREEN))
    assert late.overdue and decision.status == "done"
    with c.db.session() as s:
        items = {i.text: i for i in MeetingService(s, c.principal("gov")).action_items()}
        open_items = [i.text for i in MeetingService(s, c.principal("gov")).action_items(open_only=True)]
    assert items["Late"].overdue and not items["On time"].overdue and not items["Done late"].overdue
    assert open_items == ["Late", "On time"]


@pytest.mark.parametrize("role", list(Role))
def test_tlp_every_role_and_kind(coalition: Coalition, role: Role) -> None:
    c = coalition
    [meeting, _] = _weekly(c, utcnow() + timedelta(days=1))
    with c.db.session() as s:
        MeetingService(s, c.principal("plat_a")).file_update(
            meeting, sees={"notes": "a"}, marking=Marking(TLP.AMBER)
        )
        MeetingService(s, c.principal("plat_b")).file_update(
            meeting, sees={"notes": "b"}, marking=Marking(TLP.AMBER, (c.orgs["gov"],))
        )
        MeetingService(s, c.principal("gov")).file_update(
            meeting, sees={"notes": "g"}, marking=Marking(TLP.RED)
        )
        MeetingService(s, c.principal("res")).file_update(
            meeting, sees={"notes": "r"}, marking=Marking(TLP.GREEN)
        )
        MeetingService(s, c.principal("plat_a")).record_minutes(
            meeting, "Agreed X", marking=Marking(TLP.AMBER)
        )
    seen: dict[str, set[str]] = {}
    minutes: dict[str, str | None] = {}
    with c.db.session() as s:
        for label in ("plat_a", "plat_b", "gov", "res"):
            svc = MeetingService(s, c.principal(label, role))
            seen[label] = {u.sees["notes"] for u in svc.updates(meeting)}
            minutes[label] = svc.get_meeting(meeting).minutes
    assert seen["plat_a"] == {"a", "b", "r"}
    assert seen["plat_b"] == {"a", "b", "r"}
    assert seen["gov"] == {"b", "g", "r"}  # never plat_a's platform-only AMBER update
    assert seen["res"] == {"r"}
    assert minutes["plat_a"] == minutes["plat_b"] == "Agreed X"
    assert minutes["gov"] is None and minutes["res"] is None


def test_uninvited_org_sees_no_meeting_and_bad_input_names_the_field(coalition: Coalition) -> None:
    c = coalition
    with c.db.session() as s:
        [m] = MeetingService(s, c.principal("plat_a")).create_meeting(
            "Ad hoc", utcnow(), invited={c.orgs["plat_b"]: "member"}
        )
    with c.db.session() as s:
        gov = MeetingService(s, c.principal("gov"))
        assert gov.list_meetings() == []
        with pytest.raises(NotFound):
            gov.agenda(m.id)
        a = MeetingService(s, c.principal("plat_a"))
        with pytest.raises(InputError) as err:
            a.add_election_date("X", "parade", utcnow())
        assert err.value.details["field"] == "kind"
        with pytest.raises(InputError, match="occurrences"):
            a.create_meeting("Bad", utcnow(), occurrences=3)
        with pytest.raises(InputError, match="unknown organisations"):
            a.create_meeting("Bad", utcnow(), invited={"org--nope": "member"})
    with c.db.session() as s:
        assert [x.title for x in MeetingService(s, c.principal("plat_b")).list_meetings()] == ["Ad hoc"]


def test_countdown_to_the_next_key_dates(coalition: Coalition) -> None:
    c = coalition
    now = utcnow()
    with c.db.session() as s:
        m = MeetingService(s, c.principal("gov"))
        m.add_election_date("General 2026", "certification", now + timedelta(days=20))
        m.add_election_date("General 2026", "election_day", now + timedelta(days=10))
        m.add_election_date("General 2026", "registration_deadline", now - timedelta(days=3))
    with c.db.session() as s:
        countdown = MeetingService(s, c.principal("res", Role.READ_ONLY)).countdown()
    assert [(d.kind, days) for d, days in countdown] == [("election_day", 10), ("certification", 20)]
