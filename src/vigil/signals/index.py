"""Indexes of signal values: the interface every index has, and the two trivial ones every type can use.

An index maps signal values to *entry ids* (for the exchange: signal ids) and answers "which stored
entries match this value?". ``ExactIndex`` is a hash map for types compared by equality;
``LinearIndex`` compares against every stored value with the type's own ``compare``, so a new
distance type works before anyone writes a fast index for it (``vigil.match.index`` has the fast
ones: multi-index hashing for PDQ, banded LSH for MinHash).

On disk an index is a directory: ``manifest.json`` (which index, which type, threshold, which data
files) and data files in Arrow IPC or ``.npy`` (never pickle: loading an index must not run code).
Saving writes fresh data files first and replaces the manifest last, so a crash leaves the previous
index readable.
"""

from __future__ import annotations

import json
import os
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self

import pyarrow as pa

from vigil.core.errors import DataError, InputError

MANIFEST = "manifest.json"
FORMAT = "vigil-signal-index"
FORMAT_VERSION = 1


class Outcome(Protocol):
    """What comparing two values gives (``vigil.signals.base.Comparison`` is one)."""

    @property
    def matched(self) -> bool: ...

    @property
    def distance(self) -> float: ...


class IndexedType(Protocol):
    """What an index needs of a signal type.

    Indexes see a type through this protocol, not ``vigil.signals.base.SignalType``: the type picks
    its default index (``SignalType.new_index``), so this module must not import the types back
    (that made the cycle base -> index -> registry -> base).
    """

    @property
    def name(self) -> str: ...

    def check_threshold(self, threshold: float | None) -> float | None: ...

    def normalize_many(self, values: Sequence[str]) -> list[str]: ...

    def key(self, value: str) -> str: ...

    def compare(self, a: str, b: str, threshold: float | None = None) -> Outcome: ...


@dataclass(frozen=True)
class IndexMatch:
    """One stored entry that matched a query value."""

    entry_id: str
    value: str
    distance: float


class SignalIndex(ABC):
    """Values of one signal type, searchable by that type's comparison."""

    kind: ClassVar[str]  # the index implementation's stable name, written into the manifest

    def __init__(self, signal_type: IndexedType, threshold: float | None) -> None:
        self.signal_type = signal_type
        self.threshold = threshold

    @abstractmethod
    def add_many(self, values: Sequence[str], entry_ids: Sequence[str]) -> None:
        """Add ``values[i]`` under ``entry_ids[i]``. Values are normalized; an invalid one raises
        InputError before anything is added."""

    def add(self, value: str, entry_id: str) -> None:
        self.add_many([value], [entry_id])

    @abstractmethod
    def remove(self, entry_ids: Iterable[str]) -> int:
        """Forget every value stored under these ids (revoked signals); returns how many were removed."""

    @abstractmethod
    def query_many(self, values: Sequence[str], *, normalized: bool = False) -> list[list[IndexMatch]]:
        """For each query value, the matching entries, nearest first.

        Values are normalized with the type's rules first, unless the caller passes
        ``normalized=True`` to promise they already are (values from ``derive_post_signals`` or from
        an index are): that skips a pass that otherwise costs about a tenth of matching. Passing a
        value that is not in normal form with ``normalized=True`` is the caller's bug: it may match
        nothing or raise."""

    def query(self, value: str) -> list[IndexMatch]:
        return self.query_many([value])[0]

    @abstractmethod
    def __len__(self) -> int:
        """Number of stored (value, entry id) pairs."""

    @abstractmethod
    def entries(self) -> tuple[list[str], list[str]]:
        """All stored (values, entry ids), for saving and for rebuilding another index kind."""

    def save(self, directory: Path) -> None:
        values, ids = self.entries()
        write_index_dir(
            directory,
            self._manifest(),
            {"entries.arrow": lambda path: write_entries(path, values, ids)},
        )

    @classmethod
    def load(cls, directory: Path, signal_type: IndexedType) -> Self:
        """The index saved in ``directory``, holding values of ``signal_type`` (the type named in
        its manifest: ``vigil.match.index.load_index`` looks it up)."""
        manifest = read_manifest(directory, cls.kind)
        if manifest.get("signal_type") != signal_type.name:
            raise DataError(
                f"index holds {manifest.get('signal_type')!r} signals, not {signal_type.name!r}",
                file=str(Path(directory) / MANIFEST),
            )
        index = cls(signal_type, manifest.get("threshold"))
        values, ids = read_entries(directory / manifest["files"]["entries.arrow"])
        index.add_many(values, ids)
        return index

    def _manifest(self, **extra: Any) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "index": self.kind,
            "signal_type": self.signal_type.name,
            "threshold": self.threshold,
            "count": len(self),
            **extra,
        }

    def _check_lengths(self, values: Sequence[str], entry_ids: Sequence[str]) -> None:
        if len(values) != len(entry_ids):
            raise InputError(f"got {len(values)} values but {len(entry_ids)} entry ids")


