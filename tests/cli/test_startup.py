"""Start-up: ``vigil --help`` and every ``vigil CMD [SUB] --help`` import no heavy module.

Each command imports its implementation when it runs (see vigil.cli.app); a module-level import of
SQLAlchemy, DuckDB or a Vigil package below the CLI in any command module would make every
invocation pay for it. bench/startup.py measures the time.
"""

from __future__ import annotations

import json
import subprocess
import sys

from vigil.cli import data

# Top-level packages `--help` must never import. pydantic is here because Typer only needs it to
# coerce option values, i.e. when a command really runs.
HEAVY = (
    "scipy", "sqlalchemy", "duckdb", "pyarrow", "numpy", "fastapi", "starlette", "uvicorn", "igraph",
    "leidenalg", "alembic", "pydantic", "pydantic_settings", "tldextract", "yaml", "httpx", "jinja2",
    "vigil.cases", "vigil.detect", "vigil.exchange", "vigil.ingest", "vigil.match", "vigil.signals",
    "vigil.synth", "vigil.web", "vigil.schema", "vigil.core.settings", "vigil.cli.demo_run",
)  # fmt: skip

# Runs every help page of the app in one interpreter and reports, after each, which heavy modules
# are loaded (the first page that loads one is the culprit).
_PROBE = """
import contextlib, io, json, sys
import typer.main
from vigil.cli.app import app, main
heavy = tuple(sys.argv[1].split(","))
root = typer.main.get_command(app)  # only to list the pages; building commands imports nothing heavy
pages = [[]]
for name, command in sorted(root.commands.items()):
    pages.append([name])
    pages += [[name, sub] for sub in sorted(getattr(command, "commands", {}) or {})]
report = []
for page in pages:
    sys.argv = ["vigil", *page, "--help"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main()
        except SystemExit as exc:
            code = exc.code
    loaded = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in heavy))
    report.append({"page": page, "code": code, "usage": "Usage" in out.getvalue(), "heavy": loaded})
print(json.dumps(report))
"""


def _help_pages() -> list[dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, ",".join(HEAVY)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    pages: list[dict[str, object]] = json.loads(result.stdout)
    return pages


def test_help_imports_no_heavy_module() -> None:
    pages = _help_pages()
    assert len(pages) > 80  # the root, every group and every command of a group
    for page in pages:
        assert page["code"] == 0 and page["usage"], page
        assert page["heavy"] == [], f"`vigil {' '.join(page['page'])} --help` imported {page['heavy']}"  # type: ignore[arg-type]


def test_python_m_vigil_help_in_a_fresh_interpreter() -> None:
    """The console script's path: `python -m vigil --help` then a look at sys.modules."""
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['vigil', '--help']\n"
        "try:\n    runpy.run_module('vigil', run_name='__main__')\n"
        "except SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n"
        f"heavy = {HEAVY!r}\n"
        "print(sorted(m for m in sys.modules if any(m == h or m.startswith(h + '.') for h in heavy)))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_help_texts_name_the_real_layouts_platforms_and_styles() -> None:
    """vigil.cli.data names them for --help without importing the adapters or the generator."""
    from vigil.ingest.adapters import ADAPTERS
    from vigil.synth import PLATFORMS, STYLE_NAMES

    assert tuple(ADAPTERS) == data.LAYOUTS
    assert data.PLATFORMS == PLATFORMS
    assert data.STYLE_NAMES == STYLE_NAMES
