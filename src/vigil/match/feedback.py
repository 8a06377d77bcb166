"""Feedback and arrivals kept with the match index: what a fetch learns besides contributions.

The exchange serves every member's opinion of a signal (one current STIX ``opinion`` per member
and signal, a new version when it changes) and every sighting (a STIX ``sighting`` per report) in
the same collections as the contributions they point at. :class:`FeedbackLedger` keeps the latest
version of each, resolved to the signal id, so :meth:`FeedbackLedger.feedback` gives the
per-signal counts the decay score uses (:class:`vigil.match.decay.Feedback`):

=====================================  =================
STIX ``opinion``                       counted as
=====================================  =================
``strongly-agree``, ``agree``          confirmation
``disagree``                           dispute
``strongly-disagree``                  false positive
``neutral``                            kept, not counted
=====================================  =================

(the exchange writes confirmed -> strongly-agree, disputed -> disagree, false_positive ->
strongly-disagree: ``vigil.exchange.stix_export.OPINION_TO_STIX``). A member's changed opinion is
a new version of the same object, so it replaces the old one instead of adding to the counts.

:class:`ArrivalLog` remembers, per fetch, the signals that arrived (a new or changed active
contribution), so retroactive matching (:mod:`vigil.match.retro`) knows what is new since its
last run by arrival time, not by the source's own ``modified`` stamps.

Both are sidecars of the index (:class:`vigil.match.state.Sidecar`): saved in the generation
directory with the contributions and checkpoints, in one atomic switch; files that did not change
are hard-linked from the previous generation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from vigil.core.errors import DataError
from vigil.core.files import link_or_copy
from vigil.core.time import parse_instant, utcnow
from vigil.match.contributions import TIMESTAMP
from vigil.match.decay import Feedback
from vigil.match.state import MatchIndex

FEEDBACK_DIR = "feedback"
ARRIVALS_DIR = "arrivals"
ARRIVALS_KEPT_DAYS = 400  # arrivals older than this are dropped at the next save

OPINION_COUNTS: dict[str, str | None] = {
    "strongly-agree": "confirm",
    "agree": "confirm",
    "disagree": "dispute",
    "strongly-disagree": "false_positive",
    "neutral": None,
}

OPINIONS = pa.schema(
    [
        pa.field("opinion_id", pa.string(), nullable=False),
        pa.field("signal_id", pa.string(), nullable=False),
        pa.field("org_id", pa.string()),
        pa.field("opinion", pa.string(), nullable=False),
        pa.field("modified", TIMESTAMP, nullable=False),
    ]
)
SIGHTINGS = pa.schema(
    [
        pa.field("sighting_id", pa.string(), nullable=False),
        pa.field("signal_id", pa.string(), nullable=False),
        pa.field("org_id", pa.string()),
        pa.field("count", pa.int64(), nullable=False),
        pa.field("first_seen", TIMESTAMP),
        pa.field("last_seen", TIMESTAMP),
        pa.field("modified", TIMESTAMP, nullable=False),
    ]
)
ARRIVALS = pa.schema([pa.field("signal_id", pa.string(), nullable=False)])


@dataclass(frozen=True)
class SignalFeedback:
    """What the coalition said about one signal, as counted from the fetched objects."""

    confirmations: int = 0
    false_positives: int = 0
    disputes: int = 0
    neutral: int = 0
    sightings: int = 0  # sighting reports
    sighted: int = 0  # sum of their counts (posts or items seen)
    last_seen: datetime | None = None  # the latest ``last_seen`` a reporter claimed
    # When the latest sighting was reported: each sighting's ``modified`` (the exchange's time),
    # or its ``last_seen`` when earlier; a reporter's future-dated claim cannot keep a signal young.
    last_reported: datetime | None = None

    def as_decay_feedback(self) -> Feedback:
        return Feedback(self.confirmations, self.false_positives, self.disputes, self.last_reported)


def _read(path: Path, schema: pa.Schema) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    try:
        table = pq.read_table(str(path))
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"cannot read match index file: {exc}", file=str(path)) from exc
    missing = [n for n in schema.names if n not in table.column_names]
    if missing:
        raise DataError("missing column of a match index file", file=str(path), column=missing[0])
    return list(table.select(schema.names).cast(schema).to_pylist())


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return parse_instant(value)


class FeedbackLedger:
    """Opinions and sightings received, latest version of each, by signal. Attach to an index
    with :meth:`of_index` (it is then saved with it)."""

    def __init__(self, opinions: Iterable[dict[str, Any]] = (), sightings: Iterable[dict[str, Any]] = ()):
        # One current opinion per (author, signal), as at the exchange: an author's objects under
        # other ids (one posted as sent beside the exchange's own view of it, say) replace, never add.
        self.opinions: dict[tuple[str, str], dict[str, Any]] = {
            (r["org_id"], r["signal_id"]): r for r in opinions if r.get("org_id")
        }
        self.sightings: dict[tuple[str, str], dict[str, Any]] = {
            (r["sighting_id"], r["signal_id"]): r for r in sightings
        }
        self.changed = False

    @classmethod
    def of_index(cls, index: MatchIndex) -> FeedbackLedger:
        """The ledger saved with ``index`` (empty if none), registered to be saved with it."""
        existing = index.sidecars.get(FEEDBACK_DIR)
        if isinstance(existing, FeedbackLedger):
            return existing
        base = index.generation_path
        ledger = cls.of_generation(base) if base is not None else cls()
        index.sidecars[FEEDBACK_DIR] = ledger
        return ledger

    @classmethod
    def of_generation(cls, generation: Path) -> FeedbackLedger:
        """The ledger saved in a generation directory, read only (for ``vigil match status``)."""
        return cls(
            _read(generation / FEEDBACK_DIR / "opinions.parquet", OPINIONS),
            _read(generation / FEEDBACK_DIR / "sightings.parquet", SIGHTINGS),
        )

    # -- receiving ------------------------------------------------------------------------------

    def opinion(self, obj: dict[str, Any], signal_ids: Iterable[str]) -> str:
        """Store an ``opinion`` version about ``signal_ids``: ``new``, ``updated``, ``stale``,
        ``removed`` (a revoked version) or ``unknown`` (an opinion value STIX does not define)."""
        value = str(obj.get("opinion"))
        if value not in OPINION_COUNTS:
            return "unknown"
        author = obj.get("created_by_ref")
        if not isinstance(author, str) or not author:
            return "unknown"  # an opinion nobody signed counts for no one
        modified = parse_instant(str(obj.get("modified") or obj.get("created")))
        outcome = "stale"
        for signal_id in signal_ids:
            key = (author, signal_id)
            held = self.opinions.get(key)
            if held is not None and modified <= held["modified"]:
                continue
            self.changed = True
            if obj.get("revoked"):
                self.opinions.pop(key, None)
                outcome = "removed"
                continue
            outcome = "new" if held is None else "updated"
            self.opinions[key] = {
                "opinion_id": str(obj["id"]),
                "signal_id": signal_id,
                "org_id": obj.get("created_by_ref"),
                "opinion": value,
                "modified": modified,
            }
        return outcome

    def sighting(self, obj: dict[str, Any], signal_id: str) -> str:
        """Store a ``sighting`` version of ``signal_id``: ``new``, ``updated``, ``stale`` or ``removed``."""
        modified = parse_instant(str(obj.get("modified") or obj.get("created")))
        key = (str(obj["id"]), signal_id)
        held = self.sightings.get(key)
        if held is not None and modified <= held["modified"]:
            return "stale"
        self.changed = True
        if obj.get("revoked"):
            self.sightings.pop(key, None)
            return "removed"
        count = obj.get("count", 1)
        self.sightings[key] = {
            "sighting_id": key[0],
            "signal_id": signal_id,
            "org_id": obj.get("created_by_ref"),
            "count": int(count) if isinstance(count, int) and not isinstance(count, bool) else 1,
            "first_seen": _time(obj.get("first_seen")),
            "last_seen": _time(obj.get("last_seen")) or _time(obj.get("first_seen")),
            "modified": modified,
        }
        return "new" if held is None else "updated"

    def forget_except(self, kept: set[str]) -> int:
        """Drop opinions and sightings whose STIX id is not in ``kept`` (after a full re-sync)."""
        before = len(self.opinions) + len(self.sightings)
        self.opinions = {k: v for k, v in self.opinions.items() if k[0] in kept}
        self.sightings = {k: v for k, v in self.sightings.items() if k[0] in kept}
        dropped = before - len(self.opinions) - len(self.sightings)
        self.changed = self.changed or bool(dropped)
        return dropped

    # -- reading --------------------------------------------------------------------------------

    def counts(self) -> dict[str, SignalFeedback]:
        """Per-signal counts of the opinions (current ones) and sightings received."""
        tallies: dict[str, dict[str, Any]] = {}
        for row in self.opinions.values():
            tally = tallies.setdefault(row["signal_id"], {})
            name = OPINION_COUNTS.get(row["opinion"]) or "neutral"
            tally[name] = tally.get(name, 0) + 1
        for row in self.sightings.values():
            tally = tallies.setdefault(row["signal_id"], {})
            tally["sightings"] = tally.get("sightings", 0) + 1
            tally["sighted"] = tally.get("sighted", 0) + row["count"]
            seen = row["last_seen"]
            if seen is not None and (tally.get("last_seen") is None or seen > tally["last_seen"]):
                tally["last_seen"] = seen
            reported = min(seen, row["modified"]) if seen is not None else row["modified"]
            if tally.get("last_reported") is None or reported > tally["last_reported"]:
                tally["last_reported"] = reported
        return {
            signal_id: SignalFeedback(
                confirmations=t.get("confirm", 0),
                false_positives=t.get("false_positive", 0),
                disputes=t.get("dispute", 0),
                neutral=t.get("neutral", 0),
                sightings=t.get("sightings", 0),
                sighted=t.get("sighted", 0),
                last_seen=t.get("last_seen"),
                last_reported=t.get("last_reported"),
            )
            for signal_id, t in tallies.items()
        }

    def feedback(self) -> dict[str, Feedback]:
        """What ``match_posts(..., feedback=...)`` takes per signal id: the opinion counts and when
        the latest sighting was reported (it restarts the decay age)."""
        return {
            signal_id: c.as_decay_feedback()
            for signal_id, c in self.counts().items()
            if c.confirmations or c.false_positives or c.disputes or c.last_reported is not None
        }

    # -- persistence ----------------------------------------------------------------------------

    def save(self, target: Path, previous: Path | None) -> None:
        target.mkdir(parents=True, exist_ok=True)
        for name, rows, schema in (
            ("opinions.parquet", self.opinions, OPINIONS),
            ("sightings.parquet", self.sightings, SIGHTINGS),
        ):
            if not self.changed and previous is not None and link_or_copy(previous / name, target / name):
                continue
            ordered = [rows[k] for k in sorted(rows)]
            pq.write_table(pa.Table.from_pylist(ordered, schema=schema), target / name)


def _stamp(at: datetime) -> str:
    return at.strftime("%Y%m%dT%H%M%S%fZ")


def _unstamp(name: str) -> datetime | None:
    try:
        return datetime.strptime(name.split(".", 1)[0], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


class ArrivalLog:
    """Which signals arrived at each fetch: one small Parquet file per fetch in the generation's
    ``arrivals/`` (named by the fetch time), carried forward by hard links."""

    def __init__(self, base: Path | None) -> None:
        self.base = base
        self.pending: tuple[datetime, set[str]] | None = None

    @classmethod
    def of_index(cls, index: MatchIndex) -> ArrivalLog:
        existing = index.sidecars.get(ARRIVALS_DIR)
        if isinstance(existing, ArrivalLog):
            return existing
        base = index.generation_path
        log = cls(base / ARRIVALS_DIR if base is not None else None)
        index.sidecars[ARRIVALS_DIR] = log
        return log

    def record(self, at: datetime, signal_ids: Iterable[str]) -> None:
        """The signals that arrived in the fetch made at ``at`` (saved with the index)."""
        self.pending = (at, set(signal_ids))

    def fetches(self) -> list[datetime]:
        """Times of the fetches on record, oldest first."""
        if self.base is None or not self.base.is_dir():
            return []
        return sorted(t for t in (_unstamp(p.name) for p in self.base.glob("*.parquet")) if t is not None)

    def since(self, after: datetime | None) -> tuple[set[str], datetime | None]:
        """Signals that arrived in fetches after ``after`` (every fetch on record if None), and
        the time of the latest such fetch (the next checkpoint; None if there was none)."""
        found: set[str] = set()
        latest: datetime | None = None
        if self.base is None:
            return found, latest
        for at in self.fetches():
            if after is not None and at <= after:
                continue
            rows = _read(self.base / f"{_stamp(at)}.parquet", ARRIVALS)
            found.update(r["signal_id"] for r in rows)
            latest = at
        return found, latest

    def save(self, target: Path, previous: Path | None) -> None:
        target.mkdir(parents=True, exist_ok=True)
        horizon = utcnow() - timedelta(days=ARRIVALS_KEPT_DAYS)
        if previous is not None and previous.is_dir():
            for path in previous.glob("*.parquet"):
                at = _unstamp(path.name)
                if at is not None and at >= horizon:
                    link_or_copy(path, target / path.name)
        if self.pending is not None and self.pending[1]:  # a fetch that brought nothing leaves no file
            at, ids = self.pending
            table = pa.table({"signal_id": sorted(ids)}, schema=ARRIVALS)
            pq.write_table(table, target / f"{_stamp(at)}.parquet")
        self.base = target  # what a later ``since`` on this object reads
