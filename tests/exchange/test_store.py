"""The store on both backends: orgs, keys, dedup, visibility, versions, opinions, sightings, audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from vigil.core.errors import AuthenticationError, Conflict, InputError, NotFound, PermissionDenied
from vigil.core.ids import stable_id
from vigil.db import Database
from vigil.exchange.access import Principal
from vigil.exchange.audit import AuditFilter
from vigil.exchange.models import AuditRow, ContributionRow, SignalRow
from vigil.exchange.records import TLP, Marking, OrgKind, Role
from vigil.exchange.store import ExchangeStore, SignalFilter


def _setup(db: Database) -> dict[str, Any]:
    """Three platforms, a government, a researcher; one analyst key each."""
    out: dict[str, Any] = {}
    with db.session() as session:
        store = ExchangeStore(session)
        for name, kind in [
            ("p1", "platform"),
            ("p2", "platform"),
            ("p3", "platform"),
            ("gov", "government"),
            ("lab", "research"),
        ]:
            org = store.create_org(None, name, kind)
            _, key = store.create_key(None, org.id, "analyst")
            out[name] = org
            out[name + "_key"] = key
    with db.session() as session:
        store = ExchangeStore(session)
        for name in ("p1", "p2", "p3", "gov", "lab"):
            out[name + "_p"] = store.authenticate(out[name + "_key"])
    return out


def test_same_value_from_two_orgs_is_one_signal_with_two_contributions(db: Database) -> None:
    w = _setup(db)
    with db.session() as s:
        store = ExchangeStore(s)
        a = store.submit_signal(
            w["p1_p"], "url", "HTTPS://Example.com:443/a#frag", marking=Marking(TLP.GREEN)
        )
        b = store.submit_signal(
            w["p2_p"], "url", "https://example.com/a", marking=Marking(TLP.CLEAR), tags=["x"]
        )
    assert a.id == b.id == stable_id("indicator", "url", "https://example.com/a")
    assert a.value == "https://example.com/a"
    assert sorted(c.org_id for c in b.contributions) == sorted([w["p1"].id, w["p2"].id])
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(SignalRow)) == 1
        assert s.scalar(select(func.count()).select_from(ContributionRow)) == 2


def test_resubmission_updates_the_contribution_and_keeps_versions(db: Database) -> None:
    w = _setup(db)
    with db.session() as s:
        store = ExchangeStore(s)
        first = store.submit_signal(w["p1_p"], "hashtag", "#Vote", marking=Marking(TLP.GREEN), confidence=40)
        second = store.submit_signal(w["p1_p"], "hashtag", "vote", marking=Marking(TLP.AMBER), confidence=90)
        versions = store.list_versions(w["p1_p"], first.id)
    assert len(second.contributions) == 1
    contribution = second.contributions[0]
    assert (contribution.confidence, contribution.marking.tlp, contribution.version) == (90, TLP.AMBER, 2)
    assert len(versions) == 2 and versions[0] < versions[1] == contribution.modified_at
    assert second.modified_at is not None and first.modified_at is not None
    assert second.modified_at > first.modified_at


def test_government_never_sees_platform_only_amber(db: Database) -> None:
    w = _setup(db)
    with db.session() as s:
        store = ExchangeStore(s)
        sig = store.submit_signal(w["p1_p"], "domain", "bad-site.com", marking=Marking(TLP.AMBER))
        red = store.submit_signal(
            w["p1_p"], "domain", "red-site.com", marking=Marking(TLP.RED, (w["p2"].id,))
        )
    with db.session() as s:
        store = ExchangeStore(s)
        # platforms see AMBER from platforms; named p2 sees RED; p3 does not
        assert store.get_signal(w["p2_p"], sig.id).contributions[0].org_id == w["p1"].id
        assert store.get_signal(w["p2_p"], red.id).id == red.id
        with pytest.raises(NotFound):
            store.get_signal(w["p3_p"], red.id)
        for viewer in ("gov_p", "lab_p"):
            with pytest.raises(NotFound):
                store.get_signal(w[viewer], sig.id)
            assert store.list_signals(w[viewer]).items == []
            assert store.count_signals(w[viewer]) == 0
            with pytest.raises(NotFound):
                store.set_opinion(w[viewer], sig.id, "confirmed")


def test_caller_sees_only_its_visible_contributions(db: Database) -> None:
    w = _setup(db)
    with db.session() as s:
        store = ExchangeStore(s)
        store.submit_signal(
            w["p1_p"],
            "image_md5",
            "A" * 32,
            marking=Marking(TLP.AMBER_STRICT),
            tags=["secret"],
            description="only p1",
        )
        store.submit_signal(w["gov_p"], "image_md5", "a" * 32, marking=Marking(TLP.GREEN), tags=["public"])
    with db.session() as s:
        store = ExchangeStore(s)
        seen = store.find_signal(w["p2_p"], "image_md5", "a" * 32)
        assert [c.org_id for c in seen.contributions] == [w["gov"].id]
        assert [c.tags for c in seen.contributions] == [("public",)]
        # filters apply to visible contributions only: p2 cannot find it by p1's tag or text
        assert store.list_signals(w["p2_p"], SignalFilter(tag="secret")).items == []
        assert store.list_signals(w["p2_p"], SignalFilter(text="only p1")).items == []
        assert len(store.list_signals(w["p1_p"], SignalFilter(tag="secret")).items) == 1
        assert len(store.list_signals(w["p1_p"], SignalFilter(text="ONLY P1")).items) == 1


def test_listing_pages_with_cursor_and_modified_after(db: Database) -> None:
    w = _setup(db)
    with db.session() as s:
        store = ExchangeStore(s)
        ids = [
            store.submit_signal(w["p1_p"], "hashtag", f"tag{i}", marking=Marking(TLP.GREEN)).id
            for i in range(7)
        ]
    with db.session() as s:
        store = ExchangeStore(s)
        got: list[str] = []
        cursor = None
        while True:
            page = store.list_signals(w["gov_p"], limit=3, cursor=cursor)
            got += [x.id for x in page.items]
            if not page.more:
                assert page.next_cursor is None
                break
            cursor = page.next_cursor
        assert got == ids
        middle = store.get_signal(w["gov_p"], ids[3]).modified_at
        assert middle is not None
        later = store.list_signals(w["gov_p"], SignalFilter(modified_after=middle)).items
        assert [x.id for x in later] == ids[4:]
        with pytest.raises(InputError, match="cursor"):
            store.list_signals(w["gov_p"], cursor="not-a-cursor")


def test_revoke_withdraws_only_own_contribution(db: Database) -> None:
    w = _setup(db)
    with db.session() as s:
        store = ExchangeStore(s)
        sig = store.submit_signal(w["p1_p"], "technique", "t0049.001", marking=Marking(TLP.GREEN))
        assert sig.value == "T0049.001"
        store.submit_signal(w["p2_p"], "technique", "T0049.001", marking=Marking(TLP.GREEN))
        after = store.revoke_signal(w["p1_p"], sig.id)
        assert not after.revoked  # p2's contribution still stands
        assert {c.org_id: c.revoked for c in after.contributions} == {w["p1"].id: True, w["p2"].id: False}
        with pytest.raises(Conflict):
            store.revoke_signal(w["p1_p"], sig.id)
        with pytest.raises(NotFound):
            store.revoke_signal(w["gov_p"], sig.id)
        store.revoke_signal(w["p2_p"], sig.id)
        assert store.get_signal(w["gov_p"], sig.id).revoked
        assert store.list_signals(w["gov_p"], SignalFilter(include_revoked=False)).items == []


def test_opinions_keep_history_and_one_current_per_org(db: Database) -> None:
    w = _setup(db)
    with db.session() as s:
        store = ExchangeStore(s)
        sig = store.submit_signal(w["p1_p"], "domain", "x-site.com", marking=Marking(TLP.GREEN))
        store.set_opinion(w["gov_p"], sig.id, "confirmed", "seen it")
        store.set_opinion(w["gov_p"], sig.id, "false_positive")
        store.set_opinion(w["p2_p"], sig.id, "disputed")
        current = store.list_opinions(w["lab_p"], sig.id)
        history = store.list_opinions(w["lab_p"], sig.id, history=True)
        with pytest.raises(InputError, match="unknown opinion"):
            store.set_opinion(w["p2_p"], sig.id, "maybe")
    assert {(o.org_id, o.value.value) for o in current} == {
        (w["gov"].id, "false_positive"),
        (w["p2"].id, "disputed"),
    }
    assert [o.value.value for o in history] == ["confirmed", "false_positive", "disputed"]


def test_sightings(db: Database) -> None:
    w = _setup(db)
    t0 = datetime(2024, 3, 1, tzinfo=UTC)
    with db.session() as s:
        store = ExchangeStore(s)
        sig = store.submit_signal(w["p1_p"], "account", "Twitter:@Troll", marking=Marking(TLP.GREEN))
        assert sig.value == "twitter:@troll"
        store.add_sighting(
            w["p2_p"], sig.id, count=12, first_seen=t0, last_seen=t0 + timedelta(days=2), platform="p2"
        )
        with pytest.raises(InputError, match="count"):
            store.add_sighting(w["p2_p"], sig.id, count=0, first_seen=t0, last_seen=t0)
        with pytest.raises(InputError, match="after last_seen"):
            store.add_sighting(w["p2_p"], sig.id, count=1, first_seen=t0, last_seen=t0 - timedelta(1))
        sightings = store.get_signal(w["gov_p"], sig.id).sightings
    assert [(x.org_id, x.count, x.first_seen, x.platform) for x in sightings] == [(w["p2"].id, 12, t0, "p2")]


def test_keys_revocation_and_expiry(db: Database) -> None:
    w = _setup(db)
    now = datetime.now(UTC)
    with db.session() as s:
        store = ExchangeStore(s)
        info, key = store.create_key(
            None, "p1", "read-only", name="reader", expires_at=now + timedelta(hours=1)
        )
        assert key.startswith("vigil_" + info.id + "_")
        assert store.authenticate(key) == Principal(info.id, w["p1"].id, OrgKind.PLATFORM, Role.READ_ONLY)
        with pytest.raises(InputError, match="future"):
            store.create_key(None, "p1", "analyst", expires_at=now - timedelta(seconds=1))
    with db.session() as s:
        later = ExchangeStore(s, now=now + timedelta(hours=2))
        with pytest.raises(AuthenticationError, match="expired"):
            later.authenticate(key)
    with db.session() as s:
        store = ExchangeStore(s)
        store.revoke_key(None, info.id)
    with db.session() as s:
        store = ExchangeStore(s)
        with pytest.raises(AuthenticationError, match="revoked"):
            store.authenticate(key)
        with pytest.raises(AuthenticationError, match="unknown"):
            store.authenticate(key[:-2] + "xx")
        with pytest.raises(AuthenticationError, match="malformed"):
            store.authenticate("hello")


def test_roles(db: Database) -> None:
    w = _setup(db)
    with db.session() as s:
        store = ExchangeStore(s)
        _, ro_key = store.create_key(None, "p1", "read-only")
        _, admin_key = store.create_key(None, "p1", "admin")
    with db.session() as s:
        store = ExchangeStore(s)
        ro, admin = store.authenticate(ro_key), store.authenticate(admin_key)
        with pytest.raises(PermissionDenied):
            store.submit_signal(ro, "domain", "a-site.com", marking=Marking(TLP.GREEN))
        with pytest.raises(PermissionDenied):
            store.create_key(w["p1_p"], "p1", "analyst")  # analysts manage no keys
        with pytest.raises(PermissionDenied):
            store.create_key(admin, "p2", "analyst")  # admins manage only their own org
        with pytest.raises(PermissionDenied):
            store.create_org(admin, "new", "platform")  # only the operator onboards members
        with pytest.raises(PermissionDenied):
            store.query_audit(w["p1_p"], AuditFilter())
        info, _ = store.create_key(admin, "p1", "analyst")
        assert {k.id for k in store.list_keys(admin)} >= {info.id}
        entries = store.query_audit(admin, AuditFilter())
        assert entries and all(e.actor_org_id == w["p1"].id for e in entries)


def test_bad_input_changes_nothing(db: Database) -> None:
    w = _setup(db)

    def counts() -> tuple[int, int, int]:
        with db.session() as s:
            return (
                s.scalar(select(func.count()).select_from(SignalRow)) or 0,
                s.scalar(select(func.count()).select_from(ContributionRow)) or 0,
                s.scalar(select(func.count()).select_from(AuditRow)) or 0,
            )

    before = counts()
    bad: list[dict[str, Any]] = [
        {"kind": "nope", "value": "x"},
        {"kind": "image_pdq", "value": "abc"},
        {"kind": "domain", "value": "not a domain"},
        {"kind": "url", "value": "ftp://x-site.com/"},
        {"kind": "technique", "value": "T49"},
        {"kind": "domain", "value": "ok-site.com", "marking": Marking("PURPLE")},  # type: ignore[arg-type]
        {"kind": "domain", "value": "ok-site.com", "marking": Marking(TLP.RED, ("identity--missing",))},
        {"kind": "domain", "value": "ok-site.com", "confidence": 101},
        {"kind": "domain", "value": "ok-site.com", "campaign_id": "campaign--nope"},
    ]
    for kwargs in bad:
        kwargs.setdefault("marking", Marking(TLP.GREEN))
        with pytest.raises(InputError), db.session() as s:
            ExchangeStore(s).submit_signal(w["p1_p"], **kwargs)
    assert counts() == before


def test_audit_log_records_writes_and_restricted_reads_and_is_append_only(db: Database) -> None:
    w = _setup(db)
    with db.session() as s:
        store = ExchangeStore(s)
        amber = store.submit_signal(w["p1_p"], "domain", "amber-site.com", marking=Marking(TLP.AMBER))
        green = store.submit_signal(w["p1_p"], "domain", "green-site.com", marking=Marking(TLP.GREEN))
    with db.session() as s:
        store = ExchangeStore(s)
        store.get_signal(w["p2_p"], amber.id)
        store.get_signal(w["p2_p"], green.id)
        store.list_signals(w["p2_p"])
    with db.session() as s:
        entries = ExchangeStore(s).query_audit(None, AuditFilter(actor_org_id=w["p2"].id))
    reads = [(e.action, e.target_id, e.tlp) for e in entries]
    assert reads == [("signal.read", amber.id, "AMBER")] * 2  # GREEN reads are not audited
    with db.session() as s:
        submits = ExchangeStore(s).query_audit(None, AuditFilter(action="signal.submit"))
    assert {e.target_id for e in submits} == {amber.id, green.id}
    for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), db.session() as s:
            s.execute(text(statement))
