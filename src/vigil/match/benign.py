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
as it is on the exchange. The indexes themselves are the match index's classes
(:func:`vigil.match.index.new_index`), so near-matching follows the same thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vigil.core.errors import InputError, NotFound
from vigil.core.settings import Settings
from vigil.core.time import isoformat_z, utcnow
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
"""


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

    # -- matching ---------------------------------------------------------------------------------

    def build(self) -> dict[str, SignalIndex]:
        """One index per type, with the match index's classes and thresholds."""
        if self._indexes is None:
            indexes: dict[str, SignalIndex] = {}
            for entry in self.entries():
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
