"""Fixtures for the cases tests: the exchange's real databases and live server (SQLite and
PostgreSQL), plus a small coalition of organisations of every kind with principals of every role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from vigil.db import Database
from vigil.exchange.access import Principal
from vigil.exchange.records import OrgKind, Role
from vigil.exchange.store import ExchangeStore

from ..exchange.conftest import (  # noqa: F401  (fixtures reused as they are)
    BACKENDS,
    LiveServer,
    db,
    db_url,
    live,
)


@dataclass
class Coalition:
    """Orgs ``plat_a``, ``plat_b`` (platforms), ``gov`` (government), ``res`` (research)."""

    db: Database
    orgs: dict[str, str]  # label -> org id

    def principal(self, label: str, role: Role = Role.ANALYST) -> Principal:
        kind = {"plat_a": OrgKind.PLATFORM, "plat_b": OrgKind.PLATFORM, "gov": OrgKind.GOVERNMENT}.get(
            label, OrgKind.RESEARCH
        )
        return Principal(
            key_id=f"key-{label}-{role.value}", org_id=self.orgs[label], org_kind=kind, role=role
        )


def make_coalition(database: Database) -> Coalition:
    with database.session() as session:
        store = ExchangeStore(session)
        orgs = {
            label: store.create_org(None, f"{label} org", kind).id
            for label, kind in (
                ("plat_a", "platform"),
                ("plat_b", "platform"),
                ("gov", "government"),
                ("res", "research"),
            )
        }
    return Coalition(db=database, orgs=orgs)


@pytest.fixture
def coalition(db: Database) -> Iterator[Coalition]:  # noqa: F811  (the exchange's fixture)
    yield make_coalition(db)


@pytest.fixture(scope="session")
def detected_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ``vigil detect`` output on a small generated data set (5,000 posts, 2 campaigns)."""
    from vigil.detect.params import DetectParams
    from vigil.detect.pipeline import detect
    from vigil.synth.config import GeneratorConfig
    from vigil.synth.generator import generate

    data = tmp_path_factory.mktemp("gen")
    generate(GeneratorConfig(posts=5000, seed=5, campaigns=2), data)
    out = tmp_path_factory.mktemp("det")
    detect(data / "posts.parquet", out, DetectParams(), accounts_path=data / "accounts.parquet")
    return out
