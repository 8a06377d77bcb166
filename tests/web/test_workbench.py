"""The analyst's whole job in the dashboard alone, in Debian's chromium (issue #20):
detection → case → share → partner match and sighting → briefing → disclosure, as the platform's
analyst (Examplebook) and a partner platform's analyst (Chirper), counting the clicks of each step.

The module works on its own copy of the demo (tests.web.live), so the cases and signals it adds
never change what the other dashboard tests count."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.fixtures import REPO, screenshot, sign_in
from tests.web.live import copy_demo, serve

pytestmark = pytest.mark.browser

CLICKS_FILE = REPO / "test-output" / "workbench-clicks.json"


@pytest.fixture(scope="module")
def own_server(demo_run: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = copy_demo(demo_run["data_dir"], tmp_path_factory.mktemp("workbench") / "demo")
    with serve(data_dir) as url:
        yield url


# What a control is called on screen: a box by its label (or its table row's value), a field by
# its label's own words (not the options of a select inside it), name or placeholder, a button
# or link by its text.
_DESCRIBE = """e => {
  const own = (n) =>
    Array.from(n.childNodes).filter((c) => c.nodeType === 3).map((c) => c.textContent).join(" ");
  const field = ["INPUT", "SELECT", "TEXTAREA"].includes(e.tagName);
  const box = field && (e.type === "checkbox" || e.type === "radio");
  const label = e.labels && e.labels.length ? (box ? e.labels[0].innerText : own(e.labels[0])) : "";
  const row = e.closest("tr");
  const cell = row ? row.querySelector("td.value") || row.querySelector("td") : null;
  const called = field ? e.getAttribute("aria-label") || e.getAttribute("name") : "";
  const named = box && cell ? cell.innerText : called;
  const text = label.trim() || named || (field ? "" : e.innerText) || e.value || e.tagName;
  return text.trim().replace(/\\s+/g, " ").slice(0, 60);
}"""


class Clicks:
    """Counts the clicks (and the fields typed or chosen) of each step of the path, and lists
    them as the screen names them (``test-output/workbench-clicks.json``, for the lead's note)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.steps: dict[str, dict[str, Any]] = {}
        self.step = ""

    def start(self, step: str) -> None:
        self.step = step
        self.steps[step] = {"clicks": 0, "fields": 0, "actions": []}

    def _at(self, target: Any) -> Any:
        return self.page.locator(target) if isinstance(target, str) else target

    def _note(self, counter: str, what: str) -> None:
        self.steps[self.step][counter] += 1
        self.steps[self.step]["actions"].append(what)

    def click(self, target: Any) -> None:
        found = self._at(target)
        self._note("clicks", f"click “{found.evaluate(_DESCRIBE)}”")
        found.click()

    def field(self, target: Any, value: str) -> None:
        found = self._at(target)
        self._note("fields", f"type “{value}” into {found.evaluate(_DESCRIBE) or 'a field'}")
        found.fill(value)

    def choose(self, target: Any, value: str) -> None:
        found = self._at(target)
        self._note("fields", f"choose {value} in {found.evaluate(_DESCRIBE)}")
        found.select_option(value)


def _status(page: Any) -> str:
    text: str = page.locator("[data-testid=case-status]").inner_text()
    return text


def test_the_whole_job_in_the_dashboard(
    browser: Any, own_server: str, demo_run: dict[str, Any], tmp_path: Path
) -> None:
    url = own_server
    keys = demo_run["keys"]
    orgs = demo_run["demo"]["orgs"]
    platform_ctx = browser.new_context(viewport={"width": 1360, "height": 900}, locale="en-GB")
    partner_ctx = browser.new_context(viewport={"width": 1360, "height": 900}, locale="en-GB")
    analyst = platform_ctx.new_page()
    partner = partner_ctx.new_page()
    for tab in (analyst, partner):
        tab.set_default_timeout(20_000)
    clicks = Clicks(analyst)

    # 1. detection → case: the platform's analyst opens a case from a detected campaign, sharing
    #    all but one account as AMBER with the partner platform named.
    sign_in(analyst, url, keys["Examplebook"]["analyst"], "/detections")
    clicks.start("detection → case")
    clicks.click(analyst.locator("table.data a[href^='/detections/']").first)
    detection_url = analyst.url
    expect(analyst.locator("[data-testid=open-case-form]")).to_be_visible()
    screenshot(analyst, "detection-open-case")
    accounts = analyst.locator("[data-testid=open-case-preview] input[name=values][value^='account ']")
    shared_accounts = [v.split(" ", 1)[1] for v in (a.get_attribute("value") for a in accounts.all()) if v]
    assert len(shared_accounts) >= 4
    held_back = shared_accounts.pop()  # this one stays with the platform
    clicks.click(accounts.last)
    clicks.field("[data-testid=open-case-form] input[name=title]", "Dashboard case: vote-fraud network")
    clicks.choose("[data-testid=open-case-tlp]", "AMBER")
    clicks.click(f"[data-testid=open-case-form] input[name=shared_with][value='{orgs['Chirper']}']")
    clicks.click("[data-testid=open-case-submit]")
    analyst.wait_for_url(re.compile(r"/cases/case--"))
    case_url = analyst.url
    assert _status(analyst) == "triage"
    linked = analyst.locator("[data-testid=case-signals] tbody td.value").all_inner_texts()
    assert held_back not in linked and all(a in linked for a in shared_accounts)
    assert "Chirper" in analyst.locator("dl.facts").inner_text()
    # the detection page now names the case
    analyst.goto(detection_url)
    expect(analyst.locator("[data-testid=detection-case-list]")).to_contain_text("Dashboard case")
    analyst.goto(case_url)
    # pivots: the case links back to its detection, the campaign's description too
    analyst.click("[data-testid=case-detection]")
    assert analyst.url == detection_url
    analyst.goto(case_url)
    analyst.click("[data-testid=case-campaign]")
    analyst.click("[data-testid=campaign-description] a[data-detection]")
    assert analyst.url == detection_url
    analyst.goto(case_url)

    # 2. share: release three accounts to TLP:CLEAR (for the public report) and share one more value
    clicks.start("share")
    released = shared_accounts[:3]
    for account in released:
        row = analyst.locator("[data-testid=case-signals] tbody tr", has_text=account)
        clicks.click(row.locator("input[name=signal_ids]"))
    clicks.choose("[data-testid=share-tlp]", "CLEAR")
    clicks.click("[data-testid=share-submit]")
    expect(analyst.locator("[data-testid=timeline]")).to_contain_text("Shared 3 signal(s) as TLP:CLEAR")
    for account in released:
        row = analyst.locator("[data-testid=case-signals] tbody tr", has_text=account)
        expect(row.locator(".tlp")).to_have_text("TLP:CLEAR")
    form = analyst.locator("[data-testid=add-signal-form]")
    clicks.choose(form.locator("select[name=kind]"), "hashtag")
    clicks.field(form.locator("input[name=value]"), "#StopTheSteal2026")
    clicks.click(form.locator("button"))
    expect(analyst.locator("[data-testid=case-signals]")).to_contain_text("stopthesteal2026")
    # a bad value keeps what was typed and names the problem
    form = analyst.locator("[data-testid=add-signal-form]")
    form.locator("select[name=kind]").select_option("image_pdq")
    form.locator("input[name=value]").fill("not-a-hash")
    form.locator("button").click()
    expect(form.locator("[data-testid=form-error]")).to_contain_text("400")
    assert form.locator("input[name=value]").input_value() == "not-a-hash"
    screenshot(analyst, "case-shared")

    # 3. partner match and sighting: Chirper's analyst pastes values seen on its platform
    sign_in(partner, url, keys["Chirper"]["analyst"], "/match")
    clicks.page = partner
    clicks.start("partner match and sighting")
    pasted = [shared_accounts[0], held_back, "chirper:no-such-account"]
    clicks.field(partner.locator("[data-testid=match-form] textarea"), "\n".join(pasted))
    clicks.click("[data-testid=match-form] button")
    results = partner.locator("[data-testid=match-results] tbody tr")
    expect(results).to_have_count(3)
    hits = partner.locator("[data-testid=match-results] tbody tr.hit")
    # the held-back account was never shared (and the demo's own case is platform-AMBER or shared
    # with Chirper: whatever Chirper sees of it, the first value matches)
    assert shared_accounts[0] in hits.first.inner_text()
    screenshot(partner, "match")
    first = partner.locator("[data-testid=match-results] tbody tr.hit", has_text=shared_accounts[0])
    clicks.field(first.locator("input[name=count]"), "12")
    clicks.click(first.locator("button[data-sight]"))
    partner.wait_for_url(re.compile(r"/signals/indicator--"))
    sighted = partner.locator("[data-testid=signal-sightings]").inner_text()
    assert "Chirper" in sighted and "12" in sighted
    assert "12 posts" in partner.locator("[data-testid=signal-sighted]").inner_text()
    # pivot: the partner sees the shared case holding the signal
    expect(partner.locator("[data-testid=signal-cases]")).to_contain_text("Dashboard case")
    screenshot(partner, "signal-sighted")

    # 4. briefing: the platform's analyst reads the week's briefing inline and issues it
    clicks.page = analyst
    clicks.start("briefing")
    clicks.click("nav a[href='/briefings']")
    frame = analyst.frame_locator("[data-testid=briefing-frame]")
    expect(frame.locator("body")).to_contain_text("Dashboard case")
    height = analyst.locator("[data-testid=briefing-frame]").evaluate("f => f.getBoundingClientRect().height")
    inner = analyst.locator("[data-testid=briefing-frame]").evaluate(
        "f => f.contentDocument.documentElement.scrollHeight"
    )
    assert height >= inner  # shown whole: no scroll inside the page's scroll
    clicks.click("form[action='/briefings/issue'] button")
    analyst.wait_for_load_state("networkidle")
    screenshot(analyst, "briefing-platform")

    # 5. disclosure: record the takedown as CLEAR, move the case to coordinated action, publish
    clicks.start("disclosure")
    analyst.goto(case_url)
    clicks.click("button[data-move=investigating]")
    assert _status(analyst) == "investigating"
    clicks.click("button[data-move='coordinated-action']")
    assert _status(analyst) == "coordinated-action"
    form = analyst.locator("[data-testid=action-form]")
    clicks.choose(form.locator("select[name=action]"), "removed")
    clicks.field(form.locator("input[name=count]"), str(len(shared_accounts)))
    clicks.choose(form.locator("select[name=target]"), "accounts")
    clicks.field(form.locator("input[name=platform]"), "examplebook")
    clicks.choose(form.locator("select[name=tlp]"), "CLEAR")
    clicks.click(form.locator("button"))
    with analyst.context.expect_page() as opened:
        clicks.click("[data-testid=report-final] button")
    report = opened.value
    report.wait_for_load_state()
    text = report.locator("body").inner_text()
    for account in released:
        assert account.split(":", 1)[1] in text or account in text
    assert held_back not in text
    assert shared_accounts[-1] not in text  # shared AMBER, never released
    assert "removed" in text.lower()
    screenshot(report, "disclosure-report-final")
    analyst.reload()
    expect(analyst.locator("[data-testid=timeline]")).to_contain_text("final public report")

    CLICKS_FILE.parent.mkdir(parents=True, exist_ok=True)
    CLICKS_FILE.write_text(json.dumps(clicks.steps, indent=2, ensure_ascii=False))
    # The dashboard path stays short: the whole job in under 40 clicks.
    assert sum(s["clicks"] for s in clicks.steps.values()) < 40, clicks.steps
    platform_ctx.close()
    partner_ctx.close()


def _hidden_case(demo_run: dict[str, Any]) -> dict[str, Any]:
    """A demo case marked AMBER for platforms only: the government may not see it."""
    return next(
        c
        for c in demo_run["demo"]["summary"]["case_markings"]
        if c["tlp"] == "AMBER" and not c["shared_with"]
    )


def test_search_stays_within_what_the_reader_may_see(
    page: Any, own_server: str, demo_run: dict[str, Any]
) -> None:
    hidden = _hidden_case(demo_run)
    shared = next(c for c in demo_run["demo"]["summary"]["case_markings"] if c["tlp"] == "GREEN")
    sign_in(page, own_server, demo_run["keys"]["Electoral Commission"]["admin"], "/")
    for title in (hidden["title"], shared["title"]):
        page.fill("[data-testid=search-box]", title)
        page.press("[data-testid=search-box]", "Enter")
        page.wait_for_url(re.compile(r"/search\?q="))
        found = page.locator("[data-testid=search-cases]").inner_text()
        if title == hidden["title"]:
            assert hidden["id"] not in page.content() and "Cases (0)" in found
        else:
            assert title in found
    # every group is there, with its count
    page.goto(f"{own_server}/search?q=vote")
    summary = page.locator("[data-testid=search-summary]").inner_text()
    for group in ("signals", "cases", "campaigns", "meetings"):
        assert group in summary
    screenshot(page, "search-government")
    # a platform sees the platform-only case by the same title
    sign_in(page, own_server, demo_run["keys"]["Chirper"]["read-only"], "/")
    page.goto(f"{own_server}/search?q={hidden['title']}")
    expect(page.locator("[data-testid=search-cases]")).to_contain_text(hidden["title"])


def test_admin_screens_are_for_admins_and_show_a_key_once(
    browser: Any, page: Any, own_server: str, demo_run: dict[str, Any]
) -> None:
    sign_in(page, own_server, demo_run["keys"]["Examplebook"]["analyst"], "/")
    assert page.locator("nav a[href='/admin']").count() == 0
    assert page.goto(f"{own_server}/admin").status == 403
    sign_in(page, own_server, demo_run["keys"]["Examplebook"]["admin"], "/admin")
    assert page.locator("[data-testid=orgs-table]").inner_text().count("Examplebook") >= 1
    assert page.locator("[data-testid=peers-table]").count() == 0  # peers: the operator's
    form = page.locator("[data-testid=key-form]")
    form.locator("input[name=name]").fill("Dana (night shift)")
    form.locator("select[name=role]").select_option("read-only")
    form.locator("button").click()
    page.wait_for_load_state()
    secret = page.locator("[data-testid=secret]").inner_text().strip()
    assert secret.startswith("vigil_")
    screenshot(page, "admin-key-created")
    page.goto(f"{own_server}/admin")
    assert secret not in page.content()  # shown once
    assert "Dana (night shift)" in page.locator("[data-testid=keys-table]").inner_text()
    # the new key signs in, with its role
    other = browser.new_context()
    tab = other.new_page()
    sign_in(tab, own_server, secret, "/")
    assert "read-only" in tab.locator("[data-testid=who]").inner_text()
    other.close()
    # the operator's admin sees the organisations' lifecycle and the federation peers
    sign_in(page, own_server, demo_run["keys"]["Vigil Coalition"]["admin"], "/admin")
    assert page.locator("[data-testid=peers-table]").count() == 1
    assert page.locator("[data-testid=org-form]").count() == 1
    screenshot(page, "admin-operator")


def test_tables_sort_page_and_export_within_tlp(page: Any, own_server: str, demo_run: dict[str, Any]) -> None:
    hidden = _hidden_case(demo_run)
    sign_in(page, own_server, demo_run["keys"]["Examplebook"]["admin"], "/audit")
    # the audit log pages and sorts on the server: size, count, first/last, column links
    page.click("[data-testid=size-25]")
    expect(page.locator("[data-testid=audit-count]")).to_contain_text(re.compile(r"1–25 of \d+"))
    page.click("[data-testid=last-page]")
    expect(page.locator("[data-testid=next-page]")).to_have_count(0)
    page.click("[data-testid=first-page]")
    expect(page.locator("[data-testid=previous-page]")).to_have_count(0)
    page.click("[data-testid=audit-table] th a[data-sort=action]")
    page.wait_for_url(re.compile(r"sort=action&order=asc"))
    actions = page.locator("[data-testid=audit-table] tbody td:nth-child(5)").all_inner_texts()
    assert len(actions) == 25 and actions == sorted(actions)
    # readable summaries, not JSON
    summaries = page.locator("[data-testid=audit-summary]").all_inner_texts()
    assert summaries and not any(s.startswith("{") for s in summaries)
    page.check("[data-testid=hide-reads]")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"reads=hide"))
    actions = page.locator("[data-testid=audit-table] tbody td:nth-child(5)").all_inner_texts()
    assert actions and "signal.read" not in actions and actions == sorted(actions)  # the sort kept
    screenshot(page, "audit-readable")
    # sorting the cases table by title (a link: the server sorts and pages), then the other way
    page.goto(f"{own_server}/cases")
    page.click("[data-testid=cases-table] th a:has-text('title')")
    page.wait_for_url(re.compile(r"sort=title&order=asc"))
    titles = page.locator("[data-testid=cases-table] tbody td:first-child").all_inner_texts()
    assert titles == sorted(titles, key=str.casefold)
    page.click("[data-testid=cases-table] th a:has-text('title')")
    page.wait_for_url(re.compile(r"sort=title&order=desc"))
    assert page.locator("[data-testid=cases-table] tbody td:first-child").all_inner_texts() == titles[::-1]
    expect(page.locator("[data-testid=cases-count]")).to_contain_text(f"of {len(titles)} case")
    # CSV exports hold what the reader may see, nothing more
    sign_in(page, own_server, demo_run["keys"]["Electoral Commission"]["admin"], "/cases")
    cases_csv = page.request.get(f"{own_server}/export/cases.csv").text()
    assert cases_csv.startswith("\ufeffid,title") and hidden["title"] not in cases_csv
    # the case list's STIX and MISP links: groupings and events of the visible cases only
    with page.expect_download() as got:
        page.click("[data-testid=export-stix]")
    groupings = [
        o for o in json.loads(Path(got.value.path()).read_text())["objects"] if o["type"] == "grouping"
    ]
    assert groupings and hidden["title"] not in {g["name"] for g in groupings}
    with page.expect_download() as got:
        page.click("[data-testid=export-misp]")
    assert Path(got.value.path()).read_bytes()[:2] == b"PK"
    page.goto(f"{own_server}/signals?tlp=AMBER")
    with page.expect_download() as got:
        page.click("[data-testid=export-csv]")
    amber = Path(got.value.path()).read_text("utf-8-sig").splitlines()
    assert amber[0].startswith("id,type,value,tlp")
    assert all(",AMBER," in line for line in amber[1:])
    stix = page.request.get(f"{own_server}/export/signals.stix.json?tlp=AMBER").json()
    assert stix["type"] == "bundle"
    misp = page.request.get(f"{own_server}/export/signals.misp.zip")
    assert misp.status == 200 and misp.body()[:2] == b"PK"


