"""Feedback counted (#18 part 1): per-member counts of matches, confirmations, false positives and
disputes per signal, per contribution and per day, and what an organisation's contributions
received, on a real exchange database; every count only of feedback the reader may see.

The generated test is the contract: the SQL counting predicate must agree with the Python rule
``policy.may_see_stored_feedback`` (what reading feedback one by one uses) for every reader, on
random organisations, markings, ``shared_with`` lists, markings chosen by the giver, and
contributions re-marked after the feedback was given.
"""

from __future__ import annotations

import contextlib
import random
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from vigil.core.errors import InputError, NotFound
from vigil.db import Database
from vigil.exchange.access import Principal
from vigil.exchange.models import ContributionRow, OpinionHistoryRow, SightingRow
from vigil.exchange.policy import may_see_stored_feedback
from vigil.exchange.records import TLP, Marking, OpinionValue
from vigil.exchange.store import ExchangeStore, SignalFilter
from vigil.exchange.store.feedback_counts import Counts
from vigil.signals.decay import DecayModel, Feedback
from vigil.web.pages.feedback import received_panel

# SQLite only; the generated agreement test and the RED/AMBER test also run on PostgreSQL.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
KINDS = ["platform", "platform", "government", "research", "platform", "research"]
VALUES = ["confirmed", "false_positive", "disputed"]


def _orgs(db: Database, kinds: list[str]) -> list[Principal]:
    with db.session() as s:
        store = ExchangeStore(s)
        keys = []
        for i, kind in enumerate(kinds):
            org = store.create_org(None, f"org{i}", kind)
            keys.append(store.create_key(None, org.id, "analyst")[1])
    with db.session() as s:
        store = ExchangeStore(s)
        return [store.authenticate(k) for k in keys]


def _marking(rng: random.Random, orgs: list[Principal]) -> Marking:
    tlp = rng.choice(list(TLP))
    shared = tuple(o.org_id for o in rng.sample(orgs, rng.randint(0, 2)))
    return Marking(tlp, shared)


def _expected(db: Database, reader: Principal | None) -> dict[str, dict[str, Counts]]:
    """Per signal, per giver: counts of the feedback ``reader`` may see by the Python rule
    (``None``: everything, as the local administrator)."""
    out: dict[str, dict[str, Counts]] = defaultdict(lambda: defaultdict(Counts))
    with db.session() as s:
        store = ExchangeStore(s)
        seen: dict[str, set[int]] = defaultdict(set)
        query = select(ContributionRow)
        if reader is not None:
            query = query.where(store._contribution_visible(reader))
        for c in s.scalars(query):
            seen[c.signal_id].add(c.id)

        def ok(signal_id: str, giver: str, basis: Any) -> bool:
            return may_see_stored_feedback(reader, giver, basis, seen[signal_id], store.org_kind)

        for o in s.scalars(select(OpinionHistoryRow)):
            if o.signal_id in seen and ok(o.signal_id, o.org_id, o.basis):
                add = Counts(
                    confirmations=int(o.value == "confirmed"),
                    false_positives=int(o.value == "false_positive"),
                    disputes=int(o.value == "disputed"),
                )
                out[o.signal_id][o.org_id] = out[o.signal_id][o.org_id] + add
        for si in s.scalars(select(SightingRow)):
            if si.signal_id in seen and ok(si.signal_id, si.org_id, si.basis):
                out[si.signal_id][si.org_id] = out[si.signal_id][si.org_id] + Counts(1, si.count)
    return out


