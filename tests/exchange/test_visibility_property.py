"""Property: no caller ever receives a signal or contribution it may not see.

Hypothesis generates organisations of random kinds, contributions with random markings and
``shared_with`` lists (several orgs contributing to the same value), and checks every
organisation's API answers (listing and get-by-id, over real HTTP, through the SQL visibility
filter) against the pure rule ``access.can_see``.
"""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.exchange.access import can_see
from vigil.exchange.records import TLP, OrgKind

from .conftest import LiveServer

KINDS = [k.value for k in OrgKind]
TLPS = [t.value for t in TLP]

scenario = st.integers(min_value=2, max_value=5).flatmap(
    lambda n: st.tuples(
        st.lists(st.sampled_from(KINDS), min_size=n, max_size=n),
        st.lists(
            st.tuples(
                st.integers(0, n - 1),  # contributing org
                st.integers(0, 2),  # which of three values (so contributions collide)
                st.sampled_from(TLPS),
                st.lists(st.integers(0, n - 1), max_size=n, unique=True),  # shared_with
            ),
            min_size=1,
            max_size=8,
        ),
    )
)


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=scenario)
def test_no_caller_receives_what_it_may_not_see(live: LiveServer, case: Any) -> None:
    kinds, contributions = case
    marker = uuid.uuid4().hex[:10]
    orgs: list[dict[str, Any]] = []
    keys: list[str] = []
    with live.client(live.operator_key) as op:
        for i, kind in enumerate(kinds):
            org = _ok(op.post("/api/v1/orgs", json={"name": f"h{marker}-{i}", "kind": kind}), 201)
            orgs.append(org)
            keys.append(
                _ok(op.post("/api/v1/keys", json={"org_id": org["id"], "role": "analyst"}), 201)["key"]
            )
    # the last submission of an org for a value replaces its earlier one
    final: dict[tuple[int, int], tuple[str, tuple[str, ...]]] = {}
    ids: dict[int, str] = {}
    for org_index, value_index, tlp, shared in contributions:
        shared_ids = tuple(orgs[s]["id"] for s in shared)
        body = {
            "kind": "hashtag",
            "value": f"h{marker}v{value_index}",
            "marking": {"tlp": tlp, "shared_with": list(shared_ids)},
        }
        with live.client(keys[org_index]) as c:
            ids[value_index] = _ok(c.post("/api/v1/signals", json=body), 201)["id"]
        final[(org_index, value_index)] = (tlp, shared_ids if tlp not in ("CLEAR", "GREEN") else ())

    for viewer_index, viewer in enumerate(orgs):
        expected: dict[str, set[tuple[str, str]]] = {}
        for (source_index, value_index), (tlp, shared_ids) in final.items():
            if can_see(
                viewer["id"],
                OrgKind(viewer["kind"]),
                source_org_id=orgs[source_index]["id"],
                source_kind=OrgKind(kinds[source_index]),
                tlp=TLP(tlp),
                shared_with=shared_ids,
            ):
                expected.setdefault(ids[value_index], set()).add((orgs[source_index]["id"], tlp))
        with live.client(keys[viewer_index]) as c:
            listing = _ok(c.get("/api/v1/signals", params={"q": f"h{marker}v", "limit": 50}))["items"]
            got = {s["id"]: {(x["org_id"], x["marking"]["tlp"]) for x in s["contributions"]} for s in listing}
            assert got == expected
            for value_index, signal_id in ids.items():
                response = c.get(f"/api/v1/signals/{signal_id}")
                if signal_id in expected:
                    contributions_seen = {
                        (x["org_id"], x["marking"]["tlp"]) for x in _ok(response)["contributions"]
                    }
                    assert contributions_seen == expected[signal_id]
                else:
                    assert response.status_code == 404, (value_index, response.text)
