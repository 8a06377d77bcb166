"""Shared machinery of the fast indexes: a main segment with search tables, a small pending segment
searched by brute force, tombstones for removals, and the on-disk layout.

Adding values appends them to the pending segment (O(1)); once it outgrows ``merge_at`` rows (or a
quarter of the main segment), the next query folds it into the main segment and rebuilds the
tables (a linear-time radix sort), so a stream of small additions costs amortized O(1) table work
per value instead of a rebuild each time. Removing marks rows dead; dead rows are filtered from
results and dropped at the next merge or save. Both segments store fixed-width rows of one numpy
dtype (PDQ: 32 bytes; MinHash: 128 uint32), written to disk as ``.npy`` with entry ids in an Arrow
file beside it.

Public methods hold one re-entrant lock, so an index may be shared between threads (a query can
merge segments, so queries serialize; each query batch uses the index's own worker threads).
"""

from __future__ import annotations

import functools
import threading
from abc import abstractmethod
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from vigil.core.errors import DataError, InputError
from vigil.signals.base import SignalType
from vigil.signals.index import IndexMatch, SignalIndex, read_manifest, write_index_dir

Hits = tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.float64]]
# (query position, row position, distance) triples.


_P = ParamSpec("_P")
_R = TypeVar("_R")
_I = TypeVar("_I", bound="SegmentedIndex")


def _locked(method: Callable[Concatenate[_I, _P], _R]) -> Callable[Concatenate[_I, _P], _R]:
    """Run ``method`` holding the index's lock: a query may merge segments, so even readers write."""

    def wrapper(self: _I, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._lock:
            return method(self, *args, **kwargs)

    functools.update_wrapper(wrapper, method)
    return wrapper


def empty_hits() -> Hits:
    return np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0, np.float64)