class ExactIndex(SignalIndex):
    """A hash map from a type's ``key`` to the entries stored under it. O(1) add, query and remove."""

    kind = "exact"

    def __init__(self, signal_type: IndexedType, threshold: float | None = None) -> None:
        super().__init__(signal_type, signal_type.check_threshold(threshold))
        self._by_key: dict[str, dict[str, str]] = {}  # key -> {entry id: value}
        self._keys_of: dict[str, set[str]] = {}  # entry id -> keys, for removal
        self._count = 0

    def add_many(self, values: Sequence[str], entry_ids: Sequence[str]) -> None:
        self._check_lengths(values, entry_ids)
        normalized = self.signal_type.normalize_many(values)
        for value, entry_id in zip(normalized, entry_ids, strict=True):
            key = self.signal_type.key(value)
            bucket = self._by_key.setdefault(key, {})
            self._count += entry_id not in bucket
            bucket[entry_id] = value
            self._keys_of.setdefault(entry_id, set()).add(key)

    def remove(self, entry_ids: Iterable[str]) -> int:
        removed = 0
        for entry_id in entry_ids:
            for key in self._keys_of.pop(entry_id, ()):
                bucket = self._by_key[key]
                del bucket[entry_id]
                removed += 1
                self._count -= 1
                if not bucket:
                    del self._by_key[key]
        return removed

    def query_many(self, values: Sequence[str], *, normalized: bool = False) -> list[list[IndexMatch]]:
        out = []
        for value in values if normalized else self.signal_type.normalize_many(values):
            bucket = self._by_key.get(self.signal_type.key(value), {})
            out.append([IndexMatch(entry_id, stored, 0.0) for entry_id, stored in bucket.items()])
        return out

    def __len__(self) -> int:
        return self._count

    def entries(self) -> tuple[list[str], list[str]]:
        values, ids = [], []
        for bucket in self._by_key.values():
            for entry_id, value in bucket.items():
                values.append(value)
                ids.append(entry_id)
        return values, ids


class LinearIndex(SignalIndex):
    """Compares a query with every stored value using the type's ``compare``: O(n) per query.

    Correct for any type by construction, which makes it the reference the fast indexes are tested
    against, and the default of a new distance type.
    """

    kind = "linear"

    def __init__(self, signal_type: IndexedType, threshold: float | None = None) -> None:
        super().__init__(signal_type, signal_type.check_threshold(threshold))
        self._values: list[str] = []
        self._ids: list[str] = []

    def add_many(self, values: Sequence[str], entry_ids: Sequence[str]) -> None:
        self._check_lengths(values, entry_ids)
        self._values.extend(self.signal_type.normalize_many(values))
        self._ids.extend(entry_ids)

    def remove(self, entry_ids: Iterable[str]) -> int:
        gone = set(entry_ids)
        keep = [i for i, entry_id in enumerate(self._ids) if entry_id not in gone]
        removed = len(self._ids) - len(keep)
        self._values = [self._values[i] for i in keep]
        self._ids = [self._ids[i] for i in keep]
        return removed

    def query_many(self, values: Sequence[str], *, normalized: bool = False) -> list[list[IndexMatch]]:
        out = []
        for query in values if normalized else self.signal_type.normalize_many(values):
            found = []
            for value, entry_id in zip(self._values, self._ids, strict=True):
                result = self.signal_type.compare(query, value, self.threshold)
                if result.matched:
                    found.append(IndexMatch(entry_id, value, result.distance))
            found.sort(key=lambda m: (m.distance, m.entry_id))
            out.append(found)
        return out

    def __len__(self) -> int:
        return len(self._values)

    def entries(self) -> tuple[list[str], list[str]]:
        return list(self._values), list(self._ids)


