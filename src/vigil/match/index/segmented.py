"""Shared machinery of the fast indexes: immutable segments with their own search tables, a small
pending buffer searched by brute force, tombstones for removals, and the on-disk layout.

Log-structured, so that additions and revocations never rebuild a big index:

* Added rows go to the *pending* buffer (O(1)). Once it holds more than ``merge_at`` rows it is
  *sealed* into a new segment whose tables are built for its own size; then, while the newest
  segment holds at least a quarter of the live rows of the one before it, the two are merged (the
  merged rows get fresh tables). Segment sizes so fall geometrically, there are O(log n) of them,
  and each row is rebuilt O(log n) times over its life; adding 100,000 rows to a 10M-row index
  builds tables for about 100,000 rows, not 10M.
* Removing marks rows dead (a boolean per row); results skip them at once. A segment is rebuilt
  from its live rows only when more than a quarter of it is dead.
* ``save`` writes each segment once: its rows, entry ids and tables are immutable files, so a later
  save into another directory (the match index's next generation) hard-links them instead of
  writing them again; only the small ``alive`` masks are rewritten. ``load`` memory-maps the rows
  and tables (``.npy``) and the ids (Arrow IPC): nothing is rebuilt, and the first query is answered
  as soon as the pages it touches are read.

Public methods hold one re-entrant lock, so an index may be shared between threads (each query
batch uses the index's own worker threads).
"""

from __future__ import annotations

import functools
import threading
from abc import abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from vigil.core.errors import DataError, InputError
from vigil.core.files import link_or_copy
from vigil.signals.base import SignalType
from vigil.signals.index import IndexedType, IndexMatch, SignalIndex, read_manifest, write_index_dir

Hits = tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.float64]]
# (query position, row position, distance) triples.

SEGMENTS_FORMAT = 2  # manifest "layout": 2 = segments with saved tables; absent = one codes file

_P = ParamSpec("_P")
_R = TypeVar("_R")
_I = TypeVar("_I", bound="SegmentedIndex")


def _locked(method: Callable[Concatenate[_I, _P], _R]) -> Callable[Concatenate[_I, _P], _R]:
    """Run ``method`` holding the index's lock: adding may seal and merge segments."""

    def wrapper(self: _I, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._lock:
            return method(self, *args, **kwargs)

    functools.update_wrapper(wrapper, method)
    return wrapper


def empty_hits() -> Hits:
    return np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0, np.float64)


@dataclass
class Segment:
    """Immutable rows with their entry ids and search tables, plus a mutable alive mask."""

    rows: npt.NDArray[Any]  # (n, width); a read-only memory map once saved or loaded
    ids: pa.Array  # large_string, n
    tables: Any  # what the index's ``_build_tables`` made for these rows
    alive: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    dead: int = 0
    # Files holding rows, ids and tables (role -> path) once saved or loaded: linked, not rewritten.
    files: dict[str, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.alive) != len(self.rows):
            self.alive = np.ones(len(self.rows), dtype=bool)

    @property
    def live(self) -> int:
        return len(self.rows) - self.dead


