"""The playbooks' exercise schedule: the pure rule on hand-made cases (edges included), the YAML
format's errors (file, line, field), the last exercise derived from real exercise cases on both
backends under TLP, the agenda and pack listing due playbooks with why, and ``vigil playbook list``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

import vigil.cases
from vigil.cases.exercises import exercise_due, run_exercise
from vigil.cases.meetings import MeetingService
from vigil.cases.meetings_render import pack_html
from vigil.cases.playbooks import ExerciseSchedule, PlaybookLibrary, parse_playbook
from vigil.cases.service import CaseService
from vigil.core.errors import DataError, InputError
from vigil.core.time import isoformat_z, utcnow
from vigil.exchange.records import TLP, Marking

from ..cases.conftest import Coalition

NOW = datetime(2026, 10, 22, 12, 0, tzinfo=UTC)
Q = ExerciseSchedule(every="90d", before_elections="30d")
ELECTION = [("election_day", datetime(2026, 11, 3, tzinfo=UTC))]  # 12 days after NOW


@pytest.mark.parametrize(
    ("schedule", "last", "elections", "due", "reason", "next_due"),
    [
        (None, None, ELECTION, False, "no exercise schedule", None),
        (Q, None, [], True, "never exercised", None),
        # the cadence: due exactly when last + every is reached
        (Q, NOW - timedelta(days=90), [], True, "last exercised 2026-07-24, every 90 d", None),
        (Q, NOW - timedelta(days=90) + timedelta(seconds=1), [], False, "next due 2026-10-22",
         NOW + timedelta(seconds=1)),
        # an election within the lead, last exercise before the lead opened: due
        (Q, NOW - timedelta(days=40), ELECTION, True,
         "election day 2026-11-03 in 12 days, last exercised 2026-09-12", None),
        # ... but exercised since the lead opened (2026-10-04): not due; next by cadence
        (Q, NOW - timedelta(days=10), ELECTION, False, "next due 2027-01-10", NOW + timedelta(days=80)),
        # the lead opens exactly now: due
        (Q, NOW - timedelta(days=31), [("election_day", NOW + timedelta(days=30))], True,
         "election day 2026-11-21 in 30 days, last exercised 2026-09-21", None),
        # the lead opens tomorrow: not due yet, and that is the next due date
        (Q, NOW - timedelta(days=31), [("election_day", NOW + timedelta(days=31))], False,
         "next due 2026-10-23", NOW + timedelta(days=1)),
        # only election day and early voting count; a debate does not
        (Q, NOW - timedelta(days=40), [("debate", NOW + timedelta(days=3))], False, "next due 2026-12-11",
         NOW + timedelta(days=50)),
        (Q, NOW - timedelta(days=40), [("early_voting", NOW + timedelta(days=1))], True,
         "early voting 2026-10-23 in 1 day, last exercised 2026-09-12", None),
        # election day today (midnight, already past by the clock) still counts; yesterday's does not
        (Q, NOW - timedelta(days=40), [("election_day", datetime(2026, 10, 22, tzinfo=UTC))], True,
         "election day 2026-10-22 today, last exercised 2026-09-12", None),
        (Q, NOW - timedelta(days=40), [("election_day", datetime(2026, 10, 21, tzinfo=UTC))], False,
         "next due 2026-12-11", NOW + timedelta(days=50)),
        # no before_elections: elections do not matter
        (ExerciseSchedule(every="12w"), NOW - timedelta(days=40), ELECTION, False, "next due 2026-12-05",
         NOW + timedelta(days=44)),
        (ExerciseSchedule(every="36h"), NOW - timedelta(hours=36), [], True,
         "last exercised 2026-10-21, every 36 h", None),
    ],
)  # fmt: skip
def test_exercise_due_rule(
    schedule: ExerciseSchedule | None,
    last: datetime | None,
    elections: list[tuple[str, datetime]],
    due: bool,
    reason: str,
    next_due: datetime | None,
) -> None:
    verdict = exercise_due(schedule, last, elections, NOW)
    assert (verdict.due, verdict.reason, verdict.next_due) == (due, reason, next_due)


BASE = """id: drill
name: Drill
scenario: A drill.
triggers: [something happens]
checklist:
  - text: Do it
    owner: {kind: platform}
