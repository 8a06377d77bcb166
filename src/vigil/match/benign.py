"""Benign banks: values and hashes this member (or the coalition) knows to be harmless.

Viral memes, news photos, popular domains, public-service URLs: a partner's signal that happens
to match one of them would otherwise flood the actioner. A post value that is in the benign bank
(exactly, or for distance types within the type's match distance: a PDQ hash of a re-encoded
meme 20 bits away from the banked one) suppresses every match of that value against every other
bank for this member. Suppressed matches are counted in the run, never acted on.

Entries live in ``DIR/benign.sqlite`` beside the match index, each with a TLP marking (who the
entry may be shared with) and its source (``local`` or the name of the list it was imported
from). A bank can be imported from a file in the exchange's warning-list format (``name``,
``kinds``, ``values``; see :mod:`vigil.exchange.warninglists`), so a coalition list is used here
as it is on the exchange, or pulled from the exchange itself (:func:`pull_lists`: source
``coalition:<list>``, replaced at every pull, never republished by :func:`share_entries`). The
indexes themselves are the match index's classes (:func:`vigil.match.index.new_index`), so
near-matching follows the same thresholds.

**Sharing with TLP.** :func:`share_entries` publishes this member's own entries (not those it
received) as STIX indicators with ``indicator_types: ["benign"]`` and the entry's TLP marking,
through TAXII add-objects: TLP:CLEAR and GREEN ones into the ``coalition`` collection, AMBER ones
into the member's AMBER collection; AMBER+STRICT and RED entries never leave the member. Each
entry's indicator id is stable (kind, value, publishing organisation), so sharing again sends
nothing new; an entry removed (or narrowed to a TLP that may not leave) since it was shared is
published again as a revoked version. STIX allows no version after a revocation, so an entry
added again later is published under the next generation's id. The exchange stores these
indicators as sent and does not make them threat signals. A member's fetch routes them into its own bank
(:meth:`BenignBank.receive`) with the publisher as source and the TLP, and removes them when a
revoked version arrives.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from vigil.core.errors import InputError, NotFound
from vigil.core.settings import Settings
from vigil.core.time import isoformat_z, parse_instant, utcnow
from vigil.exchange.records import TLP
from vigil.match.index import new_index
from vigil.match.localdb import LocalDb
from vigil.match.state import matchable_types
from vigil.signals.index import SignalIndex
from vigil.signals.registry import get_signal_type

BENIGN_FILE = "benign.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS benign (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    label TEXT,
    tlp TEXT NOT NULL,
    source TEXT NOT NULL,
    added_at TEXT NOT NULL,
    UNIQUE (kind, value)
);
CREATE TABLE IF NOT EXISTS benign_published (
    stix_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    tlp TEXT NOT NULL,
    collection TEXT NOT NULL,
    modified TEXT NOT NULL,
    revoked INTEGER NOT NULL,
    created TEXT  -- the first version's (STIX: every version keeps it); NULL in files of before
);
CREATE TABLE IF NOT EXISTS benign_pulled (
    list_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    tlp TEXT NOT NULL,
    label TEXT,
    PRIMARY KEY (list_name, kind, value)
);
CREATE TABLE IF NOT EXISTS benign_trust (
    org_id TEXT PRIMARY KEY,
    added_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS benign_received (
    stix_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    org_id TEXT,
    tlp TEXT,
    modified TEXT NOT NULL,
    revoked INTEGER NOT NULL
);
"""
COALITION_SOURCE = "coalition:"  # source of entries pulled from the exchange's warning lists
SHARED_SOURCE = "shared:"  # source of entries received from another member: "shared:<identity id>"
BENIGN_INDICATOR_TYPE = "benign"
# Which collection an entry of each TLP is published to (the exchange's collections,
# vigil.exchange.taxii.COLLECTIONS). AMBER goes to the publisher's own AMBER audience.
_COALITION_TLPS = ("CLEAR", "GREEN")
_AMBER_ALIASES = ("platforms", "government-partners", "researchers")


@dataclass(frozen=True)
class BenignEntry:
    id: int
    kind: str
    value: str
    label: str | None
    tlp: str
    source: str
    added_at: str


