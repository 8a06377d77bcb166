"""STIX 2.1 mapping: every export validates, patterns round-trip, TLP stays per contribution, and
imports report what they cannot take instead of dropping it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import stix2
from hypothesis import given, settings
from hypothesis import strategies as st
from stix2validator import ValidationOptions, validate_string

from tests.taxii.records_fixture import CAMPAIGN, GOVERNMENT, ORGS, PLATFORM_A, PLATFORM_B, VALUES, signals
from vigil.core.errors import InputError
from vigil.exchange.records import TLP, OpinionValue, Signal, SignalKind
from vigil.exchange.stix_export import contribution_object_id, export_bundle
from vigil.exchange.stix_import import load_objects, plan_import
from vigil.exchange.stix_markings import TLP2_MARKING_IDS, marking_definition, tlp_of_marking_definition
from vigil.exchange.stix_patterns import pattern_for, signal_of_pattern


def assert_valid_stix(bundle: dict[str, object]) -> list[str]:
    """No validator errors, the stix2 library parses it; returns the warnings."""
    result = validate_string(json.dumps(bundle), ValidationOptions(version="2.1"))
    assert result.is_valid, [str(e) for e in result.errors]
    parsed = stix2.parse(bundle, allow_custom=True)
    assert len(parsed.objects) == len(bundle["objects"])  # type: ignore[arg-type]
    return [str(w) for w in result.warnings]


def test_full_export_validates_without_errors_or_warnings() -> None:
    bundle = export_bundle(ORGS, signals(), [CAMPAIGN])
    assert assert_valid_stix(bundle) == []
    types = {o["type"] for o in bundle["objects"]}
    assert {"indicator", "attack-pattern", "campaign", "threat-actor", "relationship", "identity"} <= types
    assert {"opinion", "sighting", "marking-definition", "extension-definition"} <= types


def test_export_is_deterministic() -> None:
    first = export_bundle(ORGS, signals(), [CAMPAIGN])
    second = export_bundle(ORGS, signals(), [CAMPAIGN])
    assert first == second
    assert len({o["id"] for o in first["objects"]}) == len(first["objects"])


@pytest.mark.parametrize("kind", [k for k in SignalKind if k is not SignalKind.TECHNIQUE])
def test_pattern_round_trip_per_kind(kind: SignalKind) -> None:
    pattern = pattern_for(kind, VALUES[kind])
    assert signal_of_pattern(pattern) == (kind, VALUES[kind])


def test_account_patterns_use_user_account_properties() -> None:
    assert pattern_for(SignalKind.ACCOUNT, "twitter:@bot") == (
        "[user-account:account_type = 'twitter' AND user-account:account_login = 'bot']"
    )
    assert pattern_for(SignalKind.ACCOUNT, "facebook:1234") == (
        "[user-account:account_type = 'facebook' AND user-account:user_id = '1234']"
    )
    with pytest.raises(InputError, match="platform:account_id"):
        pattern_for(SignalKind.ACCOUNT, "no-platform")


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_any_text_survives_pattern_quoting(text: str) -> None:
    assert signal_of_pattern(pattern_for(SignalKind.NARRATIVE, text)) == (SignalKind.NARRATIVE, text)


@pytest.mark.parametrize(
    "pattern",
    [
        "[ipv4-addr:value = '198.51.100.1']",
        "[url:value = 'a'] OR [url:value = 'b']",
        "[url:value LIKE 'http%']",
        "[domain-name:value = 'a.example' AND url:value = 'b']",
        "[user-account:account_type = 'twitter']",
    ],
)
def test_patterns_vigil_cannot_represent_are_not_guessed(pattern: str) -> None:
    assert signal_of_pattern(pattern) is None


def test_tlp2_marking_definitions_are_the_official_objects() -> None:
    for tlp, marking_id in TLP2_MARKING_IDS.items():
        obj = marking_definition(tlp)
        assert obj["id"] == marking_id
        assert tlp_of_marking_definition(obj) == tlp
        # Recognised by the extension alone too (another producer's copy with an unknown id).
        assert tlp_of_marking_definition({**obj, "id": "marking-definition--x"}) == tlp
    # stix2's TLP 1.0 WHITE is read as CLEAR.
    assert tlp_of_marking_definition(json.loads(stix2.TLP_WHITE.serialize())) == TLP.CLEAR


def test_each_contribution_is_its_own_object_with_its_own_marking() -> None:
    bundle = export_bundle(ORGS, signals(), [CAMPAIGN])
    url = VALUES[SignalKind.URL]
    by_id = {o["id"]: o for o in bundle["objects"]}
    green = by_id[contribution_object_id(SignalKind.URL, url, PLATFORM_A.id)]
    red = by_id[contribution_object_id(SignalKind.URL, url, PLATFORM_B.id)]
    assert green["object_marking_refs"] == [TLP2_MARKING_IDS[TLP.GREEN]]
    assert red["object_marking_refs"] == [TLP2_MARKING_IDS[TLP.RED]]
    assert green["created_by_ref"] == PLATFORM_A.id and red["created_by_ref"] == PLATFORM_B.id
    assert red["description"] == "internal takedown notes"


def test_a_reader_given_only_the_green_contribution_gets_no_trace_of_the_red_one() -> None:
    filtered: list[Signal] = []
    for signal in signals():
        signal.contributions = [c for c in signal.contributions if c.marking.tlp is not TLP.RED]
        filtered.append(signal)
    text = json.dumps(export_bundle(ORGS, filtered, [CAMPAIGN]))
    red_id = contribution_object_id(SignalKind.URL, VALUES[SignalKind.URL], PLATFORM_B.id)
    assert red_id not in text
    assert "internal takedown notes" not in text and "secret-tag" not in text
    assert TLP2_MARKING_IDS[TLP.RED] not in text
    # The government's opinion and sighting of the URL now point only at the GREEN indicator.
    bundle = json.loads(text)
    opinion = next(
        o for o in bundle["objects"] if o["type"] == "opinion" and o["created_by_ref"] == GOVERNMENT.id
    )
    assert opinion["object_refs"] == [
        contribution_object_id(SignalKind.URL, VALUES[SignalKind.URL], PLATFORM_A.id)
    ]
    assert opinion["object_marking_refs"] == [TLP2_MARKING_IDS[TLP.GREEN]]


def test_import_of_an_export_gives_back_the_same_contributions() -> None:
    originals = signals()
    plan = plan_import(export_bundle(ORGS, originals, [CAMPAIGN])["objects"])
    assert plan.invalid == [] and plan.unsupported == []
    expected = {
        (s.kind, s.value, c.marking.tlp, c.confidence, c.tags, c.description, c.first_seen, c.last_seen)
        for s in originals
        for c in s.contributions
    }
    got = {
        (d.kind, d.value, d.tlp, d.confidence, d.tags, d.description, d.first_seen, d.last_seen)
        for d in plan.signals
    }
    assert got == expected
    hashtag = next(d for d in plan.signals if d.kind is SignalKind.HASHTAG)
    original = next(s for s in originals if s.kind is SignalKind.HASHTAG).contributions[0]
    assert (hashtag.revoked, hashtag.valid_until) == (True, original.valid_until)
    assert not any(d.revoked for d in plan.signals if d.kind is not SignalKind.HASHTAG)
    narrative = next(d for d in plan.signals if d.kind is SignalKind.NARRATIVE)
    assert narrative.language == "de"
    green = [d for d in plan.signals if d.tlp is TLP.GREEN]
    assert {d.campaign_ref for d in green} == {CAMPAIGN.id}
    (campaign,) = plan.campaigns
    assert (campaign.name, campaign.attribution, campaign.techniques) == (
        CAMPAIGN.name,
        CAMPAIGN.attribution,
        list(CAMPAIGN.techniques),
    )
    assert sorted(o.value for o in plan.opinions) == sorted(
        [OpinionValue.CONFIRMED, OpinionValue.FALSE_POSITIVE]
    )
    (sighting,) = plan.sightings
    assert (sighting.count, sighting.platform) == (12, "facebook")


def test_malformed_json_names_line_and_column() -> None:
    with pytest.raises(InputError, match=r"line 2, column \d+"):
        load_objects('{"type": "bundle",\n "objects": [,]}', "bad.json")
    with pytest.raises(InputError, match="expected a STIX bundle"):
        load_objects("[1, 2]", "list.json")
    with pytest.raises(InputError, match="'indicator' object"):
        load_objects('{"type": "indicator"}', "one.json")


def test_invalid_and_unsupported_objects_are_reported_not_dropped() -> None:
    good = export_bundle(ORGS, signals()[:1], [])["objects"]
    broken_indicator = {k: v for k, v in good[-1].items() if k != "pattern"}
    malware = {
        "type": "malware",
        "spec_version": "2.1",
        "id": "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": "x",
        "is_family": False,
    }
    ip_indicator = {
        **good[-1],
        "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "pattern": "[ipv4-addr:value = '198.51.100.7']",
    }
    custom_marked = {
        **good[-1],
        "id": "indicator--1e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "object_marking_refs": ["marking-definition--4e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"],
    }
    plan = plan_import([*good, broken_indicator, malware, ip_indicator, custom_marked])
    assert [p.index for p in plan.invalid] == [len(good)]
    assert "pattern" in plan.invalid[0].message
    reasons = {p.object_id: p.message for p in plan.unsupported}
    assert "has no equivalent" in reasons[malware["id"]]
    assert "ipv4-addr" in reasons[ip_indicator["id"]]
    assert "not a TLP marking" in reasons[custom_marked["id"]]
    assert len(plan.signals) == 1


def test_disarm_framework_bundle_imports_techniques(shared_data: Path) -> None:
    objects = load_objects((shared_data / "disarm" / "DISARM.json").read_bytes(), "DISARM.json")
    plan = plan_import(objects)
    techniques = {d.value for d in plan.signals if d.kind is SignalKind.TECHNIQUE}
    assert {"T0049", "T0049.001", "T0002"} <= techniques
    assert len(techniques) == sum(1 for o in objects if o["type"] == "attack-pattern")
    # DISARM's licence statement marking restricts no reader: accepted, and said not to be carried.
    assert any("statement marking" in w for w in plan.warnings)
    # Tactics, the matrix and subtechnique-of relationships are listed, not dropped.
    reported = {p.object_type for p in [*plan.unsupported, *plan.invalid]}
    assert {"x-mitre-tactic", "relationship"} <= reported
    assert plan.drafts + len(plan.supporting) + len(plan.unsupported) + len(plan.invalid) == len(objects)
