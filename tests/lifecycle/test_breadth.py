"""Too-broad check: the share of a member's own posts each shared domain/hashtag would match."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.match.conftest import post, write_posts
from vigil.cli.app import app
from vigil.core.errors import InputError
from vigil.db import Database
from vigil.exchange import warninglists
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore

from .conftest import seed


def _posts(tmp_path: Path) -> Path:
    rows = [
        post(
            f"o{i}", account_id=f"u{i}", urls=["https://popular.info/a"], hashtags=["Rare"] if i == 0 else []
        )
        for i in range(40)
    ]
    rows += [
        post(f"x{i}", account_id=f"v{i}", urls=["https://niche.info/x"], hashtags=["#Common"])
        for i in range(60)
    ]
    return write_posts(tmp_path / "posts.parquet", rows)


def test_breadth_counts_posts_not_mentions(tmp_path: Path) -> None:
    report = warninglists.breadth(
        [
            ("domain", "popular.info"),
            ("domain", "niche.info"),
            ("hashtag", "rare"),
            ("hashtag", "common"),
            ("domain", "absent.info"),
            ("url", "https://popular.info/a"),
        ],
        _posts(tmp_path),
        0.5,
    )
    assert report.posts == 100
    assert report.shares == {
        ("domain", "popular.info"): 0.4,
        ("domain", "niche.info"): 0.6,
        ("hashtag", "rare"): 0.01,
        ("hashtag", "common"): 0.6,
        ("domain", "absent.info"): 0.0,
    }
    assert sorted((k, v) for k, v, _ in report.too_broad) == [("domain", "niche.info"), ("hashtag", "common")]
    with pytest.raises(InputError, match="threshold"):
        warninglists.breadth([], tmp_path / "posts.parquet", 5)
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(InputError, match=r"bad\.parquet"):
        warninglists.breadth([("domain", "a.info")], tmp_path / "bad.parquet", 0.1)


def test_cli_breadth_uses_the_signals_the_org_sees(tmp_path: Path, db: Database) -> None:
    with db.session() as s:
        store = ExchangeStore(s)
        c = seed(store)
        store.submit_signal(c.principals["p1"], "domain", "niche.info", marking=Marking(TLP.GREEN))
        store.submit_signal(c.principals["p1"], "hashtag", "common", marking=Marking(TLP.AMBER))
    env = {"VIGIL_DATABASE_URL": db.url, "VIGIL_DATA_DIR": str(tmp_path)}
    args = ["warninglist", "breadth", "--posts", str(_posts(tmp_path)), "--threshold", "0.5", "--json"]
    as_gov = CliRunner().invoke(app, [*args, "--org", "Org gov"], env=env)
    assert as_gov.exit_code == 1 and "niche.info" in as_gov.output and "common" not in as_gov.output
    as_p2 = CliRunner().invoke(app, [*args, "--org", "Org p2"], env=env)
    assert as_p2.exit_code == 1 and "common" in as_p2.output
