"""Reading the signal list's page as a browser would: its rows, its pager links, its page number."""

from __future__ import annotations

import re

SIZE = 25  # the signal list's page size


def rows(html: str) -> list[str]:
    return re.findall(r'<tr data-signal="([^"]+)"', html)


def link(html: str, testid: str) -> str | None:
    found = re.search(rf'<a class="button" href="([^"]+)"[^>]*data-testid="{testid}"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def page_number(html: str) -> str:
    found = re.search(r'data-testid="page-number">([^<]+)<', html)
    assert found, "the pager names the page"
    return found.group(1)
