"""Policy changes in the coalition's documents: the meeting pack (changes since the last meeting)
and the partner briefing, each for its reader only, with the document's marking raised by what it
shows. An AMBER note from a platform never reaches a government reader, nor a RED one anyone but
its source."""

from __future__ import annotations

from datetime import timedelta

import pytest

from vigil.cases.briefing import BriefingService
from vigil.cases.meetings import MeetingService
from vigil.cases.meetings_render import render_pack
from vigil.cases.policies import PolicyService
from vigil.cases.render import render_briefing
from vigil.core.time import utcnow
from vigil.exchange.records import TLP, Marking

from ..cases.conftest import Coalition
from ..cases.test_document_markings import _marking_of


@pytest.mark.parametrize("fmt", ["html", "md"])
def test_pack_and_briefing_carry_policy_changes_within_each_readers_tlp(
    coalition: Coalition, fmt: str
) -> None:
    c = coalition
    now = utcnow()
    a = c.principal("plat_a")
    with c.db.session() as s:
        meetings = MeetingService(s, a, now=now - timedelta(days=30)).create_meeting(
            "Policy sync", now - timedelta(days=5), recurrence="weekly", occurrences=2,
            invited={c.orgs["gov"]: "member", c.orgs["plat_b"]: "member"},
        )  # fmt: skip
        PolicyService(s, a, now=now - timedelta(days=10)).record(
            "political_ads", "announced", summary="OLD-SUMMARY"
        )
    with c.db.session() as s:
        p = PolicyService(s, a, now=now - timedelta(days=1))
        p.record("political_ads", "in_force", summary="لا إعلانات سياسية", language="ar",
                 note="AMBER-NOTE", note_marking=Marking(TLP.AMBER))  # fmt: skip
        p.record(
            "hack_and_leak", "in_force", summary="LEAK-POLICY", note="RED-NOTE", note_marking=Marking(TLP.RED)
        )
    since_first = meetings[1].id  # its changes are those since the first meeting

    def documents(label: str) -> tuple[tuple[TLP, str], tuple[TLP, str]]:
        with c.db.session() as s:
            principal = c.principal(label)
            pack = render_pack(MeetingService(s, principal, now=now), since_first, fmt, label)
            briefing = BriefingService(s, principal, now=now).build(timedelta(days=3))
            return _marking_of(pack, fmt), _marking_of(render_briefing(briefing, fmt), fmt)

    for label, notes, hidden, tlp in (
        ("gov", set(), {"AMBER-NOTE", "RED-NOTE"}, TLP.GREEN),
        ("plat_b", {"AMBER-NOTE"}, {"RED-NOTE"}, TLP.AMBER),
        ("plat_a", {"AMBER-NOTE", "RED-NOTE"}, set(), TLP.RED),
    ):
        for i, (marking, text) in enumerate(documents(label)):
            assert "Member policy changes" in text
            assert "لا إعلانات سياسية" in text and "LEAK-POLICY" in text, label
            assert "OLD-SUMMARY" not in text  # recorded before the period
            assert all(n in text for n in notes) and not any(h in text for h in hidden), (label, fmt)
            assert marking is tlp, (label, fmt, marking)
            if i == 0:  # the pack (the briefing has no meeting)
                # plat_b, an invited platform with no change since the last meeting, is asked for one
                assert (
                    "Asked to confirm or update their policies" in text
                    and "plat_b org" in text.split("Asked to confirm")[1]
                ), (label, fmt)
        if fmt == "html":
            assert 'lang="ar" dir="rtl">لا إعلانات سياسية' in documents(label)[0][1]
