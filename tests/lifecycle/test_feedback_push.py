"""Feedback sent back to the source by signed webhook (#18 part 1): ``feedback.opinion`` and
``feedback.sighting`` reach the contributing organisation's subscriptions at a real local HTTP
receiver that verifies every signature; feedback the source may not see, its own feedback, feedback
on other members' contributions and subscriptions without the events receive nothing."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest

from vigil.core.errors import InputError
from vigil.core.settings import Settings
from vigil.core.time import utcnow
from vigil.db import Database
from vigil.exchange import push
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore

from .conftest import Receiver, push_settings, seed


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_feedback_on_own_contributions_is_pushed_signed_and_within_tlp(
    db: Database, receiver: Receiver, tmp_path: Path
) -> None:
    settings = push_settings(tmp_path, push_backoff_s=0.01, push_timeout_s=2)
    second = Receiver()  # the AMBER-only subscription's receiver (its own secret)
    try:
        _check(db, receiver, second, settings)
    finally:
        second.close()


def _check(db: Database, receiver: Receiver, second: Receiver, settings: Settings) -> None:
    t = utcnow() - timedelta(hours=1)
    with db.session() as s:
        store = ExchangeStore(s)
        c = seed(store)
        p1, p2, gov = c.principals["p1"], c.principals["p2"], c.principals["gov"]
        mine = store.submit_signal(p1, "domain", "flood-meme.info", marking=Marking(TLP.GREEN))
        amber = store.submit_signal(p1, "hashtag", "quietone", marking=Marking(TLP.AMBER))
        theirs = store.submit_signal(p2, "domain", "not-p1.info", marking=Marking(TLP.GREEN))
        sub, secret = push.create_subscription(
            store, p1, "feedback", receiver.url, events=("feedback",), settings=settings
        )
        # p2 subscribes to the signal events only: it gets no feedback events
        push.create_subscription(store, p2, "signals", receiver.url, settings=settings)
        # a second p1 subscription for AMBER contributions only: the GREEN signal's feedback skips it
        amber_only, amber_secret = push.create_subscription(
            store, p1, "amber", second.url, events=("feedback",), tlps=("AMBER",), settings=settings
        )
    assert sub.events == ("feedback.opinion", "feedback.sighting")
    receiver.secret, second.secret = secret, amber_secret
    with db.session() as s:
        store = ExchangeStore(s)
        store.set_opinion(p2, mine.id, "false_positive", "a meme, not an operation")
        store.add_sighting(p2, mine.id, count=812, first_seen=t, last_seen=t, platform="p2")
        store.add_sighting(p2, amber.id, count=3, first_seen=t, last_seen=t)
        # hidden from p1: p2's opinion marked RED and shared with the government only
        store.set_opinion(p2, amber.id, "disputed", marking=Marking(TLP.RED, (gov.org_id,)))
        store.set_opinion(p1, mine.id, "confirmed")  # its own: not sent back to itself
        store.add_sighting(gov, theirs.id, count=5, first_seen=t, last_seen=t)  # not on p1's
    queued, sent = push.run_once(db, settings)
    # the first subscription: 1 opinion, 2 sightings; the AMBER-only one: the AMBER sighting
    assert queued.by_type.get("feedback.opinion") == 1 and queued.by_type.get("feedback.sighting") == 3
    feedback = [r for r in receiver.received if r.headers["x-vigil-event"].startswith("feedback.")]
    assert sent.delivered == len(receiver.received) + len(second.received) and len(feedback) == 3
    (amber_event,) = [json.loads(r.body) for r in second.received]
    assert amber_event["signal"]["id"] == amber.id and amber_event["subscription_id"] == amber_only.id
    assert second.received[0].verified
    assert all(r.verified for r in receiver.received)  # HMAC and timestamp checked by the receiver
    bodies = [json.loads(r.body) for r in feedback]
    by_type = sorted(
        (b["type"], b["signal"]["id"], b["feedback"].get("value"), b["feedback"].get("count")) for b in bodies
    )
    assert by_type == sorted(
        [
            ("feedback.opinion", mine.id, "false_positive", None),
            ("feedback.sighting", mine.id, None, 812),
            ("feedback.sighting", amber.id, None, 3),
        ]
    )
    opinion = next(b for b in bodies if b["type"] == "feedback.opinion")
    assert opinion["object"]["type"] == "opinion" and opinion["object"]["opinion"] == "strongly-disagree"
    assert opinion["contribution"] in opinion["object"]["object_refs"]
    assert opinion["feedback"]["org_id"] == p2.org_id and opinion["subscription_id"] == sub.id
    sighting = next(b for b in bodies if b["feedback"].get("count") == 812)
    assert sighting["object"]["type"] == "sighting" and sighting["object"]["count"] == 812
    assert "disputed" not in json.dumps(bodies)

    # nothing twice; a later opinion change is a new event
    queued, _ = push.run_once(db, settings)
    assert not any(k.startswith("feedback.") for k in queued.by_type)
    with db.session() as s:
        ExchangeStore(s).set_opinion(p2, mine.id, "confirmed")
    time.sleep(0.01)
    queued, sent = push.run_once(db, settings)
    assert queued.by_type.get("feedback.opinion") == 1 and sent.delivered >= 1
    last = json.loads(receiver.received[-1].body)
    assert last["type"] == "feedback.opinion" and last["feedback"]["value"] == "confirmed"
    assert receiver.received[-1].verified


def test_feedback_events_are_a_family_and_unknown_ones_are_refused() -> None:
    assert push.parse_events(["feedback"]) == push.FEEDBACK_EVENTS
    assert push.parse_events(["feedback.sighting"]) == ("feedback.sighting",)
    assert set(push.FEEDBACK_EVENTS) <= set(push.parse_events(["all"]))
    assert not set(push.FEEDBACK_EVENTS) & set(push.parse_events([]))  # not sent unless asked for
    with pytest.raises(InputError, match="feedback"):
        push.parse_events(["feedback.shouting"])
