"""The signals list pages forward and back (issue #20): keyset cursors only go forward, so the page
carries the earlier pages' cursors in its links (real HTTP, real server, both backends)."""

from __future__ import annotations

import re

import httpx

from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore
from vigil.web.pages.signals import BACK_KEEP

from ..exchange.conftest import LiveServer, live  # noqa: F401  (fixtures)
from .signal_pager import SIZE, link, page_number, rows


def test_page_forward_twice_and_back_once(live: LiveServer) -> None:  # noqa: F811
    with live.db.session() as session:
        store = ExchangeStore(session)
        org = store.create_org(None, "Paging platform", "platform")
        _, key = store.create_key(None, org.id, "analyst")
        principal = store.authenticate(key)
        for n in range(2 * SIZE + 7):
            store.submit_signal(principal, "domain", f"paging-{n:03d}.com", marking=Marking(TLP.GREEN))
        # the order the store pages in, to compare each screen with
        everything = store.list_signals(principal, limit=500).items
        expected = [s.id for s in everything]
    pages = [expected[i : i + SIZE] for i in range(0, len(expected), SIZE)]
    assert len(pages) == 3

    client = httpx.Client(base_url=live.base_url, timeout=60, follow_redirects=False)
    try:
        assert client.post("/login", data={"api_key": key}).status_code == 303
        first = client.get("/signals", params={"size": SIZE}).text
        assert rows(first) == pages[0]
        assert link(first, "previous-page") is None
        assert page_number(first) == "page 1 of 3"

        second = client.get(link(first, "next-page") or "").text
        assert rows(second) == pages[1]
        assert page_number(second) == "page 2 of 3"
        third = client.get(link(second, "next-page") or "").text
        assert rows(third) == pages[2]
        assert link(third, "next-page") is None
        assert page_number(third) == "page 3 of 3"

        back = client.get(link(third, "previous-page") or "").text
        assert rows(back) == pages[1], "previous from page 3 shows page 2 again"
        assert page_number(back) == "page 2 of 3"
        # and on again from there, then back to the first page
        assert rows(client.get(link(back, "next-page") or "").text) == pages[2]
        start = client.get(link(back, "previous-page") or "").text
        assert rows(start) == pages[0]
        assert link(start, "previous-page") is None

        # the stack of earlier cursors stays bounded however long the URL handed in
        url = link(second, "next-page") or ""
        cursor = re.search(r"cursor=([^&]+)", url)
        assert cursor
        long_url = (
            f"/signals?size={SIZE}"
            + f"&back={cursor.group(1)}" * (BACK_KEEP + 10)
            + f"&cursor={cursor.group(1)}"
        )
        deep = client.get(long_url)
        assert deep.status_code == 200
        assert (link(deep.text, "previous-page") or "").count("back=") == BACK_KEEP - 1
    finally:
        client.close()
