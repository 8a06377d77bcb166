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

import numpy as np
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
from vigil.signals.base import DerivesFromTexts
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
    scorer = _Scorer(decay or DecayModel.configured(), feedback or {}, now)
    types = [kind for kind, idx in sorted(index.indexes.items()) if len(idx)]
    for kind in types:
        found = index.indexes[kind]
        if isinstance(found, SegmentedIndex):
            # Give rows still pending since the fetch search tables once, up front (a new segment,
            # not a rebuild): otherwise every batch would scan them by brute force.
            found.seal()
    summary_parts: list[pa.Table] = []
    matched_posts: set[str] = set()
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
                    summary_parts.append(_summary_input(rows))
                    keys = pc.binary_join_element_wise(
                        rows.column("platform"), rows.column("post_id"), "\x1f"
                    )
                    matched_posts.update(pc.unique(keys).to_pylist())
                    if guard is not None:
                        run.quarantined.extend(guard.observe(rows, run.posts_read))
                progress.advance(table.num_rows)
    progress.finish()
    run.matches = sink.rows
    run.matches_path = out_dir / MATCHES_FILE
    run.posts_matched = len(matched_posts)
    summary_table = _summary_table(summary_parts)
    run.signals_matched = len(pc.unique(summary_table.column("signal_id")))
    with ParquetSink(out_dir / SUMMARY_FILE, SUMMARY) as summary:
        summary.write(summary_table)
    run.summary_path = out_dir / SUMMARY_FILE
    return run


# The post columns each built-in type reads row by row (``derive_from_post``). Derivation turns the
# rows it is given into Python dicts, so it gets only these: converting every column (timestamps,
# texts, mentions, the extra map) cost more than deriving the values.
ROW_COLUMNS: dict[str, tuple[str, ...]] = {
    "account": ("account_id", "account_handle"),
    "domain": ("urls",),
    "url": ("urls",),
    "hashtag": ("hashtags",),
    "image_md5": ("image_ids",),
    "image_pdq": ("image_pdq",),
}


def _derive(table: pa.Table, types: list[str]) -> pa.Table:
    """``derive_post_signals`` of ``types``: the text types over (platform, post_id, text), the
    row-wise built-in types over their own columns, any other type over the whole table."""
    names = set(table.column_names)
    texts = [t for t in types if isinstance(get_signal_type(t), DerivesFromTexts) and "text" in names]
    known = [t for t in types if t not in texts and t in ROW_COLUMNS]
    other = [t for t in types if t not in texts and t not in known]
    parts = []
    if texts:
        parts.append(derive_post_signals(table.select(["platform", "post_id", "text"]), texts))
    if known:
        wanted = dict.fromkeys(["platform", "post_id", *(c for t in known for c in ROW_COLUMNS[t])])
        parts.append(derive_post_signals(table.select([c for c in wanted if c in names]), known))
    if other:
        parts.append(derive_post_signals(table, other))
    return pa.concat_tables(parts) if len(parts) > 1 else parts[0]


_PAIR_FIELDS = (
    "signal_id",
    "signal_value",
    "stix_id",
    "org_id",
    "tlp",
    "confidence",
    "campaign_id",
    "campaign_name",
    "distance",
    "similarity",
    "score",
)


