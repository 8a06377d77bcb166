"""The meetings REST routes over a real uvicorn server, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ..cases.test_api import Members, _ok, members  # noqa: F401  (fixture reused)


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
        assert b.put(f"/api/v1/meetings/{mid}/minutes", json={"text": "x"}).status_code == 400
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
