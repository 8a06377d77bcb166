"""The older dashboard forms keep what was typed when the input is refused (issue #20).

Each refused post comes back as the form's page (400) with the form filled in and the reason above
it; nothing is stored. Run in Chromium against the session's demo server (a refusal writes nothing,
so the shared server stays as the other tests expect it).
"""

from __future__ import annotations

from typing import Any

from tests.web.fixtures import sign_in


def _own_case(demo_run: dict[str, Any]) -> str:
    case: str = demo_run["demo"]["summary"]["case_markings"][0]["id"]
    return case


def test_case_comment_and_action_forms_keep_their_input(
    page: Any, server: str, demo_run: dict[str, Any]
) -> None:
    case_url = f"/cases/{_own_case(demo_run)}"
    sign_in(page, server, demo_run["keys"]["Examplebook"]["analyst"], case_url)
    # rows, not text: the relative times ("35 seconds ago") move between two reads
    before = page.locator("[data-testid=actions-table] tr").count()
    timeline = page.locator("[data-testid=timeline] li").count()

    # a count beyond what can be stored: refused by the service, after the browser's own checks
    form = page.locator("[data-testid=action-form]")
    form.locator("select[name=action]").select_option("demoted")
    form.locator("input[name=count]").fill("99999999999")
    form.locator("select[name=target]").select_option("pages")
    form.locator("input[name=platform]").fill("examplebook-kept")
    form.locator("select[name=tlp]").select_option("GREEN")
    form.locator("input[name=note]").fill("typed note, kept")
    with page.expect_response(lambda r: r.url.endswith("/action")) as answer:
        form.locator("button").click()
    assert answer.value.status == 400
    page.wait_for_load_state()
    form = page.locator("[data-testid=action-form]")
    assert "count must be 0-" in form.locator("[data-testid=form-error]").inner_text()
    assert form.locator("select[name=action]").input_value() == "demoted"
    assert form.locator("input[name=count]").input_value() == "99999999999"
    assert form.locator("select[name=target]").input_value() == "pages"
    assert form.locator("input[name=platform]").input_value() == "examplebook-kept"
    assert form.locator("select[name=tlp]").input_value() == "GREEN"
    assert form.locator("input[name=note]").input_value() == "typed note, kept"
    assert page.locator("[data-testid=comment-form] [data-testid=form-error]").count() == 0

    # a comment of spaces only passes the browser's "required" but not the service
    comment = page.locator("[data-testid=comment-form]")
    comment.locator("textarea").fill("   ")
    with page.expect_response(lambda r: r.url.endswith("/comment")) as answer:
        comment.locator("button").click()
    assert answer.value.status == 400
    page.wait_for_load_state()
    comment = page.locator("[data-testid=comment-form]")
    assert "text must not be empty" in comment.locator("[data-testid=form-error]").inner_text()
    assert comment.locator("textarea").input_value() == "   "
    assert page.locator("[data-testid=action-form] input[name=platform]").input_value() == ""

    # nothing was stored by either refusal
    assert page.locator("[data-testid=actions-table] tr").count() == before
    assert page.locator("[data-testid=timeline] li").count() == timeline