class BenignBank(LocalDb):
    """The benign entries of an index directory and, once :meth:`build` ran, their indexes."""

    SCHEMA = _SCHEMA
    WHAT = "benign bank"

    def __init__(self, path: Path, settings: Settings | None = None) -> None:
        super().__init__(path)
        self.settings = settings
        self._indexes: dict[str, SignalIndex] | None = None
        columns = {r["name"] for r in self._db.execute("PRAGMA table_info(benign_published)")}
        if "created" not in columns:  # a bank written before versions kept their ``created``
            with self._db:
                self._db.execute("ALTER TABLE benign_published ADD COLUMN created TEXT")

    @classmethod
    def of_index(cls, index_dir: Path, settings: Settings | None = None) -> BenignBank:
        return cls(Path(index_dir) / BENIGN_FILE, settings)

    # -- management -----------------------------------------------------------------------------

    def add(
        self,
        kind: str,
        values: Sequence[str],
        *,
        label: str | None = None,
        tlp: str = "GREEN",
        source: str = "local",
    ) -> int:
        """Add values of a matchable type (normalized; an invalid one fails before any is added);
        returns how many were new."""
        if kind not in matchable_types():
            raise InputError(
                f"unknown or unmatchable signal type {kind!r}; use one of {', '.join(matchable_types())}",
                field="kind",
            )
        try:
            level = TLP(tlp.upper()).value
        except ValueError as exc:
            raise InputError(
                f"unknown TLP {tlp!r}; use one of {', '.join(t.value for t in TLP)}", field="tlp"
            ) from exc
        normalized = get_signal_type(kind).normalize_many(list(values))
        now = isoformat_z(utcnow())
        with self._db:
            before = self._db.total_changes
            self._db.executemany(
                "INSERT OR IGNORE INTO benign (kind, value, label, tlp, source, added_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(kind, v, label, level, source, now) for v in dict.fromkeys(normalized)],
            )
            added = self._db.total_changes - before
        self._indexes = None
        return added

    def remove(self, entry_id: int) -> BenignEntry:
        entry = next((e for e in self.entries() if e.id == entry_id), None)
        if entry is None:
            raise NotFound(f"no benign entry {entry_id}")
        with self._db:
            self._db.execute("DELETE FROM benign WHERE id = ?", (entry_id,))
        self._indexes = None
        return entry

    def entries(self, kind: str | None = None, *, shareable_with: str | None = None) -> list[BenignEntry]:
        """Entries, oldest first; ``shareable_with="GREEN"`` keeps only those whose TLP allows
        sharing at that level (CLEAR and GREEN for GREEN; CLEAR for CLEAR; ...)."""
        rows = self._db.execute(
            "SELECT * FROM benign" + (" WHERE kind = ?" if kind else "") + " ORDER BY id",
            (kind,) if kind else (),
        )
        out = [BenignEntry(**dict(r)) for r in rows]
        if shareable_with is not None:
            order = [t.value for t in TLP]
            limit = order.index(TLP(shareable_with.upper()).value)
            out = [e for e in out if e.tlp in order and order.index(e.tlp) <= limit]
        return out

    def import_list(self, path: Path, *, tlp: str = "GREEN") -> int:
        """Import a warning-list-format YAML file (``name``, ``kinds``, ``values``); returns the
        number of new entries. Values are added for every listed kind that is matchable."""
        try:
            data: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise InputError(f"cannot read benign list {path}: {exc}", file=str(path)) from exc
        if not isinstance(data, dict) or not isinstance(data.get("values"), list) or not data.get("kinds"):
            raise InputError(
                f"{path}: a benign list is a mapping with 'name', 'kinds' and 'values'", file=str(path)
            )
        name = str(data.get("name") or Path(path).stem)
        kinds = [k for k in data["kinds"] if k in matchable_types()]
        if not kinds:
            raise InputError(f"{path}: none of the kinds {data['kinds']} is matchable", file=str(path))
        return sum(
            self.add(kind, [str(v) for v in data["values"]], label=name, tlp=tlp, source=name)
            for kind in kinds
        )

    # -- the coalition's warning lists -------------------------------------------------------------

    def _pulled_by(self, kind: str, value: str, *, other_than: str | None = None) -> dict[str, Any] | None:
        """The pulled-list row (list_name, tlp, label) that holds the value, if any."""
        row = self._db.execute(
            "SELECT list_name, tlp, label FROM benign_pulled "
            "WHERE kind = ? AND value = ? AND list_name != ? ORDER BY list_name LIMIT 1",
            (kind, value, other_than or ""),
        ).fetchone()
        return None if row is None else dict(row)

    def _hand_over(self, entry_id: int, pulled: dict[str, Any]) -> None:
        """The entry becomes the pulled list's (its source, TLP and label); inside a transaction."""
        self._db.execute(
            "UPDATE benign SET source = ?, tlp = ?, label = ? WHERE id = ?",
            (f"{COALITION_SOURCE}{pulled['list_name']}", pulled["tlp"], pulled["label"], entry_id),
        )

    def replace_list(
        self, name: str, values: dict[str, set[str]], *, label: str | None = None, tlp: str = "GREEN"
    ) -> tuple[int, int]:
        """Make the entries of source ``coalition:<name>`` exactly ``values`` (kind -> normalized
        values); returns (added, removed). A value this member added itself, or a sharer shared,
        keeps its source; a value dropped from the list leaves the bank unless another pulled list
        still holds it (it then stays as that list's)."""
        source = f"{COALITION_SOURCE}{name}"
        wanted = {(kind, v) for kind, vs in values.items() for v in vs}
        held = {
            (r["kind"], r["value"])
            for r in self._db.execute("SELECT kind, value FROM benign_pulled WHERE list_name = ?", (name,))
        }
        added = 0
        for kind in sorted({k for k, _ in wanted}):  # all of them: an entry the member deleted returns
            added += self.add(
                kind, sorted(v for k, v in wanted if k == kind), label=label, tlp=tlp, source=source
            )
        removed = 0
        with self._db:
            self._db.execute("DELETE FROM benign_pulled WHERE list_name = ?", (name,))
            self._db.executemany(
                "INSERT INTO benign_pulled (list_name, kind, value, tlp, label) VALUES (?, ?, ?, ?, ?)",
                [(name, k, v, tlp, label) for k, v in sorted(wanted)],
            )
            for kind, value in sorted(held - wanted):
                entry = self._db.execute(
                    "SELECT id, source FROM benign WHERE kind = ? AND value = ?", (kind, value)
                ).fetchone()
                if entry is None or entry["source"] != source:
                    continue  # the member's own entry, or a sharer's: not this list's to remove
                other = self._pulled_by(kind, value, other_than=name)
                if other is not None:
                    self._hand_over(entry["id"], other)
                    continue
                shared = self._db.execute(
                    "SELECT org_id, tlp FROM benign_received WHERE kind = ? AND value = ? AND revoked = 0 "
                    "ORDER BY stix_id LIMIT 1",
                    (kind, value),
                ).fetchone()
                if shared is not None:  # a member shares it still: it stays, as theirs
                    self._db.execute(
                        "UPDATE benign SET source = ?, tlp = ?, label = ? WHERE id = ?",
                        (
                            f"{SHARED_SOURCE}{shared['org_id'] or 'unknown'}",
                            shared["tlp"],
                            "shared benign",
                            entry["id"],
                        ),
                    )
                    continue
                self._db.execute("DELETE FROM benign WHERE id = ?", (entry["id"],))
                removed += 1
            # the list's TLP may have changed since the last pull
            self._db.execute("UPDATE benign SET tlp = ?, label = ? WHERE source = ?", (tlp, label, source))
        self._indexes = None
        return added, removed

    # -- sharing ---------------------------------------------------------------------------------

    def receive(self, obj: dict[str, Any], kind: str, value: str, org_id: str | None, tlp: str | None) -> str:
        """Apply a received benign indicator version: ``added``, ``removed`` (a revoked version),
        ``unchanged`` (e.g. a value this bank holds already) or ``stale`` (no newer than the one
        applied). An entry stays while this member or any sharer still holds it."""
        stix_id = str(obj["id"])
        modified = parse_instant(str(obj.get("modified") or obj.get("created")))
        revoked = bool(obj.get("revoked", False))
        row = self._db.execute(
            "SELECT modified FROM benign_received WHERE stix_id = ?", (stix_id,)
        ).fetchone()
        if row is not None and modified <= parse_instant(row["modified"]):
            return "stale"
        value = get_signal_type(kind).normalize_many([value])[0]
        level = tlp if tlp in [t.value for t in TLP] else "GREEN"  # unmarked: the coalition's default
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO benign_received "
                "(stix_id, kind, value, org_id, tlp, modified, revoked) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (stix_id, kind, value, org_id, level, isoformat_z(modified), int(revoked)),
            )
        if not revoked:
            added = self.add(
                kind,
                [value],
                label=str(obj.get("name") or "shared benign"),
                tlp=level,
                source=f"{SHARED_SOURCE}{org_id or 'unknown'}",
            )
            return "added" if added else "unchanged"
        still = self._db.execute(
            "SELECT org_id FROM benign_received "
            "WHERE kind = ? AND value = ? AND revoked = 0 AND stix_id != ?",
            (kind, value, stix_id),
        ).fetchone()
        entry = self._db.execute(
            "SELECT id, source FROM benign WHERE kind = ? AND value = ?", (kind, value)
        ).fetchone()
        if entry is None or not str(entry["source"]).startswith(SHARED_SOURCE):
            return "unchanged"  # this member's own entry (or never held): a sharer's revocation leaves it
        pulled = self._pulled_by(kind, value)
        with self._db:
            if pulled is not None:  # a coalition warning list holds it too: it stays, as the list's
                self._hand_over(entry["id"], pulled)
                return "unchanged"
            if still is not None:  # another member shares it still: it stays, as theirs
                self._db.execute(
                    "UPDATE benign SET source = ? WHERE id = ?",
                    (f"{SHARED_SOURCE}{still['org_id']}", entry["id"]),
                )
                return "unchanged"
            self._db.execute("DELETE FROM benign WHERE id = ?", (entry["id"],))
        self._indexes = None
        return "removed"

    def to_publish(self, org_id: str, now: datetime) -> list[tuple[str, dict[str, Any]]]:
        """(collection alias, STIX indicator) for what this member should publish now: its own
        entries that may leave it and were not published as they are, and revoked versions of
        those it published that are gone or narrowed since."""
        from vigil.exchange.records import SignalKind
        from vigil.exchange.stix_ids import stix_id as make_stix_id
        from vigil.exchange.stix_markings import marking_id
        from vigil.exchange.stix_patterns import pattern_for

        published = {r["stix_id"]: dict(r) for r in self._db.execute("SELECT * FROM benign_published")}
        stamp = isoformat_z(now)

        def indicator(
            object_id: str, kind: str, value: str, label: str | None, tlp: str, revoked: bool
        ) -> dict[str, Any]:
            held = published.get(object_id)
            # A later version keeps the first one's ``created`` (STIX 2.1 3.6); ``modified`` stood
            # for it in banks written before it was kept.
            created = (held["created"] or held["modified"]) if held is not None else stamp
            obj: dict[str, Any] = {
                "type": "indicator",
                "spec_version": "2.1",
                "id": object_id,
                "created_by_ref": org_id,
                "created": created,
                "modified": stamp,
                "name": f"benign {kind}: {label or value}"[:200],
                "indicator_types": [BENIGN_INDICATOR_TYPE],
                "pattern": pattern_for(SignalKind(kind), value),
                "pattern_type": "stix",
                "pattern_version": "2.1",
                "valid_from": created,
                "object_marking_refs": [marking_id(TLP(tlp))],
                "x_vigil_kind": kind,
                "x_vigil_value": value,
            }
            if revoked:
                obj["revoked"] = True
            if label:
                obj["description"] = label
            return obj

        # STIX 2.1 (3.6.2): a revoked object takes no further versions, so an entry added again
        # after its indicator was revoked is published under a new id (the next generation).
        live = {(r["kind"], r["value"]): str(sid) for sid, r in published.items() if not r["revoked"]}

        def id_for(kind: str, value: str) -> str:
            object_id: str | None = live.get((kind, value))
            generation = 0
            while object_id is None or (published.get(object_id) or {}).get("revoked"):
                extra = (str(generation),) if generation else ()
                object_id = make_stix_id("indicator", "benign", kind, value, org_id, *extra)
                generation += 1
            return object_id

        out: list[tuple[str, dict[str, Any]]] = []
        wanted: set[str] = set()
        for entry in self.entries():
            if entry.source.startswith((SHARED_SOURCE, COALITION_SOURCE)):
                continue  # passing on what others shared (or the coalition lists) would launder its source
            collection = collection_for_tlp(entry.tlp)
            if collection is None:
                continue
            object_id = id_for(entry.kind, entry.value)
            wanted.add(object_id)
            held = published.get(object_id)
            if held is not None and not held["revoked"] and held["tlp"] == entry.tlp:
                continue
            out.append(
                (collection, indicator(object_id, entry.kind, entry.value, entry.label, entry.tlp, False))
            )
        for object_id, held in published.items():
            if object_id in wanted or held["revoked"]:
                continue
            obj = indicator(object_id, held["kind"], held["value"], None, held["tlp"], True)
            out.append((held["collection"], obj))
        return out

    def mark_published(self, published: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Remember objects the exchange accepted (so the next share sends only what changed)."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO benign_published "
                "(stix_id, kind, value, tlp, collection, modified, revoked, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        obj["id"],
                        obj["x_vigil_kind"],
                        obj["x_vigil_value"],
                        TLP_OF_MARKING[obj["object_marking_refs"][0]],
                        collection,
                        obj["modified"],
                        int(bool(obj.get("revoked"))),
                        obj["created"],
                    )
                    for collection, obj in published
                ],
            )

    # -- matching ---------------------------------------------------------------------------------

    # -- trust ------------------------------------------------------------------------------------

    def trust(self, org_id: str) -> bool:
        """Let the benign entries ``org_id`` shares suppress this member's matches; False if it
        was trusted already."""
        if not org_id.strip():
            raise InputError("--trust needs an organisation id", field="trust")
        with self._db:
            done = self._db.execute(
                "INSERT OR IGNORE INTO benign_trust (org_id, added_at) VALUES (?, ?)",
                (org_id, isoformat_z(utcnow())),
            )
        self._indexes = None
        return bool(done.rowcount)

    def untrust(self, org_id: str) -> bool:
        """Stop applying ``org_id``'s shared entries (they stay listed); False if it was not trusted."""
        with self._db:
            done = self._db.execute("DELETE FROM benign_trust WHERE org_id = ?", (org_id,))
        self._indexes = None
        return bool(done.rowcount)

    def trusted(self) -> set[str]:
        return {str(r["org_id"]) for r in self._db.execute("SELECT org_id FROM benign_trust")}

    def applies(self, entry: BenignEntry, trusted: set[str] | None = None) -> bool:
        """Whether an entry suppresses matches: this member's own and the coalition's lists always;
        another member's shared entry only once this member trusts that member. A benign entry
        silences every bank, so one member must not be able to silence the others' signals at
        every matcher by sharing their values as benign."""
        if not entry.source.startswith(SHARED_SOURCE):
            return True
        return entry.source[len(SHARED_SOURCE) :] in (self.trusted() if trusted is None else trusted)

    # -- matching ---------------------------------------------------------------------------------

    def build(self) -> dict[str, SignalIndex]:
        """One index per type, with the match index's classes and thresholds, of the entries that
        apply (:meth:`applies`)."""
        if self._indexes is None:
            indexes: dict[str, SignalIndex] = {}
            trusted = self.trusted()
            for entry in self.entries():
                if not self.applies(entry, trusted):
                    continue
                index = indexes.get(entry.kind)
                if index is None:
                    index = indexes[entry.kind] = new_index(entry.kind, settings=self.settings)
                index.add(entry.value, f"benign-{entry.id}")
            self._indexes = indexes
        return self._indexes

    def benign_values(self, kind: str, values: Sequence[str]) -> set[str]:
        """The (normalized) post values of ``kind`` that hit the benign bank."""
        index = self.build().get(kind)
        if index is None or not len(index) or not values:
            return set()
        return {v for v, hits in zip(values, index.query_many(values, normalized=True), strict=True) if hits}


