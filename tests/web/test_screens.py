"""A screenshot of every dashboard page (test-output/screenshots/pages/), taken in Debian's
chromium as the platform's admin against the session's demo server (reads only): each page
answers 200 and renders without a browser error."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web.fixtures import screenshot, sign_in

pytestmark = pytest.mark.browser


def _first_link(page: Any, prefix: str) -> str:
    href = page.locator(f"main a[href^='{prefix}']").first.get_attribute("href")
    assert href, f"no link starting with {prefix} on {page.url}"
    return str(href)


def test_screenshot_of_every_page(page: Any, server: str, demo_run: dict[str, Any]) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/login")
    screenshot(page, "pages/login")
    sign_in(page, server, demo_run["keys"]["Examplebook"]["admin"], "/")
    paths = [
        "/",
        "/cases",
        "/signals",
        "/campaigns",
        "/detections",
        "/briefings",
        "/playbooks",
        "/meetings",
        "/policies",
        "/audit",
        "/admin",
        "/match",
        "/share",
        "/search?q=vote",
    ]
    # a case opened from a detection (other tests add exercise cases without signals)
    case = f"/cases/{demo_run['demo']['summary']['case_markings'][0]['id']}"
    paths += [case, f"{case}/graph"]
    page.goto(f"{server}/signals")
    signal = _first_link(page, "/signals/indicator--")
    paths += [signal, f"{signal}/graph"]
    page.goto(f"{server}/campaigns")
    campaign = _first_link(page, "/campaigns/campaign--")
    paths += [campaign, f"{campaign}/graph"]
    for index, prefix in (
        ("/detections", "/detections/"),
        ("/playbooks", "/playbooks/"),
        ("/meetings", "/meetings/"),
    ):
        page.goto(f"{server}{index}")
        if page.locator(f"main a[href^='{prefix}']").count():
            paths.append(_first_link(page, prefix))
    for path in paths:
        answer = page.goto(f"{server}{path}")
        assert answer is not None and answer.status == 200, path
        page.wait_for_load_state("networkidle")
        name = (
            re.sub(r"[^a-z0-9]+", "-", re.sub(r"--[0-9a-f-]{36}", "", path.lower())).strip("-") or "overview"
        )
        screenshot(page, f"pages/{name}")
    assert page.goto(f"{server}/cases/case--no-such-case").status == 404
    screenshot(page, "pages/error-404")
    assert not errors, errors
