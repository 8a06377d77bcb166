"""The signal page's related values include the same text cluster: near-duplicate text
signatures (MinHash) the reader may see, and not a text from another cluster or one hidden by TLP."""

from __future__ import annotations

from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore
from vigil.ingest.text import normalize_text
from vigil.signals.text_minhash import signature_of_normal, signature_to_hex
from vigil.web.pages.signals import related_signals

from .conftest import Coalition

BASE = "The election commission has hidden the real results from voters in the northern districts tonight"


def _sig(text: str) -> str:
    return signature_to_hex(signature_of_normal(normalize_text(text)))


def test_same_text_cluster_lists_visible_near_duplicates_only(coalition: Coalition) -> None:
    with coalition.db.session() as s:
        store = ExchangeStore(s)
        a, b = coalition.principal("plat_a"), coalition.principal("plat_b")
        seed = store.submit_signal(a, "text_minhash", _sig(BASE), marking=Marking(TLP.GREEN))
        near = store.submit_signal(a, "text_minhash", _sig(BASE + " #share"), marking=Marking(TLP.GREEN))
        hidden = store.submit_signal(
            a, "text_minhash", _sig(BASE.replace("tonight", "today")), marking=Marking(TLP.RED)
        )
        other = store.submit_signal(
            a,
            "text_minhash",
            _sig("Recipes for a quick autumn soup with pumpkin, ginger and a little coconut milk"),
            marking=Marking(TLP.GREEN),
        )
        seen = {o.id: why for why, o in related_signals(store, b, store.get_signal(b, seed.id))}
        mine = {o.id: why for why, o in related_signals(store, a, store.get_signal(a, seed.id))}
    assert near.id in seen and seen[near.id].startswith("same text cluster")
    assert hidden.id not in seen and other.id not in seen  # RED for plat_b; another text
    assert hidden.id in mine and other.id not in mine  # the owner sees its RED near-duplicate
