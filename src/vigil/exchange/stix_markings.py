"""TLP 2.0 as STIX 2.1 marking-definitions, and the mapping back from any TLP marking we meet.

The ids and objects are the official ones published by the OASIS CTI TC in
``oasis-open/cti-stix-common-objects`` (extension-definition-specifications/tlp-2.0): every producer
uses the same five marking-definition ids, so consumers recognise a TLP level by id alone.
stix2 3.x only ships the TLP 1.0 constants; those ids are accepted on import (WHITE is read as CLEAR).
"""

from __future__ import annotations

from typing import Any

from vigil.exchange.records import TLP

TLP2_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_CREATED = "2022-10-01T00:00:00.000Z"

TLP2_MARKING_IDS: dict[TLP, str] = {
    TLP.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    TLP.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    TLP.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    TLP.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    TLP.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}

# TLP 1.0 marking-definitions as stix2 ships them (stix2.TLP_WHITE ... TLP_RED); accepted on import.
TLP1_MARKING_IDS: dict[str, TLP] = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": TLP.CLEAR,
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": TLP.GREEN,
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": TLP.AMBER,
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": TLP.RED,
}

TLP_BY_MARKING_ID: dict[str, TLP] = {
    **{marking_id: tlp for tlp, marking_id in TLP2_MARKING_IDS.items()},
    **TLP1_MARKING_IDS,
}

_ORDER = list(TLP)


def tlp_rank(tlp: TLP) -> int:
    """0 for CLEAR up to 4 for RED: larger is more restricted."""
    return _ORDER.index(tlp)


def most_restrictive(levels: list[TLP]) -> TLP:
    return max(levels, key=tlp_rank)


def least_restrictive(levels: list[TLP]) -> TLP:
    return min(levels, key=tlp_rank)


def marking_id(tlp: TLP) -> str:
    """The official TLP 2.0 marking-definition id of a level."""
    return TLP2_MARKING_IDS[tlp]


def marking_definition(tlp: TLP) -> dict[str, Any]:
    """The official TLP 2.0 marking-definition object (identical bytes from every producer)."""
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP2_MARKING_IDS[tlp],
        "created": TLP2_CREATED,
        "name": f"TLP:{tlp.value}",
        "extensions": {
            TLP2_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": tlp.value.lower()},
        },
    }


def tlp_of_marking_definition(obj: dict[str, Any]) -> TLP | None:
    """The TLP level a marking-definition object stands for, or None if it is not a TLP marking."""
    known = TLP_BY_MARKING_ID.get(str(obj.get("id", "")))
    if known is not None:
        return known
    extension = (obj.get("extensions") or {}).get(TLP2_EXTENSION_ID)
    if isinstance(extension, dict) and isinstance(extension.get("tlp_2_0"), str):
        try:
            return TLP(extension["tlp_2_0"].upper())
        except ValueError:
            return None
    definition = obj.get("definition")
    if obj.get("definition_type") == "tlp" and isinstance(definition, dict):
        level = str(definition.get("tlp", "")).upper()
        if level == "WHITE":
            return TLP.CLEAR
        try:
            return TLP(level)
        except ValueError:
            return None
    return None
