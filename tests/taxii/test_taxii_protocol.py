"""TAXII protocol logic without HTTP: query parsing, version selection, stateless paging, media
types and which collection holds what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vigil.core.errors import InputError, NotAcceptable, UnsupportedMediaType
from vigil.core.time import isoformat_z
from vigil.exchange.access import Principal
from vigil.exchange.records import TLP, OrgKind, Role
from vigil.exchange.stix_export import StixEntry
from vigil.exchange.taxii import (
    COLLECTIONS,
    ObjectQuery,
    check_accept,
    check_content_type,
    collections_for,
    paginate,
    parse_query,
    select_versions,
    served,
)
from vigil.exchange.taxii_index import Served

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def entry(n: int, version: int = 0, *, tlp: TLP = TLP.GREEN, kind: str = "indicator") -> Served:
    modified = T0 + timedelta(minutes=n, seconds=version)
    obj = {"type": kind, "spec_version": "2.1", "id": f"{kind}--{n:08d}-0000-4000-8000-000000000000"}
    obj["modified"] = isoformat_z(modified)
    return served(StixEntry(obj=obj, date_added=modified, tlp=tlp))


def principal(kind: OrgKind, role: Role = Role.ANALYST) -> Principal:
    return Principal(key_id="k", org_id="identity--x", org_kind=kind, role=role)


def test_parse_query_reads_every_filter_and_rejects_bad_values() -> None:
    query = parse_query(
        {
            "added_after": ["2026-03-01T00:00:00Z"],
            "limit": ["5000"],
            "match[id]": ["a,b", "c"],
            "match[type]": ["indicator"],
            "match[version]": ["first,last"],
            "match[spec_version]": ["2.1"],
        },
        max_page=100,
    )
    assert query.added_after == T0 and query.limit == 100  # capped at the server's page size
    assert query.ids == {"a", "b", "c"} and query.versions == ("first", "last")
    for bad in ({"limit": ["0"]}, {"added_after": ["soon"]}, {"match[version]": ["newest"]}, {"x": ["1"]}):
        with pytest.raises(InputError):
            parse_query(bad)


def test_version_selection_last_first_all_and_exact() -> None:
    versions = [entry(1, v) for v in range(3)] + [entry(2)]
    assert [e.version for e in select_versions(versions, ObjectQuery()) if e.id == versions[0].id] == [
        versions[2].version
    ]
    first = select_versions(versions, ObjectQuery(versions=("first",)))
    assert {e.version for e in first if e.id == versions[0].id} == {versions[0].version}
    assert len(select_versions(versions, ObjectQuery(versions=("all",)))) == 4
    exact = select_versions(versions, ObjectQuery(versions=(versions[1].version,)))
    assert [e.version for e in exact] == [versions[1].version]


def test_added_after_and_filters_apply_to_the_selected_versions() -> None:
    items = [entry(n) for n in range(10)] + [entry(20, kind="sighting")]
    after = select_versions(items, ObjectQuery(added_after=items[6].date_added))
    assert [e.id for e in after] == [e.id for e in items[7:]]
    only = select_versions(items, ObjectQuery(types=frozenset({"sighting"})))
    assert [e.obj["type"] for e in only] == ["sighting"]


def test_paging_is_stateless_and_stable_while_new_objects_arrive() -> None:
    items = [entry(n) for n in range(7)]
    first = paginate(select_versions(items, ObjectQuery()), ObjectQuery(limit=3))
    assert first.more and len(first.items) == 3
    # A newer object arrives between two page requests: it sorts after the cursor, nothing shifts.
    grown = select_versions([*items, entry(50)], ObjectQuery())
    second = paginate(grown, ObjectQuery(limit=3, next=first.next))
    third = paginate(grown, ObjectQuery(limit=3, next=second.next))
    seen = [e.id for page in (first, second, third) for e in page.items]
    assert seen == [e.id for e in grown] and not third.more and third.next is None
    headers = first.headers()
    assert headers["X-TAXII-Date-Added-First"] < headers["X-TAXII-Date-Added-Last"]
    with pytest.raises(InputError, match="next"):
        paginate(grown, ObjectQuery(next="garbage!"))


@pytest.mark.parametrize(
    ("accept", "ok"),
    [
        (None, True),
        ("*/*", True),
        ("application/taxii+json;version=2.1", True),
        ("application/taxii+json", True),
        ("text/html, application/taxii+json; version=2.1", True),
        ("application/taxii+json;version=2.0", False),
        ("application/json", False),
        ("text/html", False),
    ],
)
def test_accept_negotiation(accept: str | None, ok: bool) -> None:
    if ok:
        check_accept(accept)
    else:
        with pytest.raises(NotAcceptable):
            check_accept(accept)


def test_post_content_type() -> None:
    check_content_type("application/taxii+json;version=2.1")
    for bad in (
        None,
        "application/json",
        "application/stix+json;version=2.1",
        "application/taxii+json;version=2.0",
    ):
        with pytest.raises(UnsupportedMediaType):
            check_content_type(bad)


def test_every_visible_object_is_in_exactly_one_collection_per_viewer() -> None:
    for viewer_kind in OrgKind:
        viewer = principal(viewer_kind)
        listed = collections_for(viewer)
        for tlp in TLP:
            for source_kind in OrgKind:
                item = entry(1, tlp=tlp)
                holders = [c.alias for c in listed if c.holds(item, source_kind, viewer_kind)]
                if tlp is TLP.AMBER and source_kind is not viewer_kind:
                    assert holders == ["direct"]  # only reaches the viewer when named
                else:
                    assert len(holders) == 1, (viewer_kind, tlp, source_kind, holders)
    amber_collections = {c.alias for c in COLLECTIONS if TLP.AMBER in c.tlps}
    assert amber_collections == {"platforms", "government-partners", "researchers"}
    assert {c.alias for c in collections_for(principal(OrgKind.GOVERNMENT))} == {
        "coalition",
        "government-partners",
        "direct",
    }