# --- on-disk layout -------------------------------------------------------------------------------


def write_entries(path: Path, values: Sequence[str], entry_ids: Sequence[str]) -> None:
    table = pa.table({"value": pa.array(values, pa.string()), "entry_id": pa.array(entry_ids, pa.string())})
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_entries(path: Path) -> tuple[list[str], list[str]]:
    try:
        with pa.memory_map(str(path), "r") as source:
            table = pa.ipc.open_file(source).read_all()
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"cannot read index entries: {exc}", file=str(path)) from exc
    for column in ("value", "entry_id"):
        if column not in table.column_names:
            raise DataError("missing column of an index entries file", file=str(path), column=column)
    return table.column("value").to_pylist(), table.column("entry_id").to_pylist()


def write_index_dir(
    directory: Path, manifest: dict[str, Any], writers: Mapping[str, Callable[[Path], None]]
) -> dict[str, str]:
    """Write data files under fresh names, then atomically replace the manifest, then drop old files.
    Returns the file name written for each role."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    try:  # the files the manifest being replaced lists (their roles may differ from this save's)
        previous = json.loads((directory / MANIFEST).read_text(encoding="utf-8")).get("files") or {}
        listed = {name for name in previous.values() if isinstance(name, str) and "/" not in name}
    except (OSError, ValueError, AttributeError):
        listed = set()
    token = uuid.uuid4().hex[:12]
    files: dict[str, str] = {}
    for role, write in writers.items():
        stem, dot, suffix = role.partition(".")
        name = f"{stem}-{token}{dot}{suffix}"
        write(directory / name)
        files[role] = name
    manifest = {**manifest, "files": files}
    tmp = directory / f".{MANIFEST}.{token}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, directory / MANIFEST)
    keep = set(files.values()) | {MANIFEST}
    for old in directory.iterdir():
        # Only files an earlier save wrote (role-token.ext); anything else in the folder is not ours.
        if old.name not in keep and (
            old.name in listed or any(old.name.startswith(role.partition(".")[0] + "-") for role in writers)
        ):
            old.unlink(missing_ok=True)
    return files


def read_manifest(directory: Path, expected_index: str | None = None) -> dict[str, Any]:
    """The manifest of the index saved in ``directory``; DataError if absent, foreign or inconsistent."""
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError("no saved signal index here (manifest.json missing)", file=str(path)) from exc
    except (OSError, ValueError) as exc:
        raise DataError(f"unreadable index manifest: {exc}", file=str(path)) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError("not a Vigil signal index manifest", file=str(path), expected=f"format {FORMAT!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise DataError(
            f"index format version {manifest.get('format_version')!r} is not supported",
            file=str(path),
            expected=str(FORMAT_VERSION),
        )
    if expected_index is not None and manifest.get("index") != expected_index:
        raise DataError(
            f"this is a {manifest.get('index')!r} index", file=str(path), expected=repr(expected_index)
        )
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise DataError("index manifest lists no data files", file=str(path), column="files")
    for name in files.values():
        if not isinstance(name, str) or "/" in name or not (Path(directory) / name).is_file():
            raise DataError(f"index data file {name!r} is missing", file=str(path))
    return manifest
