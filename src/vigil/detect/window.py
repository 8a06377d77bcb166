"""Coordination windows: a fixed number of seconds, or one estimated from the data.

Two accounts co-act when they act on the same item with ``|ts_a - ts_b| <= window`` (inclusive).
The automatic window follows CooRnet's ``estimate_coord_interval`` (Giglietto, Righetti, Rossi &
Marino): among items shared more than once, take those whose second share came unusually fast
(within the ``q``-quantile of first-to-second-share times); for each, the time from its first share
to the first share whose rank/count exceeds ``p``; the window is the ``p``-quantile of those times
(the median for the default p = 0.5), at least ``min_seconds``. docs/detection.md has the formula.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from vigil.core.errors import InputError
from vigil.core.time import parse_duration
from vigil.detect.duck import first_row
from vigil.detect.sql import SqlConnection


@dataclass(frozen=True)
class WindowChoice:
    """The window a trace ran with and how it was chosen."""

    seconds: float
    method: str  # "fixed", "auto", or "auto-fallback" when the data offered nothing to estimate from
    detail: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class IntervalEstimate:
    """What :func:`estimate_coord_interval` found; ``seconds`` is before the ``min_seconds`` floor."""

    seconds: float
    n_items_repeated: int  # items shared more than once
    n_items_quick: int  # of those, items whose second share is within the q-quantile
    second_share_cutoff: float  # the q-quantile of first-to-second-share seconds
    reach_min: float
    reach_max: float
    reach_mean: float


@dataclass(frozen=True)
class FixedWindow:
    """A window of ``seconds`` (0 means same instant, e.g. the same minute in minute-rounded data)."""

    seconds: float

    def __post_init__(self) -> None:
        if not (self.seconds >= 0 and math.isfinite(self.seconds)):
            raise InputError(f"window must be a finite number of seconds >= 0, not {self.seconds!r}")

    def resolve(self, con: SqlConnection, events: str) -> WindowChoice:
        return WindowChoice(float(self.seconds), "fixed")


@dataclass(frozen=True)
class AutoWindow:
    """CooRnet's data-driven window; ``q`` picks the quick items, ``p`` the share of reach."""

    q: float = 0.1
    p: float = 0.5
    min_seconds: float = 1.0

    def __post_init__(self) -> None:
        for name, value in (("q", self.q), ("p", self.p)):
            if not 0.0 <= value <= 1.0:
                raise InputError(f"automatic window: {name} must be between 0 and 1, not {value!r}")
        if not self.min_seconds >= 0:
            raise InputError(f"automatic window: min_seconds must be >= 0, not {self.min_seconds!r}")

    def resolve(self, con: SqlConnection, events: str) -> WindowChoice:
        estimate = estimate_coord_interval(con, events, q=self.q, p=self.p)
        if estimate is None:
            return WindowChoice(self.min_seconds, "auto-fallback", {"q": self.q, "p": self.p})
        detail = {
            "q": self.q,
            "p": self.p,
            "estimate": estimate.seconds,
            "items_repeated": float(estimate.n_items_repeated),
            "items_quick": float(estimate.n_items_quick),
            "second_share_cutoff": estimate.second_share_cutoff,
        }
        return WindowChoice(max(self.min_seconds, estimate.seconds), "auto", detail)


WindowPolicy = FixedWindow | AutoWindow


def parse_window(value: float | str) -> WindowPolicy:
    """``"auto"`` (CooRnet defaults), a number of seconds, or a duration such as ``"90s"``/``"2m"``."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return AutoWindow()
        return FixedWindow(parse_duration(text).total_seconds())
    return FixedWindow(float(value))


def estimate_coord_interval(
    con: SqlConnection, events: str, *, q: float = 0.1, p: float = 0.5
) -> IntervalEstimate | None:
    """CooRnet's ``estimate_coord_interval`` over an events relation ``(post_id, platform, item, ts)``.

    A *share* is one post acting on one item (a post with an item twice counts once). Returns None
    when no item is shared more than once. Quantiles interpolate linearly (R's default type 7,
    DuckDB's ``quantile_cont``); shares at the same instant rank by post id, which cannot change a
    time difference.
    """
    query = f"""
        WITH shares AS (
            SELECT DISTINCT item, platform, post_id, ts FROM {events}
        ),
        ranked AS (
            SELECT item, ts,
                   count(*) OVER (PARTITION BY item) AS n,
                   row_number() OVER (PARTITION BY item ORDER BY ts, platform, post_id) AS rk,
                   min(ts) OVER (PARTITION BY item) AS t0
            FROM shares
        ),
        repeated AS (SELECT * FROM ranked WHERE n > 1),
        second AS (SELECT item, ts - t0 AS d2 FROM repeated WHERE rk = 2),
        cutoff AS (SELECT quantile_cont(d2, {q!r}) AS c FROM second),
        quick AS (SELECT item FROM second, cutoff WHERE d2 <= c),
        reach AS (
            SELECT r.item, min(r.ts - r.t0) AS d
            FROM repeated r SEMI JOIN quick USING (item)
            WHERE r.rk::DOUBLE / r.n > {p!r}
            GROUP BY r.item
        )
        SELECT quantile_cont(d, {p!r}), (SELECT count(*) FROM second), (SELECT count(*) FROM quick),
               (SELECT c FROM cutoff), min(d), max(d), avg(d)
        FROM reach
    """
    row = first_row(con, query)
    if row is None or row[0] is None:
        return None
    seconds, repeated, quick, cutoff, lo, hi, mean = (float(v) for v in row)  # type: ignore[arg-type]
    return IntervalEstimate(
        seconds=seconds,
        n_items_repeated=int(repeated),
        n_items_quick=int(quick),
        second_share_cutoff=cutoff,
        reach_min=lo,
        reach_max=hi,
        reach_mean=mean,
    )
