"""Rendering of briefings and disclosure reports: HTML and Markdown through Jinja2 templates
(``vigil/cases/templates``, autoescaped HTML), PDF from the same HTML through WeasyPrint (offline:
charts are inline SVG, fonts are the system's).

Every document carries its TLP, the most restrictive content it holds for its reader (a
briefing: ``Briefing.tlp``; a disclosure report: CLEAR, as it holds only CLEAR material): in the
header and footer of every PDF page (CSS ``@page`` margin boxes), as a banner above and below the
HTML, and as Markdown front matter plus a line above and below (``templates/_marking.*``).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from vigil.cases import charts
from vigil.cases.briefing import Briefing
from vigil.core.errors import ConfigError, InputError
from vigil.core.time import isoformat_z

FORMATS = ("html", "pdf", "md")


def _when(value: datetime | None) -> str:
    return isoformat_z(value) if value is not None else "-"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("vigil.cases", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    return env


def briefing_charts(b: Briefing) -> dict[str, str]:
    """The briefing's SVG charts by name (a range of a day or less counts per hour)."""
    per = "hour (UTC)" if b.bucket == "hour" else "day"
    return {
        "by_kind": charts.bar_chart("Signals by type", list(b.signals_by_kind.items())),
        "by_platform": charts.bar_chart("Signals by platform", list(b.signals_by_platform.items())),
        "by_language": charts.bar_chart("Signals by language", list(b.signals_by_language.items())),
        "daily": charts.line_chart(f"Signals per {per} by type", b.days, b.daily_by_kind),
        "daily_platform": charts.line_chart(f"Signals per {per} by platform", b.days, b.daily_by_platform),
        "daily_language": charts.line_chart(f"Signals per {per} by language", b.days, b.daily_by_language),
        "domains": charts.bar_chart("Top domains (contributions + sightings)", b.top_domains),
        "sightings": charts.bar_chart("Sightings by member", b.sightings_by_member),
    }


def _briefing_context(b: Briefing) -> dict[str, Any]:
    return {"b": b, "charts": briefing_charts(b), "title": b.title()}


def briefing_html(b: Briefing) -> str:
    return environment().get_template("briefing.html").render(**_briefing_context(b))


def briefing_markdown(b: Briefing) -> str:
    return environment().get_template("briefing.md").render(b=b, title=b.title())


def html_to_pdf(html: str) -> bytes:
    """PDF bytes of an HTML document (WeasyPrint; no network access: no external resources)."""
    try:
        import weasyprint  # type: ignore[import-untyped]
    except (ImportError, OSError) as exc:  # OSError: pango/cairo libraries missing
        raise ConfigError(
            f"PDF output needs WeasyPrint and the pango libraries (apt-get install libpango-1.0-0 "
            f"libpangoft2-1.0-0): {exc}"
        ) from exc

    def no_fetch(url: str, *args: Any, **kwargs: Any) -> Any:
        raise ValueError(f"external resource refused: {url}")

    pdf = weasyprint.HTML(string=html, url_fetcher=no_fetch).write_pdf()
    assert pdf is not None
    return bytes(pdf)


def render_briefing(b: Briefing, fmt: str) -> bytes:
    """The briefing as html, pdf or md bytes."""
    if fmt == "html":
        return briefing_html(b).encode("utf-8")
    if fmt == "md":
        return briefing_markdown(b).encode("utf-8")
    if fmt == "pdf":
        return html_to_pdf(briefing_html(b))
    raise InputError(f"unknown briefing format {fmt!r}; use one of {', '.join(FORMATS)}", field="format")