class SegmentedIndex(SignalIndex):
    """Rows of a fixed-width array, with ``entry_ids`` beside them. Subclasses provide encoding,
    table building and the two searches (through the tables, and brute force)."""

    dtype: np.dtype[Any]
    width: int  # row width, in elements of ``dtype``
    merge_at: int = 4096  # pending rows above which the buffer becomes a segment
    merge_ratio: int = 4  # merge the newest segment into the previous one once it is 1/ratio its size

    def __init__(self, signal_type: SignalType, threshold: float | None = None) -> None:
        super().__init__(signal_type, signal_type.check_threshold(threshold))
        self._lock = threading.RLock()
        self._segments: list[Segment] = []
        self._pending: list[npt.NDArray[Any]] = []
        self._pending_ids: list[str] = []

    # --- what subclasses provide ------------------------------------------------------------------

    @abstractmethod
    def encode(self, values: Sequence[str]) -> npt.NDArray[Any]:
        """Normalized string values as an (n, width) array."""

    @abstractmethod
    def decode(self, rows: npt.NDArray[Any]) -> list[str]:
        """The inverse of ``encode``."""

    @abstractmethod
    def _build_tables(self, rows: npt.NDArray[Any]) -> Any:
        """Search tables for ``rows``."""

    @abstractmethod
    def _search_tables(self, tables: Any, rows: npt.NDArray[Any], queries: npt.NDArray[Any]) -> Hits:
        """Matches of ``queries`` among ``rows`` (dead ones included), through ``tables``."""

    @abstractmethod
    def _search_brute(self, queries: npt.NDArray[Any], rows: npt.NDArray[Any]) -> Hits:
        """Matches of ``queries`` among ``rows`` by comparing every pair."""

    def _scan_only(self, rows: int) -> bool:
        """Whether ``rows`` rows are searched by a plain scan (no tables to build: merging is free)."""
        return False

    def _table_arrays(self, tables: Any) -> dict[str, npt.NDArray[Any]]:
        """Arrays to save for ``tables`` (name -> array), and JSON metadata via ``_table_meta``.
        The default saves none: tables are rebuilt on load."""
        return {}

    def _table_meta(self, tables: Any) -> dict[str, Any]:
        return {}

    def _tables_from_arrays(
        self, rows: npt.NDArray[Any], arrays: dict[str, npt.NDArray[Any]], meta: dict[str, Any]
    ) -> Any:
        """Tables from saved arrays (memory maps); the default rebuilds them."""
        return self._build_tables(rows)

    # --- adding and removing ----------------------------------------------------------------------

    def add_many(self, values: Sequence[str], entry_ids: Sequence[str]) -> None:
        self._check_lengths(values, entry_ids)
        codes = self.encode(self.signal_type.normalize_many(values))
        self.add_encoded(codes, entry_ids)

    @_locked
    def add_encoded(self, codes: npt.NDArray[Any], entry_ids: Sequence[str]) -> None:
        """Add rows already in the index's array form (the fast path for bulk loads)."""
        codes = np.ascontiguousarray(codes, dtype=self.dtype)
        if codes.ndim != 2 or codes.shape[1] != self.width or len(codes) != len(entry_ids):
            raise InputError(
                f"expected an (n, {self.width}) {self.dtype} array and n entry ids, "
                f"got {codes.shape} and {len(entry_ids)} ids"
            )
        if not len(codes):
            return
        self._pending.append(codes)
        self._pending_ids.extend(entry_ids)
        if len(self._pending_ids) > self.merge_at:
            self.seal()

    @_locked
    def seal(self) -> None:
        """Turn the pending buffer into a segment with tables (then merge small segments as the
        size policy says). Cheap: it builds tables for the new rows only, not the whole index."""
        if not self._pending_ids:
            return
        rows = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        ids = pa.array(self._pending_ids, pa.large_string())
        self._pending, self._pending_ids = [], []
        self._segments.append(Segment(rows, ids, self._build_tables(rows)))
        while len(self._segments) > 1:
            newest, previous = self._segments[-1], self._segments[-2]
            if newest.live * self.merge_ratio < previous.live and not self._scan_only(
                previous.live + newest.live
            ):
                break
            self._segments[-2:] = [self._merged([previous, newest])]

    def _merged(self, segments: Sequence[Segment]) -> Segment:
        """One segment holding the live rows of ``segments``, with fresh tables."""
        rows, ids = [], []
        for seg in segments:
            if seg.dead:
                keep = np.flatnonzero(seg.alive)
                rows.append(np.asarray(seg.rows)[keep])
                ids.append(seg.ids.take(pa.array(keep)))
            else:
                rows.append(np.asarray(seg.rows))
                ids.append(seg.ids)
        merged = np.concatenate(rows) if len(rows) > 1 else np.array(rows[0])
        return Segment(merged, pa.concat_arrays(ids), self._build_tables(merged))

    @_locked
    def remove(self, entry_ids: Iterable[str]) -> int:
        self.seal()  # rows are addressed in segments only
        wanted = pa.array(list(dict.fromkeys(entry_ids)), pa.large_string())
        if not len(wanted):
            return 0
        removed = 0
        for at, seg in enumerate(self._segments):
            # One vectorized pass over the ids (~20 ms per million) instead of a Python dict of them.
            hit = pc.is_in(seg.ids, value_set=wanted).to_numpy(zero_copy_only=False)
            rows = np.flatnonzero(hit & seg.alive)
            if not len(rows):
                continue
            seg.alive[rows] = False
            seg.dead += len(rows)
            removed += len(rows)
            if seg.dead * 4 > len(seg.rows):
                self._segments[at] = self._merged([seg])  # mostly dead: rebuild from the live rows
        self._segments = [seg for seg in self._segments if len(seg.rows)]
        return removed

    @_locked
    def contains(self, entry_ids: Iterable[str]) -> set[str]:
        """Which of ``entry_ids`` the index holds (one vectorized pass over the ids per segment)."""
        wanted = pa.array(list(dict.fromkeys(entry_ids)), pa.large_string())
        if not len(wanted):
            return set()
        found: set[str] = set()
        for seg in self._segments:
            hit = pc.is_in(seg.ids, value_set=wanted).to_numpy(zero_copy_only=False) & seg.alive
            rows = np.flatnonzero(hit)
            if len(rows):
                found.update(seg.ids.take(pa.array(rows)).to_pylist())
        asked = set(wanted.to_pylist())
        found.update(i for i in self._pending_ids if i in asked)
        return found

    def __len__(self) -> int:
        return sum(seg.live for seg in self._segments) + len(self._pending_ids)

    @property
    def segment_sizes(self) -> list[int]:
        """Live rows per segment, oldest first, then the pending buffer's."""
        return [seg.live for seg in self._segments] + [len(self._pending_ids)]

    def entries(self) -> tuple[list[str], list[str]]:
        codes, ids = self.live_rows()
        return self.decode(codes), ids

    @_locked
    def entry_id_list(self) -> list[str]:
        """Entry ids of every live row (without decoding the values)."""
        out: list[str] = []
        for seg in self._segments:
            ids = seg.ids.filter(pa.array(seg.alive)) if seg.dead else seg.ids
            out.extend(ids.to_pylist())
        return out + list(self._pending_ids)

    @_locked
    def compact(self) -> None:
        """Fold everything into one segment and drop removed rows (rebuilds all tables: only worth
        it after a bulk load, never needed for correctness)."""
        self.seal()
        if len(self._segments) > 1 or any(seg.dead for seg in self._segments):
            self._segments = [self._merged(self._segments)]

    @_locked
    def live_rows(self) -> tuple[npt.NDArray[Any], list[str]]:
        """All live rows and their entry ids, segments then pending."""
        parts = [
            np.asarray(seg.rows)[seg.alive] if seg.dead else np.asarray(seg.rows) for seg in self._segments
        ]
        parts.extend(self._pending)
        rows = np.concatenate(parts) if parts else np.zeros((0, self.width), dtype=self.dtype)
        return rows, self.entry_id_list()

    # --- searching --------------------------------------------------------------------------------

    def _offsets(self) -> npt.NDArray[np.intp]:
        """Start of each segment, then of the pending buffer, in the virtual row numbering."""
        sizes = [len(seg.rows) for seg in self._segments]
        return np.concatenate([[0], np.cumsum(sizes, dtype=np.intp)]).astype(np.intp)

    @_locked
    def search_encoded(self, queries: npt.NDArray[Any]) -> Hits:
        """Matches of encoded queries: (query positions, row positions, distances), sorted by query
        then distance, without duplicates. ``entry_ids(rows)`` names the rows; row positions are
        valid until the index is next changed."""
        queries = np.ascontiguousarray(queries, dtype=self.dtype)
        if queries.ndim != 2 or queries.shape[1] != self.width:
            raise InputError(f"expected an (n, {self.width}) {self.dtype} query array, got {queries.shape}")
        offsets = self._offsets()
        parts: list[Hits] = []
        for seg, start in zip(self._segments, offsets.tolist(), strict=False):
            q, r, d = self._search_tables(seg.tables, seg.rows, queries)
            if seg.dead and len(r):
                alive = seg.alive[r]
                q, r, d = q[alive], r[alive], d[alive]
            if len(q):
                # A row can be found through several tables (several close chunks or bands): keep one.
                _, first = np.unique(q.astype(np.int64) * len(seg.rows) + r, return_index=True)
                parts.append((q[first], r[first] + start, d[first]))
        if self._pending_ids:
            if len(self._pending) > 1:
                self._pending = [np.concatenate(self._pending)]  # once, not at every query
            q, r, d = self._search_brute(queries, self._pending[0])
            parts.append((q, r + int(offsets[-1]), d))
        if not parts:
            return empty_hits()
        q = np.concatenate([p[0] for p in parts])
        r = np.concatenate([p[1] for p in parts])
        d = np.concatenate([p[2] for p in parts])
        order = np.lexsort((r, d, q))
        return q[order], r[order], d[order]

    @_locked
    def entry_ids(self, rows: npt.NDArray[np.intp] | Sequence[int]) -> list[str]:
        """Entry ids of row positions returned by ``search_encoded``."""
        positions = np.asarray(rows, dtype=np.intp)
        offsets = self._offsets()
        which = np.searchsorted(offsets, positions, side="right") - 1
        out: list[str] = [""] * len(positions)
        for s, seg in enumerate(self._segments):
            at = np.flatnonzero(which == s)
            if len(at):
                names = seg.ids.take(pa.array(positions[at] - offsets[s])).to_pylist()
                for i, name in zip(at.tolist(), names, strict=True):
                    out[i] = name
        for i in np.flatnonzero(which == len(self._segments)).tolist():
            out[i] = self._pending_ids[int(positions[i] - offsets[-1])]
        return out

    @_locked
    def query_many(self, values: Sequence[str], *, normalized: bool = False) -> list[list[IndexMatch]]:
        q, r, d = self.search_encoded(
            self.encode(list(values) if normalized else self.signal_type.normalize_many(values))
        )
        names = self.entry_ids(r)
        rows = self._row_values(r)
        out: list[list[IndexMatch]] = [[] for _ in values]
        for qi, name, dist, value in zip(q.tolist(), names, d.tolist(), rows, strict=True):
            out[qi].append(IndexMatch(name, value, dist))
        return out

    def _row_values(self, rows: npt.NDArray[np.intp]) -> list[str]:
        if not len(rows):
            return []
        offsets = self._offsets()
        which = np.searchsorted(offsets, rows, side="right") - 1
        out = np.empty((len(rows), self.width), dtype=self.dtype)
        for s, seg in enumerate(self._segments):
            at = np.flatnonzero(which == s)
            if len(at):
                out[at] = np.asarray(seg.rows)[rows[at] - offsets[s]]
        at = np.flatnonzero(which == len(self._segments))
        if len(at):
            out[at] = np.concatenate(self._pending)[rows[at] - offsets[-1]]
        return self.decode(out)

    # --- persistence ------------------------------------------------------------------------------

    @_locked
    def save(self, directory: Path) -> None:
        self.seal()
        directory = Path(directory)
        writers: dict[str, Callable[[Path], None]] = {}
        described: list[dict[str, Any]] = []
        saved_roles: list[dict[str, str]] = []
        for s, seg in enumerate(self._segments):
            arrays = {"codes": seg.rows, **self._table_arrays(seg.tables)}
            roles = {}
            for name, array in arrays.items():
                role = f"s{s}{name}.npy"
                writers[role] = _array_writer(array, seg.files.get(name))
                roles[name] = role
            writers[f"s{s}ids.arrow"] = _ids_writer(seg.ids, seg.files.get("ids"))
            writers[f"s{s}alive.npy"] = _array_writer(seg.alive, None)  # changes: always written
            saved_roles.append(roles)
            described.append({"rows": len(seg.rows), "arrays": roles, "meta": self._table_meta(seg.tables)})
        files = write_index_dir(
            directory,
            self._manifest(
                dtype=str(np.dtype(self.dtype)),
                width=self.width,
                layout=SEGMENTS_FORMAT,
                segments=described,
            ),
            writers,
        )
        # From now on the segments are backed by the files just written (hard links, when possible,
        # of the ones they came from): the next save into another directory links them again.
        for s, seg in enumerate(self._segments):
            for name, role in saved_roles[s].items():
                seg.files[name] = directory / files[role]
            seg.files["ids"] = directory / files[f"s{s}ids.arrow"]

    @classmethod
    def load(cls, directory: Path, signal_type: IndexedType | None = None) -> Self:
        from vigil.signals.registry import get_signal_type

        directory = Path(directory)
        manifest = read_manifest(directory, cls.kind)
        resolved = get_signal_type(manifest["signal_type"])
        if signal_type is not None and signal_type.name != resolved.name:
            raise DataError(
                f"index holds {resolved.name!r} signals, not {signal_type.name!r}",
                file=str(directory / "manifest.json"),
            )
        index = cls(resolved, manifest.get("threshold"))
        files: dict[str, str] = manifest["files"]
        try:
            if manifest.get("layout") == SEGMENTS_FORMAT:
                for s, described in enumerate(manifest["segments"]):
                    arrays = {
                        name: np.load(directory / files[role], mmap_mode="r", allow_pickle=False)
                        for name, role in described["arrays"].items()
                    }
                    rows = arrays.pop("codes")
                    index._check_rows(rows, directory / files[described["arrays"]["codes"]])
                    ids = _read_ids(directory / files[f"s{s}ids.arrow"])
                    alive = np.array(np.load(directory / files[f"s{s}alive.npy"], allow_pickle=False))
                    if not (len(rows) == len(ids) == len(alive) == described["rows"]):
                        raise DataError(
                            f"segment {s} has {len(rows)} codes, {len(ids)} ids, {len(alive)} flags",
                            file=str(directory),
                        )
                    seg = Segment(
                        rows, ids, index._tables_from_arrays(rows, arrays, described.get("meta", {}))
                    )
                    seg.alive = alive.astype(bool)
                    seg.dead = int(len(alive) - np.count_nonzero(seg.alive))
                    seg.files = {name: directory / files[role] for name, role in described["arrays"].items()}
                    seg.files["ids"] = directory / files[f"s{s}ids.arrow"]
                    index._segments.append(seg)
            else:  # one codes file and one ids file (format of earlier versions): build the tables
                codes = np.load(directory / files["codes.npy"], allow_pickle=False)
                index._check_rows(codes, directory / files["codes.npy"])
                ids = _read_ids(directory / files["ids.arrow"])
                if len(codes) != len(ids):
                    raise DataError(f"index has {len(codes)} codes, {len(ids)} ids", file=str(directory))
                if len(codes):
                    index._segments.append(Segment(codes, ids, index._build_tables(codes)))
        except (OSError, ValueError, KeyError, TypeError, pa.ArrowInvalid) as exc:
            raise DataError(f"cannot read saved index: {exc}", file=str(directory)) from exc
        if len(index) != manifest.get("count"):
            raise DataError(
                f"index has {len(index)} live codes, manifest says {manifest.get('count')}",
                file=str(directory),
            )
        return index

    def _check_rows(self, rows: npt.NDArray[Any], path: Path) -> None:
        if rows.dtype != self.dtype or rows.ndim != 2 or rows.shape[1] != self.width:
            raise DataError(
                f"index codes have shape {rows.shape} of {rows.dtype}",
                file=str(path),
                expected=f"(n, {self.width}) {self.dtype}",
            )


def _array_writer(array: npt.NDArray[Any], source: Path | None) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        if source is not None and link_or_copy(source, path):
            return
        with path.open("wb") as handle:
            np.save(handle, np.asarray(array), allow_pickle=False)

    return write


def _ids_writer(ids: pa.Array, source: Path | None) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        if source is not None and link_or_copy(source, path):
            return
        table = pa.table({"entry_id": ids})
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)

    return write


def _read_ids(path: Path) -> pa.Array:
    # Memory-mapped: the ids stay on disk (page cache) until a query names them.
    source = pa.memory_map(str(path), "r")
    column = pa.ipc.open_file(source).read_all().column("entry_id")
    ids = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return ids.cast(pa.large_string())
