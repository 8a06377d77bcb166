"""Exchange records -> STIX 2.1 objects (plain JSON dicts).

Granularity follows TLP: every *contribution* of a signal is its own STIX object (an indicator, or an
attack-pattern for a technique) carrying that contribution's marking and ``created_by_ref``, so a
signal contributed TLP:GREEN by one member and TLP:RED by another is two objects, and a reader who
may only see the GREEN one receives nothing of the RED one. Objects that talk about a signal as a
whole (opinions, sightings) refer only to the contribution objects the reader was given, so the
caller must pass records already filtered for the reader (the store's access rules do that).

Objects are built as dicts rather than stix2 classes: serving TAXII pages builds thousands of them
and stix2's per-object validation costs milliseconds each. Tests parse every export with stix2 and
run stix2-validator on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vigil.core.time import isoformat_z, parse_instant
from vigil.exchange import disarm
from vigil.exchange.access import most_restrictive
from vigil.exchange.records import (
    TLP,
    Campaign,
    Contribution,
    Marking,
    Opinion,
    OpinionValue,
    Organisation,
    OrgKind,
    Sighting,
    Signal,
    SignalKind,
)
from vigil.exchange.stix_ids import is_stix_id, stix_id
from vigil.exchange.stix_markings import least_restrictive, marking_definition, marking_id, tlp_rank
from vigil.exchange.stix_patterns import pattern_for

# Our top-level custom properties are declared by this extension-definition, which silences the
# validator's {401} "custom property should use an extension" and tells consumers what they mean.
VIGIL_IDENTITY_ID = stix_id("identity", "vigil")
VIGIL_EXTENSION_ID = stix_id("extension-definition", "vigil", "toplevel-properties", "1")
VIGIL_PROPERTIES = (
    "x_vigil_kind",
    "x_vigil_value",
    "x_vigil_first_seen",
    "x_vigil_last_seen",
    "x_vigil_shared_with_refs",
    "x_vigil_org_kind",
    "x_vigil_platform",
    "x_vigil_quarantine",
    "x_vigil_signal_id",
    "x_vigil_reporters",
)
# Fixed timestamps of objects that are not records (Vigil's identity, its extension, DISARM ids).
REFERENCE_CREATED = datetime(2024, 1, 1, tzinfo=UTC)
# The extension's current version: 1.1.0 added the flood-quarantine note properties (#18).
EXTENSION_MODIFIED = datetime(2026, 12, 7, tzinfo=UTC)

OPINION_TO_STIX: dict[OpinionValue, str] = {
    OpinionValue.CONFIRMED: "strongly-agree",
    OpinionValue.DISPUTED: "disagree",
    OpinionValue.FALSE_POSITIVE: "strongly-disagree",
}
SECTOR_OF_KIND: dict[OrgKind, str] = {
    OrgKind.PLATFORM: "technology",
    OrgKind.GOVERNMENT: "government",
    OrgKind.RESEARCH: "education",
}
DISARM_SOURCE = "DISARM"
_NAME_LIMIT = 200


@dataclass(frozen=True)
class StixEntry:
    """One STIX object version with what TAXII needs to serve it.

    ``date_added`` is deterministic (the record's own modification time), so ``added_after``
    polling returns exactly the versions made after the client's last fetch. ``tlp`` is the
    object's marking; supporting objects (identities, markings, the extension) have ``shared``.
    """

    obj: dict[str, Any]
    date_added: datetime
    tlp: TLP
    shared: bool = False

    @property
    def id(self) -> str:
        return str(self.obj["id"])

    @property
    def version(self) -> str:
        return str(self.obj.get("modified") or self.obj.get("created") or "")


def identity_id(org_id: str) -> str:
    """Organisations' ids are STIX identity ids already; anything else gets a derived one."""
    return org_id if is_stix_id(org_id, "identity") else stix_id("identity", "organisation", org_id)


def contribution_object_id(kind: SignalKind, value: str, org_id: str) -> str:
    """The id of one member's contribution to a signal (indicator, or attack-pattern for techniques)."""
    stix_type = "attack-pattern" if kind is SignalKind.TECHNIQUE else "indicator"
    return stix_id(stix_type, kind.value, value, org_id)


def campaign_object_id(campaign: Campaign) -> str:
    """A campaign keeps its own id when it already is a STIX campaign id."""
    return campaign.id if is_stix_id(campaign.id, "campaign") else stix_id("campaign", campaign.id)


def technique_reference_id(technique: str) -> str:
    """The shared attack-pattern that names a DISARM technique in campaigns' ``uses`` relationships."""
    return stix_id("attack-pattern", DISARM_SOURCE, technique)


def _ts(value: datetime) -> str:
    return isoformat_z(value)


def _extended(obj: dict[str, Any]) -> dict[str, Any]:
    """Declare the Vigil extension on an object that carries x_vigil_* properties."""
    if any(key.startswith("x_vigil_") for key in obj):
        obj["extensions"] = {VIGIL_EXTENSION_ID: {"extension_type": "toplevel-property-extension"}}
    return obj


def vigil_identity() -> dict[str, Any]:
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": VIGIL_IDENTITY_ID,
        "created": _ts(REFERENCE_CREATED),
        "modified": _ts(REFERENCE_CREATED),
        "name": "Vigil",
        "identity_class": "system",
        "description": "Vigil coalition exchange software (defines the x_vigil_* STIX properties).",
    }


