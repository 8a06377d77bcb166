"""The signal list's "last page" (issue #20): the store reads the order backwards, so the last
page comes straight away, holds exactly what walking forward would reach, and counts only what the
reader may see (real HTTP, real server, both backends)."""

from __future__ import annotations

import httpx
import pytest

from vigil.core.errors import InputError
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore, SignalFilter

from ..exchange.conftest import LiveServer, live  # noqa: F401  (fixtures)
from .signal_pager import SIZE, link, page_number, rows


def test_last_page_and_back_from_it(live: LiveServer) -> None:  # noqa: F811
    with live.db.session() as session:
        store = ExchangeStore(session)
        org = store.create_org(None, "Last page platform", "platform")
        other = store.create_org(None, "Last page other", "platform")
        _, key = store.create_key(None, org.id, "analyst")
        _, other_key = store.create_key(None, other.id, "analyst")
        reader = store.authenticate(key)
        writer = store.authenticate(other_key)
        for n in range(3 * SIZE + 4):
            store.submit_signal(reader, "domain", f"last-{n:03d}.com", marking=Marking(TLP.GREEN))
        # 30 RED values of another member, written last: a leak would fill the whole last page
        for n in range(30):
            store.submit_signal(writer, "domain", f"hidden-last-{n:03d}.com", marking=Marking(TLP.RED))
        expected = [s.id for s in store.list_signals(reader, limit=500).items]
        # the store's last page equals the forward walk's, and its cursors are list_signals' own
        tail = store.last_signals_page(reader, limit=SIZE)
        assert [s.id for s in tail.items] == expected[3 * SIZE :] and tail.pages == 4 and tail.total == 79
        assert tail.cursor is not None and tail.previous_cursor is not None
        assert [s.id for s in store.list_signals(reader, limit=SIZE, cursor=tail.cursor).items] == expected[
            3 * SIZE :
        ]
        before = store.list_signals(reader, limit=SIZE, cursor=tail.previous_cursor).items
        assert [s.id for s in before] == expected[2 * SIZE : 3 * SIZE]
        # an exact multiple of the page size: a whole last page; a single page: no cursors
        tens = SignalFilter(text="last-00")  # last-000 .. last-009 visible, hidden-last-00x not
        whole = store.last_signals_page(reader, tens, limit=5)
        assert (len(whole.items), whole.pages, whole.total, whole.previous_cursor) == (5, 2, 10, None)
        assert [s.id for s in whole.items] == [
            s.id for s in store.list_signals(reader, tens, limit=10).items
        ][5:]
        single = store.last_signals_page(reader, limit=100)
        assert single.pages == 1 and single.cursor is None and len(single.items) == 79
        with pytest.raises(InputError):
            store.last_signals_page(reader, limit=0)
    assert len(expected) == 3 * SIZE + 4

    with httpx.Client(base_url=live.base_url, timeout=60, follow_redirects=False) as client:
        assert client.post("/login", data={"api_key": key}).status_code == 303
        first = client.get("/signals", params={"size": SIZE}).text
        assert page_number(first) == "page 1 of 4"
        last = client.get(link(first, "last-page") or "").text
        assert rows(last) == expected[3 * SIZE :], "the last page holds the visible tail only"
        assert page_number(last) == "page 4 of 4"
        assert link(last, "next-page") is None and link(last, "last-page") is None
        third = client.get(link(last, "previous-page") or "").text
        assert rows(third) == expected[2 * SIZE : 3 * SIZE]
        assert page_number(third) == "page 3 of 4"
        assert rows(client.get(link(third, "next-page") or "").text) == expected[3 * SIZE :]
        assert rows(client.get(link(last, "first-page") or "").text) == expected[:SIZE]