def _scenario(db: Database, seed: int) -> tuple[list[Principal], list[str]]:
    rng = random.Random(seed)
    orgs = _orgs(db, KINDS)
    signals: list[str] = []
    with db.session() as s:
        store = ExchangeStore(s, now=T0)
        for v in range(4):
            for contributor in rng.sample(orgs, rng.randint(1, 3)):
                sig = store.submit_signal(
                    contributor, "hashtag", f"gen{seed}v{v}", marking=_marking(rng, orgs), confidence=60
                )
            signals.append(sig.id)
    for step in range(40):
        with db.session() as s:
            store = ExchangeStore(s, now=T0 + timedelta(hours=7 * step))
            giver = rng.choice(orgs)
            signal_id = rng.choice(signals)
            chosen = _marking(rng, orgs) if rng.random() < 0.4 else None
            try:
                if rng.random() < 0.5:
                    store.set_opinion(
                        giver, signal_id, rng.choice(VALUES), marking=chosen, clamp_marking=True
                    )
                else:
                    store.add_sighting(
                        giver,
                        signal_id,
                        count=rng.randint(1, 50),
                        first_seen=T0,
                        last_seen=T0 + timedelta(hours=1),
                        marking=chosen,
                        clamp_marking=True,
                    )
            except NotFound:
                continue  # the giver sees no contribution of it: nothing to give feedback on
    # contributions re-marked after the feedback: "were and still are" must hold
    with db.session() as s:
        store = ExchangeStore(s, now=T0 + timedelta(days=20))
        for c in s.scalars(select(ContributionRow)).all():
            if rng.random() < 0.4:
                owner = next(o for o in orgs if o.org_id == c.org_id)
                sig = store.get_signal(owner, c.signal_id)
                store.submit_signal(owner, "hashtag", sig.value, marking=_marking(rng, orgs))
    return orgs, signals


@pytest.mark.parametrize("seed", [1, 2])
def test_counts_agree_with_the_python_rule_for_every_reader(db: Database, seed: int) -> None:
    orgs, signals = _scenario(db, seed)
    compared = hidden_somewhere = 0
    everything = _expected(db, None)
    for reader in orgs:
        expected = _expected(db, reader)
        with db.session() as s:
            store = ExchangeStore(s)
            for signal_id in signals:
                try:
                    got = store.feedback_counts(reader, signal_id)
                except NotFound:
                    assert signal_id not in expected
                    continue
                want = {org: c for org, c in expected[signal_id].items()}
                have = {m.org_id: m.counts for m in got.members if m.counts != Counts()}
                assert have == want, (reader.org_id, signal_id)
                assert got.total == sum(want.values(), Counts())
                assert sum((d.counts for d in got.days), Counts()) == got.total
                for c in got.contributions:  # each contribution's history adds up to its total
                    assert sum((d.counts for d in c.days), Counts()) == c.total
                compared += 1
                if got.total != sum(everything[signal_id].values(), Counts()):
                    hidden_somewhere += 1
    assert compared >= 10
    assert hidden_somewhere >= 1  # the scenario does hide something from someone


def test_a_reader_never_sees_the_count_of_a_red_or_amber_opinion(db: Database) -> None:
    p1, p2, gov, lab = _orgs(db, ["platform", "platform", "government", "research"])
    with db.session() as s:
        store = ExchangeStore(s, now=T0)
        sig = store.submit_signal(p1, "domain", "meme-site.com", marking=Marking(TLP.GREEN))
        store.submit_signal(p2, "domain", "meme-site.com", marking=Marking(TLP.AMBER))
        # p2 (a platform, own contribution AMBER) calls it a false positive: platforms see it
        store.set_opinion(p2, sig.id, "false_positive")
        # lab confirms, but marks its opinion RED shared with p1 only
        store.set_opinion(lab, sig.id, "confirmed", marking=Marking(TLP.RED, (p1.org_id,)))
        store.add_sighting(p2, sig.id, count=40, first_seen=T0, last_seen=T0)
        store.add_sighting(gov, sig.id, count=3, first_seen=T0, last_seen=T0)
    with db.session() as s:
        store = ExchangeStore(s)
        as_gov = store.feedback_counts(gov, sig.id)
        as_p1 = store.feedback_counts(p1, sig.id)
        as_lab = store.feedback_counts(lab, sig.id)
    # the government sees neither p2's AMBER opinion and sighting nor lab's RED opinion
    assert {m.org_id for m in as_gov.members} == {gov.org_id}
    assert as_gov.total == Counts(sightings=1, matches=3)
    assert (as_gov.current.false_positives, as_gov.current.confirmations) == (0, 0)
    # p1 sees everything: it is a platform and named in lab's RED marking
    assert as_p1.total == Counts(sightings=2, matches=43, confirmations=1, false_positives=1)
    assert (as_p1.current.false_positives, as_p1.current.confirmations) == (1, 1)
    # per contribution: p2's AMBER feedback is given on p2's own contribution
    by_contribution = {c.org_id: c.total for c in as_p1.contributions}
    assert by_contribution[p2.org_id] == Counts(sightings=1, matches=40, false_positives=1)
    assert by_contribution[p1.org_id] == Counts(sightings=1, matches=3, confirmations=1)
    # the government sees p1's contribution only, and only its own sighting on it
    assert [(c.org_id, c.total) for c in as_gov.contributions] == [(p1.org_id, Counts(1, 3))]
    # lab (research) sees its own opinion but not p2's AMBER feedback
    assert as_lab.total == Counts(sightings=1, matches=3, confirmations=1)


