"""Run a platform's posts through the match index: which posts carry a partner's signal.

Posts (the POSTS table, one Parquet file or a directory of them) are streamed in batches
(``schema.io.iter_table``). For each batch the signal values of every indexed type are derived
(``vigil.signals.derive_post_signals``: canonical URLs, domains, hashtags, accounts, text hashes,
MinHash signatures, PDQ hashes, MD5s), each distinct value is looked up once in its type's index,
and every hit becomes one *match row per active contribution* of the matched signal, so each row
carries exactly one TLP, confidence, contributor and campaign (what the actioner's rules decide
on). Rows stream into ``matches.parquet``; ``summary.parquet`` aggregates them per signal and
platform (posts, accounts, first and last time seen), which is what sightings report.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vigil.core.errors import DataError, InputError
from vigil.core.ids import new_id
from vigil.core.progress import NoProgress, Progress
from vigil.core.time import utcnow
from vigil.match.benign import BenignBank
from vigil.match.decay import DecayModel, Feedback
from vigil.match.index.segmented import SegmentedIndex
from vigil.match.quarantine import FloodGuard
from vigil.match.state import ContributionRecord, MatchIndex
from vigil.schema.io import ParquetSink, iter_table
from vigil.schema.tables import POSTS, TIMESTAMP, TableSpec
from vigil.signals.derive import derive_post_signals
from vigil.signals.registry import get_signal_type

BATCH_ROWS = 20_000
PDQ_BITS = 256

MATCHES = TableSpec(
    name="matches",
    key=("platform", "post_id", "stix_id", "post_value"),
    schema=pa.schema(
        [
            pa.field("platform", pa.string(), nullable=False),
            pa.field("post_id", pa.string(), nullable=False),
            pa.field("account_id", pa.string()),
            pa.field("account_handle", pa.string()),
            pa.field("created_at", TIMESTAMP),
            pa.field("signal_type", pa.string(), nullable=False),
            pa.field("post_value", pa.string(), nullable=False),  # the value found in the post
            pa.field("signal_id", pa.string(), nullable=False),  # the exchange's signal id
            pa.field("signal_value", pa.string(), nullable=False),
            pa.field("stix_id", pa.string(), nullable=False),  # the contribution's indicator id
            pa.field("org_id", pa.string()),  # who contributed it
            pa.field("tlp", pa.string()),
            pa.field("confidence", pa.int32()),
            pa.field("campaign_id", pa.string()),
            pa.field("campaign_name", pa.string()),
            pa.field("distance", pa.float64(), nullable=False),  # type's distance (0 = identical)
            pa.field("similarity", pa.float64(), nullable=False),  # 1 = identical
            pa.field("score", pa.float64()),  # the contribution's decay score at match time
        ]
    ),
)
SUMMARY = TableSpec(
    name="match_summary",
    key=("signal_id", "platform"),
    schema=pa.schema(
        [
            pa.field("signal_id", pa.string(), nullable=False),
            pa.field("signal_type", pa.string(), nullable=False),
            pa.field("signal_value", pa.string(), nullable=False),
            pa.field("platform", pa.string(), nullable=False),
            pa.field("posts", pa.int64(), nullable=False),
            pa.field("accounts", pa.int64(), nullable=False),
            pa.field("first_seen", TIMESTAMP),
            pa.field("last_seen", TIMESTAMP),
            pa.field("min_distance", pa.float64()),
            pa.field("stix_ids", pa.list_(pa.string())),
            pa.field("campaigns", pa.list_(pa.string())),  # campaign names (ids when unnamed)
            pa.field("tlps", pa.list_(pa.string())),
        ]
    ),
)
MATCHES_FILE = "matches.parquet"
SUMMARY_FILE = "summary.parquet"


def similarity(kind: str, distance: float) -> float:
    """A 0-1 similarity from a type's distance: Hamming bits for PDQ, 1 - Jaccard for MinHash."""
    if kind == "image_pdq":
        return 1.0 - distance / PDQ_BITS
    if get_signal_type(kind).default_threshold is None:
        return 1.0 if distance == 0 else 0.0
    return 1.0 - distance


@dataclass
class _Seen:
    kind: str
    value: str
    posts: set[str] = field(default_factory=set)
    accounts: set[str] = field(default_factory=set)
    first: datetime | None = None
    last: datetime | None = None
    min_distance: float | None = None
    stix_ids: set[str] = field(default_factory=set)
    campaigns: set[str] = field(default_factory=set)
    tlps: set[str] = field(default_factory=set)


@dataclass
class MatchRun:
    """What a run read and found. Paths are None when nothing was written (no index types)."""

    run_id: str
    posts_read: int = 0
    posts_matched: int = 0
    matches: int = 0  # rows of matches.parquet
    by_type: dict[str, int] = field(default_factory=dict)  # match rows per signal type
    signals_matched: int = 0
    skipped_expired: int = 0  # hits on signals whose every contribution expired since the fetch
    posts_too_old: int = 0  # posts before ``since`` (not matched)
    suppressed_benign: int = 0  # post values that hit a signal and the benign bank (not matched)
    quarantined: list[str] = field(default_factory=list)  # signals this run put in quarantine
    matches_path: Path | None = None
    summary_path: Path | None = None


