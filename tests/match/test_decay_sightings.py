"""A sighting restarts a signal's decay age (as MISP's decay restarts at a sighting), on the
exchange's clock: a reporter's future ``last_seen`` cannot keep a signal young."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vigil.match.decay import DecayModel, Feedback
from vigil.match.feedback import FeedbackLedger

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
MODEL = DecayModel()  # lifetime 90 days, speed 2, threshold 20


def test_a_later_sighting_restarts_the_age_and_a_future_one_counts_as_now() -> None:
    changed = NOW - timedelta(days=80)
    old = MODEL.score(changed, NOW, 80)
    sighted = MODEL.score(changed, NOW, 80, Feedback(last_sighting=NOW - timedelta(days=10)))
    assert MODEL.decayed(old) and not MODEL.decayed(sighted)
    assert sighted == MODEL.score(NOW - timedelta(days=10), NOW, 80)
    # an earlier sighting than the last change changes nothing; a future one is "now"
    assert MODEL.score(changed, NOW, 80, Feedback(last_sighting=changed - timedelta(days=5))) == old
    assert MODEL.age_days(changed, NOW, Feedback(last_sighting=NOW + timedelta(days=400))) == 0.0


def _sighting(modified: datetime, last_seen: datetime) -> dict[str, object]:
    return {
        "type": "sighting",
        "id": f"sighting--{modified:%H%M%S%f}",
        "created_by_ref": "identity--partner",
        "modified": modified.isoformat(),
        "first_seen": (last_seen - timedelta(hours=1)).isoformat(),
        "last_seen": last_seen.isoformat(),
        "count": 3,
    }


def test_the_ledger_gives_the_matcher_when_the_latest_sighting_was_reported() -> None:
    ledger = FeedbackLedger()
    reported = NOW - timedelta(days=5)
    # a claim ten years ahead counts from when it was reported; an honest one from its last_seen
    assert ledger.sighting(_sighting(reported, NOW + timedelta(days=3650)), "sig-a") == "new"
    assert ledger.sighting(_sighting(NOW - timedelta(days=2), NOW - timedelta(days=9)), "sig-b") == "new"
    feedback = ledger.feedback()  # signals with sightings only (no opinion) are included
    assert feedback["sig-a"].last_sighting == reported
    assert feedback["sig-b"].last_sighting == NOW - timedelta(days=9)
    assert feedback["sig-a"].confirmations == 0