@sqlite_only
def test_history_per_day_and_since(db: Database) -> None:
    src, a, b = _orgs(db, ["platform", "platform", "research"])
    with db.session() as s:
        sig = ExchangeStore(s, now=T0).submit_signal(
            src, "url", "https://x-site.com/a", marking=Marking(TLP.GREEN)
        )
    events = [
        (0, a, "sighting", 5),
        (0, b, "confirmed", 0),
        (1, a, "sighting", 7),
        (1, b, "false_positive", 0),
        (3, a, "disputed", 0),
        (3, b, "sighting", 2),
    ]
    for day, who, what, n in events:
        with db.session() as s:
            store = ExchangeStore(s, now=T0 + timedelta(days=day, hours=2))
            if what == "sighting":
                store.add_sighting(who, sig.id, count=n, first_seen=T0, last_seen=T0)
            else:
                store.set_opinion(who, sig.id, what)
    with db.session() as s:
        store = ExchangeStore(s)
        got = store.feedback_counts(src, sig.id)
        later = store.feedback_counts(src, sig.id, since=T0 + timedelta(days=1))
    assert [(d.day, d.counts) for d in got.contributions[0].days] == [(d.day, d.counts) for d in got.days]
    assert [(d.day, d.counts) for d in got.days] == [
        ("2026-11-02", Counts(sightings=1, matches=5, confirmations=1)),
        ("2026-11-03", Counts(sightings=1, matches=7, false_positives=1)),
        ("2026-11-05", Counts(sightings=1, matches=2, disputes=1)),
    ]
    members = {m.org_id: m for m in got.members}
    assert members[a.org_id].counts == Counts(sightings=2, matches=12, disputes=1)
    assert members[b.org_id].counts == Counts(sightings=1, matches=2, confirmations=1, false_positives=1)
    assert members[b.org_id].current == OpinionValue.FALSE_POSITIVE
    assert members[b.org_id].last_at == T0 + timedelta(days=3, hours=2)
    assert (got.current.false_positives, got.current.disputes, got.current.confirmations) == (1, 1, 0)
    assert later.total == Counts(sightings=2, matches=9, false_positives=1, disputes=1)
    assert [d.day for d in later.days] == ["2026-11-03", "2026-11-05"]


