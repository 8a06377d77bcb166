"""Documents downloaded from the dashboard carry their marking (issue #15, failure 4), through the
real pages over HTTP, signed in through the form: the meeting pack, the minutes, the briefing and
the disclosure report, in HTML, Markdown and PDF, for a government reader and the source platform.
(The full document x format x reader matrix is tests/cases/test_document_markings.py.)"""

from __future__ import annotations

import re
import shutil
from datetime import timedelta

import pytest

from vigil.cases.meetings import MeetingService
from vigil.cases.service import CaseService
from vigil.core.time import utcnow
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore

from ..cases.test_document_markings import _marking_of
from ..exchange.conftest import LiveServer, live, signed_in  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def world(live: LiveServer) -> dict[str, str]:  # noqa: F811  (the exchange's fixture)
    now = utcnow()
    with live.db.session() as session:
        store = ExchangeStore(session)
        plat = store.create_org(None, "Docs platform", "platform")
        gov = store.create_org(None, "Docs government", "government")
        _, plat_key = store.create_key(None, plat.id, "analyst")
        _, gov_key = store.create_key(None, gov.id, "read-only")
        principal = store.authenticate(plat_key)
        cases = CaseService(session, principal)
        green = cases.create_case("web-green-case", marking=Marking(TLP.GREEN))
        cases.create_case("web-amber-case", marking=Marking(TLP.AMBER))
        red = cases.create_case("web-red-case", marking=Marking(TLP.RED))
        cases.set_embargo(red.id, now + timedelta(days=2))
        meetings = MeetingService(session, principal)
        [meeting] = meetings.create_meeting("Docs sync", now + timedelta(days=1), invited={gov.id: "member"})
        meetings.file_update(meeting.id, asks="web-update", marking=Marking(TLP.GREEN))
        meetings.record_minutes(meeting.id, "web-minutes", marking=Marking(TLP.GREEN))
    return {"plat": plat_key, "gov": gov_key, "meeting": meeting.id, "green": green.id}


@pytest.mark.parametrize(
    ("reader", "pack", "briefing"), [("gov", TLP.GREEN, TLP.GREEN), ("plat", TLP.RED, TLP.RED)]
)
def test_dashboard_documents_are_marked_for_their_reader(
    live: LiveServer,  # noqa: F811
    world: dict[str, str],
    request: pytest.FixtureRequest,
    reader: str,
    pack: TLP,
    briefing: TLP,
) -> None:
    formats = ["html", "md"]
    if "sqlite" in request.node.callspec.id and shutil.which("pdftotext"):
        formats.append("pdf")  # rendering does not depend on the backend
    m = world["meeting"]
    with signed_in(live, world[reader]) as client:
        # the meeting page says which marking the viewer's copy of the pack carries
        page = client.get(f"/meetings/{m}")
        assert page.status_code == 200
        badge = re.search(r'data-testid="pack-tlp"[^>]*><span class="tlp[^"]*">TLP:([A-Z+]+)<', page.text)
        assert badge and badge.group(1) == pack.value, badge
        for fmt in formats:
            documents = {
                "pack": (f"/meetings/{m}/pack.{fmt}", pack),
                "minutes": (f"/meetings/{m}/minutes.{fmt}", TLP.GREEN),
                "briefing": (f"/briefings/document?since=7d&format={fmt}", briefing),
                "disclosure draft": (f"/cases/{world['green']}/report?format={fmt}", TLP.CLEAR),
            }
            for name, (path, expected) in documents.items():
                answer = client.get(path)
                assert answer.status_code == 200, (name, fmt, answer.text[:300])
                tlp, text = _marking_of(answer.content, fmt)
                assert tlp is expected, (name, fmt, reader, tlp)
                if reader == "gov":
                    assert "web-amber-case" not in text and "web-red-case" not in text, (name, fmt)
                elif name == "pack":
                    assert "web-red-case" in text  # listed, hence the RED marking
