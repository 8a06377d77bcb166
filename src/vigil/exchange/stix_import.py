"""STIX 2.1 bundle (or TAXII envelope) -> drafts of exchange submissions. Pure: no database here.

Every object is validated with stix2-validator first. Each object then ends in exactly one of four
lists of the ``ImportPlan``: a draft (signal, campaign, opinion, sighting), ``supporting`` (objects
that only support others: identities, TLP markings, extension definitions, threat-actors used for
attribution, DISARM technique references, relationships folded into drafts), ``unsupported`` (valid
STIX Vigil cannot represent, with the reason) or ``invalid`` (fails validation, with the errors).
Nothing is dropped silently: callers decide whether unsupported objects abort the import (CLI
default) or are reported as failures next to the rest (TAXII).

Imported content is always submitted *as the importing organisation*; ``created_by_ref`` of the
source objects is not trusted for authorship.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vigil.core.errors import InputError
from vigil.core.time import parse_instant
from vigil.exchange.records import TLP, OpinionValue, SignalKind
from vigil.exchange.stix_markings import TLP_BY_MARKING_ID, most_restrictive, tlp_of_marking_definition
from vigil.exchange.stix_patterns import signal_of_pattern

OPINION_FROM_STIX: dict[str, OpinionValue] = {
    "strongly-agree": OpinionValue.CONFIRMED,
    "agree": OpinionValue.CONFIRMED,
    "disagree": OpinionValue.DISPUTED,
    "strongly-disagree": OpinionValue.FALSE_POSITIVE,
}
_TECHNIQUE_ID = re.compile(r"^T\d{4}(?:\.\d{3})?$")
# DISARM's own STIX bundle labels its ids "mitre-attack" (a quirk of its generator).
_TECHNIQUE_SOURCES = {"disarm", "mitre-attack"}
_SUPPORTING_TYPES = {"identity", "marking-definition", "extension-definition", "language-content"}


@dataclass(frozen=True)
class Problem:
    """Why one object of the input was not imported."""

    index: int  # position in the bundle's objects list
    object_id: str | None
    object_type: str | None
    message: str

    def __str__(self) -> str:
        what = self.object_id or f"object #{self.index}"
        return f"{what}: {self.message}"


@dataclass
class SignalDraft:
    """A contribution to submit: one indicator or attack-pattern of the input."""

    source_id: str
    kind: SignalKind
    value: str
    tlp: TLP | None  # None: the object carried no TLP marking
    confidence: int | None
    tags: tuple[str, ...]
    description: str | None
    language: str | None
    first_seen: datetime | None
    last_seen: datetime | None
    valid_until: datetime | None
    revoked: bool
    campaign_ref: str | None = None  # STIX id of a campaign in the same input


@dataclass
class CampaignDraft:
    source_id: str
    name: str
    description: str | None
    tlp: TLP | None
    attribution: str | None = None
    techniques: list[str] = field(default_factory=list)


@dataclass
class OpinionDraft:
    source_id: str
    target_refs: list[str]  # ids of indicators/attack-patterns, in the input or already served
    value: OpinionValue
    comment: str | None
    tlp: TLP | None


@dataclass
class SightingDraft:
    source_id: str
    target_ref: str
    count: int
    first_seen: datetime
    last_seen: datetime
    platform: str | None
    tlp: TLP | None


@dataclass
class ImportPlan:
    signals: list[SignalDraft] = field(default_factory=list)
    campaigns: list[CampaignDraft] = field(default_factory=list)
    opinions: list[OpinionDraft] = field(default_factory=list)
    sightings: list[SightingDraft] = field(default_factory=list)
    supporting: list[str] = field(default_factory=list)
    unsupported: list[Problem] = field(default_factory=list)
    invalid: list[Problem] = field(default_factory=list)
    warnings: set[str] = field(default_factory=set)

    @property
    def drafts(self) -> int:
        return len(self.signals) + len(self.campaigns) + len(self.opinions) + len(self.sightings)

    def problems(self) -> list[Problem]:
        return sorted([*self.invalid, *self.unsupported], key=lambda p: p.index)


def load_objects(text: str | bytes, source: str = "input") -> list[Any]:
    """The ``objects`` of a STIX bundle or TAXII envelope given as JSON text.

    InputError (with line and column) for malformed JSON or a document that is neither.
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{source}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            file=source,
            row=exc.lineno,
            column=exc.colno,
        ) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: not UTF-8 text ({exc.reason})", file=source) from exc
    if not isinstance(document, dict):
        raise InputError(f"{source}: expected a STIX bundle (a JSON object), got {type(document).__name__}")
    if document.get("type") not in (None, "bundle"):
        raise InputError(
            f"{source}: expected a STIX bundle or TAXII envelope, got a {document.get('type')!r} object"
        )
    objects = document.get("objects", [])
    if not isinstance(objects, list):
        raise InputError(f"{source}: 'objects' must be a list")
    if document.get("type") == "bundle":
        bundle_id = document.get("id")
        if not isinstance(bundle_id, str) or not bundle_id.startswith("bundle--"):
            raise InputError(f"{source}: a bundle needs an id of the form bundle--<uuid>")
    return objects


