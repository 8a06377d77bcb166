"""Large TAXII envelopes are validated in a separate process (issue #23): the plan that comes back
is the one ``plan_import`` makes in the server's process, invalid and unsupported objects included."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from typing import Any

from vigil.exchange import taxii_store
from vigil.exchange.stix_import import plan_import


def _indicator(i: int, pattern: str) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.UUID(int=i, version=4)}",
        "created": "2026-03-01T00:00:00.000Z",
        "modified": "2026-03-01T00:00:00.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-03-01T00:00:00.000Z",
    }


def test_large_envelope_is_planned_in_the_validator_process_as_in_process() -> None:
    objects: list[Any] = [_indicator(i, f"[domain-name:value = 'site-{i}.example']") for i in range(40)]
    objects += [_indicator(100 + i, f"[ipv4-addr:value = '10.0.0.{i}']") for i in range(15)]  # unsupported
    objects += [{"type": "indicator", "id": "not-an-id"}, 7]  # invalid
    assert len(objects) >= taxii_store.POOL_THRESHOLD
    pooled = taxii_store._plan(objects)
    inline = plan_import(objects)
    assert pooled == inline
    assert len(pooled.signals) == 40 and len(pooled.unsupported) == 15 and len(pooled.invalid) == 2
    # it ran elsewhere: the pool's process is not this one
    pool = taxii_store._validator()
    assert pool.submit(os.getpid).result() != os.getpid()


def test_validator_process_exits_when_its_server_is_gone() -> None:
    # a process whose recorded parent is not its parent any more (the server was killed) exits
    # within about a second instead of running on as an orphan
    script = (
        "import time; from vigil.exchange.taxii_store import _exit_with_parent; "
        "_exit_with_parent(-1); time.sleep(60); raise SystemExit(3)"
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], timeout=50, check=False)
    assert done.returncode == 0
    assert time.monotonic() - started < 40
