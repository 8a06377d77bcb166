"""Embargo countdown and the disclosure block; member actions and comments under their own TLP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vigil.cases.records import EventKind, Status
from vigil.cases.service import CaseService
from vigil.core.errors import Conflict, PermissionDenied
from vigil.exchange.records import TLP, Marking, Role

from .conftest import Coalition

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _case_in_action(coalition: Coalition) -> str:
    with coalition.db.session() as s:
        cases = CaseService(s, coalition.principal("plat_a"), now=T0)
        case = cases.create_case("c", marking=Marking(TLP.GREEN))
        cases.transition(case.id, "investigating")
        cases.transition(case.id, "coordinated-action")
        cases.set_embargo(case.id, T0 + timedelta(hours=2))
    return case.id


def test_countdown_and_block_before_the_embargo(coalition: Coalition) -> None:
    case_id = _case_in_action(coalition)
    with coalition.db.session() as s:
        state = CaseService(s, coalition.principal("gov"), now=T0 + timedelta(minutes=30)).embargo(case_id)
        assert state.active and state.seconds_remaining == 90 * 60
    with (
        pytest.raises(Conflict, match="under embargo until 2026-11-01T14:00:00"),
        coalition.db.session() as s,
    ):
        CaseService(s, coalition.principal("plat_a"), now=T0 + timedelta(hours=1)).transition(
            case_id, "disclosed"
        )
    # an analyst cannot override, even with a reason
    with pytest.raises(PermissionDenied, match="only an admin"), coalition.db.session() as s:
        CaseService(s, coalition.principal("plat_a"), now=T0 + timedelta(hours=1)).transition(
            case_id, "disclosed", override_reason="story broke early"
        )
    with coalition.db.session() as s:
        assert (
            CaseService(s, coalition.principal("plat_a")).get_case(case_id).status
            is Status.COORDINATED_ACTION
        )
    with coalition.db.session() as s:
        partner = CaseService(s, coalition.principal("plat_b"), now=T0 + timedelta(hours=2, seconds=1))
        assert partner.embargo(case_id).seconds_remaining == 0
        with pytest.raises(PermissionDenied, match="only the organisation that owns the case"):
            partner.transition(case_id, "disclosed")  # the owner's move, even after the embargo
        after = CaseService(s, coalition.principal("plat_a"), now=T0 + timedelta(hours=2, seconds=1))
        assert after.transition(case_id, "disclosed").status is Status.DISCLOSED


def test_admin_override_with_reason_is_on_the_timeline(coalition: Coalition) -> None:
    case_id = _case_in_action(coalition)
    admin = coalition.principal("plat_a", Role.ADMIN)
    with coalition.db.session() as s:
        with pytest.raises(Conflict):
            CaseService(s, admin, now=T0).transition(case_id, "disclosed")
        CaseService(s, admin, now=T0).transition(
            case_id, "disclosed", override_reason="the story broke early"
        )
    with coalition.db.session() as s:
        last = CaseService(s, coalition.principal("gov")).timeline(case_id)[-1]
    assert last.kind is EventKind.STATUS and last.detail["embargo_override"] == "the story broke early"
    assert last.actor_key_id == admin.key_id


def test_red_actions_and_comments_stay_with_their_source(coalition: Coalition) -> None:
    with coalition.db.session() as s:
        case = CaseService(s, coalition.principal("plat_a")).create_case("c", marking=Marking(TLP.GREEN))
        b = CaseService(s, coalition.principal("plat_b"))
        b.record_action(case.id, "removed", "accounts", 41, platform="plat-b-net", marking=Marking(TLP.RED))
        b.record_action(case.id, "labelled", "posts", 900, platform="plat-b-net", marking=Marking(TLP.GREEN))
        b.add_comment(case.id, "internal RED note", marking=Marking(TLP.RED))
        b.add_comment(case.id, "AMBER platforms-only note", marking=Marking(TLP.AMBER))
    with coalition.db.session() as s:
        mine = CaseService(s, coalition.principal("plat_b"))
        assert sorted(a.count for a in mine.actions(case.id)) == [41, 900]
        other = CaseService(s, coalition.principal("plat_a"))
        assert [a.count for a in other.actions(case.id)] == [900]
        texts = [e.detail.get("text") for e in other.timeline(case.id) if e.kind is EventKind.COMMENT]
        assert texts == ["AMBER platforms-only note"]
        gov = CaseService(s, coalition.principal("gov"))
        assert [a.count for a in gov.actions(case.id)] == [900]
        events = gov.timeline(case.id)
        assert not [e for e in events if e.kind is EventKind.COMMENT]
        assert [e.detail["count"] for e in events if e.kind is EventKind.ACTION] == [900]
