"""Server-side SVG charts for briefings and disclosure reports: bars, lines, and the account network.

Plain SVG strings (no JavaScript, no fonts to download) so the same markup goes into HTML pages and,
through WeasyPrint, into PDF. Every text is XML-escaped. The network layout is igraph's
Kamada-Kawai, which is deterministic: the same graph gives the same picture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape

from vigil.cases.records import CaseNetwork

PALETTE = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7ea4", "#57606a")
FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'
POINTS_UP_TO = 14  # up to this many x buckets, line charts also mark each value with a dot


def _open(width: int, height: int, title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title, {chr(34): "&quot;"})}">',
        f'<text x="8" y="18" {FONT} font-size="13" font-weight="bold">{escape(title)}</text>',
    ]


def bar_chart(title: str, items: Sequence[tuple[str, float]], *, width: int = 560, max_bars: int = 12) -> str:
    """Horizontal bars, largest first as given; an empty chart says "no data"."""
    shown = list(items)[:max_bars]
    height = 34 + 22 * max(1, len(shown))
    parts = _open(width, height, title)
    if not shown:
        parts.append(f'<text x="8" y="44" {FONT} font-size="12" fill="#57606a">no data</text>')
    top = max((v for _, v in shown), default=0) or 1
    label_w = 190
    for i, (label, value) in enumerate(shown):
        y = 30 + 22 * i
        bar = (width - label_w - 60) * (value / top)
        short = label if len(label) <= 30 else label[:29] + "…"
        parts.append(
            f'<text x="8" y="{y + 14}" {FONT} font-size="11">{escape(short)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{bar:.1f}" height="15" fill="{PALETTE[0]}"/>'
            f'<text x="{label_w + bar + 4:.1f}" y="{y + 14}" {FONT} font-size="11">{value:g}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    width: int = 560,
    height: int = 220,
) -> str:
    """One line per series over the x labels (e.g. days), with a legend.

    Suited to the range: a single bucket draws bars (a one-point line is invisible), and a short
    range marks each value with a dot.
    """
    parts = _open(width, height, title)
    left, right, top_y, bottom = 40, width - 130, 30, height - 30
    values = [v for s in series.values() for v in s]
    if not labels or not values:
        parts.append(f'<text x="8" y="44" {FONT} font-size="12" fill="#57606a">no data</text></svg>')
        return "".join(parts)
    peak = max(values) or 1
    parts.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#8c959f"/>')
    parts.append(f'<text x="4" y="{top_y + 8}" {FONT} font-size="10">{peak:g}</text>')
    if len(labels) == 1:
        # One bucket (e.g. a one-day range): a line needs two points, so draw one bar per series
        # with its count, under a single x label, rather than an empty-looking chart.
        _single_bucket_bars(parts, labels[0], series, peak, (left, right, top_y, bottom))
        parts.append("</svg>")
        return "".join(parts)
    step = (right - left) / max(1, len(labels) - 1)
    for i, label in enumerate(labels):
        if len(labels) <= 8 or i % max(1, len(labels) // 6) == 0:
            parts.append(
                f'<text x="{left + i * step:.1f}" y="{bottom + 14}" {FONT} font-size="9" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    for n, (name, points) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        coords = " ".join(
            f"{left + i * step:.1f},{bottom - (bottom - top_y) * (v / peak):.1f}"
            for i, v in enumerate(points)
        )
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
        if len(labels) <= POINTS_UP_TO:
            # Few buckets: a dot on each value, so a short line still reads as counts per bucket.
            parts.extend(
                f'<circle cx="{left + i * step:.1f}" cy="{bottom - (bottom - top_y) * (v / peak):.1f}" '
                f'r="3" fill="{colour}"/>'
                for i, v in enumerate(points)
            )
        parts.append(
            f'<rect x="{right + 10}" y="{top_y + 14 * n}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{right + 24}" y="{top_y + 9 + 14 * n}" {FONT} font-size="10">'
            f"{escape(name[:16])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _single_bucket_bars(
    parts: list[str],
    label: str,
    series: Mapping[str, Sequence[float]],
    peak: float,
    box: tuple[float, float, float, float],
) -> None:
    """Vertical bars, one per series, for a chart whose whole range is one bucket."""
    left, right, top_y, bottom = box
    names = list(series)
    slot = (right - left) / max(1, len(names))
    bar_w = min(40.0, slot * 0.7)
    for n, name in enumerate(names):
        colour = PALETTE[n % len(PALETTE)]
        value = float(series[name][0]) if series[name] else 0.0
        h = (bottom - top_y) * (value / peak)
        x = left + n * slot + (slot - bar_w) / 2
        parts.append(
            f'<rect x="{x:.1f}" y="{bottom - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{colour}"/>'
            f'<text x="{x + bar_w / 2:.1f}" y="{bottom - h - 3:.1f}" {FONT} font-size="10" '
            f'text-anchor="middle">{value:g}</text>'
            f'<rect x="{right + 10}" y="{top_y + 14 * n}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{right + 24}" y="{top_y + 9 + 14 * n}" {FONT} font-size="10">'
            f"{escape(name[:16])}</text>"
        )
    parts.append(
        f'<text x="{(left + right) / 2:.1f}" y="{bottom + 14}" {FONT} font-size="9" '
        f'text-anchor="middle">{escape(label)}</text>'
    )


def network_svg(network: CaseNetwork, *, title: str = "Account network", size: int = 520) -> str:
    """The account graph: one dot per account coloured by platform, lines for linked pairs."""
    parts = _open(size, size + 30, title)
    nodes = network.nodes
    if not nodes:
        parts.append(
            f'<text x="8" y="44" {FONT} font-size="12" fill="#57606a">no accounts to show</text></svg>'
        )
        return "".join(parts)
    import igraph

    index = {n.id: i for i, n in enumerate(nodes)}
    graph = igraph.Graph(n=len(nodes), edges=[(index[e.a], index[e.b]) for e in network.edges])
    layout = graph.layout_kamada_kawai() if len(nodes) > 1 else igraph.Layout([(0.0, 0.0)])
    xs = [p[0] for p in layout.coords]
    ys = [p[1] for p in layout.coords]
    span_x = (max(xs) - min(xs)) or 1.0
    span_y = (max(ys) - min(ys)) or 1.0
    pad = 30

    def point(i: int) -> tuple[float, float]:
        return (
            pad + (xs[i] - min(xs)) / span_x * (size - 2 * pad - 120),
            40 + pad + (ys[i] - min(ys)) / span_y * (size - 2 * pad - 20),
        )

    top = max((e.weight for e in network.edges), default=1.0) or 1.0
    for edge in network.edges:
        (x1, y1), (x2, y2) = point(index[edge.a]), point(index[edge.b])
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#8c959f" '
            f'stroke-opacity="0.6" stroke-width="{0.5 + 2 * edge.weight / top:.2f}"/>'
        )
    platforms = sorted({n.platform for n in nodes})
    colour = {p: PALETTE[i % len(PALETTE)] for i, p in enumerate(platforms)}
    for i, node in enumerate(nodes):
        x, y = point(i)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour[node.platform]}"/>')
    for i, name in enumerate(platforms):
        parts.append(
            f'<rect x="{size - 110}" y="{40 + 16 * i}" width="10" height="10" fill="{colour[name]}"/>'
            f'<text x="{size - 95}" y="{49 + 16 * i}" {FONT} font-size="11">{escape(name or "?")}</text>'
        )
    parts.append(
        f'<text x="8" y="{size + 24}" {FONT} font-size="10" fill="#57606a">'
        f"{len(nodes)} accounts, {len(network.edges)} linked pairs</text></svg>"
    )
    return "".join(parts)
