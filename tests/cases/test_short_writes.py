"""Case writes stay short: linking signals checks them under the listing's visibility rule inside
the write, but does not build their views (contributions, tags, languages, the audit of reads),
which held the write lock ~0.7 s for 100 signals. The check is the same: a signal the writer may
not see, or that does not exist, is NotFound naming it, and nothing is linked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from vigil.cases.models import CaseSignalRow
from vigil.cases.service import CaseService
from vigil.core.errors import NotFound
from vigil.exchange.models import AuditRow
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore

from .conftest import Coalition

MARKINGS = [TLP.CLEAR, TLP.GREEN, TLP.AMBER]  # all visible to plat_a (AMBER: the same kind)


@contextmanager
def statements(coalition: Coalition) -> Iterator[list[str]]:
    """The SQL statements run on the database's engine inside the block."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(coalition.db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(coalition.db.engine, "before_cursor_execute", record)


def _signals(coalition: Coalition, count: int, tag: str) -> list[str]:
    """``count`` signals of plat_b (mixed markings, tags and languages) that plat_a may see."""
    with coalition.db.session() as s:
        store = ExchangeStore(s)
        owner = coalition.principal("plat_b")
        return [
            store.submit_signal(
                owner,
                "domain",
                f"{tag}-{i}-news.net",  # its own registrable domain: one signal each
                marking=Marking(MARKINGS[i % len(MARKINGS)]),
                tags=["feed", f"t{i % 3}"],
                language="en" if i % 2 else "fr",
            ).id
            for i in range(count)
        ]


def _link(coalition: Coalition, case_id: str, ids: list[str]) -> tuple[int, list[str]]:
    with statements(coalition) as seen, coalition.db.session() as s:
        linked = CaseService(s, coalition.principal("plat_a")).link_signals(case_id, ids)
    return linked, seen


def test_linking_does_not_build_views_in_the_write(coalition: Coalition) -> None:
    with coalition.db.session() as s:
        case_id = CaseService(s, coalition.principal("plat_a")).create_case("wave").id
    few = _signals(coalition, 4, "few")
    many = _signals(coalition, 120, "many")
    with coalition.db.session() as s:
        audits_before = s.scalar(select(AuditRow.id).order_by(AuditRow.id.desc()).limit(1))

    linked_few, small = _link(coalition, case_id, few)
    linked_many, large = _link(coalition, case_id, many)
    assert (linked_few, linked_many) == (4, 120)
    # The write's statements do not grow with the signals it links (views are built per signal
    # row: contributions, their tags and shares, languages), and none reads a tag table.
    assert len(large) == len(small), (small, large)
    assert not [q for q in large if "contribution_tags" in q]
    # Linking reads no signal's content: no read is audited (only the link itself).
    with coalition.db.session() as s:
        actions = s.scalars(select(AuditRow.action).where(AuditRow.id > (audits_before or 0))).all()
        assert sorted(actions) == ["case.link_signals", "case.link_signals"]
        assert len(s.scalars(select(CaseSignalRow).where(CaseSignalRow.case_id == case_id)).all()) == 124
    # Linking again adds nothing.
    assert _link(coalition, case_id, few + many)[0] == 0


def test_linking_an_unseen_signal_is_refused_whole(coalition: Coalition) -> None:
    with coalition.db.session() as s:
        case_id = CaseService(s, coalition.principal("plat_a")).create_case("wave").id
        store = ExchangeStore(s)
        hidden = store.submit_signal(
            coalition.principal("plat_b"), "domain", "hidden-news.net", marking=Marking(TLP.RED)
        ).id
    seen = _signals(coalition, 600, "seen")  # two counting chunks; the hidden one in the second
    ids = [*seen[:550], hidden, "sig-does-not-exist", *seen[550:]]
    with pytest.raises(NotFound) as refused, coalition.db.session() as s:
        CaseService(s, coalition.principal("plat_a")).link_signals(case_id, ids)
    assert str(refused.value).startswith(f"no signal {hidden!r} (and 1 more)")
    with coalition.db.session() as s:
        assert not s.scalars(select(CaseSignalRow).where(CaseSignalRow.case_id == case_id)).all()
    # plat_b, the signal's source, may link it (RED: its own)
    with coalition.db.session() as s:
        service = CaseService(s, coalition.principal("plat_b"))
        own = service.create_case("own").id
        assert service.link_signals(own, [hidden]) == 1
