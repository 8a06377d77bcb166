"""Retroactive matching: signals that just arrived, against the posts we already stored.

A nightly fetch brings signals shared today about content that may have circulated on our
platform for days. Matching every stored post against the whole index again would redo all of
yesterday's work; instead :func:`retro_match` builds a small index of the *new* signals only
(:func:`signals_since`: those with a contribution changed after the previous fetch) and streams
the stored posts of the last ``days`` days through it with the ordinary matcher. Time grows with
the posts read and memory with one batch plus the new signals' index, whatever the size of the
main index; the result is a normal ``matches.parquet``/``summary.parquet`` whose summary becomes
sightings (:func:`vigil.match.sightings.sightings_from_summary`, ``report_sightings``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from vigil.core.errors import InputError
from vigil.core.progress import Progress
from vigil.core.time import utcnow
from vigil.match.benign import BenignBank
from vigil.match.matcher import BATCH_ROWS, MatchRun, match_posts
from vigil.match.quarantine import FloodGuard
from vigil.match.state import MatchIndex

DEFAULT_DAYS = 30


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
    small.contributions = {k: r for k, r in index.contributions.items() if r.signal_id in wanted}
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