def test_meetings_page_forms_keep_their_input(page: Any, server: str, demo_run: dict[str, Any]) -> None:
    sign_in(page, server, demo_run["keys"]["Examplebook"]["analyst"], "/meetings")
    listed = page.locator("[data-testid=meetings-table] tr").count()
    form = page.locator("[data-testid=meeting-form]")
    form.locator("input[name=title]").fill("Kept weekly sync")
    form.locator("input[name=starts_at]").fill("2031-03-04T10:30")
    form.locator("input[name=occurrences]").fill("3")  # three meetings, but ad hoc: refused
    form.locator("label", has_text="Chirper").locator("input").check()
    with page.expect_response(lambda r: r.url.endswith("/meetings") and r.request.method == "POST") as answer:
        form.locator("button").click()
    assert answer.value.status == 400
    page.wait_for_load_state()
    form = page.locator("[data-testid=meeting-form]")
    assert "occurrences must be 1" in form.locator("[data-testid=form-error]").inner_text()
    assert form.locator("input[name=title]").input_value() == "Kept weekly sync"
    assert form.locator("input[name=starts_at]").input_value() == "2031-03-04T10:30"
    assert form.locator("input[name=occurrences]").input_value() == "3"
    assert form.locator("select[name=recurrence]").input_value() == ""
    assert form.locator("label", has_text="Chirper").locator("input").is_checked()
    assert not form.locator("label", has_text="Electoral Commission").locator("input").is_checked()
    assert page.locator("[data-testid=meetings-table] tr").count() == listed  # nothing scheduled

    # the election-date form on the same page: an election name of spaces only
    dates = page.locator("[data-testid=election-form]")
    dates.locator("input[name=election]").fill("   ")
    dates.locator("select[name=kind]").select_option("debate")
    dates.locator("input[name=at]").fill("2031-05-06")
    dates.locator("input[name=title]").fill("kept: final debate")
    with page.expect_response(lambda r: r.url.endswith("/election-dates")) as answer:
        dates.locator("button").click()
    assert answer.value.status == 400
    page.wait_for_load_state()
    dates = page.locator("[data-testid=election-form]")
    assert "election must not be empty" in dates.locator("[data-testid=form-error]").inner_text()
    assert dates.locator("select[name=kind]").input_value() == "debate"
    assert dates.locator("input[name=at]").input_value() == "2031-05-06"
    assert dates.locator("input[name=title]").input_value() == "kept: final debate"
    assert page.locator("[data-testid=meeting-form] [data-testid=form-error]").count() == 0


def test_meeting_page_forms_keep_their_input(page: Any, server: str, demo_run: dict[str, Any]) -> None:
    sign_in(page, server, demo_run["keys"]["Examplebook"]["analyst"], "/meetings")
    page.locator("[data-testid=meetings-table] a", has_text="Weekly coalition sync").first.click()
    page.wait_for_load_state()
    items = page.locator("[data-testid=actions-table] tr").count()

    # an expected event without its event: "date | event | risk" with the middle left out
    update = page.locator("[data-testid=update-form]")
    update.locator("textarea[name=notes]").fill("kept: bot replies under the debate stream")
    update.locator("textarea[name=expects]").fill("2031-03-04 |  | deepfake clips")
    update.locator("select[name=tlp]").select_option("GREEN")
    with page.expect_response(lambda r: r.url.endswith("/update")) as answer:
        update.locator("button").click()
    assert answer.value.status == 400
    page.wait_for_load_state()
    update = page.locator("[data-testid=update-form]")
    assert "needs an 'event'" in update.locator("[data-testid=form-error]").inner_text()
    assert update.locator("textarea[name=notes]").input_value() == "kept: bot replies under the debate stream"
    assert update.locator("textarea[name=expects]").input_value() == "2031-03-04 |  | deepfake clips"
    assert update.locator("select[name=tlp]").input_value() == "GREEN"

    # an action item of spaces: past the browser's "required", refused by the service
    action = page.locator("[data-testid=action-form]")
    action.locator("select[name=kind]").select_option("decision")
    action.locator("input[name=text]").fill("   ")
    action.locator("input[name=due]").fill("2031-03-05")
    with page.expect_response(lambda r: r.url.endswith("/actions")) as answer:
        action.locator("button").click()
    assert answer.value.status == 400
    page.wait_for_load_state()
    action = page.locator("[data-testid=action-form]")
    assert "text must not be empty" in action.locator("[data-testid=form-error]").inner_text()
    assert action.locator("select[name=kind]").input_value() == "decision"
    assert action.locator("input[name=due]").input_value() == "2031-03-05"
    assert page.locator("[data-testid=actions-table] tr").count() == items  # nothing recorded
