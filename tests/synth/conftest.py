"""One small generated data set shared by the synth tests (several chunks, every style)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from vigil.schema.io import read_table
from vigil.schema.tables import ACCOUNTS, LABELS, POSTS
from vigil.synth import GenerationSummary, GeneratorConfig, generate

POSTS_N = 30_000


@dataclass
class Generated:
    config: GeneratorConfig
    summary: GenerationSummary
    out: Path
    posts: pa.Table
    accounts: pa.Table
    labels: pa.Table
    campaigns: dict[str, Any]


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    out = tmp_path_factory.mktemp("generated")
    # Small chunks so that the viral pool and campaign reshares cross chunk boundaries.
    config = GeneratorConfig(posts=POSTS_N, seed=7, chunk_posts=6_000)
    summary = generate(config, out)
    return Generated(
        config=config,
        summary=summary,
        out=out,
        posts=read_table(out / "posts.parquet", POSTS),
        accounts=read_table(out / "accounts.parquet", ACCOUNTS),
        labels=read_table(out / "labels.parquet", LABELS),
        campaigns=json.loads((out / "campaigns.json").read_text(encoding="utf-8")),
    )
