"""The batched reads the pages use give what the one-at-a-time reads give, per reader:
``CaseService.linked_signals_of`` (the case exports) against ``linked_signals`` of each case, and
``ExchangeStore.first_pages`` (a signal's related lists) against ``list_signals`` of each filter.
Markings differ per signal, so each reader's answer differs too (a batch that mixed readers' views
or dropped the TLP filter would fail here)."""

from __future__ import annotations

from vigil.cases.service import CaseService
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore, SignalFilter

from .conftest import Coalition

MARKINGS = [TLP.CLEAR, TLP.AMBER, TLP.RED, TLP.GREEN, TLP.AMBER_STRICT]


def test_batched_reads_equal_one_at_a_time(coalition: Coalition) -> None:
    with coalition.db.session() as s:
        store = ExchangeStore(s)
        owner = coalition.principal("plat_a")
        campaign = store.create_campaign(owner, "wave", marking=Marking(TLP.GREEN))
        signals = [
            store.submit_signal(
                owner,
                "domain",
                f"d{i}.example.org",
                marking=Marking(tlp),
                campaign_id=campaign.id if i % 2 else None,
            )
            for i, tlp in enumerate(MARKINGS * 2)
        ]
        cases = CaseService(s, owner)
        for i, tlp in enumerate((TLP.GREEN, TLP.AMBER, TLP.CLEAR)):
            case = cases.create_case(f"case {i}", marking=Marking(tlp))
            cases.link_signals(case.id, [x.id for x in signals[i::2]])
        s.commit()
        filters = [
            (SignalFilter(text="example.org"), 4),
            (SignalFilter(campaign_id=campaign.id), 25),
            (SignalFilter(tlps=(TLP.AMBER,)), 3),
        ]
        answers = set()
        for label in ("plat_a", "plat_b", "gov", "res"):
            reader = coalition.principal(label)
            service = CaseService(s, reader)
            listed = service.list_cases()
            batched = service.linked_signals_of(listed)
            assert {c.id: [x.id for x in service.linked_signals(c.id)] for c in listed} == {
                c: [x.id for x in found] for c, found in batched.items()
            }
            pages = store.first_pages(reader, filters)
            assert [[x.id for x in store.list_signals(reader, f, limit=n).items] for f, n in filters] == [
                [x.id for x in page] for page in pages
            ]
            answers.add(repr(sorted((c, [x.id for x in v]) for c, v in batched.items())))
    assert len(answers) > 2  # the readers' views differ: the comparison is not of empty answers
