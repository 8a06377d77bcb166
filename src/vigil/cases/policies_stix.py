"""The member policy register as STIX 2.1, for one reader: each version of a member's policy in
one area is one version of a custom object (``x-vigil-member-policy``, same id, ``modified`` =
when it was recorded), declared by an extension-definition of type ``new-sdo``; a note the reader
may see is a STIX ``note`` under its own marking that refers to the policy version it was written
with. Only what ``PolicyService`` gives the reader goes in (its TLP rule), so an AMBER note never
reaches a reader who may not see it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from vigil.cases.policies import PolicyService, PolicyVersion
from vigil.core.time import isoformat_z
from vigil.exchange.models import OrgRow
from vigil.exchange.records import TLP, Organisation, OrgKind
from vigil.exchange.stix_export import (
    REFERENCE_CREATED,
    VIGIL_IDENTITY_ID,
    bundle,
    identity_id,
    organisation_object,
    vigil_identity,
)
from vigil.exchange.stix_ids import stix_id
from vigil.exchange.stix_markings import marking_definition, marking_id

POLICY_TYPE = "x-vigil-member-policy"
POLICY_EXTENSION_ID = stix_id("extension-definition", "vigil", "member-policy", "1")
POLICY_PROPERTIES = (
    "member_ref",
    "area",
    "area_title",
    "status",
    "effective_from",
    "effective_until",
    "source_url",
    "summary",
    "lang",
    "version_number",
)


def policy_extension_definition() -> dict[str, Any]:
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": POLICY_EXTENSION_ID,
        "created_by_ref": VIGIL_IDENTITY_ID,
        "created": isoformat_z(REFERENCE_CREATED),
        "modified": isoformat_z(REFERENCE_CREATED),
        "name": "Vigil member policy",
        "description": "A coalition member's election policy in one policy area, as recorded in Vigil.",
        "schema": (
            "member_ref: identity of the member whose policy it is; area: policy area key; area_title: "
            "its English title; status: none, announced, in_force, changed or withdrawn; effective_from / "
            "effective_until: timestamps; source_url: the public source; summary: what the policy says, "
            "in lang (en, fr or ar); version_number: 1, 2, ... per member and area (each a STIX version)."
        ),
        "version": "1.0.0",
        "extension_types": ["new-sdo"],
    }


def policy_object(v: PolicyVersion, created: datetime, area_title: str) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": POLICY_TYPE,
        "spec_version": "2.1",
        "id": stix_id(POLICY_TYPE, v.org_id, v.area),
        "created_by_ref": identity_id(v.org_id),
        "created": isoformat_z(created),
        "modified": isoformat_z(v.recorded_at),
        "member_ref": identity_id(v.org_id),
        "area": v.area,
        "area_title": area_title,
        "status": v.status,
        "version_number": v.version,
        "object_marking_refs": [marking_id(v.marking.tlp)],
        "extensions": {POLICY_EXTENSION_ID: {"extension_type": "new-sdo"}},
    }
    for name, value in (
        ("effective_from", isoformat_z(v.effective_from) if v.effective_from else None),
        ("effective_until", isoformat_z(v.effective_until) if v.effective_until else None),
        ("source_url", v.source_url),
        ("summary", v.summary),
        ("lang", v.language),
    ):
        if value is not None:
            obj[name] = value
    return obj


def note_object(v: PolicyVersion, policy: dict[str, Any]) -> dict[str, Any] | None:
    if v.note is None or v.note_marking is None:
        return None
    note: dict[str, Any] = {
        "type": "note",
        "spec_version": "2.1",
        "id": stix_id("note", "policy-version", str(v.id)),
        "created_by_ref": identity_id(v.org_id),
        "created": isoformat_z(v.recorded_at),
        "modified": isoformat_z(v.recorded_at),
        "content": v.note,
        "object_refs": [policy["id"]],
        "object_marking_refs": [marking_id(v.note_marking.tlp)],
    }
    if v.language:
        note["lang"] = v.language
    return note


def policy_bundle(service: PolicyService) -> dict[str, Any]:
    """Every policy version (and note) the service's reader may see, as one STIX 2.1 bundle."""
    versions = service.history()
    first: dict[tuple[str, str], datetime] = {}
    objects: list[dict[str, Any]] = []
    levels: set[TLP] = set()
    for v in versions:
        created = first.setdefault((v.org_id, v.area), v.recorded_at)
        obj = policy_object(v, created, service.areas.title_of(v.area))
        objects.append(obj)
        levels.add(v.marking.tlp)
        note = note_object(v, obj)
        if note is not None and v.note_marking is not None:
            objects.append(note)
            levels.add(v.note_marking.tlp)
    members = {v.org_id for v in versions}
    orgs = [
        Organisation(r.id, r.name, OrgKind(r.kind), r.created_at)
        for r in service.session.scalars(select(OrgRow).where(OrgRow.id.in_(members)))
    ]
    supporting = [vigil_identity(), policy_extension_definition(), *map(organisation_object, orgs)]
    supporting += [marking_definition(t) for t in sorted(levels, key=lambda t: t.value)]
    return bundle([*supporting, *objects])