def _match_batch(
    table: pa.Table,
    types: list[str],
    index: MatchIndex,
    active: _ActiveContributions,
    run: MatchRun,
    benign: BenignBank | None,
    scorer: _Scorer,
) -> pa.Table | None:
    """Match rows of one batch of posts, column-wise: Python work is per distinct value found and
    per (hit, contribution) pair, never per post."""
    derived = _derive(table, types)
    if not derived.num_rows:
        return None
    # Each derived row's post: the first row of the batch with its (platform, post_id).
    post_keys = pc.binary_join_element_wise(table.column("platform"), table.column("post_id"), "\x1f")
    derived_keys = pc.binary_join_element_wise(derived.column("platform"), derived.column("post_id"), "\x1f")
    post_row = np.asarray(pc.index_in(derived_keys, value_set=post_keys).to_numpy(zero_copy_only=False))
    kinds = derived.column("signal_type")
    values_column = derived.column("value")
    pieces: list[pa.Table] = []
    for kind in types:
        chosen = np.flatnonzero(np.asarray(pc.equal(kinds, kind).to_numpy(zero_copy_only=False), dtype=bool))
        if not len(chosen):
            continue
        values = values_column.take(pa.array(chosen)).combine_chunks()
        encoded = values.dictionary_encode()
        distinct: list[str] = encoded.dictionary.to_pylist()
        codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.intp)
        found = index.indexes[kind].query_many(distinct, normalized=True)
        hit_values = [v for v, hits in zip(distinct, found, strict=True) if hits]
        harmless: set[str] = set()
        if hit_values and benign is not None:
            harmless = benign.benign_values(kind, hit_values)
            run.suppressed_benign += len(harmless)
        active.resolve(
            m.entry_id for v, hits in zip(distinct, found, strict=True) if v not in harmless for m in hits
        )
        # (hit, contribution) pairs per distinct value, in value order.
        pairs: dict[str, list[object]] = {name: [] for name in _PAIR_FIELDS}
        per_value = np.zeros(len(distinct), dtype=np.intp)
        expired = np.zeros(len(distinct), dtype=np.intp)
        for v, (value, hits) in enumerate(zip(distinct, found, strict=True)):
            if not hits or value in harmless:
                continue
            for hit in hits:
                contributions = active.get(hit.entry_id)
                if not contributions:
                    expired[v] += 1
                    continue
                distance = float(hit.distance)
                for c in contributions:
                    campaign = c.campaign
                    pairs["signal_id"].append(hit.entry_id)
                    pairs["signal_value"].append(c.value)
                    pairs["stix_id"].append(c.stix_id)
                    pairs["org_id"].append(c.org_id)
                    pairs["tlp"].append(c.tlp)
                    pairs["confidence"].append(c.confidence)
                    pairs["campaign_id"].append(campaign)
                    pairs["campaign_name"].append(index.campaigns.get(campaign) if campaign else None)
                    pairs["distance"].append(distance)
                    pairs["similarity"].append(similarity(kind, distance))
                    pairs["score"].append(scorer(c))
                    per_value[v] += 1
        run.skipped_expired += int(expired[codes].sum())
        counts = per_value[codes]
        total = int(counts.sum())
        if not total:
            continue
        # Every derived row repeated once per pair of its value (rows in post order).
        first_pair = np.cumsum(per_value) - per_value
        rows = np.repeat(np.arange(len(codes), dtype=np.intp), counts)
        pair_at = np.arange(total, dtype=np.intp) - np.repeat(np.cumsum(counts) - counts, counts)
        pair_at += np.repeat(first_pair[codes], counts)
        posts = pa.array(post_row[chosen][rows])
        pair_table = pa.table(
            {name: pairs[name] for name in _PAIR_FIELDS},
            schema=pa.schema([MATCHES.schema.field(name) for name in _PAIR_FIELDS]),
        ).take(pa.array(pair_at))
        columns: dict[str, pa.Array | pa.ChunkedArray] = {
            "platform": table.column("platform").take(posts),
            "post_id": table.column("post_id").take(posts),
            "account_id": table.column("account_id").take(posts),
            "account_handle": table.column("account_handle").take(posts),
            "created_at": table.column("created_at").take(posts),
            "signal_type": pa.array([kind] * total, pa.string()),
            "post_value": values.take(pa.array(rows)),
        }
        columns.update({name: pair_table.column(name) for name in _PAIR_FIELDS})
        pieces.append(pa.table({name: columns[name] for name in MATCHES.schema.names}).cast(MATCHES.schema))
        run.by_type[kind] = run.by_type.get(kind, 0) + total
    if not pieces:
        return pa.table({name: [] for name in MATCHES.schema.names}, schema=MATCHES.schema)
    return pa.concat_tables(pieces).combine_chunks()


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


_SUMMARY_INPUT = [
    "signal_id",
    "signal_type",
    "signal_value",
    "platform",
    "post_id",
    "account_id",
    "created_at",
    "distance",
    "stix_id",
    "campaign",
    "tlp",
]


def _summary_input(rows: pa.Table) -> pa.Table:
    """The columns of match rows the summary reads; ``campaign`` is the name, else the id."""
    campaign = pc.if_else(
        pc.is_null(rows.column("campaign_id")),
        pa.scalar(None, pa.string()),
        pc.coalesce(rows.column("campaign_name"), rows.column("campaign_id")),
    )
    return rows.append_column("campaign", campaign).select(_SUMMARY_INPUT)


def _summary_table(parts: list[pa.Table]) -> pa.Table:
    """One row per (signal, platform), most posts first, aggregated by Arrow's group-by."""
    if not parts:
        return SUMMARY.schema.empty_table()
    rows = pa.concat_tables(parts)
    grouped = rows.group_by(["signal_id", "platform"], use_threads=False).aggregate(
        [
            ("signal_type", "first"),
            ("signal_value", "first"),
            ("post_id", "count_distinct"),
            ("account_id", "count_distinct"),
            ("created_at", "min"),
            ("created_at", "max"),
            ("distance", "min"),
            ("stix_id", "distinct"),
            ("campaign", "distinct"),
            ("tlp", "distinct"),
        ]
    )

    def sorted_sets(name: str) -> pa.Array:
        """Each group's distinct values without nulls, sorted (code point order, as ``sorted``)."""
        lists = grouped.column(name).combine_chunks()
        items = pa.table({"row": pc.list_parent_indices(lists), "value": pc.list_flatten(lists)})
        items = items.filter(pc.is_valid(items.column("value")))
        items = items.sort_by([("row", "ascending"), ("value", "ascending")])
        counts = np.bincount(items.column("row").to_numpy(), minlength=len(lists))
        offsets = np.zeros(len(lists) + 1, dtype=np.int32)
        np.cumsum(counts, out=offsets[1:])
        return pa.ListArray.from_arrays(pa.array(offsets), items.column("value").combine_chunks())

    table = pa.table(
        {
            "signal_id": grouped.column("signal_id"),
            "signal_type": grouped.column("signal_type_first"),
            "signal_value": grouped.column("signal_value_first"),
            "platform": grouped.column("platform"),
            "posts": grouped.column("post_id_count_distinct"),
            "accounts": grouped.column("account_id_count_distinct"),
            "first_seen": grouped.column("created_at_min"),
            "last_seen": grouped.column("created_at_max"),
            "min_distance": grouped.column("distance_min"),
            "stix_ids": sorted_sets("stix_id_distinct"),
            "campaigns": sorted_sets("campaign_distinct"),
            "tlps": sorted_sets("tlp_distinct"),
        }
    ).cast(SUMMARY.schema)
    order = pc.sort_indices(
        table, sort_keys=[("posts", "descending"), ("signal_id", "ascending"), ("platform", "ascending")]
    )
    return table.take(order)
