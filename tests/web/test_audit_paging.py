"""The audit log page has rows per page, a total and first/previous/next/last where a total is
honest, and only first/next under the filters that drop entries in Python (issue #20; real
HTTP, real server, both backends)."""

from __future__ import annotations

import re

import pytest

from vigil.exchange.audit import AuditEntry, AuditFilter
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore

from ..exchange.conftest import LiveServer, live, signed_in  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def world(live: LiveServer) -> dict[str, str]:  # noqa: F811
    """A ministry shares 40 signals (40 entries of its own); a platform shares 30 GREEN and 9 RED
    signals of its own (entries newer than the ministry's, not involving it: a leak would add to
    the count and shift every page)."""
    with live.db.session() as session:
        store = ExchangeStore(session)
        platform = store.create_org(None, "Audit platform", "platform")
        gov = store.create_org(None, "Audit ministry", "government")
        _, gov_admin = store.create_key(None, gov.id, "admin")
        _, gov_analyst = store.create_key(None, gov.id, "analyst")
        _, platform_key = store.create_key(None, platform.id, "analyst")
        writer = store.authenticate(gov_analyst)
        for n in range(40):
            store.submit_signal(writer, "hashtag", f"#auditpage{n}", marking=Marking(TLP.GREEN))
        other = store.authenticate(platform_key)
        for n in range(39):
            store.submit_signal(
                other, "hashtag", f"#auditother{n}", marking=Marking(TLP.RED if n % 4 == 0 else TLP.GREEN)
            )
    return {"admin": gov_admin}


def _ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr><td class="num">(\d+)</td>', html)]