def vigil_extension_definition() -> dict[str, Any]:
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": VIGIL_EXTENSION_ID,
        "created_by_ref": VIGIL_IDENTITY_ID,
        "created": _ts(REFERENCE_CREATED),
        "modified": _ts(EXTENSION_MODIFIED),
        "name": "Vigil signal properties",
        "description": "Top-level properties Vigil adds to indicators, attack-patterns, identities, "
        "sightings and notes.",
        "schema": (
            "x_vigil_kind: Vigil signal kind (account, url, domain, hashtag, text_exact, text_minhash, "
            "image_pdq, image_md5, narrative, technique); x_vigil_value: the signal value as Vigil stores "
            "it; x_vigil_first_seen / x_vigil_last_seen: when the contributor saw it; "
            "x_vigil_shared_with_refs: identities an AMBER/RED contribution may reach; x_vigil_org_kind: "
            "platform, government or research; x_vigil_platform: platform a sighting was made on; "
            "x_vigil_quarantine: a note's coalition-wide flood quarantine state (active or released); "
            "x_vigil_signal_id: the Vigil signal a note is about; x_vigil_reporters: members reporting "
            "that signal flooding their matchers (a count)."
        ),
        "version": "1.1.0",
        "extension_types": ["toplevel-property-extension"],
        "extension_properties": list(VIGIL_PROPERTIES),
    }


def organisation_object(org: Organisation) -> dict[str, Any]:
    return _extended(
        {
            "type": "identity",
            "spec_version": "2.1",
            "id": identity_id(org.id),
            "created": _ts(org.created_at),
            "modified": _ts(org.created_at),
            "name": org.name,
            "identity_class": "organization",
            "sectors": [SECTOR_OF_KIND[org.kind]],
            "object_marking_refs": [marking_id(TLP.GREEN)],
            "x_vigil_org_kind": org.kind.value,
        }
    )


def _common(
    stix_type: str, object_id: str, org_id: str, tlp: TLP, created: datetime, modified: datetime
) -> dict[str, Any]:
    return {
        "type": stix_type,
        "spec_version": "2.1",
        "id": object_id,
        "created_by_ref": identity_id(org_id),
        "created": _ts(created),
        "modified": _ts(max(created, modified)),
        "object_marking_refs": [marking_id(tlp)],
    }


def _name(kind: SignalKind, value: str) -> str:
    text = f"{kind.value}: {value}"
    return text if len(text) <= _NAME_LIMIT else text[: _NAME_LIMIT - 1] + "…"


