"""Opening a case from a detection: items arrive as (kind, value) and are published in one bulk call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vigil.cases.from_detection import detected_from_document, load_detected, open_case
from vigil.cases.service import CaseService
from vigil.core.errors import InputError
from vigil.detect import runs
from vigil.exchange.records import TLP, Marking, SignalKind
from vigil.signals import get_signal_type

from .conftest import Coalition

TEXT = get_signal_type("text_exact").hash_text("Thousands of ballots were found behind the town hall")


def _document(top_items: list[dict[str, object]]) -> dict[str, object]:
    campaign = {"campaign_id": "campaign--x", "rank": 1, "accounts": [], "top_items": top_items}
    return {"campaigns": [campaign]}


def test_items_are_read_as_kind_and_value_without_decoding() -> None:
    top = [
        {"trace": "co_domain", "kind": "domain", "item": "nationtruth.live"},
        {"trace": "co_domain_slow", "kind": "domain", "item": "nationtruth.live"},  # listed once
        {"trace": "co_text_exact", "kind": "text_exact", "item": TEXT},  # shareable now
        {"trace": "co_image", "kind": "image_pdq", "item": "f" * 64},
        {"trace": "co_mention", "kind": "account", "item": "x:@candidate"},  # a target, not a member
        {"trace": "co_reshare", "kind": None, "item": "x:123"},  # no signal
    ]
    detected = detected_from_document(_document(top), "1")
    assert detected.items == [
        {"kind": "domain", "value": "nationtruth.live"},
        {"kind": "text_exact", "value": TEXT},
        {"kind": "image_pdq", "value": "f" * 64},
    ]


def test_a_detection_is_published_in_one_bulk_submission(
    coalition: Coalition, detected_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    detected = load_detected(detected_dir, "1")
    document = runs.read_document(detected_dir)
    kinds = {t["kind"] for c in document["campaigns"] for t in c["top_items"]}
    assert kinds >= {"url", "domain"} and "text_exact" in {i["kind"] for i in detected.items}
    calls: list[int] = []
    with coalition.db.session() as s:
        service = CaseService(s, coalition.principal("plat_a"))
        bulk = service.store.submit_signals

        def counted(*args: Any, **kwargs: Any) -> Any:  # the real bulk call, counted
            calls.append(len(args[1]))
            return bulk(*args, **kwargs)

        monkeypatch.setattr(service.store, "submit_signals", counted)
        case = open_case(service, detected, Marking(TLP.AMBER))
        linked = service.linked_signals(case.id)
    assert calls == [len(detected.accounts) + len(detected.items)]  # one call, every value
    published = {(x.kind.value, x.value) for x in linked}
    assert {(i["kind"], i["value"]) for i in detected.items} <= published
    assert {a["account"] for a in detected.accounts} == {v for k, v in published if k == SignalKind.ACCOUNT}


def test_a_bad_value_stores_nothing(coalition: Coalition, detected_dir: Path) -> None:
    detected = load_detected(detected_dir, "1")
    detected.items = [*detected.items, {"kind": "image_pdq", "value": "not-a-hash"}]
    with coalition.db.session() as s:
        service = CaseService(s, coalition.principal("plat_a"))
        before = service.store.count_signals(coalition.principal("plat_a"))
        with pytest.raises(InputError, match="image_pdq"):
            open_case(service, detected, Marking(TLP.AMBER))
    with coalition.db.session() as s:
        analyst = coalition.principal("plat_a")
        after = CaseService(s, analyst).store.count_signals(analyst)
    assert after == before
