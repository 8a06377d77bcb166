"""The case list sorts, counts and pages on the server (issue #20), over only the cases the reader
may see: a hidden case never shows, never shifts a page and never adds to a count (real HTTP, real
server, both backends)."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest

from vigil.cases.service import CaseService
from vigil.exchange.access import Principal
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore

from ..exchange.conftest import LiveServer, live, signed_in  # noqa: F401  (fixtures)


def _titles(html: str) -> list[str]:
    return re.findall(r'<tr data-case="[^"]+"><td><a href="/cases/[^"]+" dir="auto">([^<]+)</a>', html)


def _link(html: str, testid: str) -> str | None:
    found = re.search(rf'<a class="button" href="([^"]+)"[^>]*data-testid="{testid}"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def _text(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}">([^<]+)<', html)
    assert found, f"the page shows {testid}"
    return found.group(1)


@pytest.fixture(scope="module")
def world(live: LiveServer) -> dict[str, object]:  # noqa: F811
    """A platform with 23 cases the government may see (20 GREEN, 3 AMBER naming it) and 9 it may
    not (7 AMBER, 2 RED, with titles sorting *first*, so a leak would shift every page); another
    platform sees the AMBER ones too (same kind) but not the RED."""
    with live.db.session() as session:
        store = ExchangeStore(session)
        platform = store.create_org(None, "Paging cases platform", "platform")
        other = store.create_org(None, "Paging cases peer", "platform")
        gov = store.create_org(None, "Paging cases ministry", "government")
        keys = {}
        for name, org in (("platform", platform), ("other", other), ("gov", gov)):
            _, keys[name] = store.create_key(None, org.id, "analyst")
        owner = store.authenticate(keys["platform"])
        cases = CaseService(session, owner)
        for n in range(20):
            cases.create_case(f"Visible case {n:02d}", marking=Marking(TLP.GREEN), confidence=n)
        for n in range(3):
            cases.create_case(f"Named case {n}", marking=Marking(TLP.AMBER, (gov.id,)), confidence=90 + n)
        for n in range(7):
            cases.create_case(f"AAA hidden amber {n}", marking=Marking(TLP.AMBER), confidence=99)
        for n in range(2):
            cases.create_case(f"AAA hidden red {n}", marking=Marking(TLP.RED), confidence=99)
    return {"keys": keys, "gov": gov.id}


def test_pages_and_counts_hold_only_what_the_reader_may_see(
    live: LiveServer,  # noqa: F811
    world: dict[str, object],
) -> None:
    keys = world["keys"]
    assert isinstance(keys, dict)
    with signed_in(live, keys["gov"]) as client:
        first = client.get("/cases", params={"sort": "title", "order": "asc", "size": 10}).text
        assert _text(first, "cases-count") == "1–10 of 23 cases", "the count is of visible cases only"
        assert _text(first, "page-number") == "page 1 of 3"
        seen = _titles(first)
        assert seen[:3] == ["Named case 0", "Named case 1", "Named case 2"], "no hidden 'AAA' case first"
        page = first
        while (nxt := _link(page, "next-page")) is not None:
            assert "size=10" in nxt and "sort=title" in nxt, "the links keep the sort and page size"
            page = client.get(nxt).text
            seen += _titles(page)
        assert _text(page, "page-number") == "page 3 of 3"
        assert _text(page, "cases-count") == "21–23 of 23 cases"
        assert len(seen) == 23 and seen == sorted(seen)
        assert not any("hidden" in t for t in seen)
        # "last" jumps straight to the same last page
        last = client.get(_link(first, "last-page") or "").text
        assert _titles(last) == seen[20:]
        # descending confidence: the AMBER-named ones (90-92) first, never the hidden 99s
        top = client.get("/cases", params={"sort": "confidence", "order": "desc", "size": 10}).text
        assert _titles(top)[:3] == ["Named case 2", "Named case 1", "Named case 0"]
    with signed_in(live, keys["other"]) as client:
        # a peer platform sees the plain AMBER ones (same kind) but not the RED
        page = client.get("/cases", params={"sort": "title", "size": 50}).text
        assert _text(page, "cases-count") == "1–30 of 30 cases"
        assert sum("hidden amber" in t for t in _titles(page)) == 7
        assert not any("hidden red" in t for t in _titles(page))
    with signed_in(live, keys["platform"]) as client:
        page = client.get("/cases", params={"size": 100}).text
        assert _text(page, "cases-count") == "1–32 of 32 cases"


def test_sql_visibility_agrees_with_the_row_rule(live: LiveServer, world: dict[str, object]) -> None:  # noqa: F811
    """``page_cases`` (SQL) and ``list_cases`` (``can_see`` row by row) pick the same cases."""
    keys = world["keys"]
    assert isinstance(keys, dict)
    with live.db.session() as session:
        store = ExchangeStore(session)
        readers: list[Principal | None] = [store.authenticate(k) for k in keys.values()]
        readers.append(store.authenticate(live.operator_key))  # research: none of the AMBER
        for reader in [*readers, None]:
            service = CaseService(session, reader)
            by_rule = {c.id for c in service.list_cases()}
            by_sql = {c.id for c in service.page_cases(size=100).items}
            assert by_sql == by_rule
            assert service.page_cases(size=10).total == len(by_rule)
            assert {c.id for c in service.page_cases(text="named", size=100).items} == {
                c.id for c in service.list_cases(text="named")
            }
            recent = service.page_cases(sort="changed", order="desc", size=100).items
            assert all(a.modified_at >= b.modified_at for a, b in pairwise(recent))


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"sort": "secret_column"}, "sort"),
        ({"order": "sideways"}, "order"),
        ({"size": "7"}, "size"),
        ({"size": "100000"}, "size"),
        ({"page": "0"}, "page"),
        ({"page": "two"}, "page"),
        ({"size": "ten"}, "size"),
    ],
)
def test_a_bad_sort_or_size_is_a_400_naming_it(
    live: LiveServer,  # noqa: F811
    world: dict[str, object],
    params: dict[str, str],
    named: str,
) -> None:
    keys = world["keys"]
    assert isinstance(keys, dict)
    with signed_in(live, keys["gov"]) as client:
        answer = client.get("/cases", params=params)
        assert answer.status_code == 400, answer.text[:300]
        assert named in answer.text and "text/html" in answer.headers["content-type"]
        assert client.get("/cases", params={"page": "999", "size": 10}).status_code == 200  # clamped