def test_case_graph_is_interactive(page: Any, own_server: str, demo_run: dict[str, Any]) -> None:
    case = demo_run["demo"]["summary"]["case_markings"][0]
    sign_in(page, own_server, demo_run["keys"]["Examplebook"]["analyst"], f"/cases/{case['id']}")
    page.click("[data-testid=case-graph-link]")
    page.wait_for_function("() => window.vigilGraph && window.vigilGraph.nodes().length > 3")
    labels = page.evaluate("() => window.vigilGraph.nodes().map(n => n.data('label')).filter(Boolean).length")
    total = page.evaluate("() => window.vigilGraph.nodes().length")
    assert labels == total  # every node has a label
    screenshot(page, "case-graph")
    # filter: hide the accounts
    accounts = page.evaluate("() => window.vigilGraph.nodes('[group = \"account\"]').length")
    assert accounts > 0
    # Cytoscape applies a class's style lazily (on its next frame): node.visible() read at once
    # after the change can still answer the old display, so the test waits for the nodes to show
    # the filter (a filter that hides nothing, or everything, times out here).
    shown = "(n) => window.vigilGraph.nodes().filter(x => x.visible()).length === n"
    page.uncheck("#graph-groups input[data-group=account]")
    page.wait_for_function(shown, arg=total - accounts, timeout=10_000)
    page.check("#graph-groups input[data-group=account]")
    page.wait_for_function(shown, arg=total, timeout=10_000)  # settled before a click hit-tests them
    # click-through: a click on a signal node opens its page
    target = page.evaluate(
        """() => {
            const node = window.vigilGraph.nodes()
                .filter(n => (n.data('url') || '').startsWith('/signals/'))[0];
            const box = document.getElementById('graph').getBoundingClientRect();
            const at = node.renderedPosition();
            return {id: node.id(), x: box.left + at.x, y: box.top + at.y};
        }"""
    )
    page.mouse.click(target["x"], target["y"])
    page.wait_for_url(re.compile(re.escape(f"/signals/{target['id']}")))


