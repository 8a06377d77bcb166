"""The DISARM catalogue: the shipped file is exactly the normalized upstream bundle, quirks removed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stix2validator import ValidationOptions, validate_string

from tests.interop.conftest import Coalition
from vigil.core.errors import InputError, NotFound
from vigil.exchange import disarm
from vigil.exchange.stix_service import export_for

BUNDLE = Path("/work/shared/data/disarm/DISARM.json")
DATA = Path(disarm.__file__).parent / "data" / "disarm"


@pytest.fixture(scope="module")
def bundle() -> dict[str, object]:
    if not BUNDLE.exists():
        pytest.skip(f"{BUNDLE} (the upstream DISARM bundle) is not on this machine")
    return dict(json.loads(BUNDLE.read_text("utf-8")))


def test_shipped_catalogue_is_the_normalized_upstream_bundle(bundle: dict[str, object]) -> None:
    fresh = disarm.normalize_bundle(bundle, disarm.catalogue().source)
    assert fresh.to_json() == json.loads((DATA / "catalogue.json").read_text("utf-8"))
    upstream = [o for o in bundle["objects"] if o["type"] == "attack-pattern"]  # type: ignore[attr-defined]
    assert len(disarm.catalogue()) == len(upstream) == 391
    assert len(disarm.catalogue().tactics) == 16


def test_quirks_are_normalized_away() -> None:
    text = (DATA / "catalogue.json").read_text("utf-8")
    assert "mitre-attack" not in text and "x_mitre" not in text and "Windows" not in text
    assert "<br" not in text and "<b>" not in text
    t = disarm.catalogue().get("T0049.001")
    assert t.name == "Trolls Amplify and Manipulate"
    assert t.parent == "T0049" and t.is_subtechnique
    assert [x.name for x in disarm.catalogue().tactic_of(t)] == ["Maximise Exposure"]


def test_attribution_ships_with_the_data() -> None:
    notice = (DATA / "NOTICE.txt").read_text("utf-8")
    assert "DISARM Foundation" in notice and "CC BY-SA 4.0" in notice
    assert "49df5f649e16dfbf11e3859913c256c875c02692" in notice
    shipped = json.loads((DATA / "catalogue.json").read_text("utf-8"))
    assert shipped["license"] == "CC-BY-SA-4.0" and "DISARM Foundation" in shipped["attribution"]


def test_lookup_and_search() -> None:
    cat = disarm.catalogue()
    assert cat.get(" t0049 ").name == "Flood Information Space"
    assert "T0049" in cat and "T9999" not in cat
    assert cat.find("T9999") is None
    with pytest.raises(NotFound, match="T9999"):
        cat.get("T9999")
    hits = [t.id for t in cat.search("flood")]
    assert hits[0] == "T0049" and all(cat.get(h) for h in hits)
    assert {c.id for c in cat.children("T0049")} >= {"T0049.001", "T0049.008"}
    in_tactic = cat.search(tactic="TA17")
    assert in_tactic and all("TA17" in t.tactics for t in in_tactic)
    assert [t.id for t in cat.search("hashtag", tactic="maximise-exposure")] == [
        t.id for t in cat.search("hashtag") if "TA17" in t.tactics
    ]
    assert cat.label("T0049") == "T0049 Flood Information Space"


def test_validation_names_the_bad_value() -> None:
    assert disarm.technique_ids(["t0049", "T0049", "T0015"]) == ("T0049", "T0015")
    with pytest.raises(InputError, match="T0999"):
        disarm.technique_ids(["T0049", "T0999"])
    with pytest.raises(InputError, match="'hello'"):
        disarm.technique_ids(["hello"])
    with pytest.raises(InputError, match="unknown DISARM tactic"):
        disarm.catalogue().search(tactic="nope")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.update(type="x"), "not a STIX bundle"),
        (
            lambda b: b["objects"][_first(b, "attack-pattern")].update(external_references=[]),
            "no DISARM technique id",
        ),
        (
            lambda b: b["objects"][_first(b, "attack-pattern")].update(
                kill_chain_phases=[{"kill_chain_name": "mitre-attack", "phase_name": "nowhere"}]
            ),
            "nowhere",
        ),
        (lambda b: b.update(objects=[o for o in b["objects"] if o["type"] != "attack-pattern"]), "no DISARM"),
    ],
)
def test_malformed_bundles_are_refused(bundle: dict[str, object], mutate: object, message: str) -> None:
    copy = json.loads(json.dumps(bundle))
    mutate(copy)  # type: ignore[operator]
    with pytest.raises(InputError, match=message):
        disarm.normalize_bundle(copy)


def _first(b: dict[str, list[dict[str, object]]], kind: str) -> int:
    return next(i for i, o in enumerate(b["objects"]) if o["type"] == kind)


def test_stix_export_names_the_techniques_a_campaign_uses(coalition: Coalition) -> None:
    bundle = coalition.run(lambda s: export_for(s, coalition.principals["p2"]))
    objects = {o["id"]: o for o in bundle["objects"]}
    campaign = next(o for o in objects.values() if o["type"] == "campaign")
    used = [
        objects[o["target_ref"]]
        for o in objects.values()
        if o["type"] == "relationship"
        and o["relationship_type"] == "uses"
        and o["source_ref"] == campaign["id"]
    ]
    by_id = {p["external_references"][0]["external_id"]: p for p in used}
    assert set(by_id) == {"T0049", "T0015"}
    assert by_id["T0049"]["name"] == "T0049 Flood Information Space"
    assert by_id["T0049"]["kill_chain_phases"] == [
        {"kill_chain_name": "disarm", "phase_name": "maximise-exposure"}
    ]
    assert "DISARM Foundation" in by_id["T0049"]["description"]
    result = validate_string(json.dumps(bundle), ValidationOptions(version="2.1"))
    assert result.is_valid, [str(e) for e in result.errors]
    # (indicators without a description draw {303} warnings; the DISARM references must draw none)
    assert [str(w) for w in result.warnings if str(w).startswith("attack-pattern--")] == []
