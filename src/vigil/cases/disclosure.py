"""The public disclosure report of a case, in the style of platform takedown announcements.

It contains ONLY TLP:CLEAR material, whoever asks for it:

* the case's title, summary, attribution and techniques only if the case itself is marked CLEAR
  (otherwise the report says they are withheld);
* member actions marked CLEAR (accounts/pages/channels removed per platform, statement links);
* linked signals some member contributed as CLEAR (sample accounts, URLs, domains, hashtags,
  narratives) and sample posts from detection only if the detection was shared as CLEAR;
* the network picture of CLEAR accounts and (CLEAR) detection edges.

Comments are never published. Rendering the final report respects the embargo (an admin may
override with a reason, which goes on the timeline); a ``draft`` is always allowed and watermarked.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.cases import charts
from vigil.cases.disarm import ATTRIBUTION, technique_label
from vigil.cases.embargo import check_disclosure
from vigil.cases.models import CaseActionRow, CaseSignalRow
from vigil.cases.records import Action
from vigil.cases.render import environment, html_to_pdf
from vigil.cases.service import CaseService, action_record, clear_values
from vigil.core.errors import InputError
from vigil.exchange.access import Principal
from vigil.exchange.policy import is_public
from vigil.exchange.records import TLP, SignalKind
from vigil.exchange.service import Service

SAMPLE = 10
PUBLIC_KINDS = (
    SignalKind.ACCOUNT,
    SignalKind.URL,
    SignalKind.DOMAIN,
    SignalKind.HASHTAG,
    SignalKind.NARRATIVE,
)


@dataclass
class DisclosureReport:
    case_id: str
    title: str
    summary: str | None
    attribution: str | None
    techniques: list[str]  # "T0049 Flood Information Space"
    withheld: bool  # case details withheld (the case is not CLEAR)
    actions_by_platform: list[dict[str, Any]]
    statements: list[str]
    samples: dict[str, list[str]]
    sample_posts: list[dict[str, Any]]
    network_svg: str
    accounts_shown: int
    accounts_by_platform: dict[str, int]
    generated_at: datetime
    draft: bool
    embargo_until: datetime | None
    disarm_attribution: str = ATTRIBUTION
    notes: list[str] = field(default_factory=list)


def _distinct_posts(posts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sample posts once each (a post can be quoted for several of the campaign's items)."""
    seen: set[tuple[Any, Any]] = set()
    found = []
    for p in posts:
        key = (p.get("account"), p.get("post_id"))
        if key not in seen:
            seen.add(key)
            found.append({"ts": p.get("ts"), "lang": p.get("lang"), "text": p.get("text")})
    return found


def _long_date(when: datetime) -> str:
    """A date as in "7 December 2026" (no leading zero; English month names, as the report is English)."""
    return f"{when.day} {when:%B %Y}"


def _clear_actions(actions: list[Action]) -> list[Action]:
    return [a for a in actions if is_public(a.marking)]


class DisclosureService(Service):
    """Builds and renders disclosure reports; ``principal`` must be able to see the case."""

    def __init__(self, session: Session, principal: Principal | None, *, now: datetime | None = None) -> None:
        super().__init__(session, principal, now=now)
        self.cases = CaseService(session, principal, now=now)

    def build(
        self, case_id: str, *, draft: bool = False, override_reason: str | None = None
    ) -> DisclosureReport:
        case = self.cases.get_case(case_id)
        if not draft:
            overridden = check_disclosure(
                case.embargo_until, self.cases.now(), self.cases.principal, override_reason
            )
            self.cases.record_disclosure(
                case_id, {"report": "final", "embargo_override": override_reason if overridden else None}
            )
        clear_case = is_public(case.marking)
        # Actions: CLEAR ones only, read without the viewer's wider view.
        rows = self.session.scalars(select(CaseActionRow).where(CaseActionRow.case_id == case.id))
        actions = _clear_actions([action_record(r) for r in rows])
        per: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for a in actions:
            per[a.platform or "unspecified"][f"{a.target.value} {a.action.value}"] += a.count
        signal_ids = list(
            self.session.scalars(select(CaseSignalRow.signal_id).where(CaseSignalRow.case_id == case.id))
        )
        values = clear_values(self.session, signal_ids, PUBLIC_KINDS)
        detection_clear = (case.detection or {}).get("tlp") == TLP.CLEAR.value
        posts = list((case.detection or {}).get("sample_posts", [])) if detection_clear else []
        network = self.cases.network(case.id, clear_only=True)
        notes = []
        if not clear_case:
            marked = case.marking.tlp.value  # named without "TLP:": the report itself is TLP:CLEAR
            notes.append(f"Case details are withheld: the case is marked {marked}, not CLEAR.")
        return DisclosureReport(
            case_id=case.id,
            # A restricted case's title may not be published: a dated human title, never an id.
            title=case.title if clear_case else f"Disclosure report, {_long_date(self.cases.now())}",
            summary=case.summary if clear_case else None,
            attribution=case.attribution if clear_case else None,
            techniques=[technique_label(t) for t in case.techniques] if clear_case else [],
            withheld=not clear_case,
            actions_by_platform=[{"platform": p, "counts": dict(c)} for p, c in sorted(per.items())],
            statements=sorted({a.statement_url for a in actions if a.statement_url}),
            samples={k.value: v[:SAMPLE] for k, v in values.items()},
            sample_posts=_distinct_posts(posts)[:SAMPLE],
            network_svg=charts.network_svg(network, title="Network of accounts (public material)"),
            accounts_shown=len(network.nodes),
            accounts_by_platform=dict(Counter(n.platform for n in network.nodes).most_common()),
            generated_at=self.cases.now(),
            draft=draft,
            embargo_until=case.embargo_until,
            notes=notes,
        )

    def render(
        self, case_id: str, fmt: str = "html", *, draft: bool = False, override_reason: str | None = None
    ) -> bytes:
        """The report as ``html``, ``pdf`` or ``md`` bytes (always marked TLP:CLEAR)."""
        if fmt not in {"html", "pdf", "md"}:
            raise InputError(f"unknown report format {fmt!r}; use html, pdf or md", field="format")
        report = self.build(case_id, draft=draft, override_reason=override_reason)
        if fmt == "md":
            return disclosure_markdown(report).encode("utf-8")
        html = disclosure_html(report)
        return html.encode("utf-8") if fmt == "html" else html_to_pdf(html)


# Here rather than in vigil.cases.render: this module builds the report and renders it, so render
# (shared by briefings and meeting packs) need not know the report (that made an import cycle).
def disclosure_html(report: DisclosureReport) -> str:
    return environment().get_template("disclosure.html").render(r=report)


def disclosure_markdown(report: DisclosureReport) -> str:
    return environment().get_template("disclosure.md").render(r=report)
