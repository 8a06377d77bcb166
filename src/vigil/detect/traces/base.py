"""A trace of coordination, declared as data: which events it sees in the posts, and its defaults.

A trace is a bipartite account-item relation in time. Its spec holds one SQL query selecting
``(account, platform, post_id, item, ts)`` (see :data:`vigil.detect.contract.EVENTS`) from any
relation registered on the DuckDB connection: the ``posts`` view for structural traces, or a table
another step registered (text clusters, image clusters). The generic engine
(:mod:`vigil.detect.engine`) does everything else, so a new trace is a few lines, not new SQL
plumbing, and the same spec could be compiled for Spark later.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from vigil.core.errors import ConfigError
from vigil.detect.window import FixedWindow, WindowPolicy

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
    """

    name: str
    description: str
    events_sql: str
    window: WindowPolicy = DEFAULT_WINDOW
    max_item_accounts: int | None = None
    max_item_share: float | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(f"trace name {self.name!r} must be lower-case letters, digits and '_'")
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
    ) -> TraceSpec:
        """A trace whose events are already a relation (table/view/registered Arrow table) with the
        EVENTS columns, e.g. the output of a clustering step: ``con.register("text_events", tbl)``."""
        sql = f"SELECT account, platform, post_id, item, ts FROM {relation}"
        return cls(name, description or f"events of {relation}", sql, window, max_item_accounts)


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
