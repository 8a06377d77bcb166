""" "Another organisation holds this value": nothing may tell a member that (issue #15).

Org A holds a value as an unshared RED contribution. Org C submits the same value (it can guess
any domain or narrative). Everything C can read back afterwards (its own view over the store,
REST, TAXII, its STIX export, the meeting prefill) must be exactly what C would read had A never
submitted it: compared field by field with a *fresh* value C submits the same way, so a new
attribute that leaks fails here without anyone listing it.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from vigil.core.errors import NotFound
from vigil.exchange.access import Principal
from vigil.exchange.records import TLP, Marking, Signal
from vigil.exchange.stix_service import export_for
from vigil.exchange.store import ExchangeStore, SignalFilter, SignalSubmission
from vigil.exchange.taxii_store import load_catalog

from ..cases.conftest import Coalition

_ID = re.compile(r"(indicator|identity|attack-pattern|relationship|note|opinion|sighting)--[0-9a-f-]{36}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT[0-9:.]+Z?(\+00:00)?")


def _narrative() -> str:
    return f"the elections are rigged {uuid.uuid4().hex[:10]} say the insiders"


def _shape(signal: Signal) -> dict[str, Any]:
    """What a reader learns from a view, with the value, ids and times taken out."""
    return {
        "kind": signal.kind.value,
        "language": signal.language,
        "contributions": [
            (c.org_id, c.marking, c.confidence, c.tags, c.description, c.language, c.revoked, c.version)
            for c in signal.contributions
        ],
        "opinions": [(o.org_id, o.value.value, o.comment) for o in signal.opinions],
        "sightings": [(s.org_id, s.count, s.platform) for s in signal.sightings],
        "revoked": signal.revoked,
        "valid_until": signal.valid_until,
    }


def _plant(coalition: Coalition, holder: Principal, value: str, language: str) -> None:
    now = datetime.now(UTC)
    with coalition.db.session() as s:
        store = ExchangeStore(s)
        held = store.submit_signal(
            holder,
            "narrative",
            value,
            marking=Marking(TLP.RED),
            language=language,
            confidence=90,
            tags=["held"],
            description="held by A",
        )
        store.set_opinion(holder, held.id, "confirmed", "A's view")
        store.add_sighting(holder, held.id, count=3, first_seen=now - timedelta(days=1), last_seen=now)


def test_a_hidden_holders_language_never_reaches_a_second_submitter(coalition: Coalition) -> None:
    """The leak: the signal's language was set by its first submitter, so org C submitting the
    same value with another language (or none) got A's language back."""
    a, c = coalition.principal("plat_a"), coalition.principal("gov")
    value = _narrative()
    _plant(coalition, a, value, "ar")
    with coalition.db.session() as s:
        store = ExchangeStore(s)
        none = store.submit_signal(c, "narrative", value, marking=Marking(TLP.GREEN))
        assert none.language is None
        assert [x.language for x in none.contributions] == [None]
    with coalition.db.session() as s:
        store = ExchangeStore(s)
        french = store.submit_signal(c, "narrative", value, marking=Marking(TLP.GREEN), language="fr")
        assert french.language == "fr"
        assert store.get_signal(c, french.id).language == "fr"
        taxii = json.dumps([e.obj for e in load_catalog(s, c).entries])
        bundle = json.dumps(export_for(store, c))
        for document in (taxii, bundle):
            assert '"lang": "ar"' not in document
            assert '"lang": "fr"' in document
        # A keeps its own language; a member seeing both sees each contribution's own
        mine = store.get_signal(a, french.id)
        assert mine.language == "ar"
        assert {(x.org_id, x.language) for x in mine.contributions} == {(a.org_id, "ar"), (c.org_id, "fr")}


def _submit_twice(store: ExchangeStore, c: Principal, value: str, bulk: bool) -> Signal:
    items = [
        SignalSubmission("narrative", value, Marking(TLP.GREEN), confidence=40, language="fr"),
        SignalSubmission(
            "narrative", value, Marking(TLP.AMBER), confidence=45, tags=("again",), language="fr"
        ),
    ]
    if bulk:
        report = store.submit_signals(c, items)
        assert [i.created for i in report.items] == [True, False]
        return store.get_signal(c, report.items[0].signal_id or "")
    for item in items:
        store.submit_signal(
            c,
            item.kind,
            item.value,
            marking=item.marking,
            confidence=item.confidence,
            tags=item.tags,
            language=item.language,
        )
    return store.find_signal(c, "narrative", value)