def test_feedback_received_by_the_source_sorted_paged_and_within_tlp(db: Database) -> None:
    src, other, p3, gov = _orgs(db, ["platform", "platform", "platform", "government"])
    ids = []
    with db.session() as s:
        store = ExchangeStore(s, now=T0)
        for i in range(5):
            ids.append(store.submit_signal(src, "hashtag", f"tag{i}", marking=Marking(TLP.GREEN)).id)
        hidden = store.submit_signal(other, "hashtag", "notmine", marking=Marking(TLP.GREEN)).id
    with db.session() as s:
        store = ExchangeStore(s, now=T0 + timedelta(days=1))
        for i, signal_id in enumerate(ids):
            store.add_sighting(other, signal_id, count=10 * (i + 1), first_seen=T0, last_seen=T0)
        store.set_opinion(gov, ids[0], "false_positive")
        store.set_opinion(p3, ids[0], "false_positive")
        store.set_opinion(p3, ids[1], "disputed")
        # RED, shared with nobody: the source must not learn of it
        store.set_opinion(other, ids[4], "false_positive", marking=Marking(TLP.RED))
        store.add_sighting(src, ids[3], count=999, first_seen=T0, last_seen=T0)  # its own: not "received"
        store.add_sighting(p3, hidden, count=5, first_seen=T0, last_seen=T0)
    with db.session() as s:
        store = ExchangeStore(s, now=T0 + timedelta(days=5))
        store.add_sighting(p3, ids[2], count=1, first_seen=T0, last_seen=T0)
    with db.session() as s:
        store = ExchangeStore(s)
        by_matches = store.feedback_received(src, limit=2)
        page2 = store.feedback_received(src, limit=2, offset=2)
        by_fp = store.feedback_received(src, sort="false_positives", limit=1)
        recent = store.feedback_received(src, since=T0 + timedelta(days=3))
        latest = store.feedback_received(src, sort="latest", limit=2)
        # the overview's two lists come from one grouping query: the same as asking SQL twice
        panel = received_panel(store, src)
        for sort, got in (("matches", panel.by_matches), ("false_positives", panel.by_false_positives)):
            assert got.items == store.feedback_received(src, sort=sort, limit=5).items
        with pytest.raises(InputError, match="sort"):
            store.feedback_received(src, sort="nonsense")
    assert by_matches.total == 5
    assert [i.signal_id for i in by_matches.items] == [ids[4], ids[3]]
    assert [i.counts.matches for i in by_matches.items + page2.items] == [50, 40, 31, 20]
    assert by_matches.items[0].counts.false_positives == 0  # the RED opinion stays hidden
    assert by_matches.totals == Counts(sightings=6, matches=151, false_positives=2, disputes=1)
    assert by_fp.items[0].signal_id == ids[0] and by_fp.items[0].members == 3
    assert [(i.signal_id, i.counts) for i in recent.items] == [(ids[2], Counts(1, 1))]
    assert latest.items[0].signal_id == ids[2] and latest.items[0].last_at == T0 + timedelta(days=5)
    assert latest.items[1].last_at == T0 + timedelta(days=1)


@sqlite_only
def test_counts_need_a_visible_signal(db: Database) -> None:
    p1, gov = _orgs(db, ["platform", "government"])
    with db.session() as s:
        store = ExchangeStore(s, now=T0)
        sig = store.submit_signal(p1, "domain", "quiet-site.org", marking=Marking(TLP.AMBER))
        with pytest.raises(NotFound):
            store.feedback_counts(gov, sig.id)
        with pytest.raises(NotFound):
            store.feedback_counts(gov, "indicator--00000000-0000-5000-8000-000000000000")