def test_read_only_sees_no_workbench_forms(page: Any, own_server: str, demo_run: dict[str, Any]) -> None:
    case = demo_run["demo"]["summary"]["case_markings"][0]
    sign_in(page, own_server, demo_run["keys"]["Examplebook"]["read-only"], "/detections")
    page.locator("table.data a[href^='/detections/']").first.click()
    assert page.locator("[data-testid=open-case-form]").count() == 0
    page.goto(f"{own_server}/cases/{case['id']}")
    assert page.locator("[data-testid=share-form]").count() == 0
    assert page.locator("[data-testid=add-signal-form]").count() == 0
    link = page.locator("[data-testid=case-signals] td.value a").first
    signal_url = link.get_attribute("href")
    link.click()
    assert page.locator("[data-testid=sighting-form]").count() == 0
    csrf = page.locator("input[name=csrf]").first.get_attribute("value") or ""
    before = page.locator("[data-testid=signal-sightings]").inner_text()
    answer = page.request.post(
        f"{own_server}{signal_url}/sighting", form={"count": "5", "csrf": csrf}, max_redirects=0
    )
    assert answer.status == 403
    page.reload()
    assert page.locator("[data-testid=signal-sightings]").inner_text() == before


def test_times_in_the_viewers_zone_and_layout_at_800px(
    browser: Any, own_server: str, demo_run: dict[str, Any]
) -> None:
    context = browser.new_context(viewport={"width": 800, "height": 900}, timezone_id="Asia/Tokyo")
    tab = context.new_page()
    sign_in(tab, own_server, demo_run["keys"]["Electoral Commission"]["analyst"], "/cases")
    first = tab.locator("[data-testid=cases-table] time").first
    assert re.search(r"GMT\+9|JST", first.inner_text())
    assert "UTC" in (first.get_attribute("title") or "")
    assert "ago" in tab.locator("[data-testid=cases-table] small.rel").first.inner_text()
    for path in ("/cases", "/signals", "/", "/briefings"):
        tab.goto(f"{own_server}{path}")
        width = tab.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 800, (path, width)
        # the organisation's name is not broken mid-word
        org = tab.locator("[data-testid=who] .org")
        assert org.evaluate("e => getComputedStyle(e).whiteSpace") == "nowrap"
    screenshot(tab, "signals-800px")
    context.close()


