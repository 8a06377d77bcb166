"""PolicyService on real databases (SQLite and PostgreSQL): versions, diffs, changes since the
last meeting, the matrix and election readiness, and visibility for every kind of reader."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from vigil.cases.meetings import MeetingService
from vigil.cases.policies import PolicyAreas, PolicyService
from vigil.core.errors import ConfigError, InputError, NotFound, PermissionDenied
from vigil.core.time import utcnow
from vigil.exchange.models import AuditRow
from vigil.exchange.records import TLP, Marking, Role

from ..cases.conftest import Coalition


def test_every_record_is_a_new_version_with_who_and_when_and_an_audit_entry(coalition: Coalition) -> None:
    c = coalition
    t0 = utcnow() - timedelta(days=10)
    a = c.principal("plat_a")
    with c.db.session() as s:
        PolicyService(s, a, now=t0).record("political_ads", "announced", summary="No political ads from May")
    with c.db.session() as s:
        v2 = PolicyService(s, a, now=t0 + timedelta(days=2)).record(
            "political_ads", "in force", effective_from=t0, source_url="https://a.example/ads"
        )
    assert (v2.version, v2.status, v2.recorded_by_key, v2.recorded_by_org) == (
        2, "in_force", a.key_id, c.orgs["plat_a"]
    )  # fmt: skip
    with c.db.session() as s:
        history = PolicyService(s, c.principal("gov")).history(org_id=c.orgs["plat_a"])
        assert [(h.version, h.status) for h in history] == [(1, "announced"), (2, "in_force")]
        assert history[0].recorded_at < history[1].recorded_at
        entries = s.scalars(select(AuditRow).where(AuditRow.action == "policy.record")).all()
        assert [(e.actor_key_id, e.detail["version"], e.subject_org_id) for e in entries] == [
            (a.key_id, 1, c.orgs["plat_a"]), (a.key_id, 2, c.orgs["plat_a"])
        ]  # fmt: skip


def test_bad_input_is_refused_and_nothing_is_stored(coalition: Coalition) -> None:
    c = coalition
    a = c.principal("plat_a")
    bad = [
        ({"area": "nope", "status": "in_force"}, InputError, "unknown policy area"),
        ({"area": "political_ads", "status": "maybe"}, InputError, "unknown policy status"),
        ({"area": "political_ads", "status": "in_force", "source_url": "ftp://x"}, InputError, "http"),
        ({"area": "political_ads", "status": "in_force", "language": "de"}, InputError, "language"),
        (
            {"area": "political_ads", "status": "in_force", "effective_from": utcnow(),
             "effective_until": utcnow() - timedelta(days=1)},
            InputError, "before",
        ),
        ({"area": "political_ads", "status": "in_force", "org_id": c.orgs["plat_b"]},
         PermissionDenied, "own"),
    ]  # fmt: skip
    for kwargs, error, words in bad:
        with pytest.raises(error, match=words), c.db.session() as s:
            PolicyService(s, a).record(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied), c.db.session() as s:
        PolicyService(s, c.principal("plat_a", Role.READ_ONLY)).record("political_ads", "in_force")
    with c.db.session() as s:
        assert PolicyService(s, None).history() == []
        assert s.scalars(select(AuditRow).where(AuditRow.action == "policy.record")).all() == []


def test_diff_between_two_dates_and_since_the_last_meeting(coalition: Coalition) -> None:
    c = coalition
    now = utcnow()
    a, b = c.principal("plat_a"), c.principal("plat_b")
    with c.db.session() as s:
        PolicyService(s, a, now=now - timedelta(days=20)).record("misleading_labels", "in_force")
        PolicyService(s, b, now=now - timedelta(days=20)).record("political_ads", "in_force")
    with c.db.session() as s:
        meetings = MeetingService(s, a, now=now - timedelta(days=30)).create_meeting(
            "Sync", now - timedelta(days=7), invited={c.orgs["gov"]: "member"},
            recurrence="weekly", occurrences=2,
        )  # fmt: skip
    with c.db.session() as s:
        PolicyService(s, a, now=now - timedelta(days=3)).record(
            "misleading_labels", "changed", summary="Labels now link to the electoral commission"
        )
        PolicyService(s, b, now=now - timedelta(days=3)).record("synthetic_media", "announced")
    with c.db.session() as s:
        gov = PolicyService(s, c.principal("gov"), now=now)
        changes = gov.diff(now - timedelta(days=10), now)
        assert [(x.org_id, x.area, x.before is None) for x in changes] == sorted(
            [(c.orgs["plat_a"], "misleading_labels", False), (c.orgs["plat_b"], "synthetic_media", True)]
        )
        labels = next(x for x in changes if x.area == "misleading_labels")
        assert labels.fields == ("status", "summary") and labels.before is not None
        assert (labels.before.status, labels.after.status) == ("in_force", "changed")
        assert gov.diff(now - timedelta(days=30), now - timedelta(days=25)) == []
        since, _end, in_meeting = gov.since_meeting(meetings[1].id)
        assert since == meetings[0].starts_at
        assert {(x.org_id, x.area) for x in in_meeting} == {(x.org_id, x.area) for x in changes}
        with pytest.raises(InputError):
            gov.diff(now, now - timedelta(days=1))
    with pytest.raises(NotFound), c.db.session() as s:  # not invited: the meeting does not exist
        PolicyService(s, c.principal("res")).since_meeting(meetings[1].id)


def test_notes_and_policies_reach_only_the_readers_their_tlp_allows(coalition: Coalition) -> None:
    c = coalition
    a = c.principal("plat_a")
    with c.db.session() as s:
        p = PolicyService(s, a)
        p.record("hack_and_leak", "in_force", summary="PUBLIC-SUMMARY", note="RED-NOTE",
                 note_marking=Marking(TLP.RED))  # fmt: skip
        p.record("voter_suppression", "in_force", note="AMBER-NOTE", note_marking=Marking(TLP.AMBER))
        p.record("state_media_labels", "announced", summary="AMBER-POLICY", marking=Marking(TLP.AMBER))
        p.record("synthetic_media", "in_force", note="RED-NOTE-FOR-GOV",
                 note_marking=Marking(TLP.RED, (c.orgs["gov"],)))  # fmt: skip

    def seen(label: str) -> tuple[set[str], set[str]]:
        with c.db.session() as s:
            versions = PolicyService(s, c.principal(label)).history()
        return {v.note for v in versions if v.note}, {v.summary for v in versions if v.summary}

    assert seen("plat_a") == (
        {"RED-NOTE", "AMBER-NOTE", "RED-NOTE-FOR-GOV"},
        {"PUBLIC-SUMMARY", "AMBER-POLICY"},
    )
    # another platform: AMBER of a platform reaches platforms; RED only the source and listed orgs
    assert seen("plat_b") == ({"AMBER-NOTE"}, {"PUBLIC-SUMMARY", "AMBER-POLICY"})
    assert seen("gov") == ({"RED-NOTE-FOR-GOV"}, {"PUBLIC-SUMMARY"})
    assert seen("res") == (set(), {"PUBLIC-SUMMARY"})
    with c.db.session() as s:
        gov = PolicyService(s, c.principal("gov"))
        hidden = [v for v in gov.history() if v.area == "hack_and_leak"]
        assert hidden[0].note is None and hidden[0].note_marking is None
        m = gov.matrix()
        assert m.cells[c.orgs["plat_a"]]["state_media_labels"] is None  # the AMBER policy: not seen
        assert (c.orgs["plat_a"], "state_media_labels") in m.gaps
        assert m.tlp is TLP.RED  # the RED note listed for gov is in what it sees


def test_matrix_gaps_and_readiness_by_election_day(coalition: Coalition) -> None:
    c = coalition
    now = utcnow()
    day = now + timedelta(days=40)
    with c.db.session() as s:
        MeetingService(s, None).add_election_date("General 2027", "election_day", day)
        a = PolicyService(s, c.principal("plat_a"), now=now)
        a.record("political_ads", "in_force")
        a.record("synthetic_media", "announced", effective_from=now + timedelta(days=30))
        a.record("hack_and_leak", "announced", effective_from=now + timedelta(days=50))
        a.record("voter_suppression", "withdrawn")
    with c.db.session() as s:
        gov = PolicyService(s, c.principal("gov"), now=now)
        m = gov.matrix()
        assert set(m.members) == {c.orgs["plat_a"], c.orgs["plat_b"]}  # platforms, none recorded by others
        gaps_a = {area for org, area in m.gaps if org == c.orgs["plat_a"]}
        assert "political_ads" not in gaps_a
        assert {"synthetic_media", "hack_and_leak", "voter_suppression", "misleading_labels"} <= gaps_a
        assert len([g for g in m.gaps if g[0] == c.orgs["plat_b"]]) == len(m.areas)
        r = gov.readiness("General 2027")
        assert r.day == day
        ready = r.in_force[c.orgs["plat_a"]]
        assert (ready["political_ads"], ready["synthetic_media"], ready["hack_and_leak"]) == (
            True,
            True,
            False,
        )
        assert ready["voter_suppression"] is False and r.ready[c.orgs["plat_a"]] == 2
        assert r.ready[c.orgs["plat_b"]] == 0
        with pytest.raises(NotFound, match="no election day"):
            gov.readiness("Unknown 2030")


def test_areas_are_configurable_with_titles_in_three_languages(tmp_path: Path) -> None:
    default = PolicyAreas.default()
    assert len(default.areas) == 10 and default.get("political_ads").title("fr").startswith("Publicités")
    assert default.get("political_ads").title("ar").startswith("الإعلانات")
    (tmp_path / "policy_areas.yaml").write_text(
        "areas:\n  - key: ads\n    en: Ads\n    fr: Publicités\n    ar: الإعلانات\n", "utf-8"
    )
    assert PolicyAreas.load(tmp_path).keys() == ["ads"]
    assert PolicyAreas.load(tmp_path / "absent").keys() == default.keys()
    (tmp_path / "policy_areas.yaml").write_text("areas:\n  - key: ads\n    en: Ads\n", "utf-8")
    with pytest.raises(ConfigError, match="no title in fr, ar"):
        PolicyAreas.load(tmp_path)
