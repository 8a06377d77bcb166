"""The persisted match index: what a member fetched from the exchange, and the indexes built from it.

An index directory holds::

    DIR/state.json                 manifest: format, server, per-collection checkpoints, current generation
    DIR/gen-<token>/contributions.parquet   one row per STIX contribution object (its latest version)
    DIR/gen-<token>/campaigns.parquet       campaigns seen (id, name)
    DIR/gen-<token>/index/<type>/           one saved SignalIndex per signal type (entry id = signal id)
    DIR/gen-<token>/<sidecar>/              kept by other modules with the index (``Sidecar``: fetched
                                            opinions and sightings, arrivals; vigil.match.feedback)
    DIR/queue.sqlite               the actioner's review queue (vigil.match.actioner)
    DIR/.lock                      advisory lock: one writer, or many readers

A save writes a complete new generation directory, then replaces ``state.json`` atomically, then
deletes older generations: a crash at any point leaves the previous generation (and the checkpoints
that go with it) readable, so a failed fetch is simply repeated from the old checkpoint.

Granularity follows the exchange's STIX mapping: a *contribution* is one member's indicator for a
signal, with its own TLP, confidence and campaign. A *signal* (kind, value; id = the exchange's
signal id) is indexed while at least one of its contributions is active (not revoked, not past
``valid_until``); :meth:`MatchIndex.reconcile` keeps the indexes equal to that set and says what
it added and removed, and why.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from vigil.core.errors import Conflict, DataError
from vigil.core.settings import Settings
from vigil.core.time import isoformat_z, parse_instant, utcnow
from vigil.match.contributions import TIMESTAMP, ContributionRecord, ContributionStore
from vigil.match.index import load_index, new_index
from vigil.match.index.segmented import SegmentedIndex
from vigil.signals.base import DerivesFromPost
from vigil.signals.index import SignalIndex
from vigil.signals.registry import get_signal_type, signal_types

STATE_FILE = "state.json"
FORMAT = "vigil-match-index"
FORMAT_VERSION = 1
LOCK_FILE = ".lock"

CAMPAIGNS = pa.schema(
    [
        pa.field("campaign_id", pa.string(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("modified", TIMESTAMP),
    ]
)


__all__ = [
    "ContributionRecord",
    "MatchIndex",
    "Reconciled",
    "Sidecar",
    "locked",
    "matchable_types",
    "open_index",
]


def matchable_types() -> list[str]:
    """Signal types that can be found in posts (a narrative or technique cannot)."""
    return [name for name, t in signal_types().items() if isinstance(t, DerivesFromPost)]


@dataclass
class Reconciled:
    """What :meth:`MatchIndex.reconcile` changed in the indexes (counts of signals)."""

    added: int = 0
    removed_revoked: int = 0
    removed_expired: int = 0
    removed_invisible: int = 0  # no contribution left on record (dropped by a full re-sync)
    by_type: dict[str, int] = field(default_factory=dict)  # net change per type


class Sidecar(Protocol):
    """Something another module keeps with the index (feedback counts, arrivals), saved into each
    new generation so it switches with the index and its checkpoints in one atomic step."""

    def save(self, target: Path, previous: Path | None) -> None:
        """Write into ``target`` (a new directory's path); ``previous`` is this sidecar's
        directory in the current generation (None on a first save), to hard-link what did not
        change."""
        ...


@dataclass
class MatchIndex:
    """The in-memory form of an index directory. Open with :func:`open_index`, persist with ``save``."""

    directory: Path
    server: str | None = None
    checkpoints: dict[str, str] = field(default_factory=dict)  # collection id -> added_after
    collections: dict[str, str] = field(default_factory=dict)  # collection id -> alias
    campaigns: dict[str, str] = field(default_factory=dict)  # campaign id -> name
    campaign_versions: dict[str, datetime] = field(default_factory=dict)
    indexes: dict[str, SignalIndex] = field(default_factory=dict)  # signal type -> index
    last_fetch: str | None = None
    generation: str | None = None
    settings: Settings | None = None
    # When the indexes were last made equal to the active contributions (None: never, or by an
    # earlier version: the next reconcile examines every signal).
    reconciled_at: datetime | None = None
    # Saved by ``save`` into ``gen-*/<name>/`` (see ``Sidecar``); read back by their own modules
    # through ``generation_path``.
    sidecars: dict[str, Sidecar] = field(default_factory=dict)
    _store: ContributionStore = field(default_factory=ContributionStore)

    @property
    def generation_path(self) -> Path | None:
        """The directory of the generation this index was opened from (None if never saved)."""
        return self.directory / self.generation if self.generation else None

    @property
    def contributions(self) -> ContributionStore:
        """Contributions by STIX id (their latest version): columnar parts plus changed records."""
        return self._store

    @contributions.setter
    def contributions(self, records: Mapping[str, ContributionRecord]) -> None:
        self._store = ContributionStore(records.values())
        self.reconciled_at = None  # everything may differ from what the indexes hold

    # -- queries ------------------------------------------------------------------------------

    def active_contributions(self, now: datetime | None = None) -> dict[str, list[ContributionRecord]]:
        """Active contributions grouped by signal id (only matchable kinds). Reads the whole
        record: at millions of contributions use :meth:`active_of` for the signals you need."""
        now = now or utcnow()
        kinds = set(matchable_types())
        out: dict[str, list[ContributionRecord]] = {}
        for record in self._store.values():
            if record.kind in kinds and record.active(now):
                out.setdefault(record.signal_id, []).append(record)
        return out

    def active_of(
        self, signal_ids: Iterable[str], now: datetime | None = None
    ) -> dict[str, list[ContributionRecord]]:
        """Active contributions of ``signal_ids`` (one batched lookup; absent ids have none)."""
        now = now or utcnow()
        kinds = set(matchable_types())
        out: dict[str, list[ContributionRecord]] = {}
        for signal_id, records in self._store.by_signal(signal_ids).items():
            alive = [r for r in records if r.kind in kinds and r.active(now)]
            if alive:
                out[signal_id] = alive
        return out

    def indexed_count(self) -> dict[str, int]:
        return {name: len(index) for name, index in sorted(self.indexes.items())}

    # -- changes ------------------------------------------------------------------------------

    def upsert(self, record: ContributionRecord) -> str:
        """Store a received contribution version: ``new``, ``updated``, or ``stale`` (an older or equal
        version than the one we hold, e.g. received again through another collection). For many
        records, ``contributions.load`` their ids first (one lookup instead of one each)."""
        store = self._store
        old = store.get(record.stix_id)
        if old is None:
            store.put(record)
            return "new"
        if record.modified <= old.modified:
            return "stale"
        record.campaign_id, record.campaign_modified = old.campaign_id, old.campaign_modified
        store.put(record)
        return "updated"

    def link_campaign(self, indicator_id: str, campaign_id: str, modified: datetime) -> bool:
        """An ``indicates`` relationship version; False if we hold no such indicator."""
        record = self._store.get(indicator_id)
        if record is None:
            return False
        if record.campaign_modified is None or modified >= record.campaign_modified:
            record.campaign_id, record.campaign_modified = campaign_id, modified
        return True

    def forget_except(self, kept: set[str]) -> int:
        """Drop every contribution whose STIX id is not in ``kept`` (after a full re-sync: what the
        server no longer shows us); returns how many were dropped."""
        return self._store.forget_except(kept)

    def set_campaign(self, campaign_id: str, name: str, modified: datetime) -> None:
        known = self.campaign_versions.get(campaign_id)
        if known is None or modified >= known:
            self.campaigns[campaign_id] = name
            self.campaign_versions[campaign_id] = modified

    def reconcile(self, now: datetime | None = None) -> Reconciled:
        """Make the indexes hold exactly the signals with an active contribution; say what changed.

        Only signals that may have changed are examined: those whose contributions changed since
        the last reconcile, and those with a ``valid_until`` between the last reconcile's time and
        ``now`` (all of them after an open of an earlier version's index, or when records were
        replaced wholesale). A signal leaves the index as *revoked* when every contribution we
        hold of it is revoked, otherwise as *expired* (its remaining contributions are past
        ``valid_until``), or as *invisible* when none is left on record.
        """
        now = now or utcnow()
        store = self._store
        if self.reconciled_at is None:
            touched = store.signal_ids() | store.touched | self._indexed_ids()
        else:
            low, high = sorted((self.reconciled_at, now))
            touched = store.touched | store.signals_expiring(low, high)
        result = Reconciled()
        records = store.by_signal(touched)
        kinds = set(matchable_types())
        present = self._present(touched)
        gone: dict[str, list[str]] = {}
        fresh: dict[str, tuple[list[str], list[str]]] = {}
        for signal_id in sorted(touched):
            held = records.get(signal_id, [])
            active = [r for r in held if r.kind in kinds and r.active(now)]
            kind = present.get(signal_id)
            if kind is not None and not active:
                if not held:
                    result.removed_invisible += 1
                elif all(r.revoked for r in held):
                    result.removed_revoked += 1
                else:
                    result.removed_expired += 1
                gone.setdefault(kind, []).append(signal_id)
            elif kind is None and active:
                values, ids = fresh.setdefault(active[0].kind, ([], []))
                values.append(active[0].value)
                ids.append(signal_id)
        for kind, ids in gone.items():
            self.indexes[kind].remove(ids)
            result.by_type[kind] = result.by_type.get(kind, 0) - len(ids)
        for kind, (values, ids) in fresh.items():
            self.index_for(kind).add_many(values, ids)
            result.added += len(ids)
            result.by_type[kind] = result.by_type.get(kind, 0) + len(ids)
        store.touched = set()
        self.reconciled_at = now
        return result

    def _indexed_ids(self) -> set[str]:
        return {i for index in self.indexes.values() for i in _entry_ids(index)}

    def _present(self, signal_ids: set[str]) -> dict[str, str]:
        """Which of ``signal_ids`` the indexes hold, and in which type's index."""
        out: dict[str, str] = {}
        if not signal_ids:
            return out
        for kind, index in self.indexes.items():
            if isinstance(index, SegmentedIndex):
                found: Iterable[str] = index.contains(signal_ids)
            else:
                found = signal_ids.intersection(_entry_ids(index))
            for signal_id in found:
                out[signal_id] = kind
        return out

    def index_for(self, kind: str) -> SignalIndex:
        if kind not in self.indexes:
            self.indexes[kind] = new_index(kind, settings=self.settings)
        return self.indexes[kind]

    # -- persistence --------------------------------------------------------------------------

    def save(self) -> None:
        """Write a new generation, switch ``state.json`` to it atomically, then drop older ones.
        Unchanged contribution parts and index segments are hard-linked, not written again."""
        self.directory.mkdir(parents=True, exist_ok=True)
        generation = f"gen-{uuid.uuid4().hex[:12]}"
        target = self.directory / generation
        target.mkdir()
        try:
            self._store.save(target / "contributions")
            pq.write_table(
                pa.table(
                    {
                        "campaign_id": list(self.campaigns),
                        "name": list(self.campaigns.values()),
                        "modified": [self.campaign_versions.get(c) for c in self.campaigns],
                    },
                    schema=CAMPAIGNS,
                ),
                target / "campaigns.parquet",
            )
            for kind, index in self.indexes.items():
                index.save(target / "index" / kind)
            previous = self.generation_path
            for name, sidecar in self.sidecars.items():
                sidecar.save(target / name, previous / name if previous is not None else None)
            by_type = self.indexed_count()
            state = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "server": self.server,
                "generation": generation,
                "checkpoints": self.checkpoints,
                "collections": self.collections,
                "last_fetch": self.last_fetch,
                "reconciled_at": isoformat_z(self.reconciled_at) if self.reconciled_at else None,
                "counts": {
                    "contributions": len(self._store),
                    "signals_indexed": sum(by_type.values()),
                    "by_type": by_type,
                },
            }
            tmp = self.directory / f".{STATE_FILE}.{generation}.tmp"
            tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            os.replace(tmp, self.directory / STATE_FILE)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        self.generation = generation
        for old in self.directory.glob("gen-*"):
            if old.name != generation and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)


