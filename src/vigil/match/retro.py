"""Retroactive matching: signals that just arrived, against the posts we already stored.

A nightly fetch brings signals shared today about content that may have circulated on our
platform for days. Matching every stored post against the whole index again would redo all of
yesterday's work; instead :func:`retro_match` builds a small index of the *new* signals only
(:func:`signals_since`: those with a contribution changed after the previous fetch) and streams
the stored posts of the last ``days`` days through it with the ordinary matcher. Time grows with
the posts read and memory with one batch plus the new signals' index, whatever the size of the
main index; the result is a normal ``matches.parquet``/``summary.parquet`` whose summary becomes
sightings (:func:`vigil.match.sightings.sightings_from_summary`, ``report_sightings``).

What is *new* is known by arrival: every fetch records the signals it brought (a new or changed
active contribution) in the index's :class:`vigil.match.feedback.ArrivalLog`. :func:`retro_arrivals`
(``vigil match retro``) takes the signals that arrived after its checkpoint (``DIR/retro.json``,
the time of the last fetch it covered; ``since`` overrides it), matches them, and moves the
checkpoint on only once the run is written, so a failed run is simply repeated.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from vigil.core.errors import DataError, InputError
from vigil.core.files import write_atomic
from vigil.core.progress import Progress
from vigil.core.time import parse_instant, utcnow
from vigil.match.benign import BenignBank
from vigil.match.matcher import BATCH_ROWS, MatchRun, match_posts
from vigil.match.quarantine import FloodGuard
from vigil.match.state import MatchIndex

DEFAULT_DAYS = 30
CHECKPOINT_FILE = "retro.json"


def signals_since(index: MatchIndex, since: datetime) -> set[str]:
    """Ids of the signals with an active contribution changed after ``since`` (new signals, and
    signals with a new contribution or version)."""
    return {
        signal_id
        for signal_id, records in index.active_contributions().items()
        if any(r.modified > since for r in records)
    }


def sub_index(index: MatchIndex, signal_ids: Collection[str], now: datetime | None = None) -> MatchIndex:
    """An in-memory index (never saved) holding only ``signal_ids``, with their contributions and
    campaign names, built with the same index classes and thresholds as ``index``."""
    wanted = set(signal_ids)
    small = MatchIndex(directory=index.directory, settings=index.settings)
    # One batched lookup of the wanted signals (the record is columnar; no pass over all of it).
    found = index.contributions.by_signal(wanted)
    small.contributions = {r.stix_id: r for records in found.values() for r in records}
    small.campaigns = dict(index.campaigns)
    small.reconcile(now)
    return small


def retro_match(
    posts: Path | Sequence[Path],
    index: MatchIndex,
    signal_ids: Collection[str],
    out_dir: Path,
    *,
    days: int = DEFAULT_DAYS,
    now: datetime | None = None,
    batch_rows: int = BATCH_ROWS,
    benign: BenignBank | None = None,
    guard: FloodGuard | None = None,
    progress: Progress | None = None,
) -> MatchRun:
    """Match the stored posts created in the last ``days`` days against ``signal_ids`` only."""
    if days < 1:
        raise InputError(f"days must be at least 1, got {days}", field="days")
    now = now or utcnow()
    small = sub_index(index, signal_ids, now)
    return match_posts(
        posts,
        small,
        out_dir,
        batch_rows=batch_rows,
        now=now,
        progress=progress,
        benign=benign,
        guard=guard,
        since=now - timedelta(days=days),
    )


def read_checkpoint(index_dir: Path) -> datetime | None:
    """The time of the last fetch a retroactive run covered (None: never ran)."""
    path = Path(index_dir) / CHECKPOINT_FILE
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))["checkpoint"]
        return parse_instant(value) if value else None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"unreadable retroactive matching checkpoint: {exc}", file=str(path)) from exc


@dataclass
class RetroRun:
    """A retroactive run over the signals that arrived since a checkpoint."""

    since: datetime | None  # arrivals after this fetch time (None: every fetch on record)
    signals: int  # signals that arrived and are still active
    checkpoint: datetime | None  # saved for the next run (the latest fetch covered)
    run: MatchRun | None  # None when nothing arrived


def retro_arrivals(
    index_dir: Path,
    index: MatchIndex,
    posts: Path | Sequence[Path],
    out_dir: Path,
    *,
    days: int = DEFAULT_DAYS,
    since: datetime | None = None,
    now: datetime | None = None,
    batch_rows: int = BATCH_ROWS,
    benign: BenignBank | None = None,
    guard: FloodGuard | None = None,
    progress: Progress | None = None,
    save_checkpoint: bool = True,
) -> RetroRun:
    """Match the signals that arrived after ``since`` (default: the saved checkpoint) against the
    stored posts of the last ``days`` days; save the new checkpoint once the run is written."""
    from vigil.match.feedback import ArrivalLog

    if days < 1:
        raise InputError(f"days must be at least 1, got {days}", field="days")
    start = since if since is not None else read_checkpoint(index_dir)
    arrived, latest = ArrivalLog.of_index(index).since(start)
    now = now or utcnow()
    active = set(index.active_of(arrived, now)) if arrived else set()
    run = None
    if active:
        run = retro_match(
            posts,
            index,
            active,
            out_dir,
            days=days,
            now=now,
            batch_rows=batch_rows,
            benign=benign,
            guard=guard,
            progress=progress,
        )
    checkpoint = latest or start
    if save_checkpoint and checkpoint is not None:
        write_atomic(
            Path(index_dir) / CHECKPOINT_FILE,
            # Microseconds kept: fetch times are, and a rounded checkpoint would repeat a fetch's signals.
            json.dumps({"checkpoint": checkpoint.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}, indent=2) + "\n",
        )
    return RetroRun(since=start, signals=len(active), checkpoint=checkpoint, run=run)
