"""The failures of issue #15, each reproduced at the service layer (which REST, TAXII, pages and the
CLI all call), on SQLite and PostgreSQL.

1. the audit log showed names and titles of objects the reader cannot open;
2. submitting the same value revealed another member's opinion and sighting;
3. a non-owner analyst lifted another org's embargo, renamed and disclosed its case, unaudited.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from vigil.cases.briefing import BriefingService
from vigil.cases.render import render_briefing
from vigil.cases.service import CaseService
from vigil.core.errors import InputError, NotFound, PermissionDenied
from vigil.exchange.access import Principal
from vigil.exchange.audit import AuditFilter
from vigil.exchange.records import TLP, Marking, OrgKind, Role
from vigil.exchange.stix_service import export_for
from vigil.exchange.store import ExchangeStore, SignalFilter
from vigil.exchange.taxii_store import load_catalog

from ..cases.conftest import Coalition


def _token(label: str) -> str:
    return f"TOK{label}{uuid.uuid4().hex[:12]}"


def _operator(coalition: Coalition) -> Principal:
    with coalition.db.session() as s:
        org = ExchangeStore(s).create_org(None, f"operator-{uuid.uuid4().hex[:6]}", "research", operator=True)
    return Principal(
        key_id="key-op", org_id=org.id, org_kind=OrgKind.RESEARCH, role=Role.ADMIN, operator=True
    )


# ---------------------------------------------------------------------------------------------
# 1. the audit log


def test_audit_log_never_names_objects_the_reader_cannot_see(coalition: Coalition) -> None:
    """Failure 1: the operator's admin read campaign names and case titles (RED, AMBER+STRICT,
    platform-only AMBER) in the audit log. Now such entries appear redacted: action, actor, time
    and TLP, without the object's id or detail; a target filter on a hidden id finds nothing."""
    operator = _operator(coalition)
    plat = coalition.principal("plat_a", Role.ADMIN)
    secrets: list[str] = []
    hidden_ids: list[str] = []
    with coalition.db.session() as s:
        store = ExchangeStore(s)
        for tlp in (TLP.RED, TLP.AMBER_STRICT, TLP.AMBER):
            name = _token(f"camp{tlp.name}")
            campaign = store.create_campaign(
                plat, f"Campaign: {name} libre-vote.online", marking=Marking(tlp)
            )
            title = _token(f"case{tlp.name}")
            case = CaseService(s, plat).create_case(title, marking=Marking(tlp))
            signal = store.submit_signal(plat, "domain", f"{_token('dom').lower()}.com", marking=Marking(tlp))
            secrets += [name, title, signal.value]
            hidden_ids += [campaign.id, case.id, signal.id]
        green = CaseService(s, plat).create_case("green case", marking=Marking(TLP.GREEN))
    with coalition.db.session() as s:
        store = ExchangeStore(s)
        entries = store.query_audit(operator, AuditFilter(limit=1000))
        text = json.dumps([e.__dict__ for e in entries], default=str)
        for secret in secrets:
            assert secret not in text
        for hidden in hidden_ids:
            assert hidden not in text
        creates = [e for e in entries if e.action in ("campaign.create", "case.create", "signal.submit")]
        assert len(creates) == 10  # 9 hidden ones appear, redacted; the GREEN case in full
        assert sum(e.redacted for e in creates) == 9
        assert all(e.target_id is None and e.detail == {} for e in creates if e.redacted)
        shown = [e for e in creates if not e.redacted]
        assert shown[0].target_id == green.id and shown[0].detail == {"title": "green case"}
        # probing a hidden id through the target filter confirms nothing
        for hidden in hidden_ids:
            assert store.query_audit(operator, AuditFilter(target_id=hidden)) == []
        # the owner's own admin still reads its entries in full
        own = store.query_audit(plat, AuditFilter(limit=1000))
        own_text = json.dumps([e.__dict__ for e in own], default=str)
        assert all(secret in own_text for secret in secrets if secret.startswith(("TOKcamp", "TOKcase")))


# ---------------------------------------------------------------------------------------------
# 2. feedback


