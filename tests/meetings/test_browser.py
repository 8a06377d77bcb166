"""One meeting walked in Debian's chromium (Playwright) against a real ``vigil serve`` on the demo's
data: invitation, pre-filled updates from a platform and the government, an overdue action item
on the calendar page, minutes, and each reader's pack and minutes under TLP."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from tests.web.fixtures import screenshot, sign_in
from vigil.core.time import utcnow

pytestmark = pytest.mark.browser


def test_walk_one_meeting_from_invitation_to_minutes(
    page: Any,
    server: str,
    demo_run: dict[str, Any],
) -> None:
    keys = demo_run["keys"]
    tag = uuid.uuid4().hex[:6]
    title = f"Election week sync {tag}"
    secret = f"PLATFORM-ONLY-{tag}"
    now = utcnow()

    # the platform schedules the meeting and invites the other platform and the government
    sign_in(page, server, keys["Examplebook"]["analyst"], "/meetings")
    form = page.locator("[data-testid=meeting-form]")
    form.locator("input[name=title]").fill(title)
    form.locator("input[name=starts_at]").fill((now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"))
    form.locator("label", has_text="Chirper").locator("input").check()
    form.locator("label", has_text="Electoral Commission").locator("input").check()
    form.locator("button").click()
    page.wait_for_url(f"{server}/meetings/meeting--*")
    meeting_url = page.url
    assert "Electoral Commission (member)" in page.locator("[data-testid=invited]").inner_text()
    assert (
        "signals" in page.locator("[data-testid=prefill]").inner_text()
    )  # pre-filled from the demo's activity
    update = page.locator("[data-testid=update-form]")
    update.locator("textarea[name=notes]").fill(secret)
    update.locator("textarea[name=expects]").fill("2026-12-01 | final debate | deepfake clips")
    update.locator("select[name=tlp]").select_option("AMBER")
    update.locator("button").click()
    assert secret in page.locator("[data-testid=agenda]").inner_text()
    screenshot(page, "meeting-platform")

    # the government partner sees the invitation, files its update, never sees the platform's
    sign_in(page, server, keys["Electoral Commission"]["analyst"], "/meetings")
    page.click(f"[data-testid=meetings-table] a:has-text('{title}')")
    update = page.locator("[data-testid=update-form]")
    update.locator("textarea[name=notes]").fill(f"GOV-NOTE-{tag}")
    update.locator("select[name=tlp]").select_option("GREEN")
    update.locator("button").click()
    agenda = page.locator("[data-testid=agenda]").inner_text()
    assert f"GOV-NOTE-{tag}" in agenda and secret not in agenda
    action = page.locator("[data-testid=action-form]")
    action.locator("input[name=text]").fill(f"Send seed list {tag}")
    action.locator("input[name=due]").fill((now - timedelta(days=1)).strftime("%Y-%m-%d"))
    action.locator("select[name=tlp]").select_option("GREEN")
    action.locator("button").click()
    assert "OVERDUE" in page.locator("[data-testid=actions-table]").inner_text()
    page.goto(f"{server}/meetings")
    reminder = page.locator("[data-testid=open-actions] tr", has_text=f"Send seed list {tag}")
    assert "OVERDUE" in reminder.inner_text()

    # the convener takes the minutes; each reader's documents hold only what it may see
    sign_in(page, server, keys["Examplebook"]["analyst"], meeting_url.removeprefix(server))
    minutes = page.locator("[data-testid=minutes-form]")
    minutes.locator("textarea").fill(f"Agreed joint statement {tag}.")
    minutes.locator("select[name=tlp]").select_option("GREEN")
    minutes.locator("button").click()
    assert f"Agreed joint statement {tag}." in page.locator("[data-testid=minutes]").inner_text()
    screenshot(page, "meeting-minutes")
    pack = page.request.get(f"{meeting_url}/pack.html").text()
    assert secret in pack and f"GOV-NOTE-{tag}" in pack

    sign_in(page, server, keys["Electoral Commission"]["read-only"], meeting_url.removeprefix(server))
    pack = page.request.get(f"{meeting_url}/pack.html").text()
    assert f"GOV-NOTE-{tag}" in pack and f"Send seed list {tag}" in pack and secret not in pack
    record = page.request.get(f"{meeting_url}/minutes.html").text()
    assert f"Agreed joint statement {tag}." in record and f"Send seed list {tag}" in record
    assert page.locator("[data-testid=update-form]").count() == 0  # read-only files nothing
