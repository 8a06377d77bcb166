"""DuckDB prints its own progress bar on stdout for any statement that runs past 2 s, and does so
by default in the Python client. Under load many statements pass 2 s, and the bar landed in the
middle of the CLI's Rich progress and of the JSON line a bench worker writes on stdout. Every
connection Vigil opens for its own work must have it off.

The check runs in a fresh interpreter writing to a pipe, as the CLI and the bench workers do:
inside pytest DuckDB's Python client starts with the bar off, which would hide a connection that
leaves it on."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json
import duckdb
from vigil.core.settings import get_settings
from vigil.detect import duck as detect_duck, evidence
from vigil.ingest import duck as ingest_duck
from vigil.ingest.columnar import TextRules

def bar(con):
    return con.execute("SELECT current_setting('enable_progress_bar')").fetchone()[0]

settings = get_settings()
print(json.dumps({
    "duckdb default": bar(duckdb.connect()),
    "detect.duck.connect": bar(detect_duck.connect(settings)),
    "detect.evidence._connect": bar(evidence._connect(settings)),
    "ingest.duck.connect": bar(ingest_duck.connect(settings)),
    "ingest.columnar.TextRules": bar(TextRules()._duck()),
}))
"""


def test_vigil_duckdb_connections_print_no_progress_bar() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120
    )
    assert done.returncode == 0, done.stderr
    bars = json.loads(done.stdout.strip().splitlines()[-1])
    # The premise: a plain connection in such a process has the bar on (else this proves nothing).
    assert bars.pop("duckdb default") is True
    assert bars == dict.fromkeys(bars, False)