def _link(html: str, testid: str) -> str | None:
    found = re.search(rf'<a class="button" href="([^"]+)"[^>]*data-testid="{testid}"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def _expected(live: LiveServer, key: str) -> list[int]:  # noqa: F811
    """Every entry the store shows this admin, newest first (one read, not through the page)."""
    with live.db.session() as session:
        store = ExchangeStore(session)
        return [e.id for e in store.query_audit(store.authenticate(key), AuditFilter(limit=10_000))]


def test_audit_pages_with_an_honest_total(live: LiveServer, world: dict[str, str]) -> None:  # noqa: F811
    with signed_in(live, world["admin"]) as client:
        first = client.get("/audit", params={"size": 25}).text
        expected = _expected(live, world["admin"])
        assert len(expected) >= 40
        count = re.search(r'data-testid="audit-count">([^<]+)<', first)
        assert count and count.group(1) == f"1–25 of {len(expected)} entries", (
            "the platform's are not counted"
        )
        assert _ids(first) == expected[:25]
        pages = -(-len(expected) // 25)
        walked = _ids(first)
        html = first
        while (nxt := _link(html, "next-page")) is not None:
            html = client.get(nxt).text
            walked += _ids(html)
        assert walked == expected, "every entry once, newest first"
        last_url = _link(first, "last-page")
        assert last_url and f"page={pages}" in last_url
        last = client.get(last_url).text
        assert _ids(last) == expected[25 * (pages - 1) :] and _link(last, "next-page") is None
        previous = _link(last, "previous-page")
        assert previous and _ids(client.get(previous).text) == expected[25 * (pages - 2) : 25 * (pages - 1)]
        # a page past the end shows the last; another size keeps the filters
        assert _ids(client.get("/audit", params={"size": 25, "page": 999}).text) == _ids(last)
        fifty = client.get("/audit", params={"size": 50, "action": "signal.submit"}).text
        assert "1–40 of 40 entries" in fifty and len(_ids(fifty)) == 40, "the ministry's own 40 submits"
        size_link = re.search(r'href="([^"]+)" data-testid="size-25"', fifty)
        assert size_link and "action=signal.submit" in size_link.group(1)


def test_no_total_where_entries_are_dropped_in_python(live: LiveServer, world: dict[str, str]) -> None:  # noqa: F811
    with signed_in(live, world["admin"]) as client:
        hidden = client.get("/audit", params={"reads": "hide", "size": 25}).text
        assert 'data-testid="audit-count"' not in hidden and 'data-testid="last-page"' not in hidden
        assert "audit-count-note" in hidden and len(_ids(hidden)) == 25
        older = _link(hidden, "next-page")
        assert older and "reads=hide" in older and "size=25" in older
        second = client.get(older).text
        assert _ids(second) == _expected(live, world["admin"])[25:50] and _link(second, "first-page")
        target = client.get("/audit", params={"target": "indicator--0000"}).text
        assert 'data-testid="audit-count"' not in target and "a count would tell they exist" in target
        bad = client.get("/audit", params={"size": 7})
        assert bad.status_code == 400 and "size" in bad.text


def _sorted_expected(
    server: LiveServer, key: str, sort: str, order: str, drop_reads: bool = False
) -> list[int]:
    """The admin's entries in a column's order, sorted here (names from the organisations table),
    ties by id in the same direction."""
    with server.db.session() as session:
        store = ExchangeStore(session)
        entries = store.query_audit(store.authenticate(key), AuditFilter(limit=10_000))
        names = {o.id: o.name for o in store.list_orgs(None)}
    if drop_reads:
        entries = [e for e in entries if not e.action.endswith(".read")]

    def column(e: AuditEntry) -> str:
        if sort == "actor":
            return names.get(e.actor_org_id or "", "")
        if sort == "action":
            return e.action
        return e.target_type or "" if sort == "object" else ""

    ranked = sorted(entries, key=lambda e: (column(e), e.id), reverse=order == "desc")
    return [e.id for e in ranked]


def test_columns_sort_on_the_server(live: LiveServer, world: dict[str, str]) -> None:  # noqa: F811
    """Time, organisation, action and object sort in SQL across pages (every entry once, the
    same honest total in every sort); under hidden reads the sorted cursor pages continue the
    order; a cursor naming an entry outside the reader's scope places nothing; bad values 400."""
    with signed_in(live, world["admin"]) as client:
        first = client.get("/audit", params={"size": 25}).text
        total = re.search(r'data-testid="audit-count">[^<]* of (\d+) entries<', first)
        assert total
        heads = dict(re.findall(r'<a href="([^"]+)" data-sort="(\w+)"', first))
        assert sorted(heads.values()) == ["action", "actor", "object", "time"]
        for sort in ("actor", "action", "object", "time"):
            for order in ("asc", "desc"):
                html = client.get("/audit", params={"size": 25, "sort": sort, "order": order}).text
                assert f"of {total.group(1)} entries" in html, (sort, order)
                walked = _ids(html)
                while (nxt := _link(html, "next-page")) is not None:
                    assert f"sort={sort}" in nxt or sort == "time"
                    html = client.get(nxt).text
                    walked += _ids(html)
                assert walked == _sorted_expected(live, world["admin"], sort, order), (sort, order)
        # hidden reads: cursor pages in the chosen order
        html = client.get(
            "/audit", params={"size": 25, "sort": "action", "order": "asc", "reads": "hide"}
        ).text
        walked = _ids(html)
        while (nxt := _link(html, "next-page")) is not None:
            html = client.get(nxt).text
            walked += _ids(html)
        assert walked == _sorted_expected(live, world["admin"], "action", "asc", drop_reads=True)
        # a cursor at an entry the ministry may not see (the platform's own) finds nothing
        mine = set(_sorted_expected(live, world["admin"], "time", "desc"))
        with live.db.session() as session:
            every = ExchangeStore(session).query_audit(None, AuditFilter(limit=10_000))
        foreign = next(e.id for e in every if e.id not in mine)
        crafted = client.get("/audit", params={"reads": "hide", "sort": "action", "before": foreign}).text
        assert _ids(crafted) == []
        for bad, name in (
            ({"sort": "detail"}, "sort"),
            ({"order": "up"}, "order"),
            ({"before": 2**40}, "before"),
        ):
            answer = client.get("/audit", params=bad)
            assert answer.status_code == 400 and name in answer.text, answer.text
