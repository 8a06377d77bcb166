"""The member's record of received contributions, kept columnar and updated by deltas.

At 10M contributions a Python object per contribution costs ~10 GB and rewriting the whole record
per fetch costs minutes. So the record is *log-structured*, like the PDQ index's segments:

* **Parts**: immutable Arrow IPC files (``CONTRIBUTIONS`` schema), memory-mapped on open, each with
  two lookup tables saved beside it: the rows sorted by a 64-bit hash of ``stix_id`` and of
  ``signal_id`` (``.npy``: sorted keys, then row numbers). A lookup hashes the asked ids, finds their
  runs with ``searchsorted`` and checks the strings, so it costs O(k log n), not a scan.
* A **live mask** per part (the only file rewritten per save): a row stops being live when a newer
  version of its contribution arrives or the contribution is forgotten.
* The **overlay**: records received or changed since the index was opened, as Python objects.
  A save writes them as one new part; older parts are hard-linked into the new generation, never
  rewritten. Parts are merged geometrically (the newest into the one before it once it holds a
  quarter of its live rows), so there are O(log n) of them and each row is rewritten O(log n) times.

Every id whose contribution changed is remembered as *touched* (its signal id), so that
:meth:`vigil.match.state.MatchIndex.reconcile` re-examines only those signals.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vigil.core.errors import DataError
from vigil.core.files import link_or_copy

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
PARTS_FILE = "parts.json"
LEGACY_FILE = "contributions.parquet"  # one Parquet file per generation (format of earlier versions)
MERGE_RATIO = 4
KEYS = ("stix_id", "signal_id")

# A fixed pseudo-random odd multiplier per byte position (positions past 256 reuse them: the hash
# only narrows the search, the strings are always compared).
_POSITION_MULTIPLIERS = np.random.default_rng(0x5EED).integers(1, 2**63, 256, dtype=np.uint64) * np.uint64(
    2
) + np.uint64(1)
_HASH_CHUNK = 1 << 18  # strings hashed per vectorized step (~100 MB of temporaries)


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


RECORD_FIELDS = [f.name for f in fields(ContributionRecord)]


def hash_strings(values: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.uint64]:
    """A stable 64-bit hash of each string, vectorized over the Arrow buffers (no Python loop):
    a position-weighted sum of the bytes, mixed with the length by splitmix64's finalizer."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], pa.large_string())
    array = values.cast(pa.large_string())
    n = len(array)
    out = np.empty(n, dtype=np.uint64)
    if not n:
        return out
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[array.offset : array.offset + n + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    with np.errstate(over="ignore"):
        for start in range(0, n, _HASH_CHUNK):
            stop = min(n, start + _HASH_CHUNK)
            lo, hi = int(offsets[start]), int(offsets[stop])
            lengths = np.diff(offsets[start : stop + 1])
            position = np.arange(hi - lo, dtype=np.int64)
            position -= np.repeat(offsets[start:stop] - lo, lengths)
            weighted = (data[lo:hi].astype(np.uint64) + np.uint64(1)) * _POSITION_MULTIPLIERS[position & 255]
            sums = np.concatenate([np.zeros(1, np.uint64), np.cumsum(weighted, dtype=np.uint64)])
            h = sums[offsets[start + 1 : stop + 1] - lo] - sums[offsets[start:stop] - lo]
            h ^= lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
            h ^= h >> np.uint64(30)
            h *= np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(27)
            h *= np.uint64(0x94D049BB133111EB)
            h ^= h >> np.uint64(31)
            out[start:stop] = h
    return out


def records_table(records: Iterable[ContributionRecord]) -> pa.Table:
    # Column by column: dataclasses.fields() per record cost most of a save at 100k contributions.
    listed = list(records)
    return pa.table(
        {name: [getattr(r, name) for r in listed] for name in RECORD_FIELDS}, schema=CONTRIBUTIONS
    )


def column_values(table: pa.Table, name: str) -> list[Any]:
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


def records_of(table: pa.Table) -> list[ContributionRecord]:
    columns = [column_values(table, name) for name in RECORD_FIELDS]
    return [ContributionRecord(*values) for values in zip(*columns, strict=True)]


@dataclass
class _Lookup:
    """Rows sorted by the hash of one key column: ``keys`` sorted, ``rows`` the row numbers."""

    keys: npt.NDArray[np.uint64]
    rows: npt.NDArray[Any]

    @classmethod
    def build(cls, column: pa.ChunkedArray | pa.Array) -> _Lookup:
        hashes = hash_strings(column)
        order = np.argsort(hashes, kind="stable").astype(np.uint32 if len(hashes) < 2**32 else np.int64)
        return cls(hashes[order], order)


@dataclass
class _Part:
    table: pa.Table
    lookups: dict[str, _Lookup]
    live: npt.NDArray[np.bool_]
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    # Immutable files once saved or loaded (role -> path): linked into the next generation.
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return int(self.table.num_rows)

    @property
    def live_count(self) -> int:
        return int(np.count_nonzero(self.live))

    @classmethod
    def of_table(cls, table: pa.Table) -> _Part:
        return cls(
            table, {key: _Lookup.build(table.column(key)) for key in KEYS}, np.ones(table.num_rows, bool)
        )

    def find(self, key: str, wanted: pa.Array, hashes: npt.NDArray[np.uint64]) -> tuple[Any, Any]:
        """(positions in ``wanted``, live rows) whose ``key`` column equals the wanted value."""
        lookup = self.lookups[key]
        lo = np.searchsorted(lookup.keys, hashes, side="left")
        hi = np.searchsorted(lookup.keys, hashes, side="right")
        sizes = hi - lo
        if not sizes.any():
            return np.zeros(0, np.intp), np.zeros(0, np.intp)
        asked = np.repeat(np.arange(len(hashes)), sizes)
        at = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes - lo, sizes)
        rows = lookup.rows[at].astype(np.intp)
        keep = self.live[rows]
        asked, rows = asked[keep], rows[keep]
        if len(rows):
            same = pc.equal(self.table.column(key).take(pa.array(rows)), wanted.take(pa.array(asked)))
            ok = np.asarray(same.to_numpy(zero_copy_only=False), dtype=bool)
            asked, rows = asked[ok], rows[ok]
        return asked, rows


