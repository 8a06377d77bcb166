"""The DISARM framework catalogue: techniques and tactics, for anything that chooses a technique.

DISARM publishes its framework as a STIX 2.1 bundle made with MITRE ATT&CK tooling, so it carries
ATT&CK's vocabulary: ``kill_chain_name`` and ``source_name`` are ``mitre-attack`` although the ids are
DISARM's, attack-patterns keep ``x_mitre_platforms`` (Windows/Linux/Mac, meaningless here), and the
technique id sits in ``external_references[].external_id``. ``normalize_bundle`` reads such a bundle
into plain records under DISARM's own names; the product ships the result
(``data/disarm/catalogue.json``, with its CC BY-SA 4.0 attribution in ``NOTICE.txt``) so nothing
is downloaded at run time.

Other parts call ``catalogue()`` (cached) and use ``get`` / ``find`` / ``search``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from vigil.core.errors import InputError, NotFound
from vigil.signals.registry import get_signal_type

SOURCE_NAME = "DISARM"
KILL_CHAIN_NAME = "disarm"
ATTRIBUTION = "DISARM Framework by the DISARM Foundation, licensed CC BY-SA 4.0"
LICENSE = "CC-BY-SA-4.0"
PAGE_URL = "https://github.com/DISARMFoundation/DISARMframeworks/blob/main/generated_pages/techniques/{id}.md"

_TECHNIQUE_ID = re.compile(r"T\d{4}(?:\.\d{3})?")
_TACTIC_ID = re.compile(r"TA\d{2}")
_CATALOGUE_FILE = "data/disarm/catalogue.json"
# DISARM descriptions are Markdown-ish text with stray HTML: <br> line breaks and <b> emphasis.
_BREAK = re.compile(r"\s*<\s*/?\s*br\s*/?\s*>\s*", re.IGNORECASE)
_BOLD = re.compile(r"<\s*/?\s*b\s*>", re.IGNORECASE)


def _plain(text: object) -> str:
    """Description text without DISARM's HTML line breaks and bold tags."""
    return _BOLD.sub("", _BREAK.sub("\n", str(text or ""))).strip()


@dataclass(frozen=True)
class Tactic:
    id: str  # TA01
    name: str  # Plan Strategy
    shortname: str  # plan-strategy (the kill-chain phase name techniques refer to)
    description: str


@dataclass(frozen=True)
class Technique:
    id: str  # T0049 or T0049.001
    name: str
    description: str
    tactics: tuple[str, ...]  # tactic ids, e.g. ("TA17",)
    parent: str | None = None  # the technique a sub-technique refines
    url: str | None = None

    @property
    def is_subtechnique(self) -> bool:
        return self.parent is not None


@dataclass(frozen=True)
class Catalogue:
    """Techniques and tactics by id, with the provenance of the bundle they came from."""

    techniques: Mapping[str, Technique]
    tactics: Mapping[str, Tactic]
    source: Mapping[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.techniques)

    def __contains__(self, technique_id: object) -> bool:
        return isinstance(technique_id, str) and technique_id.strip().upper() in self.techniques

    def __iter__(self) -> Iterator[Technique]:
        return iter(self.techniques.values())

    def find(self, technique_id: str) -> Technique | None:
        """The technique with this id (case and spaces ignored), or None."""
        return self.techniques.get(technique_id.strip().upper())

    def get(self, technique_id: str) -> Technique:
        """The technique with this id; NotFound naming it otherwise."""
        found = self.find(technique_id)
        if found is None:
            raise NotFound(f"DISARM technique {technique_id!r} is not in the catalogue ({self.version})")
        return found

    def validate(self, technique_id: str, *, known: bool = True) -> str:
        """The normalized id of a technique; InputError for a malformed one or, with ``known``, one
        the catalogue lacks (cases accept those: newer framework versions add techniques). The
        format is the ``technique`` signal type's, so every part of Vigil checks ids one way."""
        text = get_signal_type("technique").normalize(technique_id)
        if known and text not in self.techniques:
            raise InputError(f"DISARM technique {text} is not in the catalogue ({self.version})")
        return text

    def label(self, technique_id: str) -> str:
        """``T0049 Flood Information Space`` (just the id when the catalogue does not know it)."""
        found = self.find(technique_id)
        return f"{found.id} {found.name}" if found else technique_id.strip().upper()

    def tactic_of(self, technique: Technique) -> list[Tactic]:
        return [self.tactics[t] for t in technique.tactics if t in self.tactics]

    def children(self, technique_id: str) -> list[Technique]:
        key = technique_id.strip().upper()
        return [t for t in self.techniques.values() if t.parent == key]

    def search(
        self, query: str = "", *, tactic: str | None = None, limit: int | None = None
    ) -> list[Technique]:
        """Techniques whose id, name or description contain every word of ``query`` (case-insensitive),
        optionally in one tactic (id ``TA06`` or shortname ``develop-content``); id order, name matches
        first."""
        words = query.lower().split()
        tactic_id = self._tactic_id(tactic) if tactic else None
        hits: list[tuple[int, str, Technique]] = []
        for t in self.techniques.values():
            if tactic_id and tactic_id not in t.tactics:
                continue
            head = f"{t.id} {t.name}".lower()
            body = f"{head} {t.description}".lower()
            if all(w in body for w in words):
                rank = 0 if all(w in head for w in words) else 1
                hits.append((rank, t.id, t))
        hits.sort(key=lambda h: (h[0], h[1]))
        found = [h[2] for h in hits]
        return found[:limit] if limit is not None else found

    def _tactic_id(self, tactic: str) -> str:
        text = tactic.strip()
        if text.upper() in self.tactics:
            return text.upper()
        for t in self.tactics.values():
            if t.shortname == text.lower() or t.name.lower() == text.lower():
                return t.id
        raise InputError(f"unknown DISARM tactic {tactic!r}; known: {', '.join(sorted(self.tactics))}")

    @property
    def version(self) -> str:
        commit = self.source.get("commit", "")
        return f"DISARM {commit[:12]}" if commit else "DISARM"

    def to_json(self) -> dict[str, Any]:
        return {
            "attribution": ATTRIBUTION,
            "license": LICENSE,
            "source": dict(self.source),
            "tactics": [asdict(t) for t in sorted(self.tactics.values(), key=lambda t: t.id)],
            "techniques": [
                {**asdict(t), "tactics": list(t.tactics)}
                for t in sorted(self.techniques.values(), key=lambda t: t.id)
            ],
        }


