"""Pure parts of the dashboard: the SVG pictures (sessions: test_sessions.py)."""

from __future__ import annotations

from vigil.web.pages.svg import Link, Node, bars_svg, network_svg


def test_network_svg_is_deterministic_and_escapes_labels() -> None:
    nodes = [Node(f"twitter:{i}", "twitter", f"twitter:{i}") for i in range(6)]
    nodes.append(Node("telegram:<script>", "telegram", "<script>alert(1)</script>"))
    links = [Link(nodes[i].id, nodes[(i + 1) % 7].id, 1.0 + i) for i in range(7)]
    first = network_svg(nodes, links)
    assert first == network_svg(nodes, links)
    assert first.count("<circle") == 7 + 2  # accounts + the two legend dots
    assert first.count("<line") == 7
    assert "<script>" not in first and "&lt;script&gt;" in first
    assert "no edges to draw" in network_svg([], [])


def test_bars_svg_draws_one_bar_per_value() -> None:
    svg = bars_svg([("2024-10-01", 3), ("2024-10-02", 0), ("2024-10-03", 9)], label="posts")
    assert svg.count("<rect") == 3
    assert "2024-10-03: 9" in svg
    assert "no data" in bars_svg([])
