"""The policy register as STIX 2.1 for one reader: a custom object declared by an
extension-definition (new-sdo) that passes stix2-validator, one STIX version per policy version,
notes as STIX notes under their own marking, and nothing the reader may not see."""

from __future__ import annotations

import json
from datetime import timedelta

from stix2validator import ValidationOptions, validate_string

from vigil.cases.policies import PolicyService
from vigil.cases.policies_stix import POLICY_TYPE, policy_bundle
from vigil.core.time import utcnow
from vigil.exchange.records import TLP, Marking

from ..cases.conftest import Coalition


def test_bundle_validates_and_holds_only_what_the_reader_may_see(coalition: Coalition) -> None:
    c = coalition
    now = utcnow()
    a = c.principal("plat_a")
    with c.db.session() as s:
        PolicyService(s, a, now=now - timedelta(days=2)).record(
            "political_ads", "announced", effective_from=now, summary="Pas de publicité", language="fr",
            source_url="https://a.example/ads", note="AMBER-NOTE", note_marking=Marking(TLP.AMBER),
        )  # fmt: skip
        PolicyService(s, a, now=now - timedelta(days=1)).record(
            "political_ads", "in_force", note="GREEN-NOTE", note_marking=Marking(TLP.GREEN)
        )
        PolicyService(s, a).record(
            "hack_and_leak", "in_force", summary="AMBER-POLICY", marking=Marking(TLP.AMBER)
        )
    for label, notes, summaries in (
        ("gov", {"GREEN-NOTE"}, {"Pas de publicité"}),
        ("plat_b", {"GREEN-NOTE", "AMBER-NOTE"}, {"Pas de publicité", "AMBER-POLICY"}),
    ):
        with c.db.session() as s:
            b = policy_bundle(PolicyService(s, c.principal(label)))
        result = validate_string(json.dumps(b), ValidationOptions(version="2.1"))
        assert result.is_valid and not result.warnings, (
            label,
            [str(e) for e in result.errors],
            result.warnings,
        )
        policies = [o for o in b["objects"] if o["type"] == POLICY_TYPE]
        ads = [o for o in policies if o["area"] == "political_ads"]
        assert len({o["id"] for o in ads}) == 1 and [o["version_number"] for o in ads] == [1, 2]
        assert ads[0]["created"] == ads[1]["created"] < ads[1]["modified"]
        assert {n["content"] for n in b["objects"] if n["type"] == "note"} == notes, label
        assert {o.get("summary") for o in policies} - {None} == summaries, label