def contribution_object(signal: Signal, contribution: Contribution) -> dict[str, Any]:
    """The indicator (or attack-pattern) standing for one member's contribution to a signal."""
    object_id = contribution_object_id(signal.kind, signal.value, contribution.org_id)
    obj = _common(
        object_id.split("--", 1)[0],
        object_id,
        contribution.org_id,
        contribution.marking.tlp,
        contribution.created_at,
        contribution.modified_at,
    )
    obj["name"] = _name(signal.kind, signal.value)
    if contribution.description:
        obj["description"] = contribution.description
    obj["confidence"] = contribution.confidence
    if contribution.tags:
        obj["labels"] = list(contribution.tags)
    # This member's own language, not another contribution's (the store's views set it per
    # contribution); records built with a signal-level language only keep that one.
    language = contribution.language or (
        signal.language if not any(c.language for c in signal.contributions) else None
    )
    if language:
        obj["lang"] = language
    if contribution.revoked:
        obj["revoked"] = True
    if signal.kind is SignalKind.TECHNIQUE:
        obj["external_references"] = [{"source_name": DISARM_SOURCE, "external_id": signal.value}]
    else:
        valid_from = contribution.first_seen or contribution.created_at
        obj["indicator_types"] = ["malicious-activity"]
        obj["pattern"] = pattern_for(signal.kind, signal.value)
        obj["pattern_type"] = "stix"
        obj["pattern_version"] = "2.1"
        obj["valid_from"] = _ts(valid_from)
        if contribution.valid_until is not None and contribution.valid_until > valid_from:
            obj["valid_until"] = _ts(contribution.valid_until)
    obj["x_vigil_kind"] = signal.kind.value
    obj["x_vigil_value"] = signal.value
    if contribution.first_seen is not None:
        obj["x_vigil_first_seen"] = _ts(contribution.first_seen)
    if contribution.last_seen is not None:
        obj["x_vigil_last_seen"] = _ts(contribution.last_seen)
    if contribution.marking.shared_with:
        obj["x_vigil_shared_with_refs"] = [identity_id(o) for o in sorted(contribution.marking.shared_with)]
    return _extended(obj)


def _relationship(
    source_ref: str,
    relationship_type: str,
    target_ref: str,
    org_id: str,
    tlp: TLP,
    created: datetime,
    modified: datetime,
) -> dict[str, Any]:
    object_id = stix_id("relationship", source_ref, relationship_type, target_ref)
    obj = _common("relationship", object_id, org_id, tlp, created, modified)
    obj.update({"relationship_type": relationship_type, "source_ref": source_ref, "target_ref": target_ref})
    return obj


def _entry(obj: dict[str, Any], tlp: TLP) -> StixEntry:
    return StixEntry(obj=obj, date_added=parse_instant(obj["modified"]), tlp=tlp)


def _ranked(contributions: Iterable[Contribution]) -> list[Contribution]:
    """Least restricted first, then by org id: a deterministic choice of what a sighting points at."""
    return sorted(contributions, key=lambda c: (tlp_rank(c.marking.tlp), c.org_id))


def signal_entries(signal: Signal, campaign_ids: dict[str, str]) -> list[StixEntry]:
    """Everything one (already filtered) signal contributes: contributions, campaign links, opinions
    and sightings. ``campaign_ids`` maps Vigil campaign ids to STIX ids of campaigns the reader sees."""
    contributions = _ranked(signal.contributions)
    if not contributions:
        return []
    entries: list[StixEntry] = []
    refs: list[str] = []
    for contribution in contributions:
        obj = contribution_object(signal, contribution)
        refs.append(obj["id"])
        entries.append(_entry(obj, contribution.marking.tlp))
        campaign_ref = campaign_ids.get(contribution.campaign_id or "")
        if campaign_ref is not None:
            if signal.kind is SignalKind.TECHNIQUE:
                link = (campaign_ref, "uses", obj["id"])
            else:
                link = (obj["id"], "indicates", campaign_ref)
            relationship = _relationship(
                *link,
                org_id=contribution.org_id,
                tlp=contribution.marking.tlp,
                created=contribution.created_at,
                modified=contribution.modified_at,
            )
            entries.append(_entry(relationship, contribution.marking.tlp))
    # Opinions and sightings can be passed on as widely as the widest contribution they point at.
    # A giver that marked its feedback narrower is obeyed: the more restrictive of the two.
    widest = least_restrictive([c.marking.tlp for c in contributions])
    for opinion in signal.opinions:
        tlp = _narrowed(widest, opinion.marking)
        entries.append(_entry(_opinion_object(signal, opinion, refs, tlp), tlp))
    for sighting in signal.sightings:
        tlp = _narrowed(widest, sighting.marking)
        entries.append(_entry(_sighting_object(signal, sighting, refs[0], tlp), tlp))
    return entries