def post_files(posts: Path) -> list[Path]:
    """A posts Parquet file, or every ``*.parquet`` in a directory (sorted)."""
    posts = Path(posts)
    if posts.is_dir():
        files = sorted(p for p in posts.rglob("*.parquet") if not p.name.startswith("."))
        if not files:
            raise DataError("no .parquet files in the posts directory", file=str(posts))
        return files
    if not posts.is_file():
        raise InputError(f"posts file {posts} does not exist", file=str(posts))
    return [posts]


def _row_count(path: Path) -> int:
    try:
        return int(pq.ParquetFile(str(path)).metadata.num_rows)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"not a readable Parquet file: {exc}", file=str(path)) from exc


def match_posts(
    posts: Path | Sequence[Path],
    index: MatchIndex,
    out_dir: Path,
    *,
    batch_rows: int = BATCH_ROWS,
    now: datetime | None = None,
    progress: Progress | None = None,
    benign: BenignBank | None = None,
    guard: FloodGuard | None = None,
    decay: DecayModel | None = None,
    feedback: dict[str, Feedback] | None = None,
    since: datetime | None = None,
) -> MatchRun:
    """Match every post against ``index``; write ``matches.parquet`` and ``summary.parquet`` to
    ``out_dir`` (each atomically) and return the counts.

    ``benign``: post values in this benign bank (near-matches included) match nothing.
    ``guard``: checks every batch's rows for floods and quarantines them before the next batch
    (the run id is the guard's). ``decay`` (default model) and ``feedback`` (per signal id) give
    each row its ``score``. ``since``: only posts created at or after it are matched (the
    others are counted in ``posts_too_old``; retroactive matching, :mod:`vigil.match.retro`)."""
    files = [f for p in ([posts] if isinstance(posts, Path | str) else posts) for f in post_files(Path(p))]
    progress = progress or NoProgress()
    run = MatchRun(run_id=guard.run_id if guard is not None else new_id("match-run"))
    now = now or utcnow()
    active = _ActiveContributions(index, now)
    scorer = _Scorer(decay or DecayModel(), feedback or {}, now)
    types = [kind for kind, idx in sorted(index.indexes.items()) if len(idx)]
    for kind in types:
        found = index.indexes[kind]
        if isinstance(found, SegmentedIndex):
            # Give rows still pending since the fetch search tables once, up front (a new segment,
            # not a rebuild): otherwise every batch would scan them by brute force.
            found.seal()
    seen: dict[tuple[str, str], _Seen] = {}
    matched_posts: set[tuple[str, str]] = set()
    total = sum(_row_count(f) for f in files)
    out_dir = Path(out_dir)
    progress.start(
        f"matching {total:,} posts against {sum(len(index.indexes[t]) for t in types):,} signals", total
    )
    with ParquetSink(out_dir / MATCHES_FILE, MATCHES) as sink:
        for path in files:
            for batch in iter_table(path, POSTS, batch_size=batch_rows):
                table = pa.Table.from_batches([batch])
                if since is not None:
                    keep = pc.fill_null(pc.greater_equal(table.column("created_at"), pa.scalar(since)), False)
                    kept = table.filter(keep)
                    run.posts_too_old += table.num_rows - kept.num_rows
                    progress.advance(table.num_rows - kept.num_rows)
                    table = kept
                run.posts_read += table.num_rows
                rows = _match_batch(table, types, index, active, run, benign, scorer) if types else None
                if rows is not None and rows.num_rows:
                    sink.write(rows)
                    _accumulate(rows, seen, matched_posts)
                    if guard is not None:
                        run.quarantined.extend(guard.observe(rows, run.posts_read))
                progress.advance(table.num_rows)
    progress.finish()
    run.matches = sink.rows
    run.matches_path = out_dir / MATCHES_FILE
    run.posts_matched = len(matched_posts)
    run.signals_matched = len({signal_id for signal_id, _ in seen})
    with ParquetSink(out_dir / SUMMARY_FILE, SUMMARY) as summary:
        summary.write(_summary_table(seen))
    run.summary_path = out_dir / SUMMARY_FILE
    return run


