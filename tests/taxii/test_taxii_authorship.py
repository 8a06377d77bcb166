"""A member posting over TAXII may not speak for another (the trust boundary of #23's "any STIX
object stored as sent"): with the unmodified taxii2-client, a second platform tries to add a
version of an object the first one created, to revoke the first one's shared indicator, to sign an
object with the first one's identity, and to replace that identity; each is a failure in the
status naming why, nothing is stored, and readers still get the first member's own versions."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import stix2
from sqlalchemy import func, select

from tests.exchange.conftest import (  # noqa: F401  (fixtures are found by name)
    LiveServer,
    live,
)
from tests.taxii.test_taxii_roundtrip import Members
from vigil.core.time import isoformat_z, parse_instant
from vigil.exchange.stix_export import VIGIL_IDENTITY_ID, identity_id
from vigil.exchange.taxii_models import TaxiiObjectRow

T = "2026-03-02T10:00:00.000Z"
LATER = "2026-03-09T10:00:00.000Z"


def _later(instant: str) -> str:
    return isoformat_z(parse_instant(instant) + timedelta(seconds=1))


def _stored(members: Members, stix_id: str) -> int:
    with members.live.db.session() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(TaxiiObjectRow).where(TaxiiObjectRow.stix_id == stix_id)
            )
            or 0
        )


def test_a_member_cannot_version_sign_or_revoke_for_another(live: LiveServer) -> None:  # noqa: F811
    members = Members(live)
    p1, p2 = members.collection("p1", "coalition"), members.collection("p2", "coalition")
    own = json.loads(stix2.Tool(name="ballot-scraper", created=T, modified=T).serialize())
    assert p1.add_objects({"objects": [own]}).success_count == 1
    indicator = json.loads(
        stix2.Indicator(
            pattern="[domain-name:value = 'authorship-test.org']", pattern_type="stix", valid_from=T
        ).serialize()
    )
    assert p1.add_objects({"objects": [indicator]}).success_count == 1
    typed = next(
        o
        for o in p1.get_objects(type="indicator")["objects"]
        if o.get("x_vigil_value") == "authorship-test.org"
    )
    attempts: list[dict[str, Any]] = [
        # a later version of another member's object
        {**own, "modified": LATER, "description": "hijacked"},
        # a revoking version of the indicator Vigil serves for p1's contribution
        {**typed, "modified": _later(typed["modified"]), "revoked": True},
        # a new object signed with p1's identity, and one signed as the exchange itself
        {
            **json.loads(stix2.Tool(name="forged", created=T, modified=T).serialize()),
            "created_by_ref": identity_id(members.orgs["p1"]),
        },
        {
            **json.loads(stix2.Tool(name="forged-vigil", created=T, modified=T).serialize()),
            "created_by_ref": VIGIL_IDENTITY_ID,
        },
        # feedback in the name of an author outside the exchange (one member, many votes)
        {
            **json.loads(
                stix2.Opinion(
                    opinion="strongly-disagree", object_refs=[typed["id"]], created=T, modified=T
                ).serialize()
            ),
            "created_by_ref": "identity--0d7c4a57-7a43-4c9e-9a1c-8f1f5b0e2a11",
        },
        # p1's identity itself, renamed
        {
            "type": "identity",
            "spec_version": "2.1",
            "id": identity_id(members.orgs["p1"]),
            "created": T,
            "modified": LATER,
            "name": "p1 (now run by p2)",
            "identity_class": "organization",
        },
    ]
    before = {a["id"]: _stored(members, a["id"]) for a in attempts}
    status = p2.add_objects({"objects": attempts})
    assert (status.success_count, status.failure_count) == (0, len(attempts)), (
        status.successes,
        status.failures,
    )
    messages = {f["id"]: f["message"] for f in status.failures}
    for attempt in attempts:
        assert "another organisation" in messages[attempt["id"]] or "your identity" in messages[attempt["id"]]
        assert _stored(members, attempt["id"]) == before[attempt["id"]]
    # readers still get p1's own versions
    assert p2.get_object(own["id"])["objects"] == [own]
    (served,) = p2.get_object(typed["id"])["objects"]
    assert not served.get("revoked")
    # the same content under p2's own name is fine
    mine = {**json.loads(stix2.Tool(name="p2 tool", created=T, modified=T).serialize())}
    mine["created_by_ref"] = identity_id(members.orgs["p2"])
    assert p2.add_objects({"objects": [mine]}).success_count == 1
    # and p1 may still version its own object
    assert p1.add_objects({"objects": [{**own, "modified": LATER}]}).success_count == 1
