"""The persisted match index: what a member fetched from the exchange, and the indexes built from it.

An index directory holds::

    DIR/state.json                 manifest: format, server, per-collection checkpoints, current generation
    DIR/gen-<token>/contributions.parquet   one row per STIX contribution object (its latest version)
    DIR/gen-<token>/campaigns.parquet       campaigns seen (id, name)
    DIR/gen-<token>/index/<type>/           one saved SignalIndex per signal type (entry id = signal id)
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vigil.core.errors import Conflict, DataError
from vigil.core.settings import Settings
from vigil.core.time import utcnow
from vigil.match.index import load_index, new_index
from vigil.match.index.segmented import SegmentedIndex
from vigil.signals.base import DerivesFromPost
from vigil.signals.index import SignalIndex
from vigil.signals.registry import get_signal_type, signal_types

STATE_FILE = "state.json"
FORMAT = "vigil-match-index"
FORMAT_VERSION = 1
LOCK_FILE = ".lock"

TIMESTAMP = pa.timestamp("us", tz="UTC")
CONTRIBUTIONS = pa.schema(
    [
        pa.field("stix_id", pa.string(), nullable=False),
        pa.field("signal_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("value", pa.string(), nullable=False),
        pa.field("org_id", pa.string()),
        pa.field("tlp", pa.string()),
        pa.field("confidence", pa.int32()),
        pa.field("labels", pa.list_(pa.string())),
        pa.field("modified", TIMESTAMP, nullable=False),
        pa.field("valid_until", TIMESTAMP),
        pa.field("revoked", pa.bool_(), nullable=False),
        pa.field("collection", pa.string()),
        pa.field("campaign_id", pa.string()),
        pa.field("campaign_modified", TIMESTAMP),
    ]
)
CAMPAIGNS = pa.schema(
    [
        pa.field("campaign_id", pa.string(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("modified", TIMESTAMP),
    ]
)


def matchable_types() -> list[str]:
    """Signal types that can be found in posts (a narrative or technique cannot)."""
    return [name for name, t in signal_types().items() if isinstance(t, DerivesFromPost)]


@dataclass
class ContributionRecord:
    """The latest version we received of one member's contribution to a signal."""

    stix_id: str
    signal_id: str
    kind: str
    value: str
    org_id: str | None
    tlp: str | None  # TLP 2.0 level name; None when the object carried no TLP marking
    confidence: int | None
    labels: list[str]
    modified: datetime
    valid_until: datetime | None
    revoked: bool
    collection: str | None
    campaign_id: str | None = None
    # The campaign link's own version: it holds only while it is as new as the indicator (the exchange
    # re-sends the link with every indicator version that still has it).
    campaign_modified: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.valid_until is not None and self.valid_until <= now

    def active(self, now: datetime) -> bool:
        return not self.revoked and not self.expired(now)

    @property
    def campaign(self) -> str | None:
        if self.campaign_id is None or self.campaign_modified is None:
            return None
        return self.campaign_id if self.campaign_modified >= self.modified else None


@dataclass
class Reconciled:
    """What :meth:`MatchIndex.reconcile` changed in the indexes (counts of signals)."""

    added: int = 0
    removed_revoked: int = 0
    removed_expired: int = 0
    removed_invisible: int = 0  # no contribution left on record (dropped by a full re-sync)
    by_type: dict[str, int] = field(default_factory=dict)  # net change per type