def validation_errors(obj: Any) -> list[str]:
    """stix2-validator's errors for one object (empty when valid). Warnings are not errors."""
    if not isinstance(obj, dict):
        return [f"expected a JSON object, got {type(obj).__name__}"]
    from stix2validator import ValidationOptions, validate_instance
    from stix2validator.errors import ValidationError as ValidatorError

    try:
        result = validate_instance(obj, ValidationOptions(version="2.1"))
    except ValidatorError as exc:
        return [str(exc)]
    # The validator starts every message with the object's id, which the caller's listing already
    # shows: keep one, so "id: created: ..." reads once per object instead of once per error.
    prefix = f"{obj.get('id')}: "
    return [str(error).removeprefix(prefix) for error in result.errors]


def marking_of(obj: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> tuple[TLP | None, str | None]:
    """(TLP, None) for an object's most restrictive TLP marking (None if it has none), or
    (None, why) when it carries a marking Vigil cannot enforce. Statement markings (copyright,
    licence) restrict no reader and are ignored. ``by_id``: other objects of the same input, where
    a TLP marking-definition may be given by its content rather than its well-known id."""
    levels: list[TLP] = []
    for ref in obj.get("object_marking_refs") or []:
        level = TLP_BY_MARKING_ID.get(ref)
        marking = by_id.get(ref) or {}
        if level is None:
            level = tlp_of_marking_definition(marking) if marking else None
        if level is None and marking.get("definition_type") == "statement":
            continue
        if level is None:
            return None, f"marked with {ref}, which is not a TLP marking Vigil enforces"
        levels.append(level)
    if obj.get("granular_markings"):
        return None, "granular markings are not supported; mark the whole object"
    return (most_restrictive(levels) if levels else None), None


def _time(obj: dict[str, Any], key: str) -> datetime | None:
    value = obj.get(key)
    return parse_instant(value) if isinstance(value, str) else None


def _technique_of(obj: dict[str, Any]) -> str | None:
    for reference in obj.get("external_references") or []:
        source = str(reference.get("source_name", "")).lower()
        external_id = str(reference.get("external_id", "")).upper()
        if source in _TECHNIQUE_SOURCES and _TECHNIQUE_ID.match(external_id):
            return external_id
    return None


class _Planner:
    def __init__(self, objects: Sequence[Any]) -> None:
        self.objects = objects
        self.plan = ImportPlan()
        self.by_id: dict[str, tuple[int, dict[str, Any]]] = {}
        self.actors: set[str] = set()  # threat-actors/intrusion-sets folded into an attribution

    def problem(self, index: int, obj: dict[str, Any], message: str) -> Problem:
        return Problem(index, obj.get("id"), obj.get("type"), message)

    def tlp(self, index: int, obj: dict[str, Any]) -> TLP | Problem | None:
        """The object's TLP, None if unmarked, or a Problem for markings Vigil cannot enforce."""
        levels: list[TLP] = []
        for ref in obj.get("object_marking_refs") or []:
            level = TLP_BY_MARKING_ID.get(ref)
            marking = self.by_id.get(ref, (0, {}))[1]
            if level is None:
                level = tlp_of_marking_definition(marking) if marking else None
            if level is None and marking.get("definition_type") == "statement":
                # A copyright or terms-of-use statement restricts no reader; say it is not carried.
                statement = str((marking.get("definition") or {}).get("statement", ""))[:120]
                self.plan.warnings.add(f"statement marking {ref} ({statement!r}) is not carried over")
                continue
            if level is None:
                return self.problem(
                    index, obj, f"marked with {ref}, which is not a TLP marking Vigil enforces"
                )
            levels.append(level)
        if obj.get("granular_markings"):
            return self.problem(index, obj, "granular markings are not supported; mark the whole object")
        return most_restrictive(levels) if levels else None

    def run(self) -> ImportPlan:
        valid: list[tuple[int, dict[str, Any]]] = []
        for index, obj in enumerate(self.objects):
            errors = validation_errors(obj)
            if errors:
                plain = obj if isinstance(obj, dict) else {}
                self.plan.invalid.append(self.problem(index, plain, "; ".join(errors)))
                continue
            valid.append((index, obj))
            self.by_id[obj["id"]] = (index, obj)
        relationships = [(i, o) for i, o in valid if o["type"] == "relationship"]
        campaigns: dict[str, CampaignDraft] = {}
        folded: set[str] = set()
        for index, obj in valid:
            if obj["type"] == "campaign":
                self._campaign(index, obj, campaigns)
        # Campaign "uses" targets without an author are technique references, not contributions.
        references = self._technique_references(relationships, campaigns)
        for index, obj in relationships:
            if self._relationship(index, obj, campaigns, references):
                folded.add(obj["id"])
        for index, obj in valid:
            kind = obj["type"]
            if obj["id"] in folded or kind in ("campaign", "relationship"):
                continue
            if kind in _SUPPORTING_TYPES or obj["id"] in references or obj["id"] in self.actors:
                self.plan.supporting.append(obj["id"])
            elif kind == "indicator":
                self._indicator(index, obj)
            elif kind == "attack-pattern":
                self._attack_pattern(index, obj)
            elif kind == "opinion":
                self._opinion(index, obj)
            elif kind == "sighting":
                self._sighting(index, obj)
            else:
                self.plan.unsupported.append(
                    self.problem(index, obj, f"STIX type {kind!r} has no equivalent in Vigil's exchange")
                )
        self._link_campaigns(relationships, campaigns)
        return self.plan

    def _campaign(self, index: int, obj: dict[str, Any], campaigns: dict[str, CampaignDraft]) -> None:
        tlp = self.tlp(index, obj)
        if isinstance(tlp, Problem):
            self.plan.unsupported.append(tlp)
            return
        draft = CampaignDraft(obj["id"], obj["name"], obj.get("description"), tlp)
        campaigns[obj["id"]] = draft
        self.plan.campaigns.append(draft)

    def _technique_references(
        self, relationships: list[tuple[int, dict[str, Any]]], campaigns: dict[str, CampaignDraft]
    ) -> set[str]:
        references: set[str] = set()
        for _, rel in relationships:
            target = self.by_id.get(rel["target_ref"])
            if (
                rel["relationship_type"] == "uses"
                and rel["source_ref"] in campaigns
                and target is not None
                and target[1]["type"] == "attack-pattern"
                and "created_by_ref" not in target[1]
                and _technique_of(target[1]) is not None
            ):
                references.add(rel["target_ref"])
        return references

    def _relationship(
        self,
        index: int,
        rel: dict[str, Any],
        campaigns: dict[str, CampaignDraft],
        references: set[str],
    ) -> bool:
        """Fold a relationship into the drafts it links; False (and a Problem) if Vigil cannot."""
        kind, source, target = rel["relationship_type"], rel["source_ref"], rel["target_ref"]
        target_obj = self.by_id.get(target, (0, {}))[1]
        source_obj = self.by_id.get(source, (0, {}))[1]
        if kind == "indicates" and target in campaigns and source_obj.get("type") == "indicator":
            return True  # linked in _link_campaigns once the indicator's draft exists
        if kind == "uses" and source in campaigns and target_obj.get("type") == "attack-pattern":
            technique = _technique_of(target_obj)
            if technique is None:
                return self._reject(index, rel, f"{target} has no DISARM technique id")
            if target in references and technique not in campaigns[source].techniques:
                campaigns[source].techniques.append(technique)
            return True
        if (
            kind == "attributed-to"
            and source in campaigns
            and target_obj.get("type") in ("threat-actor", "intrusion-set")
        ):
            campaigns[source].attribution = str(target_obj["name"])
            self.actors.add(target)
            return True
        missing = [ref for ref in (source, target) if ref not in self.by_id]
        if missing:
            return self._reject(index, rel, f"refers to {', '.join(missing)}, which is not in this input")
        return self._reject(
            index,
            rel,
            f"relationship {source_obj.get('type')} {kind!r} {target_obj.get('type')} "
            "has no equivalent in Vigil",
        )

    def _reject(self, index: int, obj: dict[str, Any], message: str) -> bool:
        self.plan.unsupported.append(self.problem(index, obj, message))
        return False

    def _signal(self, index: int, obj: dict[str, Any], kind: SignalKind, value: str) -> None:
        tlp = self.tlp(index, obj)
        if isinstance(tlp, Problem):
            self.plan.unsupported.append(tlp)
            return
        first_seen = _time(obj, "x_vigil_first_seen")
        if first_seen is None and obj["type"] == "indicator":
            first_seen = _time(obj, "valid_from")
        self.plan.signals.append(
            SignalDraft(
                source_id=obj["id"],
                kind=kind,
                value=value,
                tlp=tlp,
                confidence=obj.get("confidence"),
                tags=tuple(obj.get("labels") or ()),
                description=obj.get("description"),
                language=obj.get("lang"),
                first_seen=first_seen,
                last_seen=_time(obj, "x_vigil_last_seen"),
                valid_until=_time(obj, "valid_until"),
                revoked=bool(obj.get("revoked", False)),
            )
        )

    def _indicator(self, index: int, obj: dict[str, Any]) -> None:
        if "benign" in (obj.get("indicator_types") or []):
            # A member's benign-bank entry (vigil.match.benign): known harmless, so it must never
            # become a threat signal; TAXII stores it as sent and members' fetches read it.
            self._reject(index, obj, "a benign indicator (benign bank entry), not a threat signal")
            return
        if obj.get("pattern_type") != "stix":
            self._reject(
                index, obj, f"pattern_type {obj.get('pattern_type')!r} is not supported (only 'stix')"
            )
            return
        parsed = signal_of_pattern(obj["pattern"])
        if parsed is None:
            self._reject(
                index,
                obj,
                f"pattern {obj['pattern']!r} is not one Vigil understands "
                "(see docs/stix-taxii.md for the supported shapes)",
            )
            return
        self._signal(index, obj, *parsed)

    def _attack_pattern(self, index: int, obj: dict[str, Any]) -> None:
        technique = _technique_of(obj)
        if technique is None:
            self._reject(index, obj, "attack-pattern without a DISARM technique id (external_references)")
            return
        self._signal(index, obj, SignalKind.TECHNIQUE, technique)

    def _opinion(self, index: int, obj: dict[str, Any]) -> None:
        value = OPINION_FROM_STIX.get(obj["opinion"])
        if value is None:
            self._reject(index, obj, f"opinion {obj['opinion']!r} has no Vigil equivalent (neutral opinions)")
            return
        tlp = self.tlp(index, obj)
        if isinstance(tlp, Problem):
            self.plan.unsupported.append(tlp)
            return
        self.plan.opinions.append(
            OpinionDraft(obj["id"], list(obj["object_refs"]), value, obj.get("explanation"), tlp)
        )

    def _sighting(self, index: int, obj: dict[str, Any]) -> None:
        tlp = self.tlp(index, obj)
        if isinstance(tlp, Problem):
            self.plan.unsupported.append(tlp)
            return
        created = parse_instant(obj["created"])
        first_seen = _time(obj, "first_seen") or created
        last_seen = _time(obj, "last_seen") or first_seen
        self.plan.sightings.append(
            SightingDraft(
                source_id=obj["id"],
                target_ref=obj["sighting_of_ref"],
                count=int(obj.get("count", 1)),
                first_seen=first_seen,
                last_seen=max(first_seen, last_seen),
                platform=obj.get("x_vigil_platform"),
                tlp=tlp,
            )
        )

    def _link_campaigns(
        self, relationships: list[tuple[int, dict[str, Any]]], campaigns: dict[str, CampaignDraft]
    ) -> None:
        signals = {draft.source_id: draft for draft in self.plan.signals}
        for _, rel in relationships:
            kind, source, target = rel["relationship_type"], rel["source_ref"], rel["target_ref"]
            if kind == "indicates" and target in campaigns and source in signals:
                signals[source].campaign_ref = target
            elif kind == "uses" and source in campaigns and target in signals:
                signals[target].campaign_ref = source


def plan_import(objects: Iterable[Any]) -> ImportPlan:
    """Validate and map STIX objects (already loaded from JSON) to submission drafts."""
    return _Planner(list(objects)).run()
