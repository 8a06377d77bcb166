"""A disclosure report of a restricted case has a human, dated title, never the case id's tail."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from vigil.cases.disclosure import DisclosureService
from vigil.cases.service import CaseService
from vigil.exchange.records import TLP, Marking

from .conftest import Coalition

NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


def test_restricted_case_report_title_is_dated_and_names_no_id(coalition: Coalition) -> None:
    with coalition.db.session() as s:
        a = coalition.principal("plat_a")
        case = CaseService(s, a, now=NOW).create_case("Operation Quietwater", marking=Marking(TLP.AMBER))
        service = DisclosureService(s, a, now=NOW)
        report = service.build(case.id, draft=True)
        html = service.render(case.id, "html", draft=True).decode()
    assert report.title == "Disclosure report, 7 December 2026"
    assert "Operation Quietwater" not in html  # the AMBER case's own title stays withheld
    heading = re.search(r"<h1>(.*?)</h1>", html)
    assert heading is not None and heading.group(1) == report.title  # the page heading too
    for tail in {case.id[-8:], case.id.split("--")[-1][:8]}:
        assert tail not in report.title
    # The full id stays only as the reference in the footer ("Case <id>"), never as a title.
    assert not re.search(r"report [0-9a-f]{6,}", html)
