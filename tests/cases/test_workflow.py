"""The case workflow: allowed and refused moves, the append-only timeline, permissions."""

from __future__ import annotations

import pytest

from vigil.cases.records import EventKind, Status
from vigil.cases.service import CaseService
from vigil.cases.workflow import TRANSITIONS, check_transition
from vigil.core.errors import Conflict, InputError, NotFound, PermissionDenied
from vigil.exchange.records import TLP, Marking, Role

from .conftest import Coalition


@pytest.mark.parametrize("current", list(Status))
@pytest.mark.parametrize("target", list(Status))
def test_transition_table(current: Status, target: Status) -> None:
    if target in TRANSITIONS[current]:
        check_transition(current, target)
    else:
        with pytest.raises(Conflict, match=f"from '{current.value}' to '{target.value}'"):
            check_transition(current, target)


def test_the_happy_path_and_the_timeline(coalition: Coalition) -> None:
    a = coalition.principal("plat_a")
    with coalition.db.session() as s:
        cases = CaseService(s, a)
        case = cases.create_case(
            "Network amplifying a fake poll",
            attribution="Iran-based",
            confidence=70,
            techniques=["t0049", "T0049.001", "T0049"],
            owners=["ops-lead"],
        )
        assert case.status is Status.TRIAGE and case.techniques == ("T0049", "T0049.001")
        for step in ("investigating", "coordinated-action", "disclosed", "closed"):
            case = cases.transition(case.id, step)
        cases.add_comment(case.id, "closing: all members acted")
    with coalition.db.session() as s:
        events = CaseService(s, a).timeline(case.id)
    kinds = [e.kind for e in events]
    assert kinds == [EventKind.CREATED] + [EventKind.STATUS] * 4 + [EventKind.COMMENT]
    assert [e.detail.get("to") for e in events[1:5]] == [
        "investigating",
        "coordinated-action",
        "disclosed",
        "closed",
    ]
    assert all(e.actor_org_id == coalition.orgs["plat_a"] and e.actor_key_id == a.key_id for e in events)
    assert [e.at for e in events] == sorted(e.at for e in events)


def test_invalid_transition_is_a_conflict_and_changes_nothing(coalition: Coalition) -> None:
    a = coalition.principal("plat_a")
    with coalition.db.session() as s:
        case = CaseService(s, a).create_case("c")
    with (
        pytest.raises(Conflict, match="allowed from 'triage': investigating, closed"),
        coalition.db.session() as s,
    ):
        CaseService(s, a).transition(case.id, "disclosed")
    with coalition.db.session() as s:
        cases = CaseService(s, a)
        assert cases.get_case(case.id).status is Status.TRIAGE
        assert len(cases.timeline(case.id)) == 1
        with pytest.raises(InputError, match="unknown case status 'done'"):
            cases.transition(case.id, "done")


def test_bad_fields_and_roles(coalition: Coalition) -> None:
    with coalition.db.session() as s:
        cases = CaseService(s, coalition.principal("plat_a"))
        with pytest.raises(InputError, match="DISARM id"):
            cases.create_case("c", techniques=["X49"])
        with pytest.raises(InputError, match="confidence"):
            cases.create_case("c", confidence=101)
        with pytest.raises(InputError, match="title"):
            cases.create_case("  ")
    with coalition.db.session() as s, pytest.raises(PermissionDenied):
        CaseService(s, coalition.principal("plat_a", Role.READ_ONLY)).create_case("c")


def test_case_marking_decides_who_sees_it(coalition: Coalition) -> None:
    with coalition.db.session() as s:
        amber = CaseService(s, coalition.principal("plat_a")).create_case("amber", marking=Marking(TLP.AMBER))
        red = CaseService(s, coalition.principal("plat_a")).create_case(
            "red", marking=Marking(TLP.RED, (coalition.orgs["gov"],))
        )
    with coalition.db.session() as s:
        assert {c.id for c in CaseService(s, coalition.principal("plat_b")).list_cases()} == {amber.id}
        assert {c.id for c in CaseService(s, coalition.principal("gov")).list_cases()} == {red.id}
        assert CaseService(s, coalition.principal("res")).list_cases() == []
        with pytest.raises(NotFound):
            CaseService(s, coalition.principal("res")).get_case(amber.id)


def test_a_partner_listed_on_a_case_acts_and_every_case_reader_sees_it(coalition: Coalition) -> None:
    """Status entries are under the case's marking (source: the opening org). A listed partner may
    not move the case (the owner's), but its comment under the case's marking reaches every reader."""
    gov = coalition.orgs["gov"]
    with coalition.db.session() as s:
        case = CaseService(s, coalition.principal("plat_a")).create_case(
            "c", marking=Marking(TLP.AMBER, (gov,))
        )
        with pytest.raises(PermissionDenied):
            CaseService(s, coalition.principal("gov")).transition(case.id, "investigating")
        CaseService(s, coalition.principal("plat_a")).transition(case.id, "investigating")
        CaseService(s, coalition.principal("gov")).add_comment(case.id, "seen on our side too")
    with coalition.db.session() as s:
        for reader in ("plat_a", "plat_b", "gov"):
            events = CaseService(s, coalition.principal(reader)).timeline(case.id)
            assert [e.kind for e in events][:2] == [EventKind.CREATED, EventKind.STATUS], reader
            assert events[1].actor_org_id == coalition.orgs["plat_a"]
