"""The signal quality loop with real matching on generated posts: flood quarantine, benign banks,
decay scores in rules. The index is built from contribution records directly (what a fetch
stores), so these tests need no exchange server."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from vigil.core.errors import InputError, NotFound
from vigil.match.actioner import ReviewQueue, run_actions
from vigil.match.benign import BenignBank
from vigil.match.decay import DecayModel, Feedback
from vigil.match.matcher import match_posts
from vigil.match.quarantine import FloodGuard, FloodPolicy, QuarantineStore
from vigil.match.rules import parse_rules
from vigil.match.state import ContributionRecord, MatchIndex, open_index
from vigil.schema.io import ParquetSink
from vigil.schema.tables import POSTS

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
RULES = parse_rules(
    "version: 1\nrules:\n  - name: all\n    when: {min_confidence: 0}\n    actions: {queue: true}\n"
)


def pdq(seed: int) -> str:
    return f"{random.Random(seed).getrandbits(256):064x}"


def flip_bits(code: str, positions: range | list[int]) -> str:
    value = int(code, 16)
    for p in positions:
        value ^= 1 << p
    return f"{value:064x}"


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def contribution(
    signal_id: str, kind: str, value: str, *, confidence: int = 80, modified: datetime = NOW
) -> ContributionRecord:
    return ContributionRecord(
        stix_id=f"indicator--{signal_id}",
        signal_id=signal_id,
        kind=kind,
        value=value,
        org_id="identity--source",
        tlp="GREEN",
        confidence=confidence,
        labels=[],
        modified=modified,
        valid_until=None,
        revoked=False,
        collection="coalition",
    )


def build_index(directory: Path, records: list[ContributionRecord]) -> MatchIndex:
    index = open_index(directory, create=True)
    for record in records:
        index.upsert(record)
    index.reconcile(NOW)
    return index


def write_posts(path: Path, images: list[list[str]], *, spread_minutes: int = 1) -> Path:
    rows: list[dict[str, Any]] = [
        {
            "platform": "twitter",
            "post_id": f"p{i}",
            "account_id": f"a{i % 97}",
            "account_handle": None,
            "created_at": NOW + timedelta(minutes=(i * spread_minutes) % 60),
            "text": None,
            "urls": [],
            "hashtags": [],
            "image_pdq": codes,
        }
        for i, codes in enumerate(images)
    ]
    import pyarrow as pa

    with ParquetSink(path, POSTS) as sink:
        sink.write(pa.Table.from_pylist(rows, schema=pa.schema([POSTS.schema.field(n) for n in rows[0]])))
    return path


MEME = pdq(1)
TARGET = pdq(2)


def flood_posts(path: Path) -> Path:
    """2,000 posts with unrelated images; posts 600-1399 carry the meme (re-encoded: a few bits
    off), posts 10, 700 and 1900 the real target."""
    images = [[pdq(1000 + i)] for i in range(2000)]
    for i in range(600, 1400):
        images[i] = [flip_bits(MEME, [i % 256, (i * 7) % 256])]
    for i in (10, 700, 1900):
        images[i].append(TARGET)
    return write_posts(path, images)


def flood_signals() -> list[ContributionRecord]:
    return [contribution("sig-meme", "image_pdq", MEME), contribution("sig-target", "image_pdq", TARGET)]


def test_a_planted_flood_is_quarantined_in_the_batch_that_starts_it(tmp_path: Path) -> None:
    index = build_index(tmp_path / "index", flood_signals())
    posts = flood_posts(tmp_path / "posts.parquet")
    policy = FloodPolicy(max_per_hour=None, max_share=0.05, min_posts=20)
    with QuarantineStore.of_index(tmp_path / "index") as store:
        guard = FloodGuard(store, policy, run_id="run-1")
        run = match_posts(posts, index, tmp_path / "out", batch_rows=500, now=NOW, guard=guard)
        assert run.quarantined == ["sig-meme"]
        [held] = store.items()
        # Batch 2 (posts 500-999) starts the flood: 400 meme posts of 1,000 read. It is quarantined
        # there, before batches 3 and 4 are read.
        assert held.signal_id == "sig-meme" and held.posts == 400 and held.run_id == "run-1"
        assert "400 of 1000 posts" in held.reason and held.org_ids == ["identity--source"]
        assert [e["action"] for e in store.log()] == ["quarantine"]
        quarantined = store.active()
    matches = pq.read_table(run.matches_path).to_pylist()
    meme_rows = sum(r["signal_id"] == "sig-meme" for r in matches)
    assert meme_rows == 800  # the matches are all kept; only acting on them is held
    assert run.matches_path is not None
    with ReviewQueue.of_index(tmp_path / "index") as queue:
        report = run_actions(run.matches_path, RULES, run_id=run.run_id, queue=queue, quarantined=quarantined)
        queued = {item["signal_id"] for item in queue.items(limit=10_000)}
    outcome = report.rules["all"]
    assert outcome.held_quarantined == 800 and outcome.queued_new == 3
    assert queued == {"sig-target"}


def test_hourly_limit_persists_across_runs_and_release_is_logged(tmp_path: Path) -> None:
    index = build_index(tmp_path / "index", flood_signals())
    policy = FloodPolicy(max_per_hour=100, max_share=None)
    first = write_posts(tmp_path / "a.parquet", [[MEME]] * 60 + [[TARGET]] * 5)
    second = write_posts(tmp_path / "b.parquet", [[MEME]] * 60)  # same hour, other posts
    with QuarantineStore.of_index(tmp_path / "index") as store:
        run = match_posts(first, index, tmp_path / "o1", now=NOW, guard=FloodGuard(store, policy, "r1"))
        assert run.quarantined == [] and store.active() == set()
        # Same post ids, but the ids are counted per run file: 60 + 60 > 100 in the hour.
        run = match_posts(second, index, tmp_path / "o2", now=NOW, guard=FloodGuard(store, policy, "r2"))
        assert run.quarantined == ["sig-meme"] and "120 posts in hour" in store.items()[0].reason
        with pytest.raises(InputError):
            store.release("sig-meme", actor=" ")
        released = store.release("sig-meme", actor="analyst@us", note="a real campaign image after all")
        assert released.status == "released" and store.active() == set()
        with pytest.raises(NotFound):
            store.release("sig-meme", actor="analyst@us")
        log = store.log("sig-meme")
        assert [e["action"] for e in log] == ["quarantine", "release"] and log[1]["actor"] == "analyst@us"
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            store._db.execute("DELETE FROM quarantine_log")
        # After release, the counts start again: one more file of 60 does not re-quarantine.
        run = match_posts(second, index, tmp_path / "o3", now=NOW, guard=FloodGuard(store, policy, "r3"))
        assert run.quarantined == []


def test_flood_policy_rejects_bad_limits() -> None:
    with pytest.raises(InputError, match="max_share"):
        FloodPolicy(max_share=1.5)
    with pytest.raises(InputError, match="max_per_hour"):
        FloodPolicy(max_per_hour=0)


def test_a_benign_bank_entry_suppresses_a_near_duplicate_pdq_match(tmp_path: Path) -> None:
    signal = pdq(3)
    banked = flip_bits(signal, range(0, 20))  # the news photo, as the benign bank holds it
    near_benign = flip_bits(signal, range(0, 15))  # 15 bits from the signal, 5 from the benign entry
    far_from_benign = flip_bits(signal, range(100, 120))  # 20 from the signal, 40 from the benign entry
    assert (hamming(near_benign, signal), hamming(near_benign, banked)) == (15, 5)
    assert (hamming(far_from_benign, signal), hamming(far_from_benign, banked)) == (20, 40)
    index = build_index(tmp_path / "index", [contribution("sig-photo", "image_pdq", signal)])
    posts = write_posts(tmp_path / "posts.parquet", [[near_benign], [far_from_benign], [pdq(9)]])
    without = match_posts(posts, index, tmp_path / "o1", now=NOW)
    assert without.matches == 2
    with BenignBank.of_index(tmp_path / "index") as bank:
        assert bank.add("image_pdq", [banked], label="news photo", tlp="green") == 1
        assert bank.add("image_pdq", [banked.upper()]) == 0  # normalized: the same entry
        run = match_posts(posts, index, tmp_path / "o2", now=NOW, benign=bank)
    assert run.suppressed_benign == 1 and run.matches == 1
    assert [r["post_id"] for r in pq.read_table(run.matches_path).to_pylist()] == ["p1"]


def test_benign_bank_management_and_sharing_by_tlp(tmp_path: Path) -> None:
    listing = tmp_path / "popular.yaml"
    listing.write_text("name: popular-domains\nkinds: [domain]\nvalues: [Wikipedia.org, bbc.co.uk]\n")
    with BenignBank.of_index(tmp_path / "index") as bank:
        assert bank.import_list(listing, tlp="CLEAR") == 2
        bank.add("url", ["https://www.service-public.fr/particuliers/aide"], tlp="AMBER")
        assert {e.value for e in bank.entries("domain")} == {"wikipedia.org", "bbc.co.uk"}
        assert {e.kind for e in bank.entries(shareable_with="GREEN")} == {"domain"}
        assert len(bank.entries(shareable_with="AMBER")) == 3
        assert bank.benign_values("domain", ["wikipedia.org", "example.org"]) == {"wikipedia.org"}
        with pytest.raises(InputError, match="narrative"):
            bank.add("narrative", ["x"])
        with pytest.raises(InputError, match="TLP"):
            bank.add("domain", ["x.org"], tlp="PURPLE")
        with pytest.raises(InputError):
            bank.add("image_pdq", ["not a hash"])
        removed = bank.remove(bank.entries("domain")[0].id)
        assert removed.value == "wikipedia.org"
        assert bank.benign_values("domain", ["wikipedia.org"]) == set()
        with pytest.raises(NotFound):
            bank.remove(removed.id)


def test_decay_worked_example_and_bounds() -> None:
    model = DecayModel()  # lifetime 90 days, decay_speed 2, threshold 20
    assert model.score_at(0, 80) == 80
    assert model.score_at(30, 80, Feedback(confirmations=2, disputes=1)) == pytest.approx(33.81, abs=0.01)
    assert model.score_at(90, 100) == 0 and model.score_at(-1, 50) == 50
    assert model.score_at(10, 80, Feedback(false_positives=4)) == 0  # the base cannot go negative
    assert model.score_at(45, 60) < model.score_at(45, 60, Feedback(confirmations=1))
    linear = DecayModel(decay_speed=1)
    assert linear.score_at(45, 80) == pytest.approx(40)
    assert model.decayed(model.score_at(60, 80)) and not model.decayed(model.score_at(10, 80))
    with pytest.raises(InputError, match="decay_speed"):
        DecayModel(decay_speed=0)


def test_rules_use_the_decay_score_and_feedback(tmp_path: Path) -> None:
    fresh, old = pdq(4), pdq(5)
    index = build_index(
        tmp_path / "index",
        [
            contribution("sig-fresh", "image_pdq", fresh),
            contribution("sig-old", "image_pdq", old, confidence=60, modified=NOW - timedelta(days=45)),
        ],
    )
    posts = write_posts(tmp_path / "posts.parquet", [[fresh], [old]])
    run = match_posts(posts, index, tmp_path / "out", now=NOW)
    scores = {r["signal_id"]: r["score"] for r in pq.read_table(run.matches_path).to_pylist()}
    assert scores == {"sig-fresh": 80.0, "sig-old": pytest.approx(17.57, abs=0.01)}
    rules = parse_rules(
        "version: 1\nrules:\n  - name: scored\n    when: {min_score: 20}\n    actions: {queue: true}\n"
    )
    assert run.matches_path is not None
    with ReviewQueue.of_index(tmp_path / "index") as queue:
        run_actions(run.matches_path, rules, run_id=run.run_id, queue=queue)
        assert {i["signal_id"] for i in queue.items()} == {"sig-fresh"}
    # Members confirmed the old signal: its score rises above the rule's minimum.
    run = match_posts(
        posts, index, tmp_path / "out2", now=NOW, feedback={"sig-old": Feedback(confirmations=3)}
    )
    scores = {r["signal_id"]: r["score"] for r in pq.read_table(run.matches_path).to_pylist()}
    assert scores["sig-old"] == pytest.approx(21.97, abs=0.01)
    # Revocation still removes at once, whatever the score.
    index.contributions["indicator--sig-fresh"].revoked = True
    index.reconcile(NOW)
    run = match_posts(posts, index, tmp_path / "out3", now=NOW)
    assert {r["signal_id"] for r in pq.read_table(run.matches_path).to_pylist()} == {"sig-old"}


def test_cli_run_quarantines_a_flood_and_manages_benign_bank_and_release(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vigil.cli.app import app

    runner = CliRunner()
    index = build_index(tmp_path / "index", flood_signals())
    index.save()
    posts = flood_posts(tmp_path / "posts.parquet")
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\nrules:\n  - name: all\n    when: {min_confidence: 0}\n    actions: {queue: true}\n"
    )
    idx = str(tmp_path / "index")
    result = runner.invoke(
        app,
        ["match", "run", str(posts), "--index", idx, "--out", str(tmp_path / "out"), "--rules", str(rules)],
    )
    assert result.exit_code == 0, result.output
    assert "quarantined (flood): sig-meme" in result.output
    with ReviewQueue.of_index(tmp_path / "index") as queue:
        assert {i["signal_id"] for i in queue.items(limit=10_000)} == {"sig-target"}
    result = runner.invoke(app, ["match", "quarantine", "--index", idx, "--release", "sig-meme"])
    assert isinstance(result.exception, InputError) and "--by" in str(result.exception)
    result = runner.invoke(
        app, ["match", "quarantine", "--index", idx, "--release", "sig-meme", "--by", "ana"]
    )
    assert result.exit_code == 0 and "released sig-meme" in result.output
    result = runner.invoke(
        app,
        ["match", "benign", "--index", idx, "--kind", "image_pdq", "--add", TARGET, "--label", "press photo"],
    )
    assert result.exit_code == 0 and "1 entr(ies) added" in result.output
    result = runner.invoke(app, ["match", "benign", "--index", idx, "--kind", "image_pdq", "--add", "zz"])
    assert isinstance(result.exception, InputError) and "image_pdq" in str(result.exception)
    result = runner.invoke(
        app,
        ["match", "run", str(posts), "--index", idx, "--out", str(tmp_path / "o2"), "--flood-share", "0"],
    )
    assert result.exit_code == 0, result.output
    assert "in the benign bank" in result.output and "quarantined" not in result.output
    assert {r["signal_id"] for r in pq.read_table(tmp_path / "o2" / "matches.parquet").to_pylist()} == {
        "sig-meme"
    }


def test_retroactive_matching_finds_new_signals_in_recent_stored_posts_only(tmp_path: Path) -> None:
    from vigil.match.retro import retro_match, signals_since
    from vigil.match.sightings import sightings_from_summary

    old_signal, new_signal, new_too = pdq(11), pdq(12), pdq(13)
    index = build_index(
        tmp_path / "index",
        [
            contribution("sig-old", "image_pdq", old_signal, modified=NOW - timedelta(days=3)),
            contribution("sig-new", "image_pdq", new_signal, modified=NOW - timedelta(hours=1)),
            contribution("sig-new2", "image_pdq", new_too, modified=NOW - timedelta(hours=2)),
        ],
    )
    new = signals_since(index, NOW - timedelta(days=1))
    assert new == {"sig-new", "sig-new2"}
    import pyarrow as pa

    rows = [
        {
            "platform": "twitter",
            "post_id": f"p{i}",
            "account_id": "a",
            "created_at": NOW - timedelta(days=age),
            "image_pdq": [code],
        }
        for i, (age, code) in enumerate(
            [
                (2, flip_bits(new_signal, range(10))),
                (10, new_signal),
                (40, new_signal),
                (1, old_signal),
                (5, new_too),
            ]
        )
    ]
    path = tmp_path / "stored.parquet"
    with ParquetSink(path, POSTS) as sink:
        sink.write(pa.Table.from_pylist(rows, schema=pa.schema([POSTS.schema.field(n) for n in rows[0]])))
    run = retro_match(path, index, new, tmp_path / "retro", days=30, now=NOW, batch_rows=2)
    assert run.posts_too_old == 1 and run.posts_read == 4
    found = sorted((r["post_id"], r["signal_id"]) for r in pq.read_table(run.matches_path).to_pylist())
    assert found == [("p0", "sig-new"), ("p1", "sig-new"), ("p4", "sig-new2")]  # not the old signal's p3
    assert run.summary_path is not None
    drafts = {d.signal_id: d.count for d in sightings_from_summary(run.summary_path)}
    assert drafts == {"sig-new": 2, "sig-new2": 1}
    with pytest.raises(InputError, match="days"):
        retro_match(path, index, new, tmp_path / "r2", days=0, now=NOW)


def test_the_decay_settings_drive_the_matchers_scores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VIGIL_DECAY_* reach the matcher (and, tests/exchange/test_feedback_counts.py, the exchange)."""
    from vigil.core.errors import ConfigError
    from vigil.core.settings import get_settings, load_settings

    old = pdq(5)
    index = build_index(
        tmp_path / "index",
        [contribution("sig-old", "image_pdq", old, confidence=60, modified=NOW - timedelta(days=45))],
    )
    posts = write_posts(tmp_path / "posts.parquet", [[old]])

    def score(out: str) -> float:
        run = match_posts(posts, index, tmp_path / out, now=NOW)
        return float(pq.read_table(run.matches_path).to_pylist()[0]["score"])

    assert score("default") == pytest.approx(17.57, abs=0.01)  # 90 days, speed 2
    monkeypatch.setenv("VIGIL_DECAY_LIFETIME_DAYS", "180")
    monkeypatch.setenv("VIGIL_DECAY_SPEED", "1")
    get_settings.cache_clear()
    try:
        assert DecayModel.configured() == DecayModel(lifetime_days=180, decay_speed=1)
        assert score("tuned") == pytest.approx(45.0)  # 60 * (1 - 45/180)
        monkeypatch.setenv("VIGIL_DECAY_SPEED", "0")
        with pytest.raises(ConfigError, match="decay_speed"):
            load_settings()
    finally:
        monkeypatch.delenv("VIGIL_DECAY_LIFETIME_DAYS")
        monkeypatch.delenv("VIGIL_DECAY_SPEED")
        get_settings.cache_clear()
