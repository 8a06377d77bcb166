"""TLP in disclosure reports (only CLEAR material, in HTML and PDF) and in briefings (per reader)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from vigil.cases.briefing import BriefingService
from vigil.cases.disclosure import DisclosureService
from vigil.cases.render import briefing_html, briefing_markdown, render_briefing
from vigil.cases.service import CaseService
from vigil.exchange.records import TLP, Marking, Role
from vigil.exchange.store import ExchangeStore

from .conftest import Coalition

# One distinctive value per marking: none but CLEAR may reach a public report.
MATERIAL = {
    TLP.CLEAR: ("clearnews.com", "clearplat:1001", "clearplat"),
    TLP.GREEN: ("greennews.com", "greenplat:2002", "greenplat"),
    TLP.AMBER: ("ambernews.com", "amberplat:3003", "amberplat"),
    TLP.AMBER_STRICT: ("strictnews.com", "strictplat:4004", "strictplat"),
    TLP.RED: ("rednews.com", "redplat:5005", "redplat"),
}


def _world(coalition: Coalition, case_tlp: TLP = TLP.CLEAR) -> str:
    with coalition.db.session() as s:
        store = ExchangeStore(s)
        a = coalition.principal("plat_a")
        cases = CaseService(s, a)
        case = cases.create_case(
            "Operation Clearwater",
            marking=Marking(case_tlp),
            summary="Public summary of the network",
            attribution="Iran-based",
            techniques=["T0049"],
        )
        ids = []
        for tlp, (domain, account, platform) in MATERIAL.items():
            ids.append(store.submit_signal(a, "domain", domain, marking=Marking(tlp)).id)
            ids.append(store.submit_signal(a, "account", account, marking=Marking(tlp)).id)
            cases.record_action(
                case.id,
                "removed",
                "accounts",
                7,
                platform=platform,
                statement_url=f"https://{platform}.example/statement",
                marking=Marking(tlp),
            )
            cases.add_comment(case.id, f"comment-{tlp.value}-secret", marking=Marking(tlp))
        cases.link_signals(case.id, ids)
    return case.id


def _leaks(text: str) -> list[str]:
    found = []
    for tlp, values in MATERIAL.items():
        if tlp is not TLP.CLEAR:
            found += [v for v in values if v in text]
        found += [f"comment-{tlp.value}-secret"] if f"comment-{tlp.value}-secret" in text else []
    return found


def test_disclosure_report_holds_only_clear_material(coalition: Coalition, tmp_path: Path) -> None:
    case_id = _world(coalition)
    with coalition.db.session() as s:
        service = DisclosureService(s, coalition.principal("plat_a"))
        html = service.render(case_id, "html").decode()
        pdf = service.render(case_id, "pdf")
    assert _leaks(html) == []
    for value in MATERIAL[TLP.CLEAR]:
        assert value in html  # the CLEAR material is there
    assert "Operation Clearwater" in html and "T0049 Flood Information Space" in html
    assert html.count("<circle") == 1  # the network: only the CLEAR account
    assert pdf.startswith(b"%PDF") and len(pdf) > 2000
    if shutil.which("pdftotext"):
        (tmp_path / "r.pdf").write_bytes(pdf)
        text = subprocess.run(
            ["pdftotext", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True
        ).stdout
        assert "Operation Clearwater" in text and _leaks(text) == []


def test_a_restricted_case_withholds_its_own_details(coalition: Coalition) -> None:
    case_id = _world(coalition, TLP.AMBER)
    with coalition.db.session() as s:
        html = (
            DisclosureService(s, coalition.principal("plat_a")).render(case_id, "html", draft=True).decode()
        )
    assert "Operation Clearwater" not in html and "Iran-based" not in html and "Public summary" not in html
    assert "withheld" in html and "DRAFT" in html and _leaks(html) == []


@pytest.mark.parametrize(
    ("reader", "role", "visible"),
    [
        ("plat_a", Role.ANALYST, {TLP.CLEAR, TLP.GREEN, TLP.AMBER, TLP.AMBER_STRICT, TLP.RED}),
        ("plat_b", Role.ANALYST, {TLP.CLEAR, TLP.GREEN, TLP.AMBER}),
        ("gov", Role.ANALYST, {TLP.CLEAR, TLP.GREEN}),
        ("gov", Role.READ_ONLY, {TLP.CLEAR, TLP.GREEN}),
        ("gov", Role.ADMIN, {TLP.CLEAR, TLP.GREEN}),
        ("res", Role.ANALYST, {TLP.CLEAR, TLP.GREEN}),
    ],
)
def test_briefing_holds_only_what_the_reader_may_see(
    coalition: Coalition, reader: str, role: Role, visible: set[TLP]
) -> None:
    _world(coalition, TLP.GREEN)
    with coalition.db.session() as s:
        briefing = BriefingService(s, coalition.principal(reader, role)).build(timedelta(days=7))
        outputs = [briefing_html(briefing), briefing_markdown(briefing)]
    for text in outputs:
        for tlp, (domain, _account, platform) in MATERIAL.items():
            # domains are listed; accounts show up as their platform in "signals by platform"
            assert (domain in text) == (tlp in visible), (reader, tlp, domain)
            assert (platform in text) == (tlp in visible), (reader, tlp, platform)
    assert briefing.signals_total == 2 * len(visible)
    assert sum(briefing.signals_by_kind.values()) == briefing.signals_total
    assert sum(sum(series) for series in briefing.daily_by_kind.values()) == briefing.signals_total
    assert {k: sum(v) for k, v in briefing.daily_by_platform.items()} == briefing.signals_by_platform


def test_changed_since_last_briefing_and_pdf(coalition: Coalition) -> None:
    _world(coalition, TLP.GREEN)
    gov = coalition.principal("gov")
    with coalition.db.session() as s:
        first = BriefingService(s, gov).issue(timedelta(days=7))
        assert first.changes.previous_issued_at is None and first.id
    with coalition.db.session() as s:
        case = CaseService(s, coalition.principal("plat_a")).list_cases()[0]
        CaseService(s, coalition.principal("plat_a")).transition(case.id, "investigating")
        CaseService(s, coalition.principal("plat_b")).create_case("second case", marking=Marking(TLP.GREEN))
    with coalition.db.session() as s:
        second = BriefingService(s, gov).build(timedelta(days=7))
        pdf = render_briefing(second, "pdf")
    assert second.changes.previous_issued_at is not None
    assert second.changes.status_changes == [(case.id, "triage", "investigating")]
    assert len(second.changes.new_case_ids) == 1
    assert pdf.startswith(b"%PDF") and len(pdf) > 2000
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True).stdout.decode()
        assert "Vigil trend briefing" in text and "Signals by type" in text  # chart text is in the PDF
