"""A trace of coordination, declared as data: which events it sees in the posts, and its defaults.

A trace is a bipartite account-item relation in time. Its spec holds one SQL query selecting
``(account, platform, post_id, item, ts)`` (see :data:`vigil.detect.contract.EVENTS`) from any
relation registered on the DuckDB connection: the ``posts`` view for structural traces, or a table
another step registered (text clusters, image clusters). The generic engine
(:mod:`vigil.detect.engine`) does everything else, so a new trace is a few lines, not new SQL
plumbing, and the same spec could be compiled for Spark later.

A trace also declares the **signal kind** of its items (``signal_kinds``): its items are values of
that signal type in normal form (``vigil.signals``), so a URL item is the ``url`` value, an
exact-text item the ``text_exact`` value (SHA-256 of the normal form), an image item the PDQ hex.
Evidence and top items carry (kind, value), and publishing a detection needs no decoding. Items of
traces that declare no kind (a reshared post, a hashtag sequence) are not signals.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from vigil.core.errors import ConfigError, InputError, VigilError
from vigil.detect.window import FixedWindow, WindowPolicy
from vigil.signals.registry import get_signal_type

# The platform-qualified account and POSIX-seconds time of a row of the posts table, as SQL.
ACCOUNT_SQL = "platform || ':' || account_id"
TS_SQL = "epoch_us(created_at) / 1000000.0"

# The default window of the structural traces: a minute, the resolution of many public archives.
DEFAULT_WINDOW = FixedWindow(60.0)

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class TraceSpec:
    """One trace: a stable ``name`` (also the ``trace`` column of EDGES/EVIDENCE) and its events.

    ``events_sql`` selects the columns ``account, platform, post_id, item, ts`` (ts in POSIX
    seconds). Rows with a null or empty item are ignored, duplicates count once.
    ``window`` is the trace's default window (the run's parameters may override it).
    ``max_item_accounts`` caps item popularity for this trace in addition to the run's cap (the
    smaller wins): items acted on by more distinct accounts are skipped. The co-domain trace uses it
    to keep only low-traffic domains.
    ``max_item_share`` caps it relative to the data: items acted on by more than this share of the
    trace's accounts are skipped (the smallest of all caps wins), so "popular" means the same on a
    data set of 400 accounts as on one of a million.
    ``signal_kinds`` are the signal types (``vigil.signals`` names) its items are values of: none for
    items that are no signal, one for most traces; with several, an item is of the first type whose
    normal form it is (the co-image trace: a PDQ hash, else an MD5 image id, else an opaque id).
    """

    name: str
    description: str
    events_sql: str
    window: WindowPolicy = DEFAULT_WINDOW
    max_item_accounts: int | None = None
    max_item_share: float | None = None
    signal_kinds: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(f"trace name {self.name!r} must be lower-case letters, digits and '_'")
        for kind in self.signal_kinds:
            try:
                get_signal_type(kind)
            except InputError as exc:
                raise ConfigError(f"trace {self.name}: {exc.message}") from exc
        if self.max_item_accounts is not None and self.max_item_accounts < 2:
            raise ConfigError(f"trace {self.name}: max_item_accounts must be >= 2")
        if self.max_item_share is not None and not 0 < self.max_item_share <= 1:
            raise ConfigError(f"trace {self.name}: max_item_share must be in (0, 1]")

    @classmethod
    def from_relation(
        cls,
        name: str,
        relation: str,
        *,
        description: str = "",
        window: WindowPolicy = DEFAULT_WINDOW,
        max_item_accounts: int | None = None,
        signal_kinds: tuple[str, ...] = (),
    ) -> TraceSpec:
        """A trace whose events are already a relation (table/view/registered Arrow table) with the
        EVENTS columns, e.g. the output of a clustering step: ``con.register("text_events", tbl)``."""
        sql = f"SELECT account, platform, post_id, item, ts FROM {relation}"
        return cls(
            name,
            description or f"events of {relation}",
            sql,
            window,
            max_item_accounts,
            signal_kinds=signal_kinds,
        )


def posts_events(
    item: str, *, unnest: str | None = None, where: str | None = None, element_where: str | None = None
) -> str:
    """SQL selecting events from the ``posts`` view: one row per post, or per element of a list column.

    ``item`` is a SQL expression over the posts columns or, with ``unnest``, over ``x`` (the current
    element of that list column, e.g. ``unnest="urls", item="x.canonical"``) and ``platform``.
    ``where`` filters posts (before unnesting), ``element_where`` filters elements (may use ``x``).
    Only the columns an event needs are read, so wide columns (text, extra) never enter the plan.
    """
    post_filter = f"WHERE {where}" if where else ""
    if unnest is None:
        if element_where:
            raise ValueError("element_where needs unnest")
        return (
            f"SELECT {ACCOUNT_SQL} AS account, platform, post_id, {item} AS item, {TS_SQL} AS ts "
            f"FROM posts {post_filter}"
        )
    element_filter = f"WHERE {element_where}" if element_where else ""
    # Posts with an empty (or null) list yield no element anyway; dropping them before the unnest
    # spares the unnest most posts (a third faster on co_link at 1M posts, same rows).
    nonempty = f"array_length({unnest}) > 0"
    post_filter = f"WHERE ({where}) AND {nonempty}" if where else f"WHERE {nonempty}"
    return (
        f"SELECT {ACCOUNT_SQL} AS account, platform, post_id, {item} AS item, {TS_SQL} AS ts "
        f"FROM (SELECT platform, account_id, post_id, created_at, unnest({unnest}) AS x "
        f"FROM posts {post_filter}) {element_filter}"
    )


def registry(specs: Iterable[TraceSpec]) -> dict[str, TraceSpec]:
    """Index specs by name, refusing duplicates (a name is also a storage key)."""
    out: dict[str, TraceSpec] = {}
    for spec in specs:
        if spec.name in out:
            raise ConfigError(f"two traces are named {spec.name!r}")
        out[spec.name] = spec
    return out


def trace_kinds(specs: Iterable[TraceSpec]) -> dict[str, tuple[str, ...]]:
    """The signal kinds each trace declares, by trace name (what :func:`item_kinds` reads)."""
    return {spec.name: spec.signal_kinds for spec in specs}


def _kind_of(kinds: tuple[str, ...], value: str) -> str | None:
    for kind in kinds:
        try:
            if get_signal_type(kind).normalize(value) == value:
                return kind
        except VigilError:
            continue
    return None


def item_kinds(
    traces: pa.Array | pa.ChunkedArray,
    items: pa.Array | pa.ChunkedArray,
    kinds: Mapping[str, tuple[str, ...]],
) -> pa.Array:
    """The signal kind of each (trace, item) row: null where the trace declares none (or is unknown).

    A trace with one kind gives it to every item without a check (its items are that type's
    values by construction); with several, each distinct item is tried against them in order.
    """
    trace_list = pc.unique(traces).to_pylist()
    out = pa.nulls(len(items), pa.string())
    for trace in trace_list:
        declared = kinds.get(trace, ())
        if not declared:
            continue
        rows = pc.equal(traces, trace)
        if len(declared) == 1:
            out = pc.if_else(rows, pa.scalar(declared[0], pa.string()), out)
            continue
        chosen = pc.filter(items, rows)
        distinct = pc.unique(chosen)
        lookup = pa.array([_kind_of(declared, v) for v in distinct.to_pylist()], pa.string())
        per_row = pc.take(lookup, pc.index_in(items, value_set=distinct))
        out = pc.if_else(rows, per_row, out)
    result: pa.Array = out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out
    return result
