"""Matches reported back as sightings through the exchange's API: the signal's owner sees them, an
organisation that cannot see the signal does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.match._planted import plant_posts, plant_signals
from tests.match.conftest import T0, Coalition
from vigil.core.errors import PermissionDenied
from vigil.match.fetch import fetch_signals
from vigil.match.matcher import match_posts
from vigil.match.sightings import SightingLedger, report_sightings, sightings_from_summary
from vigil.match.state import open_index


def test_sightings_reach_the_owner_and_nobody_who_cannot_see_the_signal(
    sqlite_exchange: Coalition, tmp_path: Path
) -> None:
    ex = sqlite_exchange
    ids = plant_signals(ex)
    fetch_signals(tmp_path / "index", ex.base_url, ex.keys["us"])
    posts, _ = plant_posts(tmp_path / "posts.parquet")
    run = match_posts(posts, open_index(tmp_path / "index"), tmp_path / "out")
    assert run.summary_path is not None
    drafts = sightings_from_summary(run.summary_path)
    assert len(drafts) == 7

    report = report_sightings(ex.base_url, ex.keys["us"], drafts)
    assert report.reported == 7 and not report.not_visible and not report.failed
    assert report.posts == 10  # url 3, hashtag 2, five signals seen once

    with ex.api("source") as owner:
        sightings = owner.get(f"/signals/{ids['url']}/sightings").json()
        (sighting,) = sightings
        assert sighting["org_id"] == ex.orgs["us"] and sighting["count"] == 3
        assert sighting["platform"] == "twitter"
        assert sighting["first_seen"].startswith(T0.replace(minute=1).strftime("%Y-%m-%dT%H:%M"))
        assert sighting["last_seen"].startswith(T0.replace(minute=15).strftime("%Y-%m-%dT%H:%M"))
        (amber,) = owner.get(f"/signals/{ids['account']}/sightings").json()
        assert amber["org_id"] == ex.orgs["us"] and amber["count"] == 1
    with ex.api("gov") as gov:
        # The account signal is the source platform's AMBER: the government partner cannot see it,
        # nor the sighting of it.
        assert gov.get(f"/signals/{ids['account']}/sightings").status_code == 404
        assert gov.get(f"/signals/{ids['account']}").status_code == 404
        # A GREEN signal's sighting is visible to every member who can see the signal.
        assert [s["count"] for s in gov.get(f"/signals/{ids['url']}/sightings").json()] == [3]


def test_a_read_only_key_cannot_report_and_nothing_is_half_reported(
    sqlite_exchange: Coalition, tmp_path: Path
) -> None:
    ex = sqlite_exchange
    ids = plant_signals(ex)
    fetch_signals(tmp_path / "index", ex.base_url, ex.keys["us"])
    posts, _ = plant_posts(tmp_path / "posts.parquet")
    run = match_posts(posts, open_index(tmp_path / "index"), tmp_path / "out")
    assert run.summary_path is not None
    reader = ex.store(lambda s: s.create_key(None, ex.orgs["us"], "read-only")[1])
    with pytest.raises(PermissionDenied, match="may not report"):
        report_sightings(ex.base_url, reader, sightings_from_summary(run.summary_path))
    with ex.api("source") as owner:
        assert owner.get(f"/signals/{ids['url']}/sightings").json() == []


def test_the_ledger_keeps_a_repeated_run_from_reporting_twice(
    sqlite_exchange: Coalition, tmp_path: Path
) -> None:
    ex = sqlite_exchange
    ids = plant_signals(ex)
    fetch_signals(tmp_path / "index", ex.base_url, ex.keys["us"])
    posts, _ = plant_posts(tmp_path / "posts.parquet")
    run = match_posts(posts, open_index(tmp_path / "index"), tmp_path / "out")
    assert run.summary_path is not None
    drafts = sightings_from_summary(run.summary_path)
    with SightingLedger.of_index(tmp_path / "index") as ledger:
        assert report_sightings(ex.base_url, ex.keys["us"], drafts, ledger=ledger).reported == 7
    with SightingLedger.of_index(tmp_path / "index") as ledger:
        again = report_sightings(ex.base_url, ex.keys["us"], drafts, ledger=ledger)
    assert (again.reported, again.already_reported) == (0, 7)
    with ex.api("source") as owner:
        assert [s["count"] for s in owner.get(f"/signals/{ids['url']}/sightings").json()] == [3]