def collection_for_tlp(tlp: str) -> str | None:
    """The collection alias an entry of this TLP is shared in ("amber" for the publisher's AMBER
    audience), None if it never leaves the member (AMBER+STRICT, RED)."""
    if tlp in _COALITION_TLPS:
        return "coalition"
    if tlp == "AMBER":
        return "amber"
    return None


def _tlp_of_marking() -> dict[str, str]:
    from vigil.exchange.stix_markings import TLP_BY_MARKING_ID

    return {ref: level.value for ref, level in TLP_BY_MARKING_ID.items()}


TLP_OF_MARKING = _tlp_of_marking()


@dataclass
class ShareReport:
    """What ``share_entries`` sent and what the exchange said."""

    published: int = 0  # entries (new or changed)
    revoked: int = 0  # revoked versions of entries removed or narrowed since
    kept_back: int = 0  # entries whose TLP may not leave the member (AMBER+STRICT, RED)
    failed: list[str] = field(default_factory=list)
    by_collection: dict[str, int] = field(default_factory=dict)


def share_entries(
    bank: BenignBank,
    server: str,
    key: str,
    *,
    collection: str | None = None,
    now: datetime | None = None,
    transport: Any = None,
) -> ShareReport:
    """Publish the bank's shareable entries over TAXII add-objects (see the module text).
    ``collection`` (alias or id): publish only what belongs there."""
    import httpx

    from vigil.core.errors import AuthenticationError, ExternalServiceError, PermissionDenied
    from vigil.exchange.taxii_client import TaxiiClient, server_root

    root = server_root(server)
    report = ShareReport()
    with httpx.Client(transport=transport, timeout=120, headers={"Authorization": f"Bearer {key}"}) as http:
        try:
            me = http.get(f"{root}/api/v1/me")
        except httpx.HTTPError as exc:
            raise ExternalServiceError(f"cannot reach {root}: {exc}") from exc
        if me.status_code == 401:
            raise AuthenticationError("the exchange refused the API key")
        if me.status_code != 200:
            raise ExternalServiceError(f"{root}/api/v1/me answered {me.status_code}: {me.text[:200]}")
        org_id = str(me.json()["org_id"])
        with TaxiiClient(root, key, transport=transport) as client:
            api_root = client.api_root()
            listed = [c for c in client.collections(api_root) if c.get("can_write")]
        by_alias = {str(c.get("alias") or c["id"]): c for c in listed}
        amber = next((a for a in _AMBER_ALIASES if a in by_alias), None)
        plan = bank.to_publish(org_id, now or utcnow())
        report.kept_back = sum(
            1
            for e in bank.entries()
            if not e.source.startswith((SHARED_SOURCE, COALITION_SOURCE))
            and collection_for_tlp(e.tlp) is None
        )
        groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for target, obj in plan:
            alias = amber if target == "amber" else target
            if alias is None or alias not in by_alias:
                report.failed.append(
                    f"{obj['id']}: no writable collection for TLP "
                    f"{TLP_OF_MARKING[obj['object_marking_refs'][0]]}"
                )
                continue
            spec = by_alias[alias]
            if collection is not None and collection not in (alias, spec["id"]):
                continue
            groups.setdefault(alias, []).append((alias, obj))
        if (
            collection is not None
            and collection not in by_alias
            and not any(collection == c["id"] for c in listed)
        ):
            raise InputError(
                f"no writable collection {collection!r} for this key; writable: {', '.join(by_alias)}",
                field="collection",
            )
        for alias, items in groups.items():
            url = f"{api_root}collections/{by_alias[alias]['id']}/objects/"
            answer = http.post(
                url,
                content=json.dumps({"objects": [obj for _, obj in items]}),
                headers={
                    "Content-Type": "application/taxii+json;version=2.1",
                    "Accept": "application/taxii+json;version=2.1",
                },
                auth=("taxii", key),
            )
            if answer.status_code == 401:
                raise AuthenticationError("the exchange refused the API key")
            if answer.status_code == 403:
                raise PermissionDenied("the API key may not write (analyst or admin role needed)")
            if answer.status_code not in (200, 202):
                raise ExternalServiceError(
                    f"TAXII add-objects at {url}: HTTP {answer.status_code}: {answer.text[:200]}"
                )
            status = answer.json()
            ok = {str(s.get("id")) for s in status.get("successes") or []}
            for failure in status.get("failures") or []:
                report.failed.append(f"{failure.get('id')}: {failure.get('message')}")
            accepted = [(a, obj) for a, obj in items if obj["id"] in ok]
            bank.mark_published(accepted)
            report.by_collection[alias] = len(accepted)
            report.revoked += sum(1 for _, obj in accepted if obj.get("revoked"))
            report.published += sum(1 for _, obj in accepted if not obj.get("revoked"))
    return report


