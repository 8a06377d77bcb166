"""One service style in the web layer: API routes and dashboard pages take their services as typed
dependencies (``vigil.web.deps``) and never build one from a session and a principal by hand, so
every page and route acts for the principal its dependency authenticated (API key or signed-in
viewer, with the viewer's CSRF check first)."""

from __future__ import annotations

import ast
from pathlib import Path

import vigil.web

# The services that have a typed dependency; building one of them in a route or page is the
# hand-made style this test keeps out.
SERVICES = {
    "CaseService",
    "MeetingService",
    "PolicyService",
    "BriefingService",
    "DisclosureService",
    "FloodService",
}
WEB = Path(vigil.web.__file__).parent


def _constructions(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SERVICES:
            found.append(f"{path.relative_to(WEB)}:{node.lineno} {node.func.id}(...)")
    return found


def test_routes_and_pages_take_services_as_dependencies() -> None:
    modules = sorted([*(WEB / "pages").glob("*.py"), *(WEB / "routes").glob("*.py")])
    assert len(modules) > 20  # the walk found the modules (a moved directory must not pass silently)
    built = [c for m in modules for c in _constructions(m)]
    assert built == [], "services built by hand instead of a vigil.web.deps dependency:\n" + "\n".join(built)


def test_the_dependency_module_builds_each_service() -> None:
    # the other side of the rule: every service has its constructions in deps.py, for API and pages
    names = {c.split()[-1].removesuffix("(...)") for c in _constructions(WEB / "deps.py")}
    assert names == SERVICES