def _entry_ids(index: SignalIndex) -> list[str]:
    # Only the ids: decoding every value (10M PDQ hashes to hex) would cost seconds.
    return index.entry_id_list() if isinstance(index, SegmentedIndex) else index.entries()[1]


def read_state(directory: Path) -> dict[str, Any]:
    """``state.json`` of an index directory; DataError naming the file if absent or foreign."""
    path = Path(directory) / STATE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError(
            "no match index here (state.json missing); run `vigil match fetch` first", file=str(path)
        ) from exc
    except (OSError, ValueError) as exc:
        raise DataError(f"unreadable match index state: {exc}", file=str(path)) from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise DataError("not a Vigil match index", file=str(path), expected=f"format {FORMAT!r}")
    if state.get("format_version") != FORMAT_VERSION:
        raise DataError(
            f"match index format version {state.get('format_version')!r} is not supported",
            file=str(path),
            expected=str(FORMAT_VERSION),
        )
    generation = state.get("generation")
    if not isinstance(generation, str) or not (Path(directory) / generation).is_dir():
        raise DataError(f"match index generation {generation!r} is missing", file=str(path))
    return state


def open_index(directory: Path, *, create: bool = False, settings: Settings | None = None) -> MatchIndex:
    """Load the index in ``directory``; with ``create``, an empty one if there is none yet.
    Contributions and index segments are memory-mapped: nothing is rebuilt or decoded."""
    directory = Path(directory)
    if create and not (directory / STATE_FILE).exists():
        return MatchIndex(directory=directory, settings=settings)
    state = read_state(directory)
    generation = directory / state["generation"]
    reconciled = state.get("reconciled_at")
    index = MatchIndex(
        directory=directory,
        server=state.get("server"),
        checkpoints=dict(state.get("checkpoints") or {}),
        collections=dict(state.get("collections") or {}),
        last_fetch=state.get("last_fetch"),
        generation=state["generation"],
        settings=settings,
        reconciled_at=parse_instant(reconciled) if isinstance(reconciled, str) else None,
    )
    parts = generation / "contributions"
    index._store = ContributionStore.open(parts if parts.is_dir() else generation)
    for row in _read_parquet(generation / "campaigns.parquet", CAMPAIGNS).to_pylist():
        index.campaigns[row["campaign_id"]] = row["name"]
        if row["modified"] is not None:
            index.campaign_versions[row["campaign_id"]] = row["modified"]
    index_root = generation / "index"
    if index_root.is_dir():
        for sub in sorted(index_root.iterdir()):
            loaded = load_index(sub)
            name = loaded.signal_type.name
            get_signal_type(name)  # a type this Vigil knows
            if settings is not None:
                # Thresholds come from the settings in force now, not from when the index was built.
                wanted = new_index(name, settings=settings)
                if wanted.threshold != loaded.threshold:
                    wanted.add_many(*loaded.entries())
                    loaded = wanted
            index.indexes[name] = loaded
    return index


def _read_parquet(path: Path, schema: pa.Schema) -> pa.Table:
    try:
        table = pq.read_table(str(path))
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"cannot read match index file: {exc}", file=str(path)) from exc
    for name in schema.names:
        if name not in table.column_names:
            raise DataError("missing column of a match index file", file=str(path), column=name)
    return table.select(schema.names).cast(schema)


@contextmanager
def locked(directory: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold the directory's advisory lock: exclusive for a fetch, shared for readers. Conflict if a
    fetch is already running (we do not wait: a nightly job must not pile up behind another)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_FILE, "a+") as handle:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise Conflict(f"match index {directory} is in use by another fetch or run") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
