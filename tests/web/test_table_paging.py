"""The meeting and campaign lists sort, count and page on the server like the case list (issue
#20), over only what the reader may see; every list's export follows the list's filters and sort;
a bad query parameter on any page is an HTML 400 naming it while the API keeps JSON (real HTTP,
real server, both backends)."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from vigil.cases.meetings import MeetingService
from vigil.cases.service import CaseService
from vigil.exchange.access import Principal
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore

from ..exchange.conftest import LiveServer, live, signed_in  # noqa: F401  (fixtures)

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def world(live: LiveServer) -> dict[str, object]:  # noqa: F811
    """A platform convenes 13 meetings the ministry is invited to and 6 it is not (titled to sort
    first, so a leak would shift every page); it shares 12 GREEN campaigns and 5 AMBER ones the
    ministry may not see (named to sort first), and signals in two languages."""
    with live.db.session() as session:
        store = ExchangeStore(session)
        platform = store.create_org(None, "Tables platform", "platform")
        other = store.create_org(None, "Tables peer", "platform")
        gov = store.create_org(None, "Tables ministry", "government")
        keys = {}
        for name, org in (("platform", platform), ("other", other), ("gov", gov)):
            _, keys[name] = store.create_key(None, org.id, "analyst")
        owner = store.authenticate(keys["platform"])
        meetings = MeetingService(session, owner)
        for n in range(13):
            meetings.create_meeting(
                f"Coalition sync {n:02d}", START + timedelta(days=n), invited={gov.id: "member"}
            )
        for n in range(6):
            meetings.create_meeting(f"AAA platforms only {n}", START - timedelta(days=n + 1))
        for n in range(12):
            store.create_campaign(
                owner, f"Campaign {n:02d}", marking=Marking(TLP.GREEN), attribution=f"actor {n % 3}"
            )
        for n in range(5):
            store.create_campaign(owner, f"AAA amber campaign {n}", marking=Marking(TLP.AMBER))
        for n in range(4):
            store.submit_signal(
                owner, "hashtag", f"#tables{n}", marking=Marking(TLP.GREEN), language="ar" if n % 2 else "en"
            )
        cases = CaseService(session, owner)
        for n in range(12):
            cases.create_case(f"Table case {n:02d}", marking=Marking(TLP.GREEN), confidence=(n * 37) % 100)
    return {"keys": keys, "gov": gov.id}


def _text(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}">([^<]+)<', html)
    assert found, f"the page shows {testid}"
    return found.group(1)


def _link(html: str, testid: str) -> str | None:
    found = re.search(rf'<a class="button" href="([^"]+)"[^>]*data-testid="{testid}"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def _meeting_titles(html: str) -> list[str]:
    return re.findall(
        r'<tr data-meeting="[^"]+"><td>.*?<a href="/meetings/[^"]+" dir="auto">([^<]+)</a>', html
    )


def _campaign_names(html: str) -> list[str]:
    return re.findall(
        r'<tr data-campaign="[^"]+"><td><a href="/campaigns/[^"]+" dir="auto">([^<]+)</a>', html
    )


def _csv_rows(answer: httpx.Response) -> list[list[str]]:
    assert answer.status_code == 200, answer.text[:300]
    return list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))


def _export_link(html: str) -> str:
    found = re.search(r'<a href="(/export/[^"]+)" data-testid="export-csv"', html)
    assert found, "the page offers a CSV export"
    return found.group(1).replace("&amp;", "&")


def _keys(world: dict[str, object]) -> dict[str, str]:
    keys = world["keys"]
    assert isinstance(keys, dict)
    return keys


def test_meetings_page_on_the_server_over_attended_meetings_only(
    live: LiveServer,  # noqa: F811
    world: dict[str, object],
) -> None:
    keys = _keys(world)
    with signed_in(live, keys["gov"]) as client:
        first = client.get("/meetings", params={"sort": "title", "order": "asc", "size": 10}).text
        assert _text(first, "meetings-count") == "1–10 of 13 meetings", "the count is of attended meetings"
        assert _text(first, "page-number") == "page 1 of 2"
        seen = _meeting_titles(first)
        assert seen[0] == "Coalition sync 00", "no meeting it is not invited to sorts first"
        second = client.get(_link(first, "next-page") or "").text
        assert "sort=title" in (_link(first, "last-page") or "") and "size=10" in (
            _link(first, "next-page") or ""
        )
        seen += _meeting_titles(second)
        assert seen == [f"Coalition sync {n:02d}" for n in range(13)]
        assert _text(second, "meetings-count") == "11–13 of 13 meetings"
        # newest first, and the export follows that order (and holds nothing more)
        newest = client.get("/meetings", params={"sort": "starts", "order": "desc", "size": 100}).text
        titles = _meeting_titles(newest)
        assert titles == [f"Coalition sync {n:02d}" for n in reversed(range(13))]
        rows = _csv_rows(client.get(_export_link(newest)))
        assert [r[1] for r in rows[1:]] == titles
        # the text filter narrows the count and stays in the links
        one = client.get("/meetings", params={"q": "sync 1", "size": 10}).text
        assert _text(one, "meetings-count") == "1–3 of 3 meetings"
    with signed_in(live, keys["platform"]) as client:
        page = client.get("/meetings", params={"size": 25}).text
        assert _text(page, "meetings-count") == "1–19 of 19 meetings"
        assert _meeting_titles(page)[0] == "AAA platforms only 5", "time order by default"


def test_meeting_sql_agrees_with_the_row_rule(live: LiveServer, world: dict[str, object]) -> None:  # noqa: F811
    """``page_meetings`` (SQL) and ``list_meetings`` (``attends`` row by row) pick the same."""
    with live.db.session() as session:
        store = ExchangeStore(session)
        readers: list[Principal | None] = [store.authenticate(k) for k in _keys(world).values()]
        readers.append(store.authenticate(live.operator_key))
        for reader in [*readers, None]:
            service = MeetingService(session, reader)
            by_rule = [m.id for m in service.list_meetings()]
            by_sql = [m.id for m in service.page_meetings(size=100).items]
            assert by_sql == by_rule
            assert service.page_meetings(size=10).total == len(by_rule)


def test_campaigns_page_on_the_server_within_tlp(live: LiveServer, world: dict[str, object]) -> None:  # noqa: F811
    keys = _keys(world)
    with signed_in(live, keys["gov"]) as client:
        first = client.get("/campaigns", params={"sort": "name", "order": "asc", "size": 10}).text
        assert _text(first, "campaigns-count") == "1–10 of 12 campaigns", "AMBER campaigns are not counted"
        names = _campaign_names(first)
        assert names == [f"Campaign {n:02d}" for n in range(10)]
        last = client.get(_link(first, "last-page") or "").text
        assert _campaign_names(last) == ["Campaign 10", "Campaign 11"]
        assert _text(last, "page-number") == "page 2 of 2"
        # sorted by attribution, descending; the export follows the sort and holds the same rows
        by_actor = client.get("/campaigns", params={"sort": "attribution", "order": "desc", "size": 100}).text
        shown = _campaign_names(by_actor)
        rows = _csv_rows(client.get(_export_link(by_actor)))
        assert [r[1] for r in rows[1:]] == shown and len(shown) == 12
        actors = [r[rows[0].index("attribution")] for r in rows[1:]]
        assert actors == sorted(actors, reverse=True)
        assert not any("AAA" in r[1] for r in rows)
    with signed_in(live, keys["other"]) as client:
        # a peer platform sees the AMBER ones (same kind); sorted by marking, most restricted first
        page = client.get("/campaigns", params={"sort": "marking", "order": "desc", "size": 25}).text
        assert _text(page, "campaigns-count") == "1–17 of 17 campaigns"
        assert all("AAA amber" in n for n in _campaign_names(page)[:5])


def test_case_export_follows_the_page_sort(live: LiveServer, world: dict[str, object]) -> None:  # noqa: F811
    with signed_in(live, _keys(world)["gov"]) as client:
        page = client.get(
            "/cases", params={"sort": "confidence", "order": "asc", "size": 100, "q": "table"}
        ).text
        shown = re.findall(r'<tr data-case="([^"]+)">', page)
        link = re.search(r'href="(/export/cases\.csv[^"]*)"', page)
        assert link, "the case list offers a CSV export"
        rows = _csv_rows(client.get(link.group(1).replace("&amp;", "&")))
        assert [r[0] for r in rows[1:]] == shown and len(shown) == 12
        confidence = [int(r[rows[0].index("confidence")]) for r in rows[1:]]
        assert confidence == sorted(confidence)


def test_signal_exports_follow_the_language_filter(live: LiveServer, world: dict[str, object]) -> None:  # noqa: F811
    """Language is no store filter: the CSV, STIX and MISP exports apply it as the page does."""
    with signed_in(live, _keys(world)["gov"]) as client:
        page = client.get("/signals", params={"q": "tables", "language": "ar"}).text
        link = re.search(r'href="/export/signals\.csv\?([^"]*)"', page)
        assert link and "language=ar" in link.group(1)
        query = link.group(1).replace("&amp;", "&")
        rows = _csv_rows(client.get(f"/export/signals.csv?{query}"))
        assert sorted(r[2] for r in rows[1:]) == ["tables1", "tables3"]
        bundle = json.loads(client.get(f"/export/signals.stix.json?{query}").text)
        patterns = [o["pattern"] for o in bundle["objects"] if o["type"] == "indicator"]
        assert len(patterns) == 2 and all("tables1" in p or "tables3" in p for p in patterns)
        archive = zipfile.ZipFile(io.BytesIO(client.get(f"/export/signals.misp.zip?{query}").content))
        values = [
            a["value"]
            for name in archive.namelist()
            if name.endswith(".json") and "manifest" not in name
            for a in json.loads(archive.read(name))["Event"].get("Attribute", [])
        ]
        assert sorted(v.lstrip("#") for v in values if "tables" in v) == ["tables1", "tables3"]
        assert not any(v.lstrip("#") == "tables0" for v in values)


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/signals", {"size": "abc"}, "size"),
        ("/signals", {"page": "-1"}, "page"),
        ("/cases", {"sort": "secret"}, "sort"),
        ("/meetings", {"order": "sideways"}, "order"),
        ("/meetings", {"page": "-1"}, "page"),
        ("/campaigns", {"size": "abc"}, "size"),
        ("/campaigns", {"sort": "signals"}, "sort"),
        ("/audit", {"before": "yesterday"}, "before"),
        ("/export/meetings.csv", {"sort": "invited"}, "sort"),
    ],
)
def test_a_bad_page_parameter_is_an_html_400_naming_it(
    live: LiveServer,  # noqa: F811
    world: dict[str, object],
    path: str,
    params: dict[str, str],
    named: str,
) -> None:
    with signed_in(live, live.operator_key) as client:
        answer = client.get(path, params=params)
    assert answer.status_code == 400, answer.text[:300]
    assert answer.headers["content-type"].startswith("text/html")
    assert named in re.sub(r"<[^>]+>", " ", answer.text), "the page names the parameter"
    assert not answer.text.lstrip().startswith("{"), "not the API's JSON"


def test_the_api_and_taxii_keep_their_own_error_formats(live: LiveServer) -> None:  # noqa: F811
    with live.client(live.operator_key) as client:
        api = client.get("/api/v1/signals", params={"limit": "abc"})
        assert api.status_code == 400 and api.headers["content-type"].startswith("application/json")
        assert "limit" in api.json()["message"]
        taxii = client.get("/taxii2/nowhere/")
        assert taxii.status_code == 404 and "taxii" in taxii.headers["content-type"]
        assert client.get("/api/v1/nowhere").headers["content-type"].startswith("application/json")
