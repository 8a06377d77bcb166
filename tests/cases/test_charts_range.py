"""Line charts suit the range of their data: one bucket draws bars, a short range marks points."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from vigil.cases import charts

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_one_day_draws_a_bar_per_series_with_its_count_and_the_day() -> None:
    svg = charts.line_chart("Signals per day", ["2026-12-07"], {"domain": [3], "text": [5]})
    root = _parse(svg)
    assert root.findall(f"{SVG}polyline") == []  # a one-point line would be invisible
    bars = [r for r in root.findall(f"{SVG}rect") if float(r.get("height", "0")) > 10]
    heights = sorted(float(r.get("height", "0")) for r in bars)
    assert len(heights) == 2 and heights[0] < heights[1]  # 3 and 5, scaled to the peak
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "2026-12-07" in texts and "3" in texts and "5" in texts


def test_a_short_range_marks_each_value_and_a_long_one_does_not() -> None:
    short = _parse(charts.line_chart("t", ["d1", "d2", "d3"], {"a": [1, 4, 2]}))
    assert len(short.findall(f"{SVG}polyline")) == 1
    assert len(short.findall(f"{SVG}circle")) == 3
    days = [f"d{i}" for i in range(40)]
    long = _parse(charts.line_chart("t", days, {"a": list(range(40))}))
    assert long.findall(f"{SVG}circle") == []
    assert re.search(r"<polyline", charts.line_chart("t", days, {"a": list(range(40))}))
