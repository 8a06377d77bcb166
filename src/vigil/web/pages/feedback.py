"""The dashboard's feedback panels (#18): on the signal page, the per-member counts of what members
said about the signal, a short daily history and each visible contribution's decay score; on the
overview, what the reader organisation's own contributions received. Everything comes from
``ExchangeStore.feedback_counts`` / ``feedback_received``, so a count covers only feedback the
reader may see. The templates are ``_feedback.html`` (signal page) and ``_feedback_received.html``
(overview)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from vigil.core.errors import InputError
from vigil.exchange.access import Principal
from vigil.exchange.records import Contribution, Signal
from vigil.exchange.store import MAX_PAGE, ExchangeStore
from vigil.exchange.store.feedback_counts import DayCounts, ReceivedPage, SignalFeedback
from vigil.signals.decay import DecayModel

HISTORY_DAYS = 14  # days of history the signal page shows (the REST answer has them all)
TOP = 5  # signals per list on the overview


@dataclass(frozen=True)
class ContributionScore:
    org_id: str
    confidence: int
    age_days: float
    score: float
    decayed: bool
    active: bool  # not revoked, not expired: only these count towards the signal's score


@dataclass(frozen=True)
class FeedbackPanel:
    counts: SignalFeedback
    days: list[DayCounts]  # the latest HISTORY_DAYS days with feedback, oldest first
    peak: int  # the busiest day's matches plus opinions (the history bars' scale)
    scores: list[ContributionScore]
    score: float  # the signal's: the best active contribution's (0 if none is active)
    model: DecayModel


def contribution_active(c: Contribution, now: datetime) -> bool:
    return not c.revoked and (c.valid_until is None or c.valid_until > now)


def feedback_panel(
    store: ExchangeStore, principal: Principal, signal: Signal, model: DecayModel | None = None
) -> FeedbackPanel:
    """The signal page's panel for ``principal`` (its counts and scores within TLP), scored with
    ``model`` or else the store's (the app's settings, ``FeedbackCountsStore.decay_model``)."""
    model = model or store.decay_model()
    counts = store.feedback_counts(principal, signal.id)
    now = store.now()
    scores = [
        ContributionScore(
            org_id=c.org_id,
            confidence=c.confidence,
            age_days=model.age_days(c.modified_at, now, counts.current),
            score=(s := model.score(c.modified_at, now, c.confidence, counts.current)),
            decayed=model.decayed(s),
            active=contribution_active(c, now),
        )
        for c in signal.contributions
    ]
    days = counts.days[-HISTORY_DAYS:]
    peak = max((day_weight(d) for d in days), default=0)
    return FeedbackPanel(
        counts=counts,
        days=days,
        peak=peak,
        scores=scores,
        score=max((s.score for s in scores if s.active), default=0.0),
        model=model,
    )


def day_weight(day: DayCounts) -> int:
    c = day.counts
    return c.matches + c.confirmations + c.false_positives + c.disputes


@dataclass(frozen=True)
class ReceivedPanel:
    by_matches: ReceivedPage
    by_false_positives: ReceivedPage


def received_panel(store: ExchangeStore, principal: Principal) -> ReceivedPanel:
    """The overview's panel: the reader organisation's contributions with the most matches and
    the most false positives other members reported."""
    # One grouping query serves both lists while the organisation's signals with feedback fit in
    # one page (the grouping is the cost, not the rows); beyond that, a second query.
    every = store.feedback_received(principal, sort="matches", limit=MAX_PAGE)
    if every.total > len(every.items):
        by_fp = store.feedback_received(principal, sort="false_positives", limit=TOP)
    else:
        ranked = sorted(every.items, key=lambda i: (-i.counts.false_positives, i.signal_id))
        by_fp = replace(every, items=ranked[:TOP], limit=TOP)
    return ReceivedPanel(
        by_matches=replace(every, items=every.items[:TOP], limit=TOP), by_false_positives=by_fp
    )


def parse_min_score(value: str | None) -> float | None:
    """The signal list's "decay score at least" box: empty is no filter; anything but a number
    0-100 is a 400 naming the field."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        score = float(text)
    except ValueError:
        raise InputError(f"min_score must be a number 0-100, got {text[:40]!r}", field="min_score") from None
    if not 0 <= score <= 100:
        raise InputError(f"min_score must be 0-100, got {score:g}", field="min_score")
    return score
