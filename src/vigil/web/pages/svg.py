"""Server-side pictures for the dashboard: a campaign's account network and a bar chart, as SVG.

Rendering on the server keeps the pages free of JavaScript chart libraries and makes the pictures
identical in screenshots, PDFs and browsers. Layouts are deterministic (Kamada-Kawai from a circle), so
the same campaign always looks the same.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import igraph as ig

PLATFORM_COLOURS = {
    "twitter": "#1d9bf0",
    "facebook": "#4267b2",
    "telegram": "#29a19c",
    "instagram": "#c13584",
    "tiktok": "#111111",
    "youtube": "#e62117",
}
OTHER_COLOUR = "#7a6f9b"


def _message_svg(text: str, width: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="40" role="img">'
        f'<text x="10" y="25">{escape(text)}</text></svg>'
    )


@dataclass(frozen=True)
class Node:
    id: str  # "platform:account_id"
    platform: str
    label: str


@dataclass(frozen=True)
class Link:
    a: str
    b: str
    weight: float


def network_svg(nodes: Sequence[Node], links: Sequence[Link], *, size: int = 560) -> str:
    """Accounts as dots coloured by platform, sized by degree; co-action edges as lines."""
    if not nodes:
        return _message_svg("no edges to draw", size)
    index = {n.id: i for i, n in enumerate(nodes)}
    pairs = [(index[link.a], index[link.b]) for link in links if link.a in index and link.b in index]
    graph = ig.Graph(n=len(nodes), edges=pairs)
    weights = [link.weight for link in links if link.a in index and link.b in index]
    start = [
        [math.cos(2 * math.pi * i / len(nodes)), math.sin(2 * math.pi * i / len(nodes))]
        for i in range(len(nodes))
    ]
    # Kamada-Kawai from a circle is deterministic (Fruchterman-Reingold draws random moves)
    layout = graph.layout_kamada_kawai(seed=start)
    xs = [p[0] for p in layout.coords]
    ys = [p[1] for p in layout.coords]
    pad = 24
    span_x = (max(xs) - min(xs)) or 1.0
    span_y = (max(ys) - min(ys)) or 1.0

    def px(i: int) -> tuple[float, float]:
        return (
            pad + (xs[i] - min(xs)) / span_x * (size - 2 * pad),
            pad + (ys[i] - min(ys)) / span_y * (size - 2 * pad),
        )

    top = max(weights) if weights else 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="network" viewBox="0 0 {size} {size + 30}" '
        f'width="{size}" height="{size + 30}" role="img" aria-label="account network: {len(nodes)} accounts, '
        f'{len(pairs)} links">',
        '<g class="links" stroke="#8894a8">',
    ]
    for (a, b), w in zip(pairs, weights, strict=True):
        (x1, y1), (x2, y2) = px(a), px(b)
        opacity = 0.15 + 0.6 * (w / top)
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke-opacity="{opacity:.2f}" '
            f'stroke-width="{0.6 + 1.8 * w / top:.2f}"/>'
        )
    parts.append('</g><g class="nodes">')
    degrees = graph.degree()
    most = max(degrees) or 1
    for i, node in enumerate(nodes):
        x, y = px(i)
        colour = PLATFORM_COLOURS.get(node.platform, OTHER_COLOUR)
        radius = 4 + 6 * degrees[i] / most
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}" fill="{colour}" stroke="#fff" '
            f'stroke-width="1" data-account="{escape(node.id)}"><title>{escape(node.label)} '
            f"({escape(node.platform)}, {degrees[i]} links)</title></circle>"
        )
    parts.append("</g>")
    x = pad
    for platform in sorted({n.platform for n in nodes}):
        colour = PLATFORM_COLOURS.get(platform, OTHER_COLOUR)
        parts.append(
            f'<circle cx="{x}" cy="{size + 15}" r="5" fill="{colour}"/>'
            f'<text x="{x + 9}" y="{size + 19}" font-size="12">{escape(platform)}</text>'
        )
        x += 20 + 8 * len(platform)
    parts.append("</svg>")
    return "".join(parts)


def bars_svg(bars: Sequence[tuple[str, int]], *, width: int = 560, height: int = 160, label: str = "") -> str:
    """A bar chart of counts (e.g. posts per day), labels under the first, middle and last bars."""
    if not bars:
        return _message_svg("no data", width)
    top = max(v for _, v in bars) or 1
    pad_left, pad_bottom = 36, 22
    inner_w, inner_h = width - pad_left - 8, height - pad_bottom - 8
    step = inner_w / len(bars)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="bars" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}">',
        f'<text x="2" y="14" font-size="11">{top}</text>',
        f'<text x="2" y="{8 + inner_h}" font-size="11">0</text>',
    ]
    shown = {0, len(bars) // 2, len(bars) - 1}
    for i, (name, value) in enumerate(bars):
        h = inner_h * value / top
        x = pad_left + i * step
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{8 + inner_h - h:.1f}" width="{max(step - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="#3b6ea8"><title>{escape(name)}: {value}</title></rect>'
        )
        if i in shown:
            parts.append(f'<text x="{x:.1f}" y="{height - 6}" font-size="11">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
