"""Shared fixtures. Heavier fixtures (PostgreSQL server, live uvicorn, chromium) live beside the tests
that need them in tests/<area>/conftest.py."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

# The dashboard fixtures (demo data, a live `vigil serve`, one Chromium) are session-wide and shared by
# tests/web and tests/meetings. Loading them once as a plugin keeps one instance per worker: importing
# them into a second test module would start a second sync Playwright, which refuses to run.
# The PostgreSQL cluster likewise (tests/support/postgres.py): one per worker, not one per importer.
# It comes first: the dashboard fixtures import it (through tests/exchange/conftest.py's health
# wait), and a plugin module imported before pytest marks it for assertion rewriting is refused.
pytest_plugins = ["tests.support.postgres", "tests.web.fixtures"]

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data sets beside the project (../shared/data)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


# ---------------------------------------------------------------------------------------------
# xdist scheduling (`./dev test` runs `-n 2 --dist loadgroup --no-loadscope-reorder`)

# Session fixtures that start something costly per worker (Chromium; the `vigil serve` of the demo;
# a JVM): every test that uses one runs in one group, so one worker starts it, not each. The demo
# run itself (`demo_run`) is made once per run whatever the worker (a file lock), so its other
# readers (the README walk, the interrupted-run tests) keep their module's group and can run on
# the other worker: the dashboard group was the largest unit of work by far with them.
SHARED_STARTS = {"browser": "dashboard", "server": "dashboard", "spark": "spark"}
# Modules that read the demo's database as the demo left it, while the dashboard tests (served
# from that same directory) add to it: they run in the dashboard group, whose tests run in
# pytest's order on one worker, so they come before those writers (tests/frontdoor < tests/web).
BEFORE_THE_DASHBOARD = {"tests/frontdoor/test_demo_content.py": "dashboard"}
# Groups known to take longest (CI --durations), started first so no worker idles at the end
# waiting for one of them. The rest follow, those with most tests first.
LONGEST_FIRST = (
    "tests/security/test_adversarial_matrix.py",
    "dashboard",
    "tests/security/test_schemathesis.py",
    "spark",
    "tests/frontdoor/test_readme.py",
)
# The file where workers leave each test's group for the controller's scheduler (which sees node
# ids only, not fixtures); set by the controller before it starts the workers.
GROUPS_FILE = "VIGIL_XDIST_GROUPS"


def xdist_group_of(item: pytest.Item) -> str:
    """The test's scheduling group: its module, or the group of a costly session fixture it uses."""
    module = item.nodeid.split("::", 1)[0]
    if module in BEFORE_THE_DASHBOARD:
        return BEFORE_THE_DASHBOARD[module]
    for fixture, group in SHARED_STARTS.items():
        if fixture in getattr(item, "fixturenames", ()):
            return group
    return module


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("dist", "no") == "loadgroup" and not hasattr(config, "workerinput"):
        os.environ[GROUPS_FILE] = str(Path(tempfile.mkdtemp(prefix="vigil-xdist-")) / "groups.json")


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput") and GROUPS_FILE in os.environ:
        shutil.rmtree(Path(os.environ.pop(GROUPS_FILE)).parent, ignore_errors=True)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker of `--dist loadgroup`: the longest groups first, and each test's group
    left for the controller. A plain run keeps pytest's order."""
    target = os.environ.get(GROUPS_FILE)
    if not target or not hasattr(config, "workerinput"):
        return
    groups = {item.nodeid: xdist_group_of(item) for item in items}
    size = Counter(groups.values())
    rank = {group: n for n, group in enumerate(LONGEST_FIRST)}
    first: dict[str, int] = {}
    for n, item in enumerate(items):
        first.setdefault(groups[item.nodeid], n)

    def order(item: pytest.Item) -> tuple[int, int, int]:
        group = groups[item.nodeid]
        return rank.get(group, len(rank)), -size[group], first[group]

    # stable: a group's tests keep pytest's order (which already minimises fixture set-ups)
    items.sort(key=order)
    # every worker collects the same tests, so they write the same file; the rename is atomic
    part = Path(f"{target}.{config.workerinput['workerid']}")
    part.write_text(json.dumps(groups), encoding="utf-8")
    part.replace(target)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` as a scope scheduler whose scopes are the groups above: one per module
    (its module fixtures, e.g. a live server per backend, start once rather than on each worker that
    draws one of its tests) and one per costly session fixture. (xdist's own loadgroup marks the
    group in the node id, which pytest 9 no longer lets a plugin change.)"""
    if config.getoption("dist", "no") != "loadgroup" or GROUPS_FILE not in os.environ:
        return None
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    target = Path(os.environ[GROUPS_FILE])

    class GroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            # read once, after every worker collected (the scheduler splits scopes only then)
            if self.groups is None:
                self.groups = json.loads(target.read_text(encoding="utf-8")) if target.exists() else {}
            return self.groups.get(nodeid) or nodeid.split("::", 1)[0]

    return GroupScheduling(config, log)
