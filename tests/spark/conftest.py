"""One local Spark session for every Spark test (starting one takes seconds), and a generated data set."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vigil.synth.config import STYLE_NAMES, GeneratorConfig
from vigil.synth.generator import generate

# The tests run a few hundred small Spark jobs on 6,000 posts once, in a JVM that lives a minute or
# two: compiling is what costs, not computing. Together these cut the Spark tests' CPU-seconds
# (Python and JVM) from 212 to 127 at load 17-24, same results (docs/scale-out.md, Tests).
TEST_CONFIG = {
    # Two shuffle partitions for local[2]: the test data is small, task start-up dominates.
    "spark.sql.shuffle.partitions": "2",
    # The JIT's C1 tier only (C2's optimising compiles pay off in long runs, not here), and the
    # serial collector (a heap this small needs no parallel GC threads competing for 2 cores).
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    # No Janino-compiled whole-stage code per query: each query runs once on a few thousand rows.
    "spark.sql.codegen.wholeStage": "false",
    # No adaptive re-planning between stages (it re-optimises plans for data sizes that do not
    # vary here).
    "spark.sql.adaptive.enabled": "false",
}


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java (./dev test installs openjdk-17-jre-headless)")
    from vigil.detect.engines.spark import make_session

    session = make_session("local[2]", config=TEST_CONFIG)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small labelled data set with one planted campaign of every style."""
    out = tmp_path_factory.mktemp("generated")
    generate(GeneratorConfig(posts=6_000, seed=21, campaigns=len(STYLE_NAMES)), out)
    return out