class ContributionStore(MutableMapping[str, ContributionRecord]):
    """Contributions by STIX id: memory-mapped parts plus an overlay of changed records.

    Reading a record with ``store[id]`` (or ``get``) moves it into the overlay, so that changing it
    in place is saved and reconciled; ``values()``/``items()`` and the bulk readers hand out copies."""

    def __init__(self, records: Iterable[ContributionRecord] = ()) -> None:
        self._parts: list[_Part] = []
        self._overlay: dict[str, ContributionRecord] = {}
        self._absent: set[str] = set()  # ids ``load`` found in no part (until the next save)
        self.touched: set[str] = set()  # signal ids whose contributions changed since the last reconcile
        for record in records:
            self[record.stix_id] = record

    # --- lookups ----------------------------------------------------------------------------------

    def _find(self, key: str, ids: list[str]) -> list[tuple[int, npt.NDArray[Any], npt.NDArray[Any]]]:
        """Per part: (part index, positions in ``ids``, live rows) where the key column equals."""
        if not ids or not self._parts:
            return []
        wanted = pa.array(ids, pa.string())
        hashes = hash_strings(wanted)
        out = []
        for p, part in enumerate(self._parts):
            asked, rows = part.find(key, wanted, hashes)
            if len(rows):
                out.append((p, asked, rows))
        return out

    def _materialize(self, part: _Part, rows: npt.NDArray[Any]) -> list[ContributionRecord]:
        return records_of(part.table.take(pa.array(rows)))

    def load(self, stix_ids: Iterable[str]) -> None:
        """Bring the records of ``stix_ids`` held in parts into the overlay (one batched lookup),
        so that the per-record methods that follow touch no part."""
        missing = [s for s in dict.fromkeys(stix_ids) if s not in self._overlay and s not in self._absent]
        for p, _, rows in self._find("stix_id", missing):
            part = self._parts[p]
            for record in self._materialize(part, rows):
                self._overlay[record.stix_id] = record
            part.live[rows] = False
        self._absent.update(s for s in missing if s not in self._overlay)

    def by_signal(self, signal_ids: Iterable[str]) -> dict[str, list[ContributionRecord]]:
        """Every record held of each of ``signal_ids`` (read-only copies for part rows)."""
        wanted = set(signal_ids)
        out: dict[str, list[ContributionRecord]] = {}
        for record in self._overlay.values():
            if record.signal_id in wanted:
                out.setdefault(record.signal_id, []).append(record)
        for p, _, rows in self._find("signal_id", list(wanted)):
            for record in self._materialize(self._parts[p], rows):
                out.setdefault(record.signal_id, []).append(record)
        return out

    def signal_ids(self) -> set[str]:
        """Every signal id on record (a full reconcile's work list)."""
        out = {r.signal_id for r in self._overlay.values()}
        for part in self._parts:
            column = part.table.column("signal_id")
            chosen = column.filter(pa.array(part.live)) if not part.live.all() else column
            out.update(pc.unique(chosen).to_pylist())
        return out

    def signals_expiring(self, start: datetime, end: datetime) -> set[str]:
        """Signals with a contribution whose ``valid_until`` lies in (start, end]: their state may
        have changed between two reconciles at these times."""
        out = {
            r.signal_id
            for r in self._overlay.values()
            if r.valid_until is not None and start < r.valid_until <= end
        }
        for part in self._parts:
            until = part.table.column("valid_until")
            inside = pc.and_(
                pc.greater(until, pa.scalar(start, TIMESTAMP)),
                pc.less_equal(until, pa.scalar(end, TIMESTAMP)),
            )
            mask = np.asarray(pc.fill_null(inside, False).to_numpy(zero_copy_only=False), dtype=bool)
            rows = np.flatnonzero(mask & part.live)
            if len(rows):
                out.update(part.table.column("signal_id").take(pa.array(rows)).to_pylist())
        return out

    def forget_except(self, kept: set[str]) -> int:
        """Drop every record whose STIX id is not in ``kept``; how many were dropped."""
        gone = [s for s in self._overlay if s not in kept]
        for stix_id in gone:
            self.touched.add(self._overlay.pop(stix_id).signal_id)
        dropped = len(gone)
        for part in self._parts:
            ids = part.table.column("stix_id").to_pylist()
            drop = np.fromiter((s not in kept for s in ids), bool, len(ids)) & part.live
            rows = np.flatnonzero(drop)
            if len(rows):
                self.touched.update(part.table.column("signal_id").take(pa.array(rows)).to_pylist())
                part.live[rows] = False
                dropped += len(rows)
        return dropped

    # --- the mapping ------------------------------------------------------------------------------

    def __getitem__(self, stix_id: str) -> ContributionRecord:
        record = self._overlay.get(stix_id)
        if record is None:
            if stix_id in self._absent:
                raise KeyError(stix_id)
            self.load([stix_id])
            record = self._overlay.get(stix_id)
            if record is None:
                raise KeyError(stix_id)
        self.touched.add(record.signal_id)  # it may be changed in place: reconcile looks at it
        return record

    def __contains__(self, stix_id: object) -> bool:
        if not isinstance(stix_id, str):
            return False
        if stix_id in self._overlay:
            return True
        return stix_id not in self._absent and bool(self._find("stix_id", [stix_id]))

    def __setitem__(self, stix_id: str, record: ContributionRecord) -> None:
        old = self._overlay.get(stix_id)
        if old is None and stix_id not in self._absent:
            for p, _, rows in self._find("stix_id", [stix_id]):
                part = self._parts[p]
                self.touched.update(part.table.column("signal_id").take(pa.array(rows)).to_pylist())
                part.live[rows] = False
        elif old is not None:
            self.touched.add(old.signal_id)
        self._overlay[stix_id] = record
        self.touched.add(record.signal_id)

    def put(self, record: ContributionRecord) -> None:
        """``store[record.stix_id] = record``."""
        self[record.stix_id] = record

    def __delitem__(self, stix_id: str) -> None:
        record = self[stix_id]
        del self._overlay[stix_id]
        self.touched.add(record.signal_id)

    def __len__(self) -> int:
        return len(self._overlay) + sum(part.live_count for part in self._parts)

    def __iter__(self) -> Iterator[str]:
        yield from list(self._overlay)
        for part in self._parts:
            rows = np.flatnonzero(part.live)
            yield from part.table.column("stix_id").take(pa.array(rows)).to_pylist()

    def values(self) -> Iterator[ContributionRecord]:  # type: ignore[override]
        """Every record (copies for part rows: change records through ``store[id]``)."""
        yield from list(self._overlay.values())
        for part in self._parts:
            rows = np.flatnonzero(part.live)
            for start in range(0, len(rows), 100_000):
                yield from self._materialize(part, rows[start : start + 100_000])

    def items(self) -> Iterator[tuple[str, ContributionRecord]]:  # type: ignore[override]
        for record in self.values():
            yield record.stix_id, record

    def append_table(self, table: pa.Table) -> None:
        """Add rows of contributions not held yet as a part at once (a bulk load; the caller
        reconciles them)."""
        self._parts.append(_Part.of_table(table.select(CONTRIBUTIONS.names).cast(CONTRIBUTIONS)))

    @property
    def parts(self) -> list[int]:
        """Live rows per part, oldest first, then the overlay's (for reports and tests)."""
        return [part.live_count for part in self._parts] + [len(self._overlay)]

    # --- persistence ------------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write the overlay as a new part and the live masks into ``directory`` (a new generation);
        link the other parts' immutable files from where they were last saved."""
        directory.mkdir(parents=True, exist_ok=True)
        if self._overlay:
            self._parts.append(_Part.of_table(records_table(self._overlay.values())))
            self._overlay = {}
        self._absent = set()  # the overlay's ids are in a part now
        self._parts = [p for p in self._parts if p.live.any()]
        while len(self._parts) > 1 and self._parts[-1].live_count * MERGE_RATIO >= self._parts[-2].live_count:
            self._parts[-2:] = [_merged(self._parts[-2:])]
        self._parts = [_merged([p]) if (p.rows - p.live_count) * 2 > p.rows else p for p in self._parts]
        described = []
        for part in self._parts:
            files = {}
            for role, write in _part_writers(part).items():
                target = directory / f"p-{part.token}.{role}"
                source = part.files.get(role)
                if source is None or not link_or_copy(source, target):
                    write(target)
                files[role] = target
            part.files = files
            live = directory / f"p-{part.token}.live.npy"
            np.save(live, part.live, allow_pickle=False)
            described.append({"token": part.token, "rows": part.rows, "live": part.live_count})
        tmp = directory / f".{PARTS_FILE}.tmp"
        tmp.write_text(json.dumps({"parts": described}, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, directory / PARTS_FILE)

    @classmethod
    def open(cls, directory: Path) -> ContributionStore:
        """The store saved in ``directory`` (memory-mapped), or one read from the Parquet file of
        earlier versions."""
        store = cls()
        listing = directory / PARTS_FILE
        if not listing.exists():
            legacy = directory / LEGACY_FILE
            if legacy.exists():
                table = _read_legacy(legacy)
                if table.num_rows:
                    store._parts.append(_Part.of_table(table))
            return store
        try:
            described = json.loads(listing.read_text(encoding="utf-8"))["parts"]
            for entry in described:
                token = str(entry["token"])
                files = {role: directory / f"p-{token}.{role}" for role in _ROLES}
                source = pa.memory_map(str(files["arrow"]), "r")
                table = pa.ipc.open_file(source).read_all()
                lookups = {
                    key: _Lookup(
                        np.load(files[f"{key}.keys.npy"], mmap_mode="r", allow_pickle=False),
                        np.load(files[f"{key}.rows.npy"], mmap_mode="r", allow_pickle=False),
                    )
                    for key in KEYS
                }
                live = np.array(np.load(directory / f"p-{token}.live.npy", allow_pickle=False), dtype=bool)
                if not (table.num_rows == len(live) == int(entry["rows"])) or any(
                    len(lk.keys) != table.num_rows for lk in lookups.values()
                ):
                    raise DataError(f"contribution part {token} has inconsistent files", file=str(directory))
                if not table.schema.equals(CONTRIBUTIONS):
                    raise DataError(f"contribution part {token} has another schema", file=str(files["arrow"]))
                store._parts.append(_Part(table, lookups, live, token, files))
        except (OSError, ValueError, KeyError, TypeError, pa.ArrowInvalid) as exc:
            raise DataError(f"cannot read the contribution record: {exc}", file=str(listing)) from exc
        return store


_ROLES = ("arrow", "stix_id.keys.npy", "stix_id.rows.npy", "signal_id.keys.npy", "signal_id.rows.npy")


def _part_writers(part: _Part) -> dict[str, Any]:
    def arrow(path: Path) -> None:
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, CONTRIBUTIONS) as writer:
            writer.write_table(part.table)

    def array(values: npt.NDArray[Any]) -> Any:
        def write(path: Path) -> None:
            with path.open("wb") as handle:
                np.save(handle, np.asarray(values), allow_pickle=False)

        return write

    writers: dict[str, Any] = {"arrow": arrow}
    for key in KEYS:
        writers[f"{key}.keys.npy"] = array(part.lookups[key].keys)
        writers[f"{key}.rows.npy"] = array(part.lookups[key].rows)
    return writers


def _merged(parts: list[_Part]) -> _Part:
    tables = [p.table.filter(pa.array(p.live)) if not p.live.all() else p.table for p in parts]
    table = pa.concat_tables(tables).combine_chunks() if len(tables) > 1 else tables[0].combine_chunks()
    return _Part.of_table(table)


def _read_legacy(path: Path) -> pa.Table:
    try:
        table = pq.read_table(str(path))
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"cannot read match index file: {exc}", file=str(path)) from exc
    for name in CONTRIBUTIONS.names:
        if name not in table.column_names:
            raise DataError("missing column of a match index file", file=str(path), column=name)
    return table.select(CONTRIBUTIONS.names).cast(CONTRIBUTIONS).combine_chunks()
