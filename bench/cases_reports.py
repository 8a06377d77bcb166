"""Briefings and disclosure reports at coalition scale, and PDF rendering against a peer.

    python bench/cases_reports.py                        # 10,000 signals, 200 cases, SQLite
    python bench/cases_reports.py --signals 50000 --cases 500

Steps timed: building a government member's 7-day briefing (its TLP view of every signal and case),
rendering it to HTML (SVG charts) and to PDF with WeasyPrint; building a disclosure report whose
network has ``--accounts`` accounts (igraph layout + SVG) and rendering it to PDF. The peer in the
same run prints the same HTML to PDF with headless Chromium (Playwright, ``/usr/bin/chromium``), the
other offline HTML-to-PDF path this machine has; it is skipped if Chromium is missing.
Figures depend on the machine; on a shared machine, say so next to them.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from vigil.cases.briefing import BriefingService
from vigil.cases.disclosure import DisclosureService, disclosure_html
from vigil.cases.from_detection import DetectedCampaign, open_case
from vigil.cases.render import briefing_html, html_to_pdf
from vigil.cases.service import CaseService
from vigil.db import Database
from vigil.exchange.access import Principal
from vigil.exchange.records import TLP, Marking, OrgKind, Role
from vigil.exchange.store import ExchangeStore

TLPS = [TLP.CLEAR, TLP.GREEN, TLP.AMBER, TLP.RED]


def timed(label: str, fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    result = fn()
    print(f"  {label:<52} {time.perf_counter() - start:8.2f} s")
    return result


def chromium_pdf(html: str) -> bytes | None:
    if not shutil.which("chromium") and not Path("/usr/bin/chromium").exists():
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page()
        page.set_content(html)
        pdf = page.pdf(format="A4")
        browser.close()
    return pdf


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--signals", type=int, default=10_000)
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--accounts", type=int, default=300, help="accounts in the disclosed network")
    args = parser.parse_args()
    rng = random.Random(1)
    tmp = Path(tempfile.mkdtemp(prefix="vigil-bench-cases-"))
    db = Database(f"sqlite:///{tmp / 'bench.db'}", auto_upgrade=True)
    try:
        with db.session() as s:
            store = ExchangeStore(s)
            kinds = {"plat_a": "platform", "plat_b": "platform", "gov": "government"}
            orgs = {label: store.create_org(None, label, kind) for label, kind in kinds.items()}
        principals = {
            label: Principal(f"k-{label}", org.id, OrgKind(org.kind), Role.ANALYST)
            for label, org in orgs.items()
        }
        print(
            f"setup: {args.signals:,} signals, {args.cases:,} cases, {args.accounts} accounts in the network"
        )

        def load() -> None:
            with db.session() as s:
                store = ExchangeStore(s)
                for i in range(args.signals):
                    who = principals["plat_a" if i % 2 else "plat_b"]
                    kind, value = rng.choice(
                        [
                            ("domain", f"site{i % 997}.com"),
                            ("url", f"https://site{i % 997}.com/a/{i}"),
                            ("account", f"{rng.choice(['facebook', 'telegram', 'x'])}:{i}"),
                            ("hashtag", f"tag{i}"),
                        ]
                    )
                    store.submit_signal(who, kind, value, marking=Marking(rng.choice(TLPS)))
                cases = CaseService(s, principals["plat_a"])
                for i in range(args.cases):
                    cases.create_case(f"case {i}", marking=Marking(rng.choice(TLPS)))

        timed("load (submit signals, open cases)", load)
        accounts = [
            {"account": f"telegram:{i}", "platform": "telegram", "n_posts": 3} for i in range(args.accounts)
        ]
        edges = [
            (f"telegram:{i}", f"telegram:{j}", 1.0)
            for i in range(args.accounts)
            for j in rng.sample(range(args.accounts), 4)
            if i < j
        ]
        detected = DetectedCampaign("campaign--bench", 0.9, ["telegram"], ["en"], accounts, [], edges=edges)
        with db.session() as s:
            case = timed(
                f"open case from detection ({args.accounts} accounts -> signals)",
                lambda: open_case(CaseService(s, principals["plat_a"]), detected, Marking(TLP.CLEAR)),
            )
        with db.session() as s:
            service = BriefingService(s, principals["gov"])
            briefing = timed(
                "briefing build (government view, 7 days)", lambda: service.build(timedelta(days=7))
            )
        print(f"    -> {briefing.signals_total:,} visible signals, {len(briefing.new_cases)} new cases")
        html = timed("briefing HTML (6 SVG charts)", lambda: briefing_html(briefing))
        pdf = timed("briefing PDF, WeasyPrint", lambda: html_to_pdf(html))
        peer = timed("briefing PDF, peer: headless Chromium (Playwright)", lambda: chromium_pdf(html))
        print(
            f"    -> WeasyPrint {len(pdf):,} bytes; Chromium {len(peer):,} bytes"
            if peer
            else "    -> no Chromium"
        )
        with db.session() as s:
            report = timed(
                "disclosure build (CLEAR filter, igraph layout, SVG)",
                lambda: DisclosureService(s, principals["plat_a"]).build(case.id, draft=True),
            )
        report_html = disclosure_html(report)
        rpdf = timed("disclosure PDF, WeasyPrint", lambda: html_to_pdf(report_html))
        rpeer = timed("disclosure PDF, peer: headless Chromium", lambda: chromium_pdf(report_html))
        sizes = f"WeasyPrint {len(rpdf):,} bytes" + (f"; Chromium {len(rpeer):,} bytes" if rpeer else "")
        print(f"    -> {report.accounts_shown} accounts drawn; {sizes}")
    finally:
        db.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
