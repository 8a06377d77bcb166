"""The policy register's REST routes over a real uvicorn server, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ..cases.test_api import Members, _ok


def test_record_list_history_diff_matrix_over_http(members: Members) -> None:
    ids = members.ids
    before = datetime.now(UTC)
    with members.client("plat_a") as a, members.client("plat_b") as b, members.client("gov") as gov:
        areas = _ok(a.get("/api/v1/policy-areas"))
        assert areas[0]["key"] == "political_ads" and set(areas[0]["titles"]) == {"en", "fr", "ar"}
        first = _ok(a.post("/api/v1/policies", json={
            "area": "political_ads", "status": "announced", "summary": "Plus de publicités politiques",
            "language": "fr", "source_url": "https://a.example/ads",
            "note": "AMBER-NOTE", "note_marking": {"tlp": "AMBER"}}), 201)  # fmt: skip
        assert (first["version"], first["marking"]["tlp"], first["note_marking"]["tlp"]) == (
            1,
            "GREEN",
            "AMBER",
        )
        second = _ok(a.post("/api/v1/policies", json={"area": "political_ads", "status": "in force"}), 201)
        assert (second["version"], second["status"]) == (2, "in_force")
        notes = [v["note"] for v in _ok(b.get("/api/v1/policies/history"))]
        assert notes == ["AMBER-NOTE", None]  # another platform sees a platform's AMBER note
        assert [v["note"] for v in _ok(gov.get("/api/v1/policies/history"))] == [None, None]
        assert [v["version"] for v in _ok(gov.get("/api/v1/policies", params={"org_id": ids["plat_a"]}))] == [
            2
        ]
        changes = _ok(gov.get("/api/v1/policies/diff", params={"since": before.isoformat()}))
        assert [
            (c["org_id"], c["area"], c["before"], c["after"]["version"])
            for c in changes
            if c["org_id"] in ids.values()
        ] == [(ids["plat_a"], "political_ads", None, 2)]
        m = _ok(gov.get("/api/v1/policies/matrix"))
        assert m["cells"][ids["plat_a"]]["political_ads"]["status"] == "in_force"
        assert [ids["plat_a"], "political_ads"] not in m["gaps"] and [ids["plat_b"], "political_ads"] in m[
            "gaps"
        ]
        # the election calendar drives readiness
        day = (before + timedelta(days=30)).isoformat()
        _ok(
            gov.post(
                "/api/v1/elections/dates", json={"election": "General", "kind": "election_day", "at": day}
            ),
            201,
        )
        bundle = _ok(gov.get("/api/v1/policies/stix"))
        assert "AMBER-NOTE" not in str(bundle) and "AMBER-NOTE" in str(_ok(b.get("/api/v1/policies/stix")))
        ready = _ok(gov.get("/api/v1/policies/readiness", params={"election": "General"}))
        assert (
            ready["in_force"][ids["plat_a"]]["political_ads"] is True and ready["ready"][ids["plat_b"]] == 0
        )


def test_bad_requests_are_refused_with_the_field_named_and_nothing_stored(members: Members) -> None:
    with members.client("plat_a") as a, members.client("gov", "read-only") as reader:
        cases = [
            ({"area": "political_ads", "status": "maybe"}, 400, "status"),
            ({"area": "nope", "status": "in_force"}, 400, "unknown policy area"),
            ({"area": "political_ads", "status": "in_force", "source_url": "javascript:alert(1)"},
             400, "source_url"),
            ({"area": "political_ads", "status": "in_force", "extra": 1}, 400, "extra"),
            ({"area": "political_ads", "status": "in_force", "note_marking": {"tlp": "RED",
              "shared_with": ["identity--nobody"]}}, 400, "unknown organisations"),
        ]  # fmt: skip
        for body, status, words in cases:
            r = a.post("/api/v1/policies", json=body)
            assert r.status_code == status and words in r.json()["message"], r.text
        r = a.get("/api/v1/policies/history", params={"limit": 2**31})
        assert r.status_code == 400 and "limit" in r.json()["message"]
        r = a.get(
            "/api/v1/policies/diff", params={"since": "2027-01-02T00:00:00Z", "until": "2027-01-01T00:00:00Z"}
        )
        assert r.status_code == 400
        assert (
            reader.post("/api/v1/policies", json={"area": "political_ads", "status": "none"}).status_code
            == 403
        )
        assert a.get("/api/v1/policies/readiness", params={"election": "None such"}).status_code == 404
        assert a.get("/api/v1/meetings/meeting--nope/policy-changes").status_code == 404
        assert _ok(a.get("/api/v1/policies/history", params={"org_id": members.ids["plat_a"]})) == []
