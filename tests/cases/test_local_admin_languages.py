"""The local administrator's view of a case's signals keeps their languages.

Languages moved from the shared signal row to each contribution (#15); the administrator's
branch of ``linked_signals`` read the row and lost them for every new signal.
"""

from __future__ import annotations

from tests.cases.conftest import Coalition
from vigil.cases.service import CaseService
from vigil.exchange.records import TLP, Marking


def test_the_local_admin_sees_the_earliest_contribution_language(coalition: Coalition) -> None:
    with coalition.db.session() as s:
        a = CaseService(s, coalition.principal("plat_a"))
        fr = a.store.submit_signal(
            coalition.principal("plat_a"),
            "domain",
            "exemple-vote.fr",
            marking=Marking(TLP.AMBER),
            language="fr",
        )
        none = a.store.submit_signal(
            coalition.principal("plat_a"), "domain", "no-language.com", marking=Marking(TLP.AMBER)
        )
        # a later member's language does not replace the first one's
        a.store.submit_signal(
            coalition.principal("plat_b"),
            "domain",
            "exemple-vote.fr",
            marking=Marking(TLP.RED),
            language="de",
        )
        case = a.create_case("languages")
        a.link_signals(case.id, [fr.id, none.id])
        s.commit()
    with coalition.db.session() as s:
        seen = {x.value: x.language for x in CaseService(s, None).linked_signals(case.id)}
    assert seen == {"exemple-vote.fr": "fr", "no-language.com": None}
