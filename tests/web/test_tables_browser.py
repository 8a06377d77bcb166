"""The meeting and campaign tables sort, count and page on the server, in chromium (issue #20), as
the government admin on the session's demo (reads only): a header click sorts, the count is what
that reader may export, the export follows the sort, and a bad parameter is an HTML 400 page."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest

from tests.web.fixtures import screenshot, sign_in

pytestmark = pytest.mark.browser


def _total(page: Any, name: str) -> int:
    text = page.locator(f"[data-testid={name}-count]").inner_text()
    found = re.search(r"of (\d+) ", text)
    return int(found.group(1)) if found else 0


def _export(page: Any, server: str) -> list[list[str]]:
    href = page.locator("[data-testid=export-csv]").get_attribute("href")
    answer = page.request.get(f"{server}{href}")
    assert answer.status == 200
    return list(csv.reader(io.StringIO(answer.body().decode("utf-8-sig"))))


def test_meetings_and_campaigns_sort_and_page_on_the_server(
    page: Any, server: str, demo_run: dict[str, Any]
) -> None:
    sign_in(page, server, demo_run["keys"]["Electoral Commission"]["admin"], "/meetings?size=10")
    total = _total(page, "meetings")
    assert total > 1, "the demo's meetings the government is invited to"
    rows = page.locator("[data-testid=meetings-table] tbody tr")
    assert rows.count() == min(10, total)
    # starts is the default sort (ascending): a click on it flips to newest first
    page.click("[data-testid=meetings-table] th a:has-text('starts')")
    page.wait_for_url(re.compile(r"sort=starts&order=desc"))
    assert "size=10" in page.url, "the page size stays in the links"
    shown = [rows.nth(i).get_attribute("data-meeting") for i in range(rows.count())]
    starts = [rows.nth(i).locator("time").first.get_attribute("datetime") or "" for i in range(rows.count())]
    assert starts == sorted(starts, reverse=True)
    exported = _export(page, server)
    assert len(exported) - 1 == total, "the count is what this reader may export"
    assert [r[0] for r in exported[1 : len(shown) + 1]] == shown, "the export follows the page's sort"
    page.click("[data-testid=meetings-table] th a:has-text('title')")
    page.wait_for_url(re.compile(r"sort=title&order=asc"))
    titles = page.locator("[data-testid=meetings-table] tbody tr td:nth-child(2)").all_inner_texts()
    assert titles == sorted(titles, key=str.lower)
    screenshot(page, "meetings-server-sorted")

    page.goto(f"{server}/campaigns?size=10")
    total = _total(page, "campaigns")
    rows = _export(page, server)
    assert total == len(rows) - 1 > 0
    page.click("[data-testid=campaigns-table] th a:has-text('name')")
    page.wait_for_url(re.compile(r"sort=name&order=asc"))
    page.click("[data-testid=campaigns-table] th a:has-text('name')")
    page.wait_for_url(re.compile(r"sort=name&order=desc"))
    names = page.locator("[data-testid=campaigns-table] tbody tr td:first-child").all_inner_texts()
    assert names == sorted(names, key=str.lower, reverse=True)
    assert [r[1] for r in _export(page, server)[1 : len(names) + 1]] == names
    screenshot(page, "campaigns-server-sorted")

    answer = page.goto(f"{server}/campaigns?size=abc")
    assert answer is not None and answer.status == 400
    assert "size" in page.locator("[data-testid=bad-parameters]").inner_text()
    screenshot(page, "bad-parameter-400")


def test_read_only_sees_no_share_form(page: Any, server: str, demo_run: dict[str, Any]) -> None:
    """Found walking every page as every role: ``/share`` showed read-only keys a form whose post
    the service refuses (403); it now says what the role may do instead."""
    sign_in(page, server, demo_run["keys"]["Chirper"]["read-only"], "/share")
    assert page.locator("[data-testid=new-signal-form]").count() == 0
    assert "read-only" in page.locator("[data-testid=read-only-note]").inner_text()
    screenshot(page, "share-read-only")


def test_another_org_sees_the_detection_named_not_linked(
    page: Any, server: str, demo_run: dict[str, Any]
) -> None:
    """Found walking as Chirper: a campaign's "detected campaign …" was a link that answers 404 to
    every organisation but the one that ran the detection; others now see it named, not linked."""
    sign_in(page, server, demo_run["keys"]["Chirper"]["analyst"], "/campaigns")
    page.locator("[data-testid=campaigns-table] tbody a").first.click()
    description = page.locator("[data-testid=campaign-description]")
    assert "detected campaign" in description.inner_text()
    assert description.locator("a[data-detection]").count() == 0
    assert description.locator("[data-detection-id]").count() >= 1
    screenshot(page, "campaign-detection-named")