def _match_batch(
    table: pa.Table,
    types: list[str],
    index: MatchIndex,
    active: _ActiveContributions,
    run: MatchRun,
    benign: BenignBank | None,
    scorer: _Scorer,
) -> pa.Table | None:
    derived = derive_post_signals(table, types)
    if not derived.num_rows:
        return None
    out: dict[str, list[object]] = {name: [] for name in MATCHES.schema.names}
    where: dict[tuple[str, str], int] = {}
    platforms = table.column("platform").to_pylist()
    post_ids = table.column("post_id").to_pylist()
    for i, key in enumerate(zip(platforms, post_ids, strict=True)):
        where.setdefault(key, i)
    accounts = table.column("account_id")
    handles = table.column("account_handle")
    created = table.column("created_at")
    for kind in types:
        subset = derived.filter(pc.equal(derived.column("signal_type"), kind))
        if not subset.num_rows:
            continue
        values = subset.column("value").to_pylist()
        distinct = list(dict.fromkeys(values))
        hits = {
            v: found
            for v, found in zip(
                distinct, index.indexes[kind].query_many(distinct, normalized=True), strict=True
            )
            if found
        }
        if hits and benign is not None:
            harmless = benign.benign_values(kind, list(hits))
            run.suppressed_benign += len(harmless)
            hits = {v: found for v, found in hits.items() if v not in harmless}
        if not hits:
            continue
        active.resolve(m.entry_id for found in hits.values() for m in found)
        for platform, post_id, value in zip(
            subset.column("platform").to_pylist(), subset.column("post_id").to_pylist(), values, strict=True
        ):
            for hit in hits.get(value, ()):
                contributions = active.get(hit.entry_id)
                if not contributions:
                    run.skipped_expired += 1
                    continue
                row = where[(platform, post_id)]
                for c in contributions:
                    campaign = c.campaign
                    out["platform"].append(platform)
                    out["post_id"].append(post_id)
                    out["account_id"].append(accounts[row].as_py())
                    out["account_handle"].append(handles[row].as_py())
                    out["created_at"].append(created[row].as_py())
                    out["signal_type"].append(kind)
                    out["post_value"].append(value)
                    out["signal_id"].append(hit.entry_id)
                    out["signal_value"].append(c.value)
                    out["stix_id"].append(c.stix_id)
                    out["org_id"].append(c.org_id)
                    out["tlp"].append(c.tlp)
                    out["confidence"].append(c.confidence)
                    out["campaign_id"].append(campaign)
                    out["campaign_name"].append(index.campaigns.get(campaign) if campaign else None)
                    out["distance"].append(float(hit.distance))
                    out["similarity"].append(similarity(kind, float(hit.distance)))
                    out["score"].append(scorer(c))
                    run.by_type[kind] = run.by_type.get(kind, 0) + 1
    return pa.table(out, schema=MATCHES.schema)


class _ActiveContributions:
    """Active contributions of the matched signals, looked up in the (columnar) record in one batch
    per batch of posts and kept for the run: never the whole record."""

    def __init__(self, index: MatchIndex, now: datetime) -> None:
        self.index = index
        self.now = now
        self.known: dict[str, list[ContributionRecord]] = {}

    def resolve(self, signal_ids: Iterable[str]) -> None:
        missing = {s for s in signal_ids if s not in self.known}
        if missing:
            found = self.index.active_of(missing, self.now)
            for signal_id in missing:
                self.known[signal_id] = found.get(signal_id, [])

    def get(self, signal_id: str) -> list[ContributionRecord]:
        return self.known.get(signal_id, [])


@dataclass
class _Scorer:
    """A contribution's decay score at the run's time, computed once per contribution."""

    model: DecayModel
    feedback: dict[str, Feedback]
    now: datetime
    cache: dict[str, float] = field(default_factory=dict)

    def __call__(self, c: ContributionRecord) -> float:
        score = self.cache.get(c.stix_id)
        if score is None:
            score = self.cache[c.stix_id] = round(
                self.model.score(c.modified, self.now, c.confidence, self.feedback.get(c.signal_id)), 3
            )
        return score


def _accumulate(
    rows: pa.Table, seen: dict[tuple[str, str], _Seen], matched_posts: set[tuple[str, str]]
) -> None:
    for row in rows.to_pylist():
        key = (row["signal_id"], row["platform"])
        entry = seen.get(key)
        if entry is None:
            entry = seen[key] = _Seen(kind=row["signal_type"], value=row["signal_value"])
        entry.posts.add(row["post_id"])
        if row["account_id"] is not None:
            entry.accounts.add(row["account_id"])
        at = row["created_at"]
        if at is not None:
            entry.first = at if entry.first is None else min(entry.first, at)
            entry.last = at if entry.last is None else max(entry.last, at)
        d = row["distance"]
        entry.min_distance = d if entry.min_distance is None else min(entry.min_distance, d)
        entry.stix_ids.add(row["stix_id"])
        if row["campaign_id"]:
            entry.campaigns.add(row["campaign_name"] or row["campaign_id"])
        if row["tlp"]:
            entry.tlps.add(row["tlp"])
        matched_posts.add((row["platform"], row["post_id"]))


def _summary_table(seen: dict[tuple[str, str], _Seen]) -> pa.Table:
    ordered = sorted(seen.items(), key=lambda item: (-len(item[1].posts), item[0]))
    return pa.Table.from_pylist(
        [
            {
                "signal_id": signal_id,
                "signal_type": entry.kind,
                "signal_value": entry.value,
                "platform": platform,
                "posts": len(entry.posts),
                "accounts": len(entry.accounts),
                "first_seen": entry.first,
                "last_seen": entry.last,
                "min_distance": entry.min_distance,
                "stix_ids": sorted(entry.stix_ids),
                "campaigns": sorted(entry.campaigns),
                "tlps": sorted(entry.tlps),
            }
            for (signal_id, platform), entry in ordered
        ],
        schema=SUMMARY.schema,
    )
