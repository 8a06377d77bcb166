"""A briefing over a day or less counts per hour and labels the charts' x axis with hours
(issue #20: "charts draw lines for one day of data"); longer ranges stay per day. Both backends."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from vigil.cases.briefing import BriefingService
from vigil.cases.render import briefing_charts
from vigil.db import Database
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore

from ..exchange.conftest import db, db_url  # noqa: F401  (fixtures)

SVG = "{http://www.w3.org/2000/svg}"
NOW = datetime(2026, 12, 7, 9, 40, tzinfo=UTC)


def test_one_day_counts_per_hour_with_hour_labels(db: Database) -> None:  # noqa: F811
    with db.session() as session:
        setup = ExchangeStore(session, now=NOW - timedelta(days=5))
        org = setup.create_org(None, "Hourly platform", "platform")
        _, key = setup.create_key(None, org.id, "analyst")
        reader = setup.authenticate(key)
        # 3 signals at 02:xx, 1 at 07:xx today; 2 five days back (outside the one-day range)
        for n, at in enumerate([NOW.replace(hour=2, minute=m) for m in (5, 20, 55)] + [NOW.replace(hour=7)]):
            ExchangeStore(session, now=at).submit_signal(
                reader, "domain", f"hour-{n}.com", marking=Marking(TLP.GREEN)
            )
        for n in range(2):
            ExchangeStore(session, now=NOW - timedelta(days=5)).submit_signal(
                reader, "domain", f"old-{n}.com", marking=Marking(TLP.GREEN)
            )

        day = BriefingService(session, reader, now=NOW).build(timedelta(days=1))
        assert day.bucket == "hour"
        # 09:40 yesterday to 09:40 today: 25 hour buckets, yesterday's 09:00 first (dated), midnight dated
        assert len(day.days) == 25
        assert day.days[0] == "12-06 09:00" and day.days[15] == "12-07 00:00" and day.days[17] == "02:00"
        domains = day.daily_by_kind["domain"]
        assert domains[day.days.index("02:00")] == 3 and domains[day.days.index("07:00")] == 1
        assert sum(domains) == 4, "the signals from five days back are outside the range"
        chart = briefing_charts(day)["daily"]
        texts = [t.text or "" for t in ET.fromstring(chart).iter(f"{SVG}text")]
        assert texts[0] == "Signals per hour (UTC) by type"
        assert any(t.endswith(":00") for t in texts[1:]) and not any(t.startswith("2026-") for t in texts)

        week = BriefingService(session, reader, now=NOW).build(timedelta(days=7))
        assert week.bucket == "day" and week.days[0] == "2026-11-30" and len(week.days) == 8
        assert sum(week.daily_by_kind["domain"]) == 6 and week.daily_by_kind["domain"][2] == 2
        assert "Signals per day by type" in briefing_charts(week)["daily"]