"""


@pytest.mark.parametrize(
    ("extra", "row", "column", "message"),
    [
        ("exercise:\n  every: 90 days\n", 9, "exercise.every", "not a duration: '90 days'"),
        ("exercise:\n  every: 90d\n  before_elections: -3d\n", 10, "exercise.before_elections",
         "not a duration"),
        ("exercise:\n  every: 0d\n", 9, "exercise.every", "longer than zero"),
        ("exercise:\n  every: 90d\n  weekly: yes\n", 10, "exercise.weekly", "Extra inputs"),
        ("exercise: {before_elections: 30d}\n", 8, "exercise.every", "Field required"),
    ],
)  # fmt: skip
def test_bad_schedule_names_file_line_and_field(extra: str, row: int, column: str, message: str) -> None:
    with pytest.raises(DataError) as err:
        parse_playbook(BASE + extra, "drill.yaml")
    assert (err.value.file, err.value.details["row"], err.value.details["column"]) == (
        "drill.yaml",
        row,
        column,
    )
    assert message in str(err.value)


def test_shipped_playbooks_all_have_a_cadence() -> None:
    books = [b.playbook for b in PlaybookLibrary.load().all()]
    assert len(books) == 5
    for book in books:
        assert book.exercise is not None and book.exercise.before_elections is not None, book.id
        assert timedelta(days=30) <= book.exercise.interval <= timedelta(days=365)


def _complete(c: Coalition, label: str, playbook: str, at: datetime, *, close: bool = False,
              marking: Marking = Marking(TLP.GREEN)) -> str:  # fmt: skip
    """An exercise of ``playbook`` by ``label`` completed at ``at`` (every item checked, or closed)."""
    book = PlaybookLibrary.load().get(playbook)
    with c.db.session() as s:
        service = CaseService(s, c.principal(label), now=at - timedelta(hours=2))
        case = run_exercise(service, book, marking=marking)
    with c.db.session() as s:
        service = CaseService(s, c.principal(label), now=at)
        if close:
            service.transition(case.id, "closed")
        else:
            for item in service.checklist(case.id):
                service.check_item(case.id, item.id)
    return case.id


def test_last_exercise_comes_from_exercise_cases_each_reader_may_see(coalition: Coalition) -> None:
    c = coalition
    now = utcnow()
    _complete(c, "plat_a", "hack-and-leak", now - timedelta(days=100))  # every 90 d: due
    recent = _complete(c, "gov", "candidate-deepfake", now - timedelta(days=10))  # not due
    # closed without checking every item still counts; an election in 12 days (lead 30 d) makes it due
    _complete(c, "gov", "false-voting-information", now - timedelta(days=20), close=True)
    # a platform-only AMBER exercise: its platforms see it exercised, the government does not
    _complete(
        c, "plat_a", "foreign-amplification-unrest", now - timedelta(days=5), marking=Marking(TLP.AMBER)
    )
    with c.db.session() as s:
        half = CaseService(s, c.principal("gov"))
        open_case = run_exercise(half, PlaybookLibrary.load().get("premature-victory-claim"))
        half.check_item(open_case.id, half.checklist(open_case.id)[0].id)  # under way, not completed
        m = MeetingService(s, c.principal("gov"))
        m.add_election_date("General 2026", "election_day", now + timedelta(days=12))
        m.add_election_date("General 2026", "debate", now + timedelta(days=2))
        [meeting] = m.create_meeting("Sync", now + timedelta(hours=1), invited={c.orgs["plat_a"]: "member"})
    with c.db.session() as s:
        gov = {x.playbook_id: x for x in MeetingService(s, c.principal("gov")).exercise_schedule()}
        plat = {x.playbook_id: x for x in MeetingService(s, c.principal("plat_b")).exercise_schedule()}
    day = (now - timedelta(days=100)).strftime("%Y-%m-%d")
    election = (now + timedelta(days=12)).strftime("%Y-%m-%d")
    assert (gov["hack-and-leak"].due, gov["hack-and-leak"].reason) == (
        True,
        f"last exercised {day}, every 90 d",
    )
    assert not gov["candidate-deepfake"].due and gov["candidate-deepfake"].last_case_id == recent
    assert gov["candidate-deepfake"].next_due is not None
    assert abs(gov["candidate-deepfake"].next_due - (now + timedelta(days=80))) < timedelta(seconds=5)
    assert gov["false-voting-information"].due
    assert gov["false-voting-information"].reason.startswith(f"election day {election} in 12 days")
    assert gov["premature-victory-claim"].reason == "never exercised"
    assert gov["premature-victory-claim"].in_progress == [open_case.id]
    assert (gov["foreign-amplification-unrest"].due, gov["foreign-amplification-unrest"].reason) == (
        True,
        "never exercised",
    )
    assert not plat["foreign-amplification-unrest"].due  # plat_b sees plat_a's AMBER exercise

    with c.db.session() as s:
        service = MeetingService(s, c.principal("gov"))
        agenda = service.agenda(meeting.id)
        html = pack_html(agenda, {}, "Gov", now_iso=isoformat_z(now))
        reminders = service.reminders(timedelta(hours=24))
    assert {x.playbook_id for x in agenda.exercises_due} == {
        "hack-and-leak",
        "false-voting-information",
        "premature-victory-claim",
        "foreign-amplification-unrest",
    }
    assert [x.id for x in agenda.exercises_in_progress] == [open_case.id]
    assert f"election day {election} in 12 days" in html and "never exercised" in html
    assert "In progress: Exercise: " in html
    assert [x.playbook_id for x in reminders.exercises_due] == [x.playbook_id for x in agenda.exercises_due]
    assert [(d.kind, days) for d, days in reminders.countdown] == [("debate", 2), ("election_day", 12)]


def test_playbook_list_shows_cadence_last_exercise_and_next_due(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vigil.cli.app import app

    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, (result.output, result.exception)
        return result.output

    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "250")
    run("org", "create", "Gov", "--kind", "government")
    opened = json.loads(run("playbook", "exercise", "hack-and-leak", "--as-org", "Gov", "--json"))
    run("case", "transition", opened["id"], "closed", "--as-org", "Gov")
    rows = {r["playbook_id"]: r for r in json.loads(run("playbook", "list", "--json"))}
    assert set(rows) == {b.playbook.id for b in PlaybookLibrary.load().all()}
    hack = rows["hack-and-leak"]
    assert hack["due"] is False and hack["every"] == "90d" and hack["last_case_id"] == opened["id"]
    assert hack["next_due"][:10] == (utcnow() + timedelta(days=90)).strftime("%Y-%m-%d")
    assert rows["candidate-deepfake"]["reason"] == "never exercised"
    table = " ".join(run("playbook", "list", "--as-org", "Gov").split())
    assert "due candidate-deepfake: never exercised" in table and "due hack-and-leak" not in table


def test_playbook_dirs_are_read_only_when_the_schedule_needs_them(
    coalition: Coalition, tmp_path: Path
) -> None:
    """The dashboard's meeting service names the server's playbook directories without loading
    them: calendar calls work with a missing directory, the schedule then names it (400)."""
    shipped = Path(vigil.cases.__file__).parent / "playbooks" / "candidate-deepfake.yaml"
    books = tmp_path / "books"
    books.mkdir()
    (books / "own.yaml").write_text(
        shipped.read_text("utf-8").replace("id: candidate-deepfake", "id: own-deepfake", 1), "utf-8"
    )
    with coalition.db.session() as s:
        lazy = MeetingService(s, coalition.principal("gov"), playbook_dirs=[tmp_path / "no-such-playbooks"])
        assert lazy.list_meetings() == [] and lazy.countdown() == []
        with pytest.raises(InputError, match="no-such-playbooks"):
            lazy.exercise_schedule()
        own = MeetingService(s, coalition.principal("gov"), playbook_dirs=[books])
        assert "own-deepfake" in {x.playbook_id for x in own.exercise_schedule()}
