"""Feedback counted in SQL vs row by row in Python (issue #18, part 1).

A coalition of 8 members shares S signals (one contribution each, markings mixed); members give
F pieces of feedback (opinions, several per member over time, and sightings), some with a marking of
their own. Then, for one reader, both sides compute the same thing:

* **Vigil**: ``ExchangeStore.feedback_received`` (what the reader's contributions received, per
  signal, sorted by matches) and ``feedback_counts`` of its busiest signal: the visibility rule as
  one SQL predicate, counted with GROUP BY;
* **peer**: the way reading feedback one by one works (``policy.may_see_stored_feedback`` per row,
  as the TAXII projection and the signal view do): load every feedback row of the reader's signals,
  check each in Python, count in a dict.

Both must give the same counts (checked). Rows are inserted in bulk (not through the store) so the
data is made in seconds; the basis lists are the ones the store would write.

    python bench/feedback_counts.py --signals 5000 --feedback 100000
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from vigil.core.ids import stable_id
from vigil.db import Database
from vigil.exchange.models import ContributionRow, OpinionHistoryRow, SightingRow, SignalRow
from vigil.exchange.policy import Basis, feedback_json, may_see_stored_feedback
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore, SignalFilter
from vigil.signals.decay import DecayModel

KINDS = ["platform", "platform", "platform", "government", "government", "research", "research", "platform"]
T_EVAL = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=1)  # the listing's "now"
MIN_SCORE = 30.0
TLPS = [TLP.GREEN, TLP.GREEN, TLP.GREEN, TLP.AMBER, TLP.AMBER_STRICT, TLP.RED]


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def build(db: Database, signals: int, feedback: int, rng: random.Random) -> list[str]:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    with db.session() as s:
        store = ExchangeStore(s)
        orgs = [store.create_org(None, f"bench-{i}", k).id for i, k in enumerate(KINDS)]
    with db.session() as s:
        sig_rows, con_rows = [], []
        for n in range(signals):
            sid = stable_id("indicator", "hashtag", f"bench{n}")
            owner = orgs[n % len(orgs)]
            sig_rows.append(
                {
                    "id": sid,
                    "kind": "hashtag",
                    "value": f"bench{n}",
                    "language": None,
                    "created_at": t0,
                    "modified_at": t0,
                }
            )
            con_rows.append(
                {
                    "id": n + 1,
                    "signal_id": sid,
                    "org_id": owner,
                    "tlp": rng.choice(TLPS).value,
                    "confidence": rng.choice([40, 60, 80, 100]),
                    "version": 1,
                    "created_at": t0,
                    # ages spread over the model's 90-day lifetime and beyond
                    "modified_at": t0 - timedelta(days=rng.uniform(0, 100)),
                }
            )
        s.execute(insert(SignalRow), sig_rows)
        s.execute(insert(ContributionRow), con_rows)
        ops, sights = [], []
        for i in range(feedback):
            c = con_rows[
                min(int(rng.paretovariate(1.2)) - 1, signals - 1) if i % 3 else rng.randrange(signals)
            ]
            giver = rng.choice(orgs)
            basis = [Basis(c["id"], c["org_id"], TLP(c["tlp"]))]
            cap = Marking(TLP.RED, (rng.choice(orgs),)) if rng.random() < 0.1 else None
            row = {
                "signal_id": c["signal_id"],
                "org_id": giver,
                "created_at": t0 + timedelta(minutes=i),
                "basis": feedback_json(basis, cap),
            }
            if i % 2:
                ops.append(
                    {**row, "value": rng.choice(["confirmed", "false_positive", "disputed"]), "comment": None}
                )
            else:
                sights.append(
                    {**row, "count": rng.randint(1, 500), "first_seen": t0, "last_seen": t0, "platform": None}
                )
        s.execute(insert(OpinionHistoryRow), ops)
        s.execute(insert(SightingRow), sights)
    return orgs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--signals", type=int, default=5000)
    parser.add_argument("--feedback", type=int, default=100_000)
    args = parser.parse_args()
    rng = random.Random(18)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}", auto_upgrade=True)
        started = time.perf_counter()
        orgs = build(db, args.signals, args.feedback, rng)
        made = time.perf_counter() - started
        print(f"made {args.signals} signals and {args.feedback} feedback rows in {made:.1f} s")
        reader_org = orgs[0]
        with db.session() as s:
            store = ExchangeStore(s)
            _, key = store.create_key(None, reader_org, "analyst")
        with db.session() as s:
            store = ExchangeStore(s, now=T_EVAL)
            reader = store.authenticate(key)

            c0, w0 = cpu(), time.perf_counter()
            page = store.feedback_received(reader, limit=10_000)
            vigil_cpu, vigil_wall = cpu() - c0, time.perf_counter() - w0
            got = {
                i.signal_id: (
                    i.counts.sightings,
                    i.counts.matches,
                    i.counts.confirmations,
                    i.counts.false_positives,
                    i.counts.disputes,
                )
                for i in page.items
            }

            c0, w0 = cpu(), time.perf_counter()
            mine = {
                c.id: c.signal_id
                for c in s.scalars(select(ContributionRow).where(ContributionRow.org_id == reader.org_id))
            }
            seen: dict[str, set[int]] = defaultdict(set)
            for c in s.scalars(select(ContributionRow).where(store._contribution_visible(reader))):
                seen[c.signal_id].add(c.id)
            counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
            signal_ids = list(set(mine.values()))
            for chunk in (signal_ids[i : i + 500] for i in range(0, len(signal_ids), 500)):
                for model in (OpinionHistoryRow, SightingRow):
                    for row in s.scalars(select(model).where(model.signal_id.in_(chunk))):
                        if row.org_id == reader.org_id:
                            continue
                        if not any(b.get("c") in mine for b in row.basis or ()):
                            continue
                        if not may_see_stored_feedback(
                            reader, row.org_id, row.basis, seen[row.signal_id], store.org_kind
                        ):
                            continue
                        k = counts[row.signal_id]
                        if isinstance(row, SightingRow):
                            k[0] += 1
                            k[1] += row.count
                        else:
                            k[2 + ["confirmed", "false_positive", "disputed"].index(row.value)] += 1
            peer_cpu, peer_wall = cpu() - c0, time.perf_counter() - w0
            expected = {sid: tuple(v) for sid, v in counts.items()}

            c0, w0 = cpu(), time.perf_counter()
            busiest = page.items[0].signal_id
            one = store.feedback_counts(reader, busiest)
            one_cpu = cpu() - c0

            # the decay-score filter: the listing's count and first page, in SQL
            wanted = SignalFilter(min_score=MIN_SCORE)
            c0 = cpu()
            total = store.count_signals(reader, wanted)
            first = store.list_signals(reader, wanted, limit=50).items
            sql_cpu = cpu() - c0
            # peer: every visible signal read and scored in Python, then counted and cut
            c0 = cpu()
            scored: list[str] = []
            cursor = None
            model = DecayModel()
            while True:
                chunk = store.list_signals(reader, limit=1000, cursor=cursor)
                current = store.current_feedback(reader, [x.id for x in chunk.items])
                scored += [
                    x.id
                    for x in chunk.items
                    if any(
                        model.score(c.modified_at, T_EVAL, c.confidence, current.get(x.id)) >= MIN_SCORE
                        for c in x.contributions
                        if not c.revoked
                    )
                ]
                if not chunk.next_cursor:
                    break
                cursor = chunk.next_cursor
            py_cpu = cpu() - c0
            assert total == len(scored) and [x.id for x in first] == scored[:50], "the filters disagree"
        assert got == expected, "the SQL counts and the Python rule disagree"
        print(f"reader {reader.org_id[:18]}: {len(got)} contributions received feedback (counts identical)")
        print(
            f"{'Vigil feedback_received (SQL GROUP BY)':44s} CPU {vigil_cpu:6.2f} s  wall {vigil_wall:6.2f} s"
        )
        print(
            f"{'peer: every row, may_see_stored_feedback':44s} CPU {peer_cpu:6.2f} s  wall {peer_wall:6.2f} s"
        )
        print(
            f"{'Vigil feedback_counts of the busiest signal':44s} CPU {one_cpu:6.3f} s  "
            f"({len(one.members)} members, {sum(one.total.to_dict().values()) - one.total.matches} events)"
        )
        print(f"decay score >= {MIN_SCORE:g}: {total} of the reader's visible signals (same set both ways)")
        print(f"{'Vigil count + first page (SQL age cutoff)':44s} CPU {sql_cpu:6.2f} s")
        print(f"{'peer: read and score every visible signal':44s} CPU {py_cpu:6.2f} s")
        db.dispose()


if __name__ == "__main__":
    main()
