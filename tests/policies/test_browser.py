"""A policy change walked in Debian's chromium (Playwright) against a real server: the platform
records it with the dashboard form, then sees it in the matrix; the government partner sees it in
the matrix, in the next meeting's pack and in its briefing, never the platform's AMBER note; the
Arabic summary is laid out right to left."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from tests.web.fixtures import screenshot, sign_in
from vigil.cases.meetings import MeetingService
from vigil.core.time import utcnow
from vigil.exchange.store import ExchangeStore

from ..exchange.conftest import LiveServer

pytestmark = pytest.mark.browser


def test_policy_change_reaches_matrix_pack_and_briefing(page: Any, live: LiveServer) -> None:
    tag = uuid.uuid4().hex[:6]
    summary = f"لا إعلانات سياسية {tag}"
    note = f"AMBER-NOTE-{tag}"
    with live.db.session() as session:
        store = ExchangeStore(session)
        plat = store.create_org(None, f"Browserbook {tag}", "platform")
        gov = store.create_org(None, f"Commission {tag}", "government")
        _, plat_key = store.create_key(None, plat.id, "analyst")
        _, gov_key = store.create_key(None, gov.id, "read-only")
        principal = store.authenticate(plat_key)
        [meeting] = MeetingService(session, principal).create_meeting(
            f"Sync {tag}", utcnow() + timedelta(days=1), invited={gov.id: "member"}
        )

    sign_in(page, live.base_url, plat_key, "/policies")
    form = page.locator("[data-testid=policy-form]")
    form.locator("select[name=area]").select_option("political_ads")
    form.locator("select[name=status]").select_option("in_force")
    form.locator("textarea[name=summary]").fill(summary)
    form.locator("select[name=language]").select_option("ar")
    form.locator("textarea[name=note]").fill(note)
    form.locator("button").click()
    page.wait_for_url(f"{live.base_url}/policies")
    cell = page.locator(f'[data-area=political_ads] td[data-member="{plat.id}"]')
    assert cell.get_attribute("data-status") == "in_force" and note in cell.inner_text()
    screenshot(page, "policies-matrix-platform")

    page.context.clear_cookies()
    sign_in(page, live.base_url, gov_key, "/policies?lang=ar")
    cell = page.locator(f'[data-area=political_ads] td[data-member="{plat.id}"]')
    assert summary in cell.inner_text() and note not in page.content()
    rtl = cell.locator("p[dir=rtl]")
    assert rtl.evaluate("e => getComputedStyle(e).direction") == "rtl"
    screenshot(page, "policies-matrix-government-ar")
    for path in (f"/meetings/{meeting.id}/pack.html", "/briefings/document?since=7d&format=html"):
        page.goto(f"{live.base_url}{path}")
        text = page.content()
        assert "Member policy changes" in text and summary in text, path
        assert note not in text, path
