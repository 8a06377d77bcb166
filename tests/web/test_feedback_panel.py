"""The dashboard's feedback panels (#18) over a real server: the signal page counts per member
and shows a decay score, the source's overview lists what its contributions received, and a
reader that may not see a RED or AMBER opinion finds no trace of it in either page."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from vigil.core.time import utcnow
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore
from vigil.signals.decay import DecayModel, Feedback

from ..exchange.conftest import LiveServer, live  # noqa: F401  (fixtures)
from .signal_pager import rows


def _section(html: str, testid: str) -> str:
    found = re.search(rf'<(\w+)[^>]*data-testid="{testid}".*?</\1>', html, re.S)
    assert found is not None, f"no {testid} in the page"
    return found.group(0)


def _members(html: str) -> dict[str, list[str]]:
    """The per-member table: org id -> its cells (name, matches, sightings, conf, fp, disp, now)."""
    table = _section(html, "feedback-members")
    return {
        org: [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for org, row in re.findall(r'<tr data-org="([^"]+)">(.*?)</tr>', table, re.S)
    }


@pytest.mark.parametrize("live", ["sqlite"], indirect=True)
def test_signal_page_and_overview_show_feedback_within_tlp(live: LiveServer) -> None:  # noqa: F811
    now = utcnow()
    with live.db.session() as session:
        store = ExchangeStore(session)
        orgs = {
            n: store.create_org(None, f"Panel {n}", k)
            for n, k in [("src", "platform"), ("p2", "platform"), ("gov", "government")]
        }
        keys = {n: store.create_key(None, o.id, "analyst")[1] for n, o in orgs.items()}
        who = {n: store.authenticate(k) for n, k in keys.items()}
    with live.db.session() as session:
        # shared 30 days ago, so the score has decayed visibly
        old = ExchangeStore(session, now=now - timedelta(days=30))
        signal = old.submit_signal(
            who["src"], "domain", "panel-meme.com", marking=Marking(TLP.GREEN), confidence=80
        )
    sighted = now - timedelta(days=10)
    with live.db.session() as session:
        # a sighting 10 days ago restarts the age: 10 days, not 30 (as MISP's decay restarts)
        ExchangeStore(session, now=sighted).add_sighting(
            who["p2"], signal.id, count=640, first_seen=sighted, last_seen=sighted, platform="p2"
        )
    with live.db.session() as session:
        store = ExchangeStore(session)
        store.set_opinion(who["gov"], signal.id, "confirmed")
        # RED and shared with the source only: p2 and the government must not count it
        store.set_opinion(who["p2"], signal.id, "false_positive", marking=Marking(TLP.RED, (orgs["src"].id,)))

    def get(name: str, path: str, status: int = 200) -> str:
        with httpx.Client(base_url=live.base_url, timeout=60, follow_redirects=False) as client:
            assert client.post("/login", data={"api_key": keys[name]}).status_code == 303
            answer = client.get(path)
            assert answer.status_code == status, answer.text[:500]
            return answer.text

    as_src = get("src", f"/signals/{signal.id}")
    members = _members(as_src)
    assert members[orgs["p2"].id][1:6] == ["640", "1", "0", "1", "0"]
    assert members[orgs["p2"].id][6] == "false_positive"
    assert members[orgs["gov"].id][1:6] == ["0", "0", "1", "0", "0"]
    # the score the source sees: confidence 80, sighted 10 days ago, one confirmation and one
    # false positive
    expected = DecayModel().score_at(10, 80, Feedback(confirmations=1, false_positives=1))
    score = re.search(r"Decay score <strong>([\d.]+)</strong>", _section(as_src, "feedback-panel"))
    assert score is not None and abs(float(score.group(1)) - expected) < 0.2
    assert "decayed" not in _section(as_src, "decay-score")  # base 80 + 5 - 25 = 60: 40.0, above 20
    # two days of history: the sighting's and today's opinions
    assert len(re.findall(r"<tr><td>\d{4}-\d\d-\d\d</td>", _section(as_src, "feedback-history"))) == 2

    as_gov = get("gov", f"/signals/{signal.id}")
    gov_members = _members(as_gov)
    assert gov_members[orgs["p2"].id][1:6] == ["640", "1", "0", "0", "0"]  # the sighting, not the RED opinion
    assert gov_members[orgs["p2"].id][6] == ""
    assert "false_positive" not in _section(as_gov, "feedback-panel")
    assert "0 false positive" in _section(as_gov, "decay-score")
    gov_score = re.search(r"Decay score <strong>([\d.]+)</strong>", as_gov)
    assert gov_score is not None
    assert abs(float(gov_score.group(1)) - DecayModel().score_at(10, 80, Feedback(confirmations=1))) < 0.2

    overview = get("src", "/")
    received = _section(overview, "feedback-received")
    assert "panel-meme.com" in received and "640 posts matched; feedback from 2 members" in received
    assert f'href="/signals/{signal.id}#feedback"' in received
    assert "1 false positive" in _section(overview, "received-by-false-positives")
    # p2 contributed nothing: its overview says so, and names none of the source's signals
    assert "panel-meme.com" not in _section(get("p2", "/"), "feedback-received")

    # the signal list's decay filter, server-side and per reader: the source sees the RED false
    # positive (score 40.0), the government does not (56.7); both count from the sighting (from the
    # share, 30 days ago, the source's would be 25.4)
    listing = "/signals?q=panel-meme&min_score="
    assert rows(get("src", listing + "30")) == [signal.id]
    assert rows(get("src", listing + "45")) == []
    assert rows(get("gov", listing + "45")) == [signal.id]
    assert 'value="45"' in get("gov", listing + "45")  # the box keeps what was asked
    assert "min_score" in get("src", listing + "lots", status=400)
    # the list's export follows the filter
    assert "panel-meme.com" in get("src", "/export/signals.csv?q=panel-meme&min_score=30")
    assert "panel-meme.com" not in get("src", "/export/signals.csv?q=panel-meme&min_score=45")
