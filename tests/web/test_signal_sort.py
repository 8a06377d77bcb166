"""The signal list sorts on the server by type, value, TLP, last change and first share, with
keyset pages that stay exact in every sort, the last page, and exports in the page's order; a
contribution the reader may not see neither shows, counts nor places a row (issue #20; real HTTP,
real server, both backends)."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from typing import Any

import httpx
import pytest

from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore

from ..exchange.conftest import LiveServer, live, signed_in  # noqa: F401  (fixtures)

RANK = {f"TLP:{t.value}": n for n, t in enumerate(TLP)}


@pytest.fixture(scope="module")
def world(live: LiveServer) -> dict[str, str]:  # noqa: F811
    """A platform shares 23 hashtags and 4 domains with the ministry (CLEAR, GREEN or AMBER shared
    with it); a peer holds 6 RED values of its own (named to sort first) and adds a RED
    contribution to 3 of the shared values last (so a leak would move them in the TLP, change
    and value sorts)."""
    with live.db.session() as session:
        store = ExchangeStore(session)
        platform = store.create_org(None, "Sort platform", "platform")
        peer = store.create_org(None, "Sort peer", "platform")
        gov = store.create_org(None, "Sort ministry", "government")
        keys = {}
        for name, org in (("platform", platform), ("peer", peer), ("gov", gov)):
            _, keys[name] = store.create_key(None, org.id, "analyst")
        owner, other = store.authenticate(keys["platform"]), store.authenticate(keys["peer"])
        markings = (Marking(TLP.GREEN), Marking(TLP.CLEAR), Marking(TLP.AMBER, (gov.id,)))
        for n in range(23):
            store.submit_signal(owner, "hashtag", f"#sortval{n + 10:02d}", marking=markings[n % 3])
        for n in range(4):
            store.submit_signal(owner, "domain", f"zsortval{n}.com", marking=Marking(TLP.GREEN))
        for n in range(6):
            store.submit_signal(other, "hashtag", f"#sortval0{n}", marking=Marking(TLP.RED))
        for n in (10, 11, 13):
            store.submit_signal(other, "hashtag", f"#sortval{n}", marking=Marking(TLP.RED))
    return keys


def _rows(html: str) -> list[tuple[str, str, str]]:
    """(type, value, TLP) of each row shown."""
    return re.findall(
        r'<tr data-signal="[^"]+"[^>]*>\s*<td>([^<]+)</td>\s*<td class="value"><a [^>]+>([^<]+)</a></td>'
        r"\s*<td><span[^>]*>([^<]+)</span>",
        html,
    )


def _link(html: str, testid: str) -> str | None:
    found = re.search(rf'<a class="button" href="([^"]+)"[^>]*data-testid="{testid}"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def _walk(client: httpx.Client, params: dict[str, str | int]) -> tuple[list[tuple[str, str, str]], str]:
    """Every row by following "next page" from the first page, and the first page's HTML."""
    first = client.get("/signals", params=params)
    assert first.status_code == 200, first.text[:300]
    html, rows = first.text, _rows(first.text)
    while (nxt := _link(html, "next-page")) is not None:
        html = client.get(nxt).text
        rows += _rows(html)
    return rows, first.text


def test_every_sort_pages_exactly_within_tlp(live: LiveServer, world: dict[str, str]) -> None:  # noqa: F811
    with signed_in(live, world["gov"]) as client:
        values: list[str] = []
        for sort in ("value", "type", "tlp", "changed", "first_seen"):
            for order in ("asc", "desc"):
                rows, first = _walk(client, {"sort": sort, "order": order, "size": 25})
                assert len(rows) == 27 and len(set(rows)) == 27, f"{sort} {order}: every row once"
                assert "27 signals match" in first
                assert not any(v.startswith("sortval0") for _, v, _ in rows), "the peer's RED values"
                assert all(t != "TLP:RED" for _, _, t in rows), "a hidden RED contribution marks no row"
                keys: dict[str, list[Any]] = {
                    "value": [v for _, v, _ in rows],
                    "type": [k for k, _, _ in rows],
                    "tlp": [RANK[t] for _, _, t in rows],
                }
                key = keys.get(sort)
                if key is not None:
                    assert key == sorted(key, reverse=order == "desc"), f"{sort} {order}"
                if sort == "changed":
                    values = [v for _, v, _ in rows]
                    if order == "desc":
                        # the peer's later RED contributions do not move its values to the top
                        assert values[:2] == ["zsortval3.com", "zsortval2.com"]
                if sort == "first_seen" and order == "asc":
                    assert [v for _, v, _ in rows][:2] == ["sortval10", "sortval11"]
        assert values, "the change sort was walked"