def test_a_held_value_reads_back_exactly_like_a_fresh_one(coalition: Coalition) -> None:
    """Differential: C submits a value A holds hidden, and a fresh value, the same way (one by one
    and in bulk); every view, listing, version list, opinion, TAXII object and STIX export C gets
    back has the same shape once values, ids and times are taken out."""
    a, c = coalition.principal("plat_a"), coalition.principal("gov")
    held, fresh = _narrative(), _narrative()
    held_bulk, fresh_bulk = _narrative(), _narrative()
    for value in (held, held_bulk):
        _plant(coalition, a, value, "ar")
    shapes: dict[str, Any] = {}
    with coalition.db.session() as s:
        store = ExchangeStore(s)
        for label, value, bulk in (
            ("held", held, False),
            ("fresh", fresh, False),
            ("held_bulk", held_bulk, True),
            ("fresh_bulk", fresh_bulk, True),
        ):
            view = _submit_twice(store, c, value, bulk)
            store.set_opinion(c, view.id, "disputed", "C's view")
            again = store.get_signal(c, view.id)
            shapes[label] = {
                "view": _shape(again),
                "versions": len(store.list_versions(c, view.id)),
                "opinions": [(o.org_id, o.comment) for o in store.list_opinions(c, view.id, history=True)],
                "sightings": len(store.list_sightings(c, view.id)),
            }
    with coalition.db.session() as s:
        store = ExchangeStore(s)
        catalog = load_catalog(s, c)
        bundle = export_for(store, c)
        for label, value in (
            ("held", held),
            ("fresh", fresh),
            ("held_bulk", held_bulk),
            ("fresh_bulk", fresh_bulk),
        ):
            objects = [e.obj for e in catalog.entries if value in json.dumps(e.obj)]
            exported = [o for o in bundle["objects"] if value in json.dumps(o)]
            shapes[label]["taxii"] = sorted(
                _TIME.sub("T", _ID.sub("ID", json.dumps(o, sort_keys=True).replace(value, "V")))
                for o in objects
            )
            shapes[label]["stix"] = sorted(
                _TIME.sub("T", _ID.sub("ID", json.dumps(o, sort_keys=True).replace(value, "V")))
                for o in exported
            )
    assert shapes["held"] == shapes["fresh"]
    assert shapes["held_bulk"] == shapes["fresh_bulk"]
    assert shapes["held"]["view"]["language"] == "fr"


def test_errors_and_probes_answer_alike_for_held_and_missing_values(coalition: Coalition) -> None:
    """Reads, revocations and feedback on a value A holds hidden fail exactly like on a value no one
    holds: the same error class and the same message once the id is taken out."""
    a, c = coalition.principal("plat_a"), coalition.principal("gov")
    held, missing = _narrative(), _narrative()
    _plant(coalition, a, held, "ar")
    now = datetime.now(UTC)

    def failures(value: str) -> list[tuple[str, str]]:
        out = []
        with coalition.db.session() as s:
            store = ExchangeStore(s)
            from vigil.core.ids import stable_id
            from vigil.exchange.values import normalize_value

            kind, normalized = normalize_value("narrative", value)
            signal_id = stable_id("indicator", kind.value, normalized)
            probes = [
                lambda: store.get_signal(c, signal_id),
                lambda: store.find_signal(c, "narrative", value),
                lambda: store.list_versions(c, signal_id),
                lambda: store.list_opinions(c, signal_id),
                lambda: store.list_sightings(c, signal_id),
                lambda: store.revoke_signal(c, signal_id),
                lambda: store.set_opinion(c, signal_id, "confirmed", None),
                lambda: store.add_sighting(c, signal_id, count=1, first_seen=now, last_seen=now),
            ]
            for probe in probes:
                try:
                    probe()
                except NotFound as exc:
                    out.append((type(exc).__name__, str(exc).replace(signal_id, "ID")))
                else:
                    out.append(("ok", ""))
        return out

    assert failures(held) == failures(missing)
    assert all(kind == "NotFound" for kind, _ in failures(held))


def test_a_hidden_change_does_not_move_a_value_in_the_readers_listing(coalition: Coalition) -> None:
    """Listings were ordered (and their cursors keyed) by the signal row's change time, which any
    member's change moves: a reader saw a value it had submitted jump to the end of its listing,
    and the decoded cursor's time change, when a member it cannot see changed its own contribution."""
    a, c = coalition.principal("plat_a"), coalition.principal("gov")
    held, fresh = _narrative(), _narrative()
    _plant(coalition, a, held, "ar")
    with coalition.db.session() as s:
        store = ExchangeStore(s)
        first = store.submit_signal(c, "narrative", held, marking=Marking(TLP.GREEN))
        second = store.submit_signal(c, "narrative", fresh, marking=Marking(TLP.GREEN))
    mine = SignalFilter(org_id=c.org_id)

    def listing() -> tuple[list[str], str | None]:
        with coalition.db.session() as s:
            store = ExchangeStore(s)
            ids = [x.id for x in store.list_signals(c, mine, limit=100).items]
            return ids, store.list_signals(c, mine, limit=1).next_cursor

    before = listing()
    assert before[0] == [first.id, second.id]
    with coalition.db.session() as s:  # A changes its hidden contribution (and later revokes it)
        ExchangeStore(s).submit_signal(a, "narrative", held, marking=Marking(TLP.RED), confidence=10)
    assert listing() == before
    with coalition.db.session() as s:
        ExchangeStore(s).revoke_signal(a, first.id)
    assert listing() == before
    # the reader's own change still moves it, as the view's modified_at says
    with coalition.db.session() as s:
        ExchangeStore(s).submit_signal(c, "narrative", held, marking=Marking(TLP.GREEN), confidence=60)
    assert listing()[0] == [second.id, first.id]