def _narrowed(tlp: TLP, chosen: Marking | None) -> TLP:
    if chosen is None:
        return tlp
    return most_restrictive([tlp, chosen.tlp]) or tlp


def _opinion_object(signal: Signal, opinion: Opinion, refs: list[str], tlp: TLP) -> dict[str, Any]:
    object_id = stix_id("opinion", signal.kind.value, signal.value, opinion.org_id)
    obj = _common("opinion", object_id, opinion.org_id, tlp, opinion.created_at, opinion.created_at)
    obj["opinion"] = OPINION_TO_STIX[opinion.value]
    if opinion.comment:
        obj["explanation"] = opinion.comment
    obj["object_refs"] = list(refs)
    return obj


def _sighting_object(signal: Signal, sighting: Sighting, sighted_ref: str, tlp: TLP) -> dict[str, Any]:
    object_id = stix_id(
        "sighting", signal.kind.value, signal.value, sighting.org_id, _ts(sighting.created_at)
    )
    obj = _common("sighting", object_id, sighting.org_id, tlp, sighting.created_at, sighting.created_at)
    last_seen = max(sighting.first_seen, sighting.last_seen)
    obj.update(
        {
            "sighting_of_ref": sighted_ref,
            "count": max(0, sighting.count),
            "first_seen": _ts(sighting.first_seen),
            "last_seen": _ts(last_seen),
            "where_sighted_refs": [identity_id(sighting.org_id)],
        }
    )
    if sighting.platform:
        obj["x_vigil_platform"] = sighting.platform
    return _extended(obj)


def _campaign_times(campaign: Campaign) -> tuple[datetime, datetime]:
    created = campaign.created_at or campaign.modified_at or REFERENCE_CREATED
    return created, campaign.modified_at or created


def campaign_entries(campaign: Campaign) -> list[StixEntry]:
    """A campaign, its attribution (threat-actor + attributed-to) and its DISARM techniques (uses)."""
    created, modified = _campaign_times(campaign)
    tlp = campaign.marking.tlp
    campaign_ref = campaign_object_id(campaign)
    obj = _common("campaign", campaign_ref, campaign.org_id, tlp, created, modified)
    obj["name"] = campaign.name
    if campaign.description:
        obj["description"] = campaign.description
    if campaign.marking.shared_with:
        obj["x_vigil_shared_with_refs"] = [identity_id(o) for o in sorted(campaign.marking.shared_with)]
    entries = [_entry(_extended(obj), tlp)]
    if campaign.attribution:
        actor_ref = stix_id("threat-actor", campaign.org_id, campaign.attribution)
        actor = _common("threat-actor", actor_ref, campaign.org_id, tlp, created, modified)
        actor["name"] = campaign.attribution
        entries.append(_entry(actor, tlp))
        link = _relationship(
            campaign_ref, "attributed-to", actor_ref, campaign.org_id, tlp, created, modified
        )
        entries.append(_entry(link, tlp))
    for technique in campaign.techniques:
        link = _relationship(
            campaign_ref,
            "uses",
            technique_reference_id(technique),
            campaign.org_id,
            tlp,
            created,
            modified,
        )
        entries.append(_entry(link, tlp))
    return entries


