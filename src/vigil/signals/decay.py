"""Decay: a score per signal that falls with age and moves with feedback.

The model is MISP's polynomial decaying model (``decaying-models``, "Polynomial"):

    base  = confidence of the contribution (0-100), plus feedback (below), clamped to 0-100
    score = base * (1 - (t / lifetime) ** (1 / decay_speed))      for 0 <= t < lifetime
    score = 0                                                       for t >= lifetime

``t`` is the signal's age in days, counted from the contribution's last change or from the latest
sighting of the signal reported to the reader, whichever is later (MISP likewise restarts an
attribute's decay at its last sighting: a signal partners still see is not stale). ``lifetime`` is
in days, ``decay_speed`` > 0: 1 is linear, above 1 falls fast at first and slowly later, below 1
stays high and falls late. A signal whose score is under ``threshold`` counts as decayed.
Feedback moves the base: every confirmation adds ``confirm_bonus``, every false positive takes
``false_positive_penalty``, every dispute ``dispute_penalty``. Revocation is not decay: a revoked
contribution leaves the index at once, whatever its score.

Shared by the matcher (``vigil.match.decay`` re-exports these names: match rows carry the score,
rules filter on it) and the exchange (the dashboard shows each signal's score and filters the signal
list on it, in SQL through ``DecayModel.max_age_days``).

Worked example (defaults: lifetime 90 days, decay_speed 2, threshold 20): a contribution with
confidence 80, 30 days old, confirmed twice and disputed once:
base = 80 + 2*5 - 1*10 = 80; t/lifetime = 1/3; (1/3) ** 0.5 = 0.577; score = 80 * 0.423 = 33.8.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from vigil.core.errors import InputError

if TYPE_CHECKING:
    from vigil.core.settings import Settings


@dataclass(frozen=True)
class Feedback:
    """Opinions on a signal: how often members confirmed it, called it a false positive, disputed it."""

    confirmations: int = 0
    false_positives: int = 0
    disputes: int = 0
    # When the latest sighting of the signal was reported (the time the exchange recorded it, not
    # the reporter's own ``last_seen`` claim); it restarts the age. None: never sighted.
    last_sighting: datetime | None = None


@dataclass(frozen=True)
class DecayModel:
    lifetime_days: float = 90.0
    decay_speed: float = 2.0
    threshold: float = 20.0
    confirm_bonus: float = 5.0
    false_positive_penalty: float = 25.0
    dispute_penalty: float = 10.0

    @classmethod
    def from_settings(cls, s: Settings) -> DecayModel:
        """The model of these settings (``decay_*``, ``VIGIL_DECAY_*``): pass the settings the
        caller serves under (an app's, which may be overrides given to ``create_app``)."""
        return cls(
            lifetime_days=s.decay_lifetime_days,
            decay_speed=s.decay_speed,
            threshold=s.decay_threshold,
            confirm_bonus=s.decay_confirm_bonus,
            false_positive_penalty=s.decay_false_positive_penalty,
            dispute_penalty=s.decay_dispute_penalty,
        )

    @classmethod
    def configured(cls) -> DecayModel:
        """The model of the *process's* settings (``get_settings()``): only for callers that hold
        no settings of their own (a CLI command, whose settings are the process's). Code serving
        an app uses ``from_settings`` with the app's settings, which may differ."""
        from vigil.core.settings import get_settings

        return cls.from_settings(get_settings())

    def __post_init__(self) -> None:
        if self.lifetime_days <= 0:
            raise InputError(
                f"lifetime_days must be positive, got {self.lifetime_days}", field="lifetime_days"
            )
        if self.decay_speed <= 0:
            raise InputError(f"decay_speed must be positive, got {self.decay_speed}", field="decay_speed")
        if not 0 <= self.threshold <= 100:
            raise InputError(f"threshold must be 0-100, got {self.threshold}", field="threshold")

    def base(self, confidence: int | None, feedback: Feedback | None = None) -> float:
        base = float(confidence or 0)
        if feedback is not None:
            base += (
                feedback.confirmations * self.confirm_bonus
                - feedback.false_positives * self.false_positive_penalty
                - feedback.disputes * self.dispute_penalty
            )
        return min(100.0, max(0.0, base))

    def score_at(self, age_days: float, confidence: int | None, feedback: Feedback | None = None) -> float:
        """The score of a contribution ``age_days`` old (negative ages, clock skew, count as 0)."""
        t = max(0.0, age_days)
        if t >= self.lifetime_days:
            return 0.0
        fall: float = (t / self.lifetime_days) ** (1.0 / self.decay_speed)
        return self.base(confidence, feedback) * (1.0 - fall)

    def score(
        self, since: datetime, now: datetime, confidence: int | None, feedback: Feedback | None = None
    ) -> float:
        """The score at ``now`` of a contribution last changed at ``since`` (a later sighting in
        ``feedback`` restarts the age; one dated after ``now`` counts as ``now``)."""
        return self.score_at(self.age_days(since, now, feedback), confidence, feedback)

    @staticmethod
    def age_days(since: datetime, now: datetime, feedback: Feedback | None = None) -> float:
        """Days since ``since`` or since the latest sighting in ``feedback``, whichever is later."""
        start = since
        if feedback is not None and feedback.last_sighting is not None:
            start = max(start, min(feedback.last_sighting, now))
        return (now - start).total_seconds() / 86_400

    def decayed(self, score: float) -> bool:
        return score < self.threshold

    def max_age_days(self, base: float, min_score: float) -> float | None:
        """The greatest age (days) at which a contribution with this ``base`` still scores at
        least ``min_score`` (None: never, the base is below it). The inverse of ``score_at``, so a
        score filter becomes an age cutoff per base: ``age <= lifetime * (1 - min/base) ** speed``."""
        if min_score <= 0:
            return float("inf")
        if base < min_score or base <= 0:
            return None
        return float(self.lifetime_days * (1.0 - min_score / base) ** self.decay_speed)


def feedback_from_counts(counts: Mapping[str, Mapping[str, int]]) -> dict[str, Feedback]:
    """``{signal_id: {"confirm": n, "false_positive": n, "dispute": n}}`` -> Feedback per signal."""
    return {
        signal_id: Feedback(
            confirmations=int(c.get("confirm", 0)),
            false_positives=int(c.get("false_positive", 0)),
            disputes=int(c.get("dispute", 0)),
        )
        for signal_id, c in counts.items()
    }
