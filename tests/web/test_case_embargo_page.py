"""The case page's embargo form as the trust boundary has it: another member's admin changes a
platform's embargo only with a recorded reason, and the page asks for one (real HTTP, real server)."""

from __future__ import annotations

import re
from datetime import timedelta

from vigil.cases.service import CaseService
from vigil.core.time import utcnow
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore

from ..exchange.conftest import LiveServer, live, signed_in  # noqa: F401  (fixtures)


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page's forms carry a CSRF token"
    return found.group(1)


def test_another_members_admin_overrides_an_embargo_only_with_a_reason(live: LiveServer) -> None:  # noqa: F811
    until = utcnow() + timedelta(days=3)
    with live.db.session() as session:
        store = ExchangeStore(session)
        owner_org = store.create_org(None, "Embargo owner platform", "platform")
        other_org = store.create_org(None, "Embargo other platform", "platform")
        _, owner_key = store.create_key(None, owner_org.id, "analyst")
        _, admin_key = store.create_key(None, other_org.id, "admin")
        _, analyst_key = store.create_key(None, other_org.id, "analyst")
        cases = CaseService(session, store.authenticate(owner_key))
        case = cases.create_case("embargo-page-case", marking=Marking(TLP.GREEN))
        cases.set_embargo(case.id, until)

    def embargo() -> object:
        with live.db.session() as session:
            return CaseService(session, None).get_case(case.id).embargo_until

    before = embargo()
    with signed_in(live, analyst_key) as analyst:
        page = analyst.get(f"/cases/{case.id}").text
        assert "override_reason" not in page.split('data-testid="embargo-form"')[-1].split("</form>")[0]
        refused = analyst.post(f"/cases/{case.id}/embargo", data={"until": "", "csrf": _csrf(page)})
        assert refused.status_code == 403, refused.text[:300]
    assert embargo() == before

    with signed_in(live, admin_key) as admin:
        page = admin.get(f"/cases/{case.id}").text
        form = page.split('data-testid="embargo-form"')[-1].split("</form>")[0]
        assert 'name="override_reason"' in form, "the page asks another member's admin for a reason"
        token = _csrf(page)
        no_reason = admin.post(f"/cases/{case.id}/embargo", data={"until": "", "csrf": token})
        assert no_reason.status_code == 400 and "reason" in no_reason.text.lower(), no_reason.text[:300]
        assert embargo() == before
        done = admin.post(
            f"/cases/{case.id}/embargo",
            data={"until": "", "override_reason": "court order to publish", "csrf": token},
        )
        assert done.status_code == 303, done.text[:300]
        assert embargo() is None
        timeline = admin.get(f"/cases/{case.id}").text
        assert "court order to publish" in timeline or "cleared" in timeline
