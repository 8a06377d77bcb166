"""The policy pages over real HTTP, signed in through the form: a platform records its policy
with the form (CSRF token carried), a government reader sees it in the matrix with gaps
highlighted and Arabic text right to left, never the platform's RED note, and the readiness view
of an election from the calendar."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from vigil.cases.meetings import MeetingService
from vigil.core.time import utcnow
from vigil.exchange.store import ExchangeStore

from ..exchange.conftest import LiveServer


def _client(live: LiveServer, key: str) -> httpx.Client:
    client = httpx.Client(base_url=live.base_url, timeout=60, follow_redirects=False)
    assert client.post("/login", data={"api_key": key}).status_code == 303
    return client


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the form carries no CSRF token"
    return found.group(1)


def test_record_with_the_form_and_read_the_matrix_and_readiness(live: LiveServer) -> None:
    tag = utcnow().strftime("%H%M%S%f")
    with live.db.session() as session:
        store = ExchangeStore(session)
        plat = store.create_org(None, f"Pages platform {tag}", "platform")
        gov = store.create_org(None, f"Pages government {tag}", "government")
        _, plat_key = store.create_key(None, plat.id, "analyst")
        _, gov_key = store.create_key(None, gov.id, "read-only")
        MeetingService(session, None).add_election_date(
            f"Vote {tag}", "election_day", utcnow() + timedelta(days=20)
        )
    p, g = _client(live, plat_key), _client(live, gov_key)
    try:
        page = p.get("/policies")
        assert page.status_code == 200 and 'href="/policies"' in page.text
        form = {
            "area": "political_ads",
            "status": "in_force",
            "summary": "لا إعلانات سياسية خلال فترة الصمت الانتخابي",
            "language": "ar",
            "source_url": "https://plat.example/policy",
            "tlp": "GREEN",
            "note": f"RED-NOTE-{tag}",
            "note_tlp": "RED",
        }
        assert p.post("/policies", data=form).status_code == 403  # no CSRF token: refused
        assert p.post("/policies", data={**form, "csrf": _csrf(page.text)}).status_code == 303
        bad = p.post("/policies", data={**form, "area": "nope", "csrf": _csrf(page.text)})
        assert bad.status_code == 400 and "unknown policy area" in bad.text
        own = p.get("/policies")
        assert f"RED-NOTE-{tag}" in own.text  # the member sees its own note
        seen = g.get("/policies", params={"lang": "ar"})
        assert seen.status_code == 200
        assert f"RED-NOTE-{tag}" not in seen.text
        assert 'lang="ar" dir="rtl">لا إعلانات سياسية' in seen.text
        assert 'dir="rtl">الإعلانات السياسية' in seen.text  # the area's Arabic title, right to left
        cell = re.search(rf'<td class="(\w+)" data-member="{plat.id}" data-status="in_force">', seen.text)
        assert cell and cell.group(1) == "ok"
        assert re.search(rf'<td class="gap" data-member="{plat.id}" data-status="unknown">', seen.text)
        assert 'dir="ltr">Publicités' in g.get("/policies", params={"lang": "fr"}).text
        assert g.get("/policies", params={"lang": "xx"}).status_code == 400
        ready = g.get("/policies/readiness", params={"election": f"Vote {tag}"})
        assert ready.status_code == 200
        row = ready.text.split('data-area="political_ads"')[1].split("</tr>")[0]
        assert f'data-member="{plat.id}" data-ready="yes"' in row
        assert (
            f'data-member="{plat.id}" data-ready="no"' in ready.text.split('data-area="synthetic_media"')[1]
        )
    finally:
        p.close()
        g.close()