def test_decay_score_filter_pages_exactly_what_the_model_keeps(db: Database) -> None:
    """The signal listing's ``min_score`` (SQL: an age cutoff per base) keeps exactly the signals
    the Python model scores at least ``min_score`` for the reader; counts and pages agree."""
    rng = random.Random(7)
    orgs = _orgs(db, ["platform", "platform", "government", "research"])
    ids: list[str] = []
    for n in range(24):
        owner = rng.choice(orgs)
        with db.session() as s:
            store = ExchangeStore(s, now=T0 + timedelta(days=rng.uniform(0, 100)))
            marking = Marking(rng.choice([TLP.GREEN, TLP.GREEN, TLP.AMBER, TLP.RED]))
            sig = store.submit_signal(
                owner, "hashtag", f"decay{n}", marking=marking, confidence=rng.choice([30, 55, 80, 100])
            )
            ids.append(sig.id)
            if n % 5 == 0:
                store.revoke_signal(owner, sig.id)
    now = T0 + timedelta(days=100)
    with db.session() as s:
        store = ExchangeStore(s, now=now)
        for signal_id in ids:
            for giver in rng.sample(orgs, 2):
                with contextlib.suppress(NotFound):  # the giver may not see it
                    store.set_opinion(giver, signal_id, rng.choice(VALUES))
    # Sightings, some narrowed to fewer readers, restart the age of what their readers see; a
    # reporter's last_seen far in the future must not (the exchange's time counts).
    for signal_id in ids:
        for giver in rng.sample(orgs, 2):
            at = T0 + timedelta(days=rng.uniform(0, 100))
            with db.session() as s, contextlib.suppress(NotFound):
                ExchangeStore(s, now=at).add_sighting(
                    giver,
                    signal_id,
                    count=1,
                    first_seen=at,
                    last_seen=at + timedelta(days=3650),
                    marking=_marking(rng, orgs) if rng.random() < 0.5 else None,
                    clamp_marking=True,
                )
    model = DecayModel()
    restarted = 0
    for min_score in (20.0, 45.0):
        kept = seen = 0
        for reader in orgs:
            with db.session() as s:
                store = ExchangeStore(s, now=now)
                visible = [sig for sig in store.list_signals(reader, limit=500).items]
                current = store.current_feedback(reader, [sig.id for sig in visible])
                feedback = {}
                for sig in visible:  # the Python rule's sightings (list_sightings), not the SQL's
                    times = [x.created_at for x in store.list_sightings(reader, sig.id)]
                    opinions = current.get(sig.id, Feedback())
                    feedback[sig.id] = replace(opinions, last_sighting=max(times) if times else None)
                expected = {
                    sig.id
                    for sig in visible
                    if any(
                        model.score(c.modified_at, now, c.confidence, feedback[sig.id]) >= min_score
                        for c in sig.contributions
                        if not c.revoked
                    )
                }
                restarted += sum(
                    model.score(c.modified_at, now, c.confidence, feedback[sig.id])
                    > model.score(c.modified_at, now, c.confidence, current.get(sig.id))
                    for sig in visible
                    for c in sig.contributions
                    if not c.revoked
                )
                f = SignalFilter(min_score=min_score)
                walked: list[str] = []
                cursor = None
                while True:
                    page = store.list_signals(reader, f, limit=3, cursor=cursor)
                    walked += [sig.id for sig in page.items]
                    if not page.next_cursor:
                        break
                    cursor = page.next_cursor
                assert set(walked) == expected and len(walked) == len(expected), reader.org_id
                assert store.count_signals(reader, f) == len(expected)
                if expected:
                    assert store.last_signals_page(reader, f, limit=3).total == len(expected)
                kept, seen = kept + len(expected), seen + len(visible)
        assert 0 < kept < seen, min_score  # the filter kept some and dropped some
    assert restarted > 0  # some sightings did restart an age


def test_the_decay_settings_drive_the_exchanges_score_filter(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signal list's "score at least" and the signal page's scores use VIGIL_DECAY_*."""
    from vigil.core.settings import get_settings

    (org,) = _orgs(db, ["platform"])
    with db.session() as s:
        sig = ExchangeStore(s, now=T0).submit_signal(
            org, "hashtag", "decaysettings", marking=Marking(TLP.GREEN), confidence=60
        )
    now = T0 + timedelta(days=45)

    def kept() -> bool:
        with db.session() as s:
            store = ExchangeStore(s, now=now)
            return [x.id for x in store.list_signals(org, SignalFilter(min_score=30)).items] == [sig.id]

    assert not kept()  # 60 * (1 - (45/90) ** 0.5) = 17.6
    monkeypatch.setenv("VIGIL_DECAY_LIFETIME_DAYS", "180")
    monkeypatch.setenv("VIGIL_DECAY_SPEED", "1")
    get_settings.cache_clear()
    try:
        assert kept()  # 60 * (1 - 45/180) = 45
    finally:
        monkeypatch.delenv("VIGIL_DECAY_LIFETIME_DAYS")
        monkeypatch.delenv("VIGIL_DECAY_SPEED")
        get_settings.cache_clear()