def _external_id(obj: Mapping[str, Any]) -> str | None:
    # DISARM labels its own ids "mitre-attack" (techniques) or "DISARM" (tactics); take whichever
    # reference carries an id of the right shape rather than trusting the source name.
    for ref in obj.get("external_references") or ():
        value = ref.get("external_id") if isinstance(ref, Mapping) else None
        if isinstance(value, str) and (_TECHNIQUE_ID.fullmatch(value) or _TACTIC_ID.fullmatch(value)):
            return value
    return None


def normalize_bundle(bundle: Mapping[str, Any], source: Mapping[str, str] | None = None) -> Catalogue:
    """Read a DISARM STIX 2.1 bundle into a catalogue (InputError if it is not one).

    Kept: technique/tactic ids, names, descriptions (HTML breaks made newlines, bold tags dropped),
    tactic membership (from kill-chain phases, whatever the kill-chain is called), the parent of a
    sub-technique (from its id; every parent must be in the bundle). Dropped: ATT&CK leftovers
    (x_mitre_*), STIX ids and timestamps."""
    if bundle.get("type") != "bundle" or not isinstance(bundle.get("objects"), list):
        raise InputError("not a STIX bundle: expected {'type': 'bundle', 'objects': [...]}")
    objects = [o for o in bundle["objects"] if isinstance(o, Mapping)]
    tactics: dict[str, Tactic] = {}
    for obj in objects:
        if obj.get("type") == "x-mitre-tactic":
            tid = _external_id(obj)
            if tid is None:
                raise InputError(f"tactic {obj.get('id')!r} has no DISARM id (TAnn) in external_references")
            shortname = (
                str(obj.get("x_mitre_shortname") or obj.get("name", "")).strip().lower().replace(" ", "-")
            )
            tactics[tid] = Tactic(
                tid, str(obj.get("name", "")).strip(), shortname, _plain(obj.get("description"))
            )
    by_phase = {t.shortname: t.id for t in tactics.values()}
    techniques: dict[str, Technique] = {}
    for obj in objects:
        if obj.get("type") != "attack-pattern" or obj.get("revoked") or obj.get("x_mitre_deprecated"):
            continue
        tid = _external_id(obj)
        if tid is None or not _TECHNIQUE_ID.fullmatch(tid):
            raise InputError(
                f"attack-pattern {obj.get('id')!r} has no DISARM technique id in external_references"
            )
        phases = [
            str(p.get("phase_name", "")) for p in obj.get("kill_chain_phases") or () if isinstance(p, Mapping)
        ]
        unknown = [p for p in phases if p not in by_phase]
        if unknown:
            raise InputError(f"technique {tid} names unknown tactic phase(s) {unknown}")
        urls = [r.get("url") for r in obj.get("external_references") or () if r.get("external_id") == tid]
        techniques[tid] = Technique(
            id=tid,
            name=str(obj.get("name", "")).strip(),
            description=_plain(obj.get("description")),
            tactics=tuple(dict.fromkeys(by_phase[p] for p in phases)),
            parent=tid.split(".")[0] if "." in tid else None,
            url=next((u for u in urls if isinstance(u, str)), None),
        )
    orphans = sorted(t.id for t in techniques.values() if t.parent and t.parent not in techniques)
    if orphans:
        raise InputError(f"sub-techniques without their parent technique: {orphans[:10]}")
    if not techniques:
        raise InputError("the bundle holds no DISARM attack-patterns")
    return Catalogue(techniques=techniques, tactics=tactics, source=dict(source or {}))


def catalogue_from_json(data: Mapping[str, Any]) -> Catalogue:
    """A catalogue from its shipped JSON form (``Catalogue.to_json``)."""
    tactics = {t["id"]: Tactic(**t) for t in data["tactics"]}
    techniques = {t["id"]: Technique(**{**t, "tactics": tuple(t["tactics"])}) for t in data["techniques"]}
    return Catalogue(techniques=techniques, tactics=tactics, source=dict(data.get("source") or {}))


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """The DISARM catalogue shipped with Vigil (391 techniques, 16 tactics)."""
    text = resources.files("vigil.exchange").joinpath(_CATALOGUE_FILE).read_text("utf-8")
    return catalogue_from_json(json.loads(text))


def technique_ids(values: Iterable[str], *, known: bool = True) -> tuple[str, ...]:
    """Validated, de-duplicated ids of techniques, known to the catalogue unless ``known`` is False
    (InputError naming the first bad one)."""
    cat = catalogue()
    return tuple(dict.fromkeys(cat.validate(str(v), known=known) for v in values))
