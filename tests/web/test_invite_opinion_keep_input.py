"""The meeting invite form and the signal opinion form keep what was typed when it is refused
(issue #20): 400, the form filled, the reason above it, nothing stored (real HTTP, real server)."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import httpx

from vigil.cases.meetings import MeetingService
from vigil.core.time import utcnow
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore

from ..exchange.conftest import LiveServer, live  # noqa: F401  (fixtures)


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page's forms carry a CSRF token"
    return found.group(1)


def _form(page: str, testid: str) -> str:
    return page.split(f'data-testid="{testid}"')[1].split("</form>")[0]


def _selected(form: str, name: str) -> str | None:
    select = form.split(f'<select name="{name}">')[1].split("</select>")[0]
    found = re.search(r'<option value="([^"]+)" selected', select)
    return found.group(1) if found else None


def test_invite_and_opinion_forms_keep_their_input(live: LiveServer) -> None:  # noqa: F811
    with live.db.session() as session:
        store = ExchangeStore(session)
        convener = store.create_org(None, "Keep-input convener", "platform")
        guest = store.create_org(None, "Keep-input guest", "research")
        _, key = store.create_key(None, convener.id, "analyst")
        principal = store.authenticate(key)
        meeting = MeetingService(session, principal).create_meeting(
            "Keep-input sync", utcnow() + timedelta(days=2)
        )[0]
        signal = store.submit_signal(
            principal, "domain", "keep-input-opinion.com", marking=Marking(TLP.GREEN)
        )

    client = httpx.Client(base_url=live.base_url, timeout=60, follow_redirects=False)
    try:
        assert client.post("/login", data={"api_key": key}).status_code == 303

        # invite: a role the meeting does not know is refused; the chosen organisation stays chosen
        page = client.get(f"/meetings/{meeting.id}").text
        assert _selected(_form(page, "invite-form"), "org_id") is None
        refused = client.post(
            f"/meetings/{meeting.id}/invite",
            data={"org_id": guest.id, "role": "host", "csrf": _csrf(page)},
        )
        assert refused.status_code == 400, refused.text[:300]
        form = _form(refused.text, "invite-form")
        assert "unknown role &#39;host&#39;" in form or "unknown role 'host'" in html.unescape(form)
        assert _selected(form, "org_id") == guest.id
        assert 'data-testid="form-error"' not in _form(refused.text, "action-form")
        with live.db.session() as session:
            assert guest.id not in MeetingService(session, None).get_meeting(meeting.id).invited
        # the same form, put right, invites
        done = client.post(
            f"/meetings/{meeting.id}/invite",
            data={"org_id": guest.id, "role": "observer", "csrf": _csrf(refused.text)},
        )
        assert done.status_code == 303
        with live.db.session() as session:
            assert MeetingService(session, None).get_meeting(meeting.id).invited.get(guest.id) == "observer"

        # opinion: an unknown value is refused; the comment typed with it is kept
        page = client.get(f"/signals/{signal.id}").text
        refused = client.post(
            f"/signals/{signal.id}/opinion",
            data={"value": "maybe", "comment": "typed comment, kept", "csrf": _csrf(page)},
        )
        assert refused.status_code == 400, refused.text[:300]
        form = html.unescape(_form(refused.text, "opinion-form"))
        assert "unknown opinion 'maybe'" in form
        assert 'value="typed comment, kept"' in form
        with live.db.session() as session:
            store = ExchangeStore(session)
            assert store.list_opinions(store.authenticate(key), signal.id, history=True) == []
        # and a good one is stored
        done = client.post(
            f"/signals/{signal.id}/opinion",
            data={"value": "false_positive", "comment": "typed comment, kept", "csrf": _csrf(refused.text)},
        )
        assert done.status_code == 303
        page = client.get(f"/signals/{signal.id}").text
        assert _selected(_form(page, "opinion-form"), "value") == "false_positive"
    finally:
        client.close()
