"""Can a member tell, by timing, that another member holds a value it may not see? (issue #15)

Org A holds N values as unshared RED contributions (with an opinion and a sighting each). Org C,
a government member that may not see them, then times, interleaved in random order:

* ``submit``: submitting a value A holds hidden vs a fresh value (one transaction each, as REST
  does: submit, build C's view, audit entry, commit);
* ``read-missing``: reading (get by id) a value A holds hidden vs one nobody holds (both 404);
* ``read-own``: reading back a value C submitted, held by A too vs not.

For each it prints the medians, the median difference with a bootstrap 95% interval, the
Mann-Whitney U p-value, and the accuracy of the best single-request threshold guess ("is this value
held?"; 0.5 = coin toss). Distinguishable here means p < 0.01 *and* a best guess above 0.55.

    python bench/oracle_timing.py --reps 400                # SQLite and PostgreSQL
    python bench/oracle_timing.py --reps 400 --backend sqlite

Times are measured in-process at the store (no HTTP, no network jitter), the most favourable place
for an attacker; over HTTP the same difference sits under far more noise.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scipy.stats import mannwhitneyu

from vigil.core.errors import NotFound
from vigil.core.ids import stable_id
from vigil.db import Database
from vigil.exchange.access import Principal
from vigil.exchange.records import TLP, Marking, OrgKind, Role
from vigil.exchange.store import ExchangeStore

sys.path.insert(0, str(Path(__file__).parent))
from exchange_store import _postgres  # a sibling bench script: the throw-away cluster


def _value() -> str:
    return f"held-or-not-{uuid.uuid4().hex[:16]}.info"


def _setup(db: Database) -> tuple[Principal, Principal]:
    with db.session() as s:
        store = ExchangeStore(s)
        a = store.create_org(None, f"A {uuid.uuid4().hex[:6]}", "platform")
        c = store.create_org(None, f"C {uuid.uuid4().hex[:6]}", "government")
    return (
        Principal(key_id="bench-a", org_id=a.id, org_kind=OrgKind.PLATFORM, role=Role.ANALYST),
        Principal(key_id="bench-c", org_id=c.id, org_kind=OrgKind.GOVERNMENT, role=Role.ANALYST),
    )


def _hold(db: Database, a: Principal, values: list[str]) -> None:
    now = datetime.now(UTC)
    with db.session() as s:
        store = ExchangeStore(s)
        for v in values:
            sig = store.submit_signal(a, "domain", v, marking=Marking(TLP.RED), language="ar", tags=["x"])
            store.set_opinion(a, sig.id, "confirmed", "hidden comment")
            store.add_sighting(a, sig.id, count=3, first_seen=now - timedelta(days=1), last_seen=now)


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    with contextlib.suppress(NotFound):  # the reads of hidden or missing values answer 404
        fn()
    return (time.perf_counter() - start) * 1e3


def _fit(held: list[float], fresh: list[float]) -> tuple[float, bool]:
    """The threshold (and side) that best separates the two samples (balanced accuracy)."""
    labelled = sorted([(t, 1) for t in held] + [(t, 0) for t in fresh])
    below1 = below0 = 0
    best = (0.5, labelled[0][0], True)
    for t, label in labelled:
        if label:
            below1 += 1
        else:
            below0 += 1
        acc = 0.5 * (below1 / len(held) + (len(fresh) - below0) / len(fresh))  # "held if <= t"
        best = max(best, (acc, t, True), (1 - acc, t, False))
    return best[1], best[2]


def _best_guess(held: list[float], fresh: list[float]) -> float:
    """Accuracy of a threshold guess on one request ("held?"), two-fold cross-validated: fitted
    on one half of the samples, scored on the other (0.5 = a coin toss)."""
    scores = []
    for fit, test in ((0, 1), (1, 0)):
        t, low_is_held = _fit(held[fit::2], fresh[fit::2])
        right_held = sum((x <= t) == low_is_held for x in held[test::2]) / len(held[test::2])
        right_fresh = sum((x <= t) != low_is_held for x in fresh[test::2]) / len(fresh[test::2])
        scores.append(0.5 * (right_held + right_fresh))
    return statistics.mean(scores)


def _bootstrap(
    held: list[float], fresh: list[float], rng: random.Random, rounds: int = 2000
) -> tuple[float, float]:
    diffs = sorted(
        statistics.median(rng.choices(held, k=len(held)))
        - statistics.median(rng.choices(fresh, k=len(fresh)))
        for _ in range(rounds)
    )
    return diffs[int(0.025 * rounds)], diffs[int(0.975 * rounds)]


def run(url: str, reps: int, seed: int) -> list[tuple[str, ...]]:
    rng = random.Random(seed)
    db = Database(url, auto_upgrade=True)
    a, c = _setup(db)
    held_values = [_value() for _ in range(reps)]
    _hold(db, a, held_values)
    fresh_values = [_value() for _ in range(reps)]
    warm = [_value() for _ in range(20)]
    for v in warm:  # warm caches and connections before measuring
        with db.session() as s:
            ExchangeStore(s).submit_signal(c, "domain", v, marking=Marking(TLP.GREEN))

    def submit(value: str) -> Callable[[], object]:
        def go() -> None:
            with db.session() as s:
                ExchangeStore(s).submit_signal(c, "domain", value, marking=Marking(TLP.GREEN))

        return go

    def read(value: str) -> Callable[[], object]:
        signal_id = stable_id("indicator", "domain", value)

        def go() -> None:
            with db.session() as s:
                ExchangeStore(s).get_signal(c, signal_id)

        return go

    rows: list[tuple[str, ...]] = []
    missing_values = [_value() for _ in range(reps)]
    plans: list[tuple[str, list[str], list[str], Callable[[str], Callable[[], object]]]] = [
        ("read-missing", held_values, missing_values, read),
        ("submit", held_values, fresh_values, submit),
        ("read-own", held_values, fresh_values, read),
    ]
    for name, held_list, fresh_list, make in plans:
        order = [(True, v) for v in held_list] + [(False, v) for v in fresh_list]
        rng.shuffle(order)
        times: dict[bool, list[float]] = {True: [], False: []}
        for is_held, value in order:
            times[is_held].append(_timed(make(value)))
        held_t, fresh_t = times[True], times[False]
        low, high = _bootstrap(held_t, fresh_t, rng)
        p = float(mannwhitneyu(held_t, fresh_t).pvalue)
        guess = _best_guess(held_t, fresh_t)
        rows.append(
            (
                name,
                f"{statistics.median(held_t):.3f}",
                f"{statistics.median(fresh_t):.3f}",
                f"{statistics.median(held_t) - statistics.median(fresh_t):+.3f}",
                f"[{low:+.3f}, {high:+.3f}]",
                f"{p:.3g}",
                f"{guess:.3f}",
                "yes" if p < 0.01 and guess > 0.55 else "no",
            )
        )
    db.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=400, help="requests per class and operation")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    header = ("operation", "held ms", "fresh ms", "diff ms", "95% CI", "p (MWU)", "best guess", "tells?")
    results: list[tuple[str, tuple[str, ...]]] = []
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            for row in run(f"sqlite:///{tmp}/oracle.db", args.reps, args.seed):
                results.append(("sqlite", row))
    if args.backend in ("postgresql", "both"):
        with _postgres() as url:
            for row in run(url, args.reps, args.seed):
                results.append(("postgresql", row))
    print(f"{args.reps} requests per class; value held hidden by another member vs not (load: see uptime)")
    widths = [10] + [max(len(h), 12) for h in header]
    print("  ".join(h.ljust(w) for h, w in zip(("backend", *header), widths, strict=True)))
    for backend, row in results:
        print("  ".join(v.ljust(w) for v, w in zip((backend, *row), widths, strict=True)))


if __name__ == "__main__":
    main()