@dataclass
class PullReport:
    """What ``pull_lists`` took from the exchange's warning lists, per list."""

    lists: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # name -> (values, added, removed)
    skipped_kinds: dict[str, list[str]] = field(default_factory=dict)  # name -> kinds nothing matches
    # ``flag`` lists (too broad to share, not known to be benign) left out of a pull of all lists
    flag_only: list[str] = field(default_factory=list)


def pull_lists(
    bank: BenignBank,
    server: str,
    key: str,
    names: Sequence[str] = (),
    *,
    transport: Any = None,
) -> PullReport:
    """Pull the coalition's warning lists (all, or ``names``) into ``bank`` as source
    ``coalition:<name>`` (see :meth:`BenignBank.replace_list`). Only matchable kinds are kept; a
    list's TLP is GREEN unless it carries a ``tlp``. Nothing is written before every list was read,
    so a bad list name changes nothing.

    Without ``names`` only the ``block`` lists are pulled: they hold known-benign values. A
    ``flag`` list holds values that match too broadly, which says nothing about whether they are
    benign, so suppressing every match on them must be asked for by name (they are reported in
    :attr:`PullReport.flag_only`)."""
    import httpx

    from vigil.core.errors import AuthenticationError, ExternalServiceError, PermissionDenied
    from vigil.exchange.taxii_client import server_root

    root = server_root(server)
    lists: list[dict[str, Any]] = []
    with httpx.Client(transport=transport, timeout=60, headers={"Authorization": f"Bearer {key}"}) as http:

        def get(path: str, what: str) -> Any:
            try:
                answer = http.get(f"{root}/api/v1/warninglists{path}")
            except httpx.HTTPError as exc:
                raise ExternalServiceError(f"cannot reach the exchange at {root}: {exc}") from exc
            if answer.status_code == 401:
                raise AuthenticationError(f"the exchange at {root} refused the API key")
            if answer.status_code == 403:
                raise PermissionDenied(f"the API key may not read warning lists at {root}")
            if answer.status_code == 404:
                raise NotFound(f"{what} at {root}")
            if answer.status_code != 200:
                raise ExternalServiceError(f"{root}: {what}: HTTP {answer.status_code}: {answer.text[:200]}")
            try:
                return answer.json()
            except ValueError as exc:
                raise ExternalServiceError(f"{root} is not a Vigil exchange (answer is not JSON)") from exc

        wanted = list(dict.fromkeys(names))
        flag_only: list[str] = []
        if not wanted:
            index = get("", "no warning lists API (is this a Vigil exchange?)")
            wanted = [str(w["name"]) for w in index if w.get("action") != "flag"]
            flag_only = sorted(str(w["name"]) for w in index if w.get("action") == "flag")
        for name in wanted:
            from urllib.parse import quote

            lists.append(get(f"/{quote(name, safe='')}", f"no warning list {name!r}"))
    report = PullReport(flag_only=flag_only)
    matchable = set(matchable_types())
    for data in lists:
        name = str(data["name"])
        kinds = [k for k in data.get("kinds") or [] if k in matchable]
        report.skipped_kinds[name] = [k for k in data.get("kinds") or [] if k not in matchable]
        by_kind: dict[str, set[str]] = {}
        for kind in kinds:
            signal_type = get_signal_type(kind)
            for raw in data.get("values") or []:
                try:  # a list of several kinds holds each value as the kinds that accept it
                    by_kind.setdefault(kind, set()).add(signal_type.normalize(str(raw)))
                except (ValueError, InputError):
                    continue
        tlp = str(data.get("tlp") or "GREEN").upper()
        tlp = tlp if tlp in [t.value for t in TLP] else "GREEN"  # unknown marking: the coalition's default
        added, removed = bank.replace_list(name, by_kind, label=str(data.get("title") or name), tlp=tlp)
        report.lists[name] = (sum(len(v) for v in by_kind.values()), added, removed)
    return report