def test_submitting_the_same_value_reveals_no_hidden_feedback(coalition: Coalition) -> None:
    """Failure 2: org C submitted a value org A held as unshared RED and then saw A's opinion (with
    its comment) and sighting over REST, TAXII, its STIX export and its briefing."""
    a = coalition.principal("plat_a")
    c = coalition.principal("gov")
    comment, platform = _token("opinion"), _token("plat")[:40]
    now = datetime.now(UTC)
    value = f"{_token('v').lower()}.com"
    with coalition.db.session() as s:
        store = ExchangeStore(s)
        signal = store.submit_signal(a, "domain", value, marking=Marking(TLP.RED))
        store.set_opinion(a, signal.id, "confirmed", comment)
        store.add_sighting(
            a, signal.id, count=7, first_seen=now - timedelta(days=1), last_seen=now, platform=platform
        )
    with coalition.db.session() as s:
        store = ExchangeStore(s)
        with pytest.raises(NotFound):
            store.list_opinions(c, signal.id)
        mine = store.submit_signal(c, "domain", value, marking=Marking(TLP.GREEN))
        assert mine.id == signal.id
        views = [
            mine,
            store.get_signal(c, signal.id),
            *store.list_signals(c, SignalFilter(ids=(signal.id,))).items,
        ]
        for view in views:
            assert [x.org_id for x in view.contributions] == [c.org_id]
            assert view.opinions == [] and view.sightings == []
        assert store.list_opinions(c, signal.id) == []
        assert store.list_opinions(c, signal.id, history=True) == []
        assert store.list_sightings(c, signal.id) == []
        taxii = json.dumps([e.obj for e in load_catalog(s, c).entries])
        bundle = json.dumps(export_for(store, c))
        briefing = render_briefing(BriefingService(s, c).build(timedelta(days=7)), "md").decode()
        for document in (taxii, bundle, briefing):
            assert comment not in document and platform not in document
            assert '"opinion"' not in document and '"sighting"' not in document
        assert (a.org_id not in taxii and a.org_id not in bundle) or '"identity"' in taxii  # directory only
        # C's own feedback is its own to see, and A (which sees C's GREEN contribution) sees it too
        store.set_opinion(c, signal.id, "disputed", "c says")
    with coalition.db.session() as s:
        store = ExchangeStore(s)
        assert [o.org_id for o in store.list_opinions(c, signal.id)] == [c.org_id]
        assert {o.org_id for o in store.list_opinions(a, signal.id)} == {a.org_id, c.org_id}
        # A later sharing its contribution GREEN does not widen feedback given under RED
        store.submit_signal(a, "domain", value, marking=Marking(TLP.GREEN))
    with coalition.db.session() as s:
        store = ExchangeStore(s)
        assert [o.org_id for o in store.list_opinions(c, signal.id)] == [c.org_id]
        assert store.list_sightings(c, signal.id) == []


# ---------------------------------------------------------------------------------------------
# 3. case writes


def test_only_the_owner_edits_a_case_and_changes_its_embargo(coalition: Coalition) -> None:
    """Failure 3: a government analyst (neither admin nor owner) cleared a platform's embargo,
    disclosed and renamed its case, and the audit log showed nothing."""
    gov = coalition.orgs["gov"]
    owner = coalition.principal("plat_a")
    until = datetime.now(UTC) + timedelta(days=2)
    with coalition.db.session() as s:
        cases = CaseService(s, owner)
        case = cases.create_case("joint takedown", marking=Marking(TLP.AMBER, (gov,)))
        cases.transition(case.id, "investigating")
        cases.transition(case.id, "coordinated-action")
        cases.set_embargo(case.id, until)
    analyst = coalition.principal("gov", Role.ANALYST)
    admin = coalition.principal("gov", Role.ADMIN)
    with coalition.db.session() as s:
        other = CaseService(s, analyst)
        with pytest.raises(PermissionDenied):
            other.set_embargo(case.id, None)
        with pytest.raises(PermissionDenied):
            other.set_embargo(case.id, None, reason="we want it out")
        with pytest.raises(PermissionDenied):
            other.update_case(case.id, title="renamed by gov")
        with pytest.raises(PermissionDenied):
            other.transition(case.id, "disclosed", override_reason="now")
        with pytest.raises(PermissionDenied):
            CaseService(s, admin).update_case(case.id, title="renamed by gov admin")
        with pytest.raises(InputError):
            CaseService(s, admin).set_embargo(case.id, until - timedelta(days=1))  # no reason
        # a partner still takes part: comments and its own actions
        other.add_comment(case.id, "we are ready")
    with coalition.db.session() as s:
        CaseService(s, admin).set_embargo(case.id, until - timedelta(days=1), reason="court order")
    with coalition.db.session() as s:
        cases = CaseService(s, owner)
        current = cases.get_case(case.id)
        assert current.title == "joint takedown" and current.status.value == "coordinated-action"
        assert current.embargo_until == until - timedelta(days=1)
        cases.update_case(case.id, title="joint takedown (final)")
        cases.set_embargo(case.id, None)
        cases.transition(case.id, "disclosed")
    with coalition.db.session() as s:
        entries = ExchangeStore(s).query_audit(None, AuditFilter(target_id=case.id, limit=100))
    actions = [e.action for e in reversed(entries)]
    assert actions == [
        "case.create",
        "case.transition",
        "case.transition",
        "case.embargo",
        "case.comment",
        "case.embargo",
        "case.update",
        "case.embargo",
        "case.transition",
    ]
    override = [e for e in entries if e.action == "case.embargo" and e.detail.get("override")]
    assert len(override) == 1 and override[0].detail["override_reason"] == "court order"
    assert override[0].actor_org_id == gov
