"""TAXII 2.1 protocol logic, independent of HTTP: collections and their audiences, query parsing,
version selection, paging, and the resources (envelope, manifest, versions, status, error).

Routes (``vigil.web.routes.taxii``) only translate HTTP to these functions and back; what a caller
may see comes from ``vigil.exchange.taxii_store`` (the store's access rule), so every function here
works on objects the caller is already allowed to read.

**Collections.** Every visible object is in exactly one collection, chosen by its TLP marking and
the kind of its source organisation, so each collection is one sharing audience:

* ``coalition`` - TLP:CLEAR and TLP:GREEN: every member reads; analysts write (default GREEN).
* ``platforms`` / ``government-partners`` / ``researchers`` - TLP:AMBER from sources of that kind,
  which by the access rule reach members of the same kind: listed for those members only.
* ``direct`` - what is shared with the caller's organisation by name or kept inside it:
  TLP:AMBER+STRICT, TLP:RED, and AMBER from another kind of organisation that names the caller.
  Writes are AMBER+STRICT (the caller's organisation only) unless the object says RED.

Supporting objects (TLP marking-definitions, member identities, Vigil's extension definition and
the DISARM techniques campaigns use) appear in every collection so each is self-contained.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from vigil.core.errors import InputError, NotAcceptable, UnsupportedMediaType
from vigil.core.ids import stable_uuid
from vigil.core.time import isoformat_z, parse_instant
from vigil.exchange.access import Permission, Principal, allowed
from vigil.exchange.records import TLP, OrgKind
from vigil.exchange.stix_export import StixEntry
from vigil.exchange.taxii_index import Audience, Key, Served

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
API_ROOT = "api1"
MAX_PAGE = 1000


@dataclass(frozen=True)
class CollectionSpec:
    """One TAXII collection: an audience and the markings that belong to it."""

    alias: str
    title: str
    description: str
    tlps: frozenset[TLP]
    source_kinds: frozenset[OrgKind] | None  # None: any source kind
    readers: frozenset[OrgKind] | None  # None: every member
    write_tlp: TLP  # marking given to unmarked objects posted here

    @cached_property
    def id(self) -> str:
        # once per collection, not per request: every TAXII request finds its collection by id
        return str(stable_uuid("taxii-collection", self.alias))

    def accepts_marking(self, tlp: TLP, principal: Principal) -> bool:
        """Whether an object the caller posts with this TLP belongs in this collection."""
        if tlp not in self.tlps:
            return False
        return self.source_kinds is None or principal.org_kind in self.source_kinds

    @property
    def audience(self) -> Audience:
        """The rows of the object index this collection holds (see ``holds``), in SQL terms."""
        if self.alias == "direct":
            return Audience(("closed",), None, other_kind_amber=True)
        if TLP.AMBER in self.tlps:
            kinds = tuple(sorted(k.value for k in self.source_kinds or ()))
            return Audience(("amber",), kinds or None)
        return Audience(("open",), None)

    def holds(self, entry: Served, source_kind: OrgKind | None, viewer_kind: OrgKind) -> bool:
        """Whether a (visible) entry belongs to this collection."""
        if entry.shared:
            return True
        if entry.tlp is TLP.AMBER and self.alias == "direct":
            return source_kind is not None and source_kind is not viewer_kind
        if entry.tlp not in self.tlps:
            return False
        return self.source_kinds is None or source_kind in self.source_kinds


_AMBER_AUDIENCES = {
    OrgKind.PLATFORM: ("platforms", "Platform members (TLP:AMBER)"),
    OrgKind.GOVERNMENT: ("government-partners", "Government partners (TLP:AMBER)"),
    OrgKind.RESEARCH: ("researchers", "Research members (TLP:AMBER)"),
}

COLLECTIONS: tuple[CollectionSpec, ...] = (
    CollectionSpec(
        alias="coalition",
        title="Coalition (TLP:CLEAR and TLP:GREEN)",
        description="Signals every member of the coalition may see and pass on within the community.",
        tlps=frozenset({TLP.CLEAR, TLP.GREEN}),
        source_kinds=None,
        readers=None,
        write_tlp=TLP.GREEN,
    ),
    *(
        CollectionSpec(
            alias=alias,
            title=title,
            description=f"TLP:AMBER signals from {kind.value} members, for {kind.value} members.",
            tlps=frozenset({TLP.AMBER}),
            source_kinds=frozenset({kind}),
            readers=frozenset({kind}),
            write_tlp=TLP.AMBER,
        )
        for kind, (alias, title) in _AMBER_AUDIENCES.items()
    ),
    CollectionSpec(
        alias="direct",
        title="Shared with your organisation (TLP:AMBER+STRICT, TLP:RED, named AMBER)",
        description=(
            "Signals kept inside your organisation or shared with it by name. Objects posted here "
            "are TLP:AMBER+STRICT (your organisation only) unless marked TLP:RED."
        ),
        tlps=frozenset({TLP.AMBER_STRICT, TLP.RED}),
        source_kinds=None,
        readers=None,
        write_tlp=TLP.AMBER_STRICT,
    ),
)


def collections_for(principal: Principal) -> list[CollectionSpec]:
    """The collections a caller may list (the AMBER ones only for members of that kind)."""
    return [c for c in COLLECTIONS if c.readers is None or principal.org_kind in c.readers]


def find_collection(principal: Principal, collection_id: str) -> CollectionSpec | None:
    """A collection by id or alias, if the caller may know it exists."""
    for spec in collections_for(principal):
        if collection_id in (spec.id, spec.alias):
            return spec
    return None


def collection_resource(spec: CollectionSpec, principal: Principal) -> dict[str, Any]:
    return {
        "id": spec.id,
        "title": spec.title,
        "description": spec.description,
        "alias": spec.alias,
        "can_read": allowed(principal, Permission.READ),
        "can_write": allowed(principal, Permission.WRITE),
        "media_types": [STIX_MEDIA_TYPE],
    }


# ---------------------------------------------------------------------------------------------
# media types


def _media_type(text: str) -> tuple[str, dict[str, str]]:
    kind, *params = [part.strip() for part in text.split(";")]
    parsed = {}
    for param in params:
        name, _, value = param.partition("=")
        parsed[name.strip().lower()] = value.strip().strip('"')
    return kind.lower(), parsed


def check_accept(accept: str | None) -> None:
    """NotAcceptable unless the Accept header admits TAXII 2.1 JSON (absent and */* do)."""
    if not accept:
        return
    for item in accept.split(","):
        kind, params = _media_type(item)
        if kind in ("*/*", "application/*"):
            return
        if kind == "application/taxii+json" and params.get("version", "2.1") == "2.1":
            return
    raise NotAcceptable(f"cannot produce {accept!r}; this server speaks {TAXII_MEDIA_TYPE}")


def check_content_type(content_type: str | None) -> None:
    """UnsupportedMediaType unless a POST body is a TAXII 2.1 envelope."""
    kind, params = _media_type(content_type or "")
    if kind != "application/taxii+json" or params.get("version", "2.1") != "2.1":
        raise UnsupportedMediaType(
            f"content type {content_type or '(none)'!r} is not supported; send {TAXII_MEDIA_TYPE}"
        )


# ---------------------------------------------------------------------------------------------
# queries


@dataclass(frozen=True)
class ObjectQuery:
    """The filters of a TAXII objects/manifest/versions request."""

    added_after: datetime | None = None
    ids: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    versions: tuple[str, ...] = ("last",)  # "last", "first", "all" or exact timestamps
    spec_versions: frozenset[str] = frozenset()
    limit: int | None = None
    next: str | None = None


def _split(values: Iterable[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def parse_query(params: Mapping[str, Sequence[str]], *, max_page: int = MAX_PAGE) -> ObjectQuery:
    """An ObjectQuery from query parameters; InputError naming the bad parameter."""
    known = {
        "added_after",
        "limit",
        "next",
        "match[id]",
        "match[type]",
        "match[version]",
        "match[spec_version]",
    }
    unknown = sorted(set(params) - known)
    if unknown:
        raise InputError(f"unsupported query parameter(s): {', '.join(unknown)}", parameter=unknown[0])
    added_after = None
    if params.get("added_after"):
        try:
            added_after = parse_instant(params["added_after"][-1])
        except InputError as exc:
            raise InputError(f"added_after: {exc.message}", parameter="added_after") from exc
    limit = None
    if params.get("limit"):
        raw = params["limit"][-1]
        if not raw.isdigit() or int(raw) < 1:
            raise InputError(f"limit must be a positive integer, got {raw!r}", parameter="limit")
        limit = min(int(raw), max_page)
    versions = tuple(_split(params.get("match[version]", []))) or ("last",)
    for version in versions:
        if version not in ("last", "first", "all"):
            try:
                parse_instant(version)
            except InputError as exc:
                raise InputError(
                    f"match[version] must be last, first, all or a timestamp, got {version!r}",
                    parameter="match[version]",
                ) from exc
    return ObjectQuery(
        added_after=added_after,
        ids=frozenset(_split(params.get("match[id]", []))),
        types=frozenset(_split(params.get("match[type]", []))),
        versions=versions,
        spec_versions=frozenset(_split(params.get("match[spec_version]", []))),
        limit=limit,
        next=params["next"][-1] if params.get("next") else None,
    )


def served(entry: StixEntry) -> Served:
    """An object made on the fly (supporting objects, campaigns, opinions, sightings) as a page item."""
    return Served(
        raw=entry.obj,
        date_added=entry.date_added,
        modified=parse_instant(entry.version),
        tlp=entry.tlp,
        shared=entry.shared,
    )


def exact_versions(query: ObjectQuery) -> tuple[datetime, ...]:
    return tuple(parse_instant(v) for v in query.versions if v not in ("last", "first", "all"))


def select_versions(entries: Iterable[Served], query: ObjectQuery) -> list[Served]:
    """Apply match[id|type|spec_version|version] and added_after; sorted by (date_added, id).

    Version selection is per object id among the versions that pass the other filters, as TAXII
    2.1 defines it: ``last`` (default) and ``first`` pick one, ``all`` keeps all, timestamps keep
    the versions whose ``modified`` equals one of them.
    """
    by_id: dict[str, list[Served]] = {}
    for entry in entries:
        if query.ids and entry.id not in query.ids:
            continue
        if query.types and entry.type not in query.types:
            continue
        if query.spec_versions and entry.obj.get("spec_version", "2.1") not in query.spec_versions:
            continue
        by_id.setdefault(entry.id, []).append(entry)
    exact = set(exact_versions(query))
    chosen: list[Served] = []
    for versions in by_id.values():
        if len(versions) > 1:
            versions.sort(key=lambda e: (e.modified, e.seq))
        picked: dict[tuple[datetime, int], Served] = {}
        for selector in query.versions:
            if selector == "all":
                picked.update(((e.modified, e.seq), e) for e in versions)
            elif selector == "last":
                picked[(versions[-1].modified, versions[-1].seq)] = versions[-1]
            elif selector == "first":
                picked[(versions[0].modified, versions[0].seq)] = versions[0]
        picked.update(((e.modified, e.seq), e) for e in versions if e.modified in exact)
        chosen.extend(picked.values())
    if query.added_after is not None:
        after = query.added_after
        chosen = [e for e in chosen if e.date_added > after]
    chosen.sort(key=sort_key)
    return chosen


def sort_key(entry: Served) -> Key:
    return entry.key


# ---------------------------------------------------------------------------------------------
# paging


@dataclass
class Page:
    items: list[Served]
    more: bool
    next: str | None

    def headers(self) -> dict[str, str]:
        """X-TAXII-Date-Added-First/Last of this page (absent when it is empty)."""
        if not self.items:
            return {}
        return {
            "X-TAXII-Date-Added-First": isoformat_z_us(self.items[0].date_added),
            "X-TAXII-Date-Added-Last": isoformat_z_us(self.items[-1].date_added),
        }


def isoformat_z_us(value: datetime) -> str:
    """Microsecond precision: date_added values must not collapse when a client passes them back
    as added_after (millisecond rounding would re-send or skip objects)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if value.tzinfo else isoformat_z(value)


def encode_next(key: Key) -> str:
    """An opaque, stateless position: the last delivered item's sort key."""
    date_added, object_id, modified, seq = key
    raw = f"{date_added.isoformat()}|{object_id}|{modified.isoformat()}|{seq}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_next(token: str) -> Key:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        instant, object_id, version, *rest = raw.split("|")
        if len(rest) > 1:
            raise ValueError(raw)
        seq = int(rest[0]) if rest else 0
        return parse_instant(instant), object_id, parse_instant(version), seq
    except (ValueError, binascii.Error, UnicodeDecodeError, InputError):
        raise InputError(f"invalid next token {token!r}", parameter="next") from None


def page_of(items: list[Served], limit: int) -> Page:
    """A page from ``limit + 1`` sorted candidates (the extra one only says there is more)."""
    more = len(items) > limit
    items = items[:limit]
    return Page(items=items, more=more, next=encode_next(items[-1].key) if more and items else None)


def paginate(entries: list[Served], query: ObjectQuery, default_limit: int = MAX_PAGE) -> Page:
    """One page of sorted entries. ``next`` is a stateless position (the last item's sort key), so
    it stays valid across server restarts and while new objects arrive (they sort after it)."""
    start = 0
    if query.next:
        position = decode_next(query.next)
        start = bisect.bisect_right(entries, position, key=sort_key)
    limit = query.limit or default_limit
    return page_of(entries[start : start + limit + 1], limit)


# ---------------------------------------------------------------------------------------------
# resources


def envelope_text(page: Page) -> str:
    """The envelope as JSON text: stored objects go out as the texts they were stored as."""
    head: dict[str, Any] = {"more": page.more}
    if page.next:
        head["next"] = page.next
    text = json.dumps(head)
    if not page.items:
        return text
    return text[:-1] + ', "objects": [' + ", ".join(entry.text for entry in page.items) + "]}"


def envelope(page: Page) -> dict[str, Any]:
    body: dict[str, Any] = {"more": page.more}
    if page.next:
        body["next"] = page.next
    if page.items:
        body["objects"] = [entry.obj for entry in page.items]
    return body


def manifest(page: Page) -> dict[str, Any]:
    body: dict[str, Any] = {"more": page.more}
    if page.next:
        body["next"] = page.next
    if page.items:
        body["objects"] = [
            {
                "id": entry.id,
                "date_added": isoformat_z_us(entry.date_added),
                "version": entry.version,
                "media_type": STIX_MEDIA_TYPE,
            }
            for entry in page.items
        ]
    return body


def versions_resource(page: Page) -> dict[str, Any]:
    body: dict[str, Any] = {"more": page.more}
    if page.next:
        body["next"] = page.next
    if page.items:
        body["versions"] = [entry.version for entry in page.items]
    return body


def discovery(base_url: str, title: str = "Vigil coalition exchange") -> dict[str, Any]:
    root = f"{base_url.rstrip('/')}/{API_ROOT}/"
    return {
        "title": title,
        "description": "TAXII 2.1 access to the signals members share against election interference.",
        "default": root,
        "api_roots": [root],
    }


def api_root_resource(max_content_length: int) -> dict[str, Any]:
    return {
        "title": "Vigil signals",
        "description": "Coalition signals as STIX 2.1, one collection per sharing audience.",
        "versions": [TAXII_MEDIA_TYPE],
        "max_content_length": max_content_length,
    }


def error_resource(title: str, description: str, http_status: int, **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"title": title, "description": description, "http_status": str(http_status)}
    if details:
        body["details"] = {k: v for k, v in details.items() if v is not None}
    return body


@dataclass
class StatusDetail:
    id: str
    version: str
    message: str | None = None

    def resource(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "version": self.version}
        if self.message:
            body["message"] = self.message
        return body


@dataclass
class Status:
    """The result of one add-objects request: ``pending`` while its chunks are being committed."""

    id: str
    org_id: str
    request_timestamp: datetime
    successes: list[StatusDetail] = field(default_factory=list)
    failures: list[StatusDetail] = field(default_factory=list)
    pendings: list[StatusDetail] = field(default_factory=list)

    def resource(self) -> dict[str, Any]:
        total = len(self.successes) + len(self.failures) + len(self.pendings)
        body: dict[str, Any] = {
            "id": self.id,
            "status": "pending" if self.pendings else "complete",
            "request_timestamp": isoformat_z_us(self.request_timestamp),
            "total_count": total,
            "success_count": len(self.successes),
            "failure_count": len(self.failures),
            "pending_count": len(self.pendings),
        }
        if self.successes:
            body["successes"] = [s.resource() for s in self.successes]
        if self.failures:
            body["failures"] = [f.resource() for f in self.failures]
        if self.pendings:
            body["pendings"] = [p.resource() for p in self.pendings]
        return body


SourceKinds = Callable[[Served], OrgKind | None]


def in_collection(
    entries: Iterable[Served], spec: CollectionSpec, source_kind: SourceKinds, viewer: Principal
) -> list[Served]:
    return [e for e in entries if spec.holds(e, source_kind(e), viewer.org_kind)]