@dataclass
class MatchIndex:
    """The in-memory form of an index directory. Open with :func:`open_index`, persist with ``save``."""

    directory: Path
    server: str | None = None
    checkpoints: dict[str, str] = field(default_factory=dict)  # collection id -> added_after
    collections: dict[str, str] = field(default_factory=dict)  # collection id -> alias
    contributions: dict[str, ContributionRecord] = field(default_factory=dict)  # by stix id
    campaigns: dict[str, str] = field(default_factory=dict)  # campaign id -> name
    campaign_versions: dict[str, datetime] = field(default_factory=dict)
    indexes: dict[str, SignalIndex] = field(default_factory=dict)  # signal type -> index
    last_fetch: str | None = None
    generation: str | None = None
    settings: Settings | None = None
    _indexed: dict[str, str] = field(default_factory=dict)  # signal id -> type, what the indexes hold

    # -- queries ------------------------------------------------------------------------------

    def active_contributions(self, now: datetime | None = None) -> dict[str, list[ContributionRecord]]:
        """Active contributions grouped by signal id (only matchable kinds)."""
        now = now or utcnow()
        kinds = set(matchable_types())
        out: dict[str, list[ContributionRecord]] = {}
        for record in self.contributions.values():
            if record.kind in kinds and record.active(now):
                out.setdefault(record.signal_id, []).append(record)
        return out

    def indexed_count(self) -> dict[str, int]:
        return {name: len(index) for name, index in sorted(self.indexes.items())}

    # -- changes ------------------------------------------------------------------------------

    def upsert(self, record: ContributionRecord) -> str:
        """Store a received contribution version: ``new``, ``updated``, or ``stale`` (an older or equal
        version than the one we hold, e.g. received again through another collection)."""
        old = self.contributions.get(record.stix_id)
        if old is None:
            self.contributions[record.stix_id] = record
            return "new"
        if record.modified <= old.modified:
            return "stale"
        record.campaign_id, record.campaign_modified = old.campaign_id, old.campaign_modified
        self.contributions[record.stix_id] = record
        return "updated"

    def link_campaign(self, indicator_id: str, campaign_id: str, modified: datetime) -> bool:
        """An ``indicates`` relationship version; False if we hold no such indicator."""
        record = self.contributions.get(indicator_id)
        if record is None:
            return False
        if record.campaign_modified is None or modified >= record.campaign_modified:
            record.campaign_id, record.campaign_modified = campaign_id, modified
        return True

    def forget_except(self, kept: set[str]) -> int:
        """Drop every contribution whose STIX id is not in ``kept`` (after a full re-sync: what the
        server no longer shows us); returns how many were dropped."""
        gone = [stix_id for stix_id in self.contributions if stix_id not in kept]
        for stix_id in gone:
            del self.contributions[stix_id]
        return len(gone)

    def set_campaign(self, campaign_id: str, name: str, modified: datetime) -> None:
        known = self.campaign_versions.get(campaign_id)
        if known is None or modified >= known:
            self.campaigns[campaign_id] = name
            self.campaign_versions[campaign_id] = modified

    def reconcile(self, now: datetime | None = None) -> Reconciled:
        """Make the indexes hold exactly the signals with an active contribution; say what changed.

        A signal leaves the index as *revoked* when every contribution we hold of it is revoked,
        otherwise as *expired* (its remaining contributions are past ``valid_until``).
        """
        now = now or utcnow()
        active = self.active_contributions(now)
        result = Reconciled()
        by_signal: dict[str, list[ContributionRecord]] = {}
        for record in self.contributions.values():
            by_signal.setdefault(record.signal_id, []).append(record)
        gone: dict[str, list[str]] = {}
        for signal_id, kind in list(self._indexed.items()):
            if signal_id in active:
                continue
            records = by_signal.get(signal_id, [])
            if not records:
                result.removed_invisible += 1
            elif all(r.revoked for r in records):
                result.removed_revoked += 1
            else:
                result.removed_expired += 1
            gone.setdefault(kind, []).append(signal_id)
            del self._indexed[signal_id]
        for kind, ids in gone.items():
            self.indexes[kind].remove(ids)
            result.by_type[kind] = result.by_type.get(kind, 0) - len(ids)
        fresh: dict[str, tuple[list[str], list[str]]] = {}
        for signal_id, records in active.items():
            if signal_id in self._indexed:
                continue
            kind, value = records[0].kind, records[0].value
            values, ids = fresh.setdefault(kind, ([], []))
            values.append(value)
            ids.append(signal_id)
        for kind, (values, ids) in fresh.items():
            self.index_for(kind).add_many(values, ids)
            for signal_id in ids:
                self._indexed[signal_id] = kind
            result.added += len(ids)
            result.by_type[kind] = result.by_type.get(kind, 0) + len(ids)
        return result

    def index_for(self, kind: str) -> SignalIndex:
        if kind not in self.indexes:
            self.indexes[kind] = new_index(kind, settings=self.settings)
        return self.indexes[kind]

    # -- persistence --------------------------------------------------------------------------

    def save(self) -> None:
        """Write a new generation, switch ``state.json`` to it atomically, then drop older ones."""
        self.directory.mkdir(parents=True, exist_ok=True)
        generation = f"gen-{uuid.uuid4().hex[:12]}"
        target = self.directory / generation
        target.mkdir()
        try:
            pq.write_table(
                _contributions_table(self.contributions.values()), target / "contributions.parquet"
            )
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
            state = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "server": self.server,
                "generation": generation,
                "checkpoints": self.checkpoints,
                "collections": self.collections,
                "last_fetch": self.last_fetch,
                "counts": {
                    "contributions": len(self.contributions),
                    "signals_indexed": len(self._indexed),
                    "by_type": self.indexed_count(),
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


_RECORD_FIELDS = [f.name for f in fields(ContributionRecord)]


def _contributions_table(records: Any) -> pa.Table:
    # Column by column: dataclasses.fields() per record cost most of a save at 100k contributions.
    listed = list(records)
    return pa.table(
        {name: [getattr(r, name) for r in listed] for name in _RECORD_FIELDS}, schema=CONTRIBUTIONS
    )


def _column_values(table: pa.Table, name: str) -> list[Any]:
    """A column as Python values, fast for the big ones: tz-aware timestamps convert ~50x faster
    as naive UTC then tagged, and lists of labels (mostly empty) from their flat values."""
    column = table.column(name).combine_chunks()
    if pa.types.is_timestamp(column.type) and column.type.tz is not None:
        naive = pc.cast(column, pa.timestamp(column.type.unit)).to_pylist()
        return [None if d is None else d.replace(tzinfo=UTC) for d in naive]
    if pa.types.is_list(column.type):
        offsets = column.offsets.to_numpy().tolist()
        flat = column.flatten().to_pylist()
        valid = column.is_valid().to_numpy(zero_copy_only=False).tolist()
        if not flat:
            return [[] if v else None for v in valid]
        return [flat[offsets[i] : offsets[i + 1]] if valid[i] else None for i in range(len(column))]
    values: list[Any] = column.to_pylist()
    return values


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
    """Load the index in ``directory``; with ``create``, an empty one if there is none yet."""
    directory = Path(directory)
    if create and not (directory / STATE_FILE).exists():
        return MatchIndex(directory=directory, settings=settings)
    state = read_state(directory)
    generation = directory / state["generation"]
    index = MatchIndex(
        directory=directory,
        server=state.get("server"),
        checkpoints=dict(state.get("checkpoints") or {}),
        collections=dict(state.get("collections") or {}),
        last_fetch=state.get("last_fetch"),
        generation=state["generation"],
        settings=settings,
    )
    table = _read_parquet(generation / "contributions.parquet", CONTRIBUTIONS)
    columns = [_column_values(table, name) for name in _RECORD_FIELDS]
    for values in zip(*columns, strict=True):
        record = ContributionRecord(*values)
        index.contributions[record.stix_id] = record
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
            # Only the ids: decoding every value (10M PDQ hashes to hex) would cost seconds.
            ids = loaded.entry_id_list() if isinstance(loaded, SegmentedIndex) else loaded.entries()[1]
            index.indexes[name] = loaded
            for signal_id in ids:
                index._indexed[signal_id] = name
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