def technique_reference(technique: str) -> dict[str, Any]:
    """The public DISARM technique as an attack-pattern (TLP:CLEAR; DISARM is CC BY-SA 4.0), named,
    described and placed in its tactics from the shipped catalogue (``vigil.exchange.disarm``) under
    DISARM's own kill-chain name; an id the catalogue does not know keeps just the id."""
    obj: dict[str, Any] = {
        "type": "attack-pattern",
        "spec_version": "2.1",
        "id": technique_reference_id(technique),
        "created": _ts(REFERENCE_CREATED),
        "modified": _ts(REFERENCE_CREATED),
        "name": f"DISARM {technique}",
        "external_references": [{"source_name": DISARM_SOURCE, "external_id": technique}],
        "object_marking_refs": [marking_id(TLP.CLEAR)],
    }
    cat = disarm.catalogue()
    found = cat.find(technique)
    if found is not None:
        obj["name"] = f"{found.id} {found.name}"
        if found.description:
            obj["description"] = f"{found.description}\n\n{disarm.ATTRIBUTION}."
        # no url in external_references: without a hash of the page stix2-validator warns {302}
        tactics = cat.tactic_of(found)
        phases = [{"kill_chain_name": disarm.KILL_CHAIN_NAME, "phase_name": t.shortname} for t in tactics]
        if phases:
            obj["kill_chain_phases"] = phases
    return obj


def supporting_entries(
    organisations: Iterable[Organisation], techniques: Iterable[str] = (), levels: Iterable[TLP] = tuple(TLP)
) -> list[StixEntry]:
    """Objects that others refer to: TLP markings, Vigil's identity and extension, member identities
    and the DISARM techniques campaigns use."""
    entries = [
        StixEntry(
            obj=marking_definition(tlp),
            date_added=datetime(2022, 10, 1, tzinfo=UTC),
            tlp=TLP.CLEAR,
            shared=True,
        )
        for tlp in sorted(set(levels), key=tlp_rank)
    ]
    for obj in (vigil_identity(), vigil_extension_definition()):
        entries.append(StixEntry(obj=obj, date_added=REFERENCE_CREATED, tlp=TLP.CLEAR, shared=True))
    for org in sorted(organisations, key=lambda o: o.id):
        entries.append(
            StixEntry(obj=organisation_object(org), date_added=org.created_at, tlp=TLP.GREEN, shared=True)
        )
    for technique in sorted(set(techniques)):
        entries.append(
            StixEntry(
                obj=technique_reference(technique), date_added=REFERENCE_CREATED, tlp=TLP.CLEAR, shared=True
            )
        )
    return entries


def export_entries(
    organisations: Sequence[Organisation], signals: Iterable[Signal], campaigns: Sequence[Campaign]
) -> list[StixEntry]:
    """All STIX objects for records one reader may see, supporting objects first, deduplicated by id."""
    campaign_ids = {c.id: campaign_object_id(c) for c in campaigns}
    body: list[StixEntry] = []
    for campaign in campaigns:
        body.extend(campaign_entries(campaign))
    for signal in signals:
        body.extend(signal_entries(signal, campaign_ids))
    techniques = {t for c in campaigns for t in c.techniques}
    levels = {entry.tlp for entry in body} | {TLP.CLEAR, TLP.GREEN}
    seen: set[str] = set()
    result: list[StixEntry] = []
    for entry in [*supporting_entries(organisations, techniques, levels), *body]:
        if entry.id not in seen:
            seen.add(entry.id)
            result.append(entry)
    return result


def bundle(objects: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A STIX 2.1 bundle; its id is derived from the objects' ids and versions, so it is reproducible."""
    items = list(objects)
    digest = "\x1e".join(f"{o['id']}@{o.get('modified', o.get('created', ''))}" for o in items)
    return {"type": "bundle", "id": stix_id("bundle", digest), "objects": items}


def export_bundle(
    organisations: Sequence[Organisation], signals: Iterable[Signal], campaigns: Sequence[Campaign]
) -> dict[str, Any]:
    """A STIX 2.1 bundle of what one reader may see (pass records the store filtered for them)."""
    return bundle(entry.obj for entry in export_entries(organisations, signals, campaigns))
