"""Decay: the score per signal that falls with age and moves with feedback.

The model itself lives in ``vigil.signals.decay`` so that the exchange (the dashboard's score and
filter) and the matcher share one definition; this module keeps the names ``vigil.match`` code and
its callers import.
"""

from __future__ import annotations

from vigil.signals.decay import DecayModel, Feedback, feedback_from_counts

__all__ = ["DecayModel", "Feedback", "feedback_from_counts"]
