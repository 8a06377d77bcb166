"""Playbook validation errors (file, line, field), exercises recording who did what when, and
opening a case from a real detection run on a small generated data set."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.cases.exercises import exercise_report, run_exercise
from vigil.cases.from_detection import load_detected, open_case
from vigil.cases.playbooks import PlaybookLibrary, parse_playbook, validate_files
from vigil.cases.records import EventKind
from vigil.cases.service import CaseService
from vigil.core.errors import DataError, NotFound
from vigil.exchange.records import TLP, Marking, SignalKind

from .conftest import Coalition

SHIPPED = {
    "premature-victory-claim",
    "hack-and-leak",
    "false-voting-information",
    "foreign-amplification-unrest",
    "candidate-deepfake",
}

GOOD = """\
id: my-scenario
name: My scenario
scenario: Something happens.
triggers: [a trigger]
techniques: [T0049]
checklist:
  - text: do it
    owner: {kind: platform, role: analyst}
"""


def test_shipped_library_loads_and_a_directory_overrides(tmp_path: Path) -> None:
    assert set(PlaybookLibrary.load().ids()) >= SHIPPED
    (tmp_path / "mine.yaml").write_text(GOOD.replace("my-scenario", "hack-and-leak"))
    library = PlaybookLibrary.load([tmp_path])
    assert library.get("hack-and-leak").name == "My scenario"
    with pytest.raises(NotFound, match="no playbook 'nope'"):
        library.get("nope")


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        (GOOD.replace("kind: platform", "kind: newspaper"), 8, "checklist.0.owner.kind", "platform"),
        (GOOD.replace("[T0049]", "[T0049, X12]"), 5, "techniques", "DISARM id"),
        (GOOD.replace("triggers: [a trigger]\n", ""), 1, "triggers", "Field required"),
        (GOOD + "colour: blue\n", 9, "colour", "Extra inputs"),
        (GOOD.replace("- text: do it", "- text: [do it"), 7, None, "invalid YAML"),
    ],
)
def test_validation_errors_name_file_line_and_field(
    text: str, line: int, field: str | None, message: str
) -> None:
    with pytest.raises(DataError, match=message) as info:
        parse_playbook(text, "mine.yaml")
    err = info.value
    assert err.file == "mine.yaml" and err.row is not None and abs(err.row - line) <= 1, err
    assert err.column == field
    assert str(err).startswith("mine.yaml, row")


def test_validate_files_reports_each_file(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "bad.yaml").write_text(GOOD.replace("id: my-scenario", "id: Bad Id"))
    results = dict(validate_files([tmp_path]))
    assert not isinstance(results[str(tmp_path / "good.yaml")], Exception)
    assert "id must be" in str(results[str(tmp_path / "bad.yaml")])


def test_exercise_records_who_checked_what_when(coalition: Coalition) -> None:
    book = PlaybookLibrary.load().get("false-voting-information")
    with coalition.db.session() as s:
        case = run_exercise(CaseService(s, coalition.principal("gov")), book)
    assert case.exercise and case.playbook_id == book.id and case.techniques == tuple(book.techniques)
    with coalition.db.session() as s:
        cases = CaseService(s, coalition.principal("plat_b"))
        items = cases.checklist(case.id)
        assert [i.owner for i in items] == [step.owner.label() for step in book.checklist]
        cases.check_item(case.id, items[1].id, note="signals shared")
    with coalition.db.session() as s:
        gov = CaseService(s, coalition.principal("gov"))
        gov.check_item(case.id, items[0].id)
        progress = exercise_report(gov, case.id)
        events = gov.timeline(case.id)
    assert (progress.done, progress.total) == (2, len(book.checklist))
    done = {i.position: i for i in progress.items if i.done_at}
    assert done[1].done_by_org == coalition.orgs["plat_b"] and done[0].done_by_org == coalition.orgs["gov"]
    checked = [e for e in events if e.kind is EventKind.CHECKED]
    assert [(e.actor_org_id, e.detail["position"]) for e in checked] == [
        (coalition.orgs["plat_b"], 1),
        (coalition.orgs["gov"], 0),
    ]


def test_from_detection_publishes_signals_and_opens_a_case(coalition: Coalition, detected_dir: Path) -> None:
    detected = load_detected(detected_dir, "1")
    assert detected.accounts and detected.edges
    with coalition.db.session() as s:
        case = open_case(CaseService(s, coalition.principal("plat_a")), detected, Marking(TLP.AMBER))
    with coalition.db.session() as s:
        mine = CaseService(s, coalition.principal("plat_a"))
        signals = mine.linked_signals(case.id)
        accounts = {x.value for x in signals if x.kind is SignalKind.ACCOUNT}
        assert accounts == {a["account"] for a in detected.accounts}
        assert {x.kind for x in signals} - {SignalKind.ACCOUNT}  # domains/URLs from the top items
        assert all(x.contributions[0].campaign_id == case.campaign_id for x in signals)
        network = mine.network(case.id)
        assert len(network.nodes) == len(accounts) and network.edges
        # AMBER from a platform: another platform sees it, the government partner does not
        assert CaseService(s, coalition.principal("plat_b")).linked_signals(case.id)
        with pytest.raises(NotFound):
            CaseService(s, coalition.principal("gov")).get_case(case.id)
    with pytest.raises(NotFound, match="no campaign '99'"):
        load_detected(detected_dir, "99")
    with pytest.raises(DataError, match=r"campaigns\.json is missing"):
        load_detected(detected_dir / "nope", "1")