def test_sorted_last_page_previous_and_exports(live: LiveServer, world: dict[str, str]) -> None:  # noqa: F811
    with signed_in(live, world["gov"]) as client:
        params: dict[str, str | int] = {"sort": "value", "order": "desc", "size": 25}
        rows, first = _walk(client, params)
        heads = re.findall(r'<th aria-sort="([a-z]+)"><a href="([^"]+)" data-sort="value"', first)
        assert heads and heads[0][0] == "descending" and "order=asc" in heads[0][1]
        last_url = _link(first, "last-page")
        assert last_url and "sort=value" in last_url
        last = client.get(last_url).text
        assert _rows(last) == rows[25:]
        previous = _link(last, "previous-page")
        assert previous and _rows(client.get(previous).text) == rows[:25]
        export = re.search(r'href="/export/signals\.csv\?([^"]*)"', first)
        assert export and "sort=value" in export.group(1)
        query = export.group(1).replace("&amp;", "&")
        lines = list(
            csv.reader(io.StringIO(client.get(f"/export/signals.csv?{query}").text.lstrip("\ufeff")))
        )
        column = lines[0].index("value")
        shown = [v.lstrip("#") for _, v, _ in rows]
        assert [r[column].lstrip("#") for r in lines[1:]] == shown
        bundle = json.loads(client.get(f"/export/signals.stix.json?{query}").text)
        patterns = [o["pattern"] for o in bundle["objects"] if o["type"] == "indicator"]
        order = [next(i for i, v in enumerate(shown) if f"'{v}'" in p or f"'#{v}'" in p) for p in patterns]
        assert order == sorted(order) and len(order) == 27
        # a cursor handed out for one sort is refused under another, naming the parameter
        nxt = _link(first, "next-page")
        assert nxt
        wrong = client.get(nxt.replace("sort=value", "sort=type"))
        assert wrong.status_code == 400 and "cursor" in wrong.text
        bad = client.get("/signals", params={"sort": "opinions"})
        assert bad.status_code == 400 and "sort" in bad.text
        assert client.get("/export/signals.csv", params={"order": "up"}).status_code == 400


def _api_key(signal: dict[str, Any], sort: str) -> Any:
    """The sort key of one REST item, from the reader's own (visible) contributions."""
    mine = signal["contributions"]
    return {
        "value": signal["value"],
        "type": signal["kind"],
        "tlp": max(RANK[f"TLP:{c['marking']['tlp']}"] for c in mine),
        "first_seen": min(c["created_at"] for c in mine),
        "changed": max(c["modified_at"] for c in mine),
    }[sort]


def test_rest_list_sorts_with_exact_cursors(live: LiveServer, world: dict[str, str]) -> None:  # noqa: F811
    """GET /api/v1/signals takes the dashboard's sorts: every sort and order pages exactly (keyset
    cursors, pages of 4 joined = one page of all), in key order over the reader's visible
    contributions, without the peer's RED values; a bad key or a cursor of another sort is 400."""
    with live.client(world["gov"]) as client:
        for sort in ("changed", "first_seen", "value", "type", "tlp"):
            for order in ("asc", "desc"):
                params: dict[str, str | int] = {"sort": sort, "order": order, "q": "sortval"}
                whole = client.get("/api/v1/signals", params={**params, "limit": 1000})
                assert whole.status_code == 200, whole.text
                every = [s["id"] for s in whole.json()["items"]]
                walked: list[dict[str, Any]] = []
                cursor: str | None = None
                while True:
                    page = client.get(
                        "/api/v1/signals",
                        params={**params, "limit": 4, **({"cursor": cursor} if cursor else {})},
                    ).json()
                    walked.extend(page["items"])
                    if not page["more"]:
                        break
                    cursor = page["next_cursor"]
                assert [s["id"] for s in walked] == every, (sort, order)
                assert len(every) == 27 and len(set(every)) == 27
                assert not any(s["value"].startswith("sortval0") for s in walked)  # the peer's RED values
                keys = [(_api_key(s, sort), s["id"]) for s in walked]
                assert keys == sorted(keys, reverse=order == "desc"), (sort, order)
        first = client.get("/api/v1/signals", params={"sort": "value", "limit": 2, "q": "sortval"}).json()
        for bad, field in (({"sort": "colour"}, "colour"), ({"order": "sideways"}, "sideways")):
            answer = client.get("/api/v1/signals", params=bad)
            assert answer.status_code == 400 and field in answer.text, answer.text
        other = client.get("/api/v1/signals", params={"sort": "tlp", "cursor": first["next_cursor"]})
        assert other.status_code == 400 and "cursor" in other.text, other.text
        # crafted cursors are 400s on both backends, not database errors (a rank beyond
        # PostgreSQL's integer, a NUL PostgreSQL text cannot hold)
        for sort, raw in (
            ("tlp", "tlp.asc|99999999999999|x"),
            ("value", "value.asc|a\x00|x"),
            ("changed", "2024-01-01T00:00:00+00:00|indicator\x00"),
        ):
            crafted = base64.urlsafe_b64encode(raw.encode()).decode()
            answer = client.get("/api/v1/signals", params={"sort": sort, "cursor": crafted})
            assert answer.status_code == 400 and "cursor" in answer.text, (raw, answer.text)