def test_share_remark_and_withdraw_a_signal(page: Any, own_server: str, demo_run: dict[str, Any]) -> None:
    sign_in(page, own_server, demo_run["keys"]["Chirper"]["analyst"], "/signals")
    page.click("[data-testid=new-signal]")
    form = page.locator("[data-testid=new-signal-form]")
    form.locator("select[name=kind]").select_option("image_pdq")
    form.locator("input[name=value]").fill("zz-not-hex")
    form.locator("button").click()
    expect(form.locator("[data-testid=form-error]")).to_contain_text("400")
    assert form.locator("input[name=value]").input_value() == "zz-not-hex"  # kept
    form.locator("select[name=kind]").select_option("narrative")
    form.locator("input[name=value]").fill("Les bureaux de vote ferment à midi")
    form.locator("input[name=language]").fill("fr")
    form.locator("select[name=tlp]").select_option("AMBER")
    form.locator("button").click()
    page.wait_for_url(re.compile(r"/signals/indicator--"))
    mark = page.locator("[data-testid=mark-form]")
    expect(mark.locator("select[name=tlp]")).to_have_value("AMBER")
    mark.locator("select[name=tlp]").select_option("GREEN")
    # Wait for the reloaded page: the select shows GREEN as soon as it is chosen, so checking it
    # alone let the withdraw click race the marking's POST and be lost to its reload.
    with page.expect_navigation():
        mark.locator("button").click()
    expect(page.locator("[data-testid=mark-form] select[name=tlp]")).to_have_value("GREEN")
    signal_url = page.url
    with page.expect_navigation():
        page.click("[data-testid=withdraw-form] button")
    expect(page.locator("h1 .revoked")).to_be_visible()
    assert page.locator("[data-testid=mark-form]").count() == 0  # nothing of ours left to re-mark
    assert signal_url.endswith(page.url.rsplit("/", 1)[-1])