class SegmentedIndex(SignalIndex):
    """Rows of a fixed-width array, with ``entry_ids`` beside them. Subclasses provide encoding,
    table building and the two searches (through the tables, and brute force)."""

    dtype: np.dtype[Any]
    width: int  # row width, in elements of ``dtype``
    merge_at: int = 4096  # pending rows above which the next query merges (or a quarter of main)

    def __init__(self, signal_type: SignalType, threshold: float | None = None) -> None:
        super().__init__(signal_type, signal_type.check_threshold(threshold))
        self._lock = threading.RLock()
        self._main = np.zeros((0, self.width), dtype=self.dtype)
        # Arrow keeps a million ids in ~10 MB where a list of str objects takes ~60 MB.
        self._main_ids: pa.Array = pa.array([], pa.large_string())
        self._alive = np.zeros(0, dtype=bool)
        self._pending: list[npt.NDArray[Any]] = []
        self._pending_ids: list[str] = []
        self._dead = 0
        self._build_tables()

    # --- what subclasses provide ------------------------------------------------------------------

    @abstractmethod
    def encode(self, values: Sequence[str]) -> npt.NDArray[Any]:
        """Normalized string values as an (n, width) array."""

    @abstractmethod
    def decode(self, rows: npt.NDArray[Any]) -> list[str]:
        """The inverse of ``encode``."""

    @abstractmethod
    def _build_tables(self) -> None:
        """(Re)build the search tables of ``self._main``."""

    @abstractmethod
    def _search_main(self, queries: npt.NDArray[Any]) -> Hits:
        """Matches of ``queries`` among main rows (dead ones included), through the tables."""

    @abstractmethod
    def _search_brute(self, queries: npt.NDArray[Any], rows: npt.NDArray[Any]) -> Hits:
        """Matches of ``queries`` among ``rows`` by comparing every pair."""

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

    @_locked
    def remove(self, entry_ids: Iterable[str]) -> int:
        if self._pending_ids:
            self._merge(flush=True)  # rows are addressed in the main segment only
        wanted = pa.array(list(dict.fromkeys(entry_ids)), pa.large_string())
        if not len(wanted) or not len(self._main_ids):
            return 0
        # One vectorized pass over the ids (~20 ms per million) instead of a Python dict of them.
        hit = pc.is_in(self._main_ids, value_set=wanted).to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(hit & self._alive)
        self._alive[rows] = False
        self._dead += len(rows)
        return len(rows)

    def __len__(self) -> int:
        return len(self._main_ids) - self._dead + len(self._pending_ids)

    def entries(self) -> tuple[list[str], list[str]]:
        codes, ids = self.live_rows()
        return self.decode(codes), ids

    @_locked
    def compact(self) -> None:
        """Fold pending rows into the main segment and drop removed ones now (rebuilds the tables).

        Queries do this by themselves when it pays; call it after a bulk load to pay the cost upfront.
        """
        self._merge(flush=True)

    @_locked
    def live_rows(self) -> tuple[npt.NDArray[Any], list[str]]:
        """All live rows and their entry ids, main then pending."""
        self._merge(flush=True)
        return self._main, self._main_ids.to_pylist()

    def _merge(self, flush: bool = False) -> None:
        """Fold pending rows into the main segment and drop dead rows, when worth it (or ``flush``)."""
        pending = len(self._pending_ids)
        big_pending = pending > max(self.merge_at, len(self._main_ids) // 4)
        many_dead = self._dead * 4 > len(self._main_ids)
        if not (big_pending or many_dead or (flush and (pending or self._dead))):
            return
        main, ids = self._main, self._main_ids
        if self._dead:
            keep = np.flatnonzero(self._alive)
            main = main[keep]
            ids = ids.take(pa.array(keep))
        self._main = np.concatenate([main, *self._pending]) if self._pending else main
        self._main_ids = pa.concat_arrays([ids, pa.array(self._pending_ids, pa.large_string())])
        self._alive = np.ones(len(self._main_ids), dtype=bool)
        self._pending, self._pending_ids = [], []
        self._dead = 0
        self._build_tables()

    # --- searching --------------------------------------------------------------------------------

    @_locked
    def search_encoded(self, queries: npt.NDArray[Any]) -> Hits:
        """Matches of encoded queries: (query positions, row positions, distances), sorted by query
        then distance, without duplicates. ``entry_ids(rows)`` names the rows; row positions are
        valid until the index is next changed."""
        queries = np.ascontiguousarray(queries, dtype=self.dtype)
        if queries.ndim != 2 or queries.shape[1] != self.width:
            raise InputError(f"expected an (n, {self.width}) {self.dtype} query array, got {queries.shape}")
        self._merge()
        parts = [self._search_main(queries)] if len(self._main) else []
        if self._pending_ids:
            if len(self._pending) > 1:
                self._pending = [np.concatenate(self._pending)]  # once, not at every query
            q, r, d = self._search_brute(queries, self._pending[0])
            parts.append((q, r + len(self._main), d))
        if not parts:
            return empty_hits()
        q = np.concatenate([p[0] for p in parts])
        r = np.concatenate([p[1] for p in parts])
        d = np.concatenate([p[2] for p in parts])
        if self._dead:
            alive = np.ones(len(r), dtype=bool)
            in_main = r < len(self._main)
            alive[in_main] = self._alive[r[in_main]]
            q, r, d = q[alive], r[alive], d[alive]
        # A row can be found through several tables (several close chunks or bands): keep one.
        total = len(self._main) + len(self._pending_ids)
        _, first = np.unique(q.astype(np.int64) * max(total, 1) + r, return_index=True)
        q, r, d = q[first], r[first], d[first]
        order = np.lexsort((r, d, q))
        return q[order], r[order], d[order]

    @_locked
    def entry_ids(self, rows: npt.NDArray[np.intp] | Sequence[int]) -> list[str]:
        """Entry ids of row positions returned by ``search_encoded``."""
        positions = np.asarray(rows, dtype=np.intp)
        split = len(self._main_ids)
        in_main = positions < split
        out: list[str] = [""] * len(positions)
        main_at = np.flatnonzero(in_main)
        for at, name in zip(
            main_at.tolist(), self._main_ids.take(pa.array(positions[main_at])).to_pylist(), strict=True
        ):
            out[at] = name
        for at in np.flatnonzero(~in_main).tolist():
            out[at] = self._pending_ids[int(positions[at]) - split]
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
        split = len(self._main)
        out = np.empty((len(rows), self.width), dtype=self.dtype)
        in_main = rows < split
        out[in_main] = self._main[rows[in_main]]
        if not in_main.all():
            out[~in_main] = np.concatenate(self._pending)[rows[~in_main] - split]
        return self.decode(out)

    # --- persistence ------------------------------------------------------------------------------

    @_locked
    def save(self, directory: Path) -> None:
        self._merge(flush=True)
        codes, ids = self._main, self._main_ids

        def write_codes(path: Path) -> None:
            with path.open("wb") as handle:
                np.save(handle, codes, allow_pickle=False)

        def write_ids(path: Path) -> None:
            table = pa.table({"entry_id": ids})
            with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)

        write_index_dir(
            directory,
            self._manifest(dtype=str(np.dtype(self.dtype)), width=self.width),
            {"codes.npy": write_codes, "ids.arrow": write_ids},
        )

    @classmethod
    def load(cls, directory: Path) -> Self:
        from vigil.signals.registry import get_signal_type

        manifest = read_manifest(directory, cls.kind)
        index = cls(get_signal_type(manifest["signal_type"]), manifest.get("threshold"))
        codes_path = Path(directory) / manifest["files"]["codes.npy"]
        ids_path = Path(directory) / manifest["files"]["ids.arrow"]
        try:
            codes = np.load(codes_path, allow_pickle=False)
            # Read into memory (not a memory map): the ids outlive the open file.
            with pa.OSFile(str(ids_path), "rb") as source:
                column = pa.ipc.open_file(source).read_all().column("entry_id")
            ids = column.combine_chunks().cast(pa.large_string())
        except (OSError, ValueError, KeyError, pa.ArrowInvalid) as exc:
            raise DataError(f"cannot read saved index: {exc}", file=str(directory)) from exc
        if codes.dtype != index.dtype or codes.ndim != 2 or codes.shape[1] != index.width:
            raise DataError(
                f"index codes have shape {codes.shape} of {codes.dtype}",
                file=str(codes_path),
                expected=f"(n, {index.width}) {index.dtype}",
            )
        if len(codes) != len(ids) or len(ids) != manifest.get("count"):
            raise DataError(
                f"index has {len(codes)} codes, {len(ids)} ids, manifest says {manifest.get('count')}",
                file=str(directory),
            )
        index._main, index._main_ids = codes, ids
        index._alive = np.ones(len(ids), dtype=bool)
        index._build_tables()
        return index
