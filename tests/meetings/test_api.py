"""The meetings REST routes over a real uvicorn server, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vigil.exchange import push

from ..cases.test_api import Members, _ok, members  # noqa: F401  (fixture reused)

# Never called here: a public address by IP (no DNS lookup), which the server's default webhook
# destination policy accepts (https, public addresses only).
HOOK = "https://9.9.9.9/h"


def test_meeting_over_http_with_tlp_for_every_reader(members: Members) -> None:  # noqa: F811
    ids = members.ids
    now = datetime.now(UTC)
    with members.client("plat_a") as a, members.client("plat_b") as b, members.client("gov") as gov:
        made = _ok(
            a.post(
                "/api/v1/meetings",
                json={
                    "title": "Election week sync",
                    "starts_at": (now + timedelta(hours=2)).isoformat(),
                    "invited": {ids["plat_b"]: "member"},
                },
            ),
            201,
        )
        mid = made[0]["id"]
        assert gov.get(f"/api/v1/meetings/{mid}").status_code == 404  # not invited yet
        _ok(a.post(f"/api/v1/meetings/{mid}/invitations", json={"org_id": ids["gov"], "role": "observer"}))
        assert _ok(gov.get(f"/api/v1/meetings/{mid}"))["invited"][ids["gov"]] == "observer"
        _ok(
            a.post(
                "/api/v1/cases",
                json={"title": "Bot farm", "techniques": ["T0049"], "marking": {"tlp": "GREEN"}},
            ),
            201,
        )
        assert [c["title"] for c in _ok(a.get(f"/api/v1/meetings/{mid}/prefill"))["cases_opened"]] == [
            "Bot farm"
        ]
        _ok(
            a.put(
                f"/api/v1/meetings/{mid}/update",
                json={"sees": {"notes": "PLATFORM-AMBER"}, "marking": {"tlp": "AMBER"}},
            )
        )
        _ok(gov.put(f"/api/v1/meetings/{mid}/update", json={
            "sees": {"notes": "GOV-GREEN"}, "expects": [{"event": "certification", "risk": "fraud claims"}],
            "marking": {"tlp": "GREEN"}}))  # fmt: skip
        seen = {u["sees"]["notes"] for u in _ok(b.get(f"/api/v1/meetings/{mid}/updates"))}
        assert seen == {"PLATFORM-AMBER", "GOV-GREEN"}
        assert {u["sees"]["notes"] for u in _ok(gov.get(f"/api/v1/meetings/{mid}/updates"))} == {"GOV-GREEN"}
        item = _ok(a.post(f"/api/v1/meetings/{mid}/actions", json={
            "text": "Send seeds", "owner_org_id": ids["gov"], "due": (now - timedelta(hours=1)).isoformat(),
            "marking": {"tlp": "GREEN"}}), 201)  # fmt: skip
        assert item["overdue"] is True
        assert [i["overdue"] for i in _ok(gov.get("/api/v1/action-items?open=true"))] == [True]
        agenda = _ok(gov.get(f"/api/v1/meetings/{mid}/agenda"))
        assert [i["text"] for i in agenda["action_items"]] == ["Send seeds"] and agenda[
            "briefing"
        ] is not None
        _ok(
            a.put(
                f"/api/v1/meetings/{mid}/minutes", json={"text": "MINUTES-AMBER", "marking": {"tlp": "AMBER"}}
            )
        )
        # only the convening organisation takes the minutes (vigil.exchange.policy.require_convener)
        assert b.put(f"/api/v1/meetings/{mid}/minutes", json={"text": "x"}).status_code == 403
        pack_gov = gov.get(f"/api/v1/meetings/{mid}/pack")
        assert (
            pack_gov.status_code == 200
            and "GOV-GREEN" in pack_gov.text
            and "PLATFORM-AMBER" not in pack_gov.text
        )
        assert "PLATFORM-AMBER" in b.get(f"/api/v1/meetings/{mid}/pack").text
        assert "MINUTES-AMBER" not in gov.get(f"/api/v1/meetings/{mid}/minutes").text
        assert "MINUTES-AMBER" in b.get(f"/api/v1/meetings/{mid}/minutes").text
        pdf = b.get(f"/api/v1/meetings/{mid}/minutes?format=pdf")
        assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
        _ok(gov.patch(f"/api/v1/action-items/{item['id']}", json={"status": "done"}))
        assert _ok(gov.get("/api/v1/action-items?open=true")) == []
        day = {"election": "General", "kind": "election_day", "at": (now + timedelta(days=9)).isoformat()}
        _ok(gov.post("/api/v1/elections/dates", json=day), 201)
        assert [d["days_left"] for d in _ok(b.get("/api/v1/elections/dates"))] == [9]
        bad = gov.post(
            "/api/v1/elections/dates", json={"election": "G", "kind": "parade", "at": now.isoformat()}
        )
        assert bad.status_code == 400 and "parade" in bad.text


def test_subscription_event_filter_and_exercise_schedule_over_http(members: Members) -> None:  # noqa: F811
    ids = members.ids
    now = datetime.now(UTC)
    with members.client("plat_a") as a, members.client("gov") as gov:
        default = _ok(gov.post("/api/v1/subscriptions", json={"name": "s", "url": HOOK}), 201)
        assert default["events"] == ["signal.created", "signal.updated", "signal.revoked", "signal.expired"]
        sub = _ok(
            gov.post(
                "/api/v1/subscriptions",
                json={"name": "r", "url": HOOK, "events": ["action_item"]},
            ),
            201,
        )
        assert sub["events"] == ["action_item.due_soon", "action_item.overdue"] and sub["secret"]
        bad = gov.post("/api/v1/subscriptions", json={"name": "x", "url": HOOK, "events": ["nope"]})
        assert bad.status_code == 400 and "unknown event type 'nope'" in bad.text
        changed = _ok(gov.patch(f"/api/v1/subscriptions/{default['id']}", json={"events": ["all"]}))
        # every family: signals, action-item reminders, the policies-due reminder before a meeting,
        # flood quarantine and feedback (whatever families push knows)
        assert changed["events"] == list(push.EVENT_TYPES) and "meeting.policies_due" in changed["events"]
        assert a.patch(f"/api/v1/subscriptions/{default['id']}", json={"events": ["all"]}).status_code == 404
        listed = {s["id"]: s["events"] for s in _ok(gov.get("/api/v1/subscriptions"))}
        assert listed[sub["id"]] == sub["events"] and listed[default["id"]] == changed["events"]

        schedule = _ok(gov.get("/api/v1/exercise-schedule"))
        assert {s["playbook_id"] for s in schedule} >= {"hack-and-leak", "candidate-deepfake"}
        assert all(s["every"] for s in schedule) and [s["due"] for s in schedule] == sorted(
            (s["due"] for s in schedule), reverse=True
        )
        starts = (now + timedelta(hours=1)).isoformat()
        [meeting] = _ok(a.post("/api/v1/meetings", json={
            "title": "Sync", "starts_at": starts, "invited": {ids["gov"]: "member"},
        }), 201)  # fmt: skip
        agenda = _ok(gov.get(f"/api/v1/meetings/{meeting['id']}/agenda"))
        due = {s["playbook_id"]: s["reason"] for s in agenda["exercises_due"]}
        assert due == {s["playbook_id"]: s["reason"] for s in schedule if s["due"]}
        assert isinstance(agenda["exercises_in_progress"], list)
