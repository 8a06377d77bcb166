"""One local Spark session for every Spark test (starting one takes seconds), and a generated data set."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vigil.synth.config import STYLE_NAMES, GeneratorConfig
from vigil.synth.generator import generate


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java (./dev test installs openjdk-17-jre-headless)")
    from vigil.detect.engines.spark import make_session

    # Two shuffle partitions for local[2]: the test data is small, task start-up dominates.
    session = make_session("local[2]", config={"spark.sql.shuffle.partitions": "2"})
    yield session
    session.stop()


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small labelled data set with one planted campaign of every style."""
    out = tmp_path_factory.mktemp("generated")
    generate(GeneratorConfig(posts=6_000, seed=21, campaigns=len(STYLE_NAMES)), out)
    return out
