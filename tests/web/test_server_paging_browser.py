"""Server-side sorting and paging in chromium (issue #20), as the government admin on the
session's demo (reads only): the case count is what that reader may export, sorting is a link,
the signal list jumps to its last page."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest

from tests.web.fixtures import screenshot, sign_in

pytestmark = pytest.mark.browser


def _of(text: str) -> tuple[int, int]:
    found = re.search(r"page (\d+) of (\d+)", text)
    assert found, text
    return int(found.group(1)), int(found.group(2))


def test_cases_and_signals_page_on_the_server(page: Any, server: str, demo_run: dict[str, Any]) -> None:
    sign_in(page, server, demo_run["keys"]["Electoral Commission"]["admin"], "/cases?size=10")
    count = page.locator("[data-testid=cases-count]").inner_text()
    total = int(re.search(r"of (\d+) case", count).group(1)) if " of " in count else 0  # type: ignore[union-attr]
    exported = list(csv.reader(io.StringIO(page.request.get(f"{server}/export/cases.csv").text())))
    assert total == len(exported) - 1 > 0, "the count is of what this reader may see (and export)"
    assert page.locator("[data-testid=cases-table] tbody tr").count() == min(10, total)
    # confidence, then confidence again: highest first
    page.click("[data-testid=cases-table] th a:has-text('confidence')")
    page.wait_for_url(re.compile(r"sort=confidence&order=asc"))
    page.click("[data-testid=cases-table] th a:has-text('confidence')")
    page.wait_for_url(re.compile(r"sort=confidence&order=desc"))
    assert "size=10" in page.url, "the page size stays in the links"
    shown = [int(t) for t in page.locator("[data-testid=cases-table] tbody td.num").all_inner_texts()]
    assert shown == sorted(shown, reverse=True)
    assert max(shown) == max(int(row[exported[0].index("confidence")]) for row in exported[1:])
    screenshot(page, "cases-server-sorted")

    page.goto(f"{server}/signals?size=25")
    _, pages = _of(page.locator("[data-testid=page-number]").inner_text())
    assert pages > 1
    page.click("[data-testid=last-page]")
    page.wait_for_url(re.compile(r"last=1"))
    assert _of(page.locator("[data-testid=page-number]").inner_text()) == (pages, pages)
    total_signals = int(page.locator("[data-testid=results-count]").inner_text().split()[0].replace(",", ""))
    assert page.locator("[data-testid=signals-table] tbody tr").count() == total_signals - 25 * (pages - 1)
    with page.expect_navigation():
        page.click("[data-testid=previous-page]")
    assert _of(page.locator("[data-testid=page-number]").inner_text()) == (pages - 1, pages)
    screenshot(page, "signals-previous-to-last")
