"""Interactive relationship graphs (vendored Cytoscape.js): a case, a shared campaign, and a
signal's neighbourhood. Labels on every node, filters by node type and platform, a minimum link
weight, and a click on a node opens its page.

The elements are built on the server from what the viewer may see (``CaseService.network`` and
``linked_signals``, ``ExchangeStore``), then handed to the page as JSON: the browser never asks
for more.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from vigil.exchange.records import Signal, SignalKind
from vigil.exchange.store import SignalFilter
from vigil.web.deps import PageCaseServiceDep, StoreDep
from vigil.web.pages.common import ViewerDep, render
from vigil.web.pages.signals import linked_campaigns, related_signals
from vigil.web.pages.workbench import cases_holding

router = APIRouter(include_in_schema=False)

MAX_SIGNALS = 400  # signal nodes drawn at most (the strongest-linked first)


def _node(node_id: str, label: str, group: str, url: str | None, **extra: Any) -> dict[str, Any]:
    return {"data": {"id": node_id, "label": label, "group": group, "url": url, **extra}}


def _edge(a: str, b: str, kind: str, weight: float = 1.0) -> dict[str, Any]:
    return {"data": {"id": f"{kind}:{a}->{b}", "source": a, "target": b, "kind": kind, "weight": weight}}


def _signal_node(signal: Signal) -> dict[str, Any]:
    label = signal.value if len(signal.value) <= 40 else signal.value[:38] + "…"
    platform = signal.value.split(":", 1)[0] if signal.kind is SignalKind.ACCOUNT else ""
    return _node(signal.id, label, signal.kind.value, f"/signals/{signal.id}", platform=platform)


@router.get("/cases/{case_id}/graph", response_class=HTMLResponse)
def case_graph(
    request: Request, case_id: str, viewer: ViewerDep, store: StoreDep, service: PageCaseServiceDep
) -> Response:
    case = service.get_case(case_id)
    linked = service.linked_signals(case_id)
    signals = linked[:MAX_SIGNALS]
    account_ids = {s.value: s.id for s in signals if s.kind is SignalKind.ACCOUNT}
    elements: list[dict[str, Any]] = [_node(case.id, case.title[:50], "case", f"/cases/{case.id}")]
    if case.campaign_id:
        try:
            campaign = store.get_campaign(viewer.principal, case.campaign_id)
            elements.append(_node(campaign.id, campaign.name[:50], "campaign", f"/campaigns/{campaign.id}"))
            elements.append(_edge(case.id, campaign.id, "about"))
        except Exception:
            pass
    for signal in signals:
        elements.append(_signal_node(signal))
        elements.append(_edge(case.id, signal.id, "holds"))
    network = service.network(case_id, linked=linked)  # its accounts from the signals just read
    for node in network.nodes:
        if node.id not in account_ids:  # detection evidence not shared as a signal
            elements.append(
                _node(f"acct:{node.id}", node.id, "account", None, platform=node.platform, posts=node.posts)
            )
    for edge in network.edges:
        a = account_ids.get(edge.a, f"acct:{edge.a}")
        b = account_ids.get(edge.b, f"acct:{edge.b}")
        elements.append(_edge(a, b, "co-action", round(edge.weight, 3)))
    return render(
        request,
        "graph.html",
        viewer,
        title=case.title,
        back=f"/cases/{case.id}",
        elements=elements,
        nav="cases",
    )


@router.get("/campaigns/{campaign_id}/graph", response_class=HTMLResponse)
def campaign_graph(
    request: Request, campaign_id: str, viewer: ViewerDep, store: StoreDep, service: PageCaseServiceDep
) -> Response:
    campaign = store.get_campaign(viewer.principal, campaign_id)
    page = store.list_signals(viewer.principal, SignalFilter(campaign_id=campaign_id), limit=MAX_SIGNALS)
    elements = [_node(campaign.id, campaign.name[:50], "campaign", f"/campaigns/{campaign.id}")]
    cases = [c for c in service.list_cases() if c.campaign_id == campaign_id]
    for case in cases:
        elements.append(_node(case.id, case.title[:50], "case", f"/cases/{case.id}"))
        elements.append(_edge(case.id, campaign.id, "about"))
    for signal in page.items:
        elements.append(_signal_node(signal))
        elements.append(_edge(campaign.id, signal.id, "in campaign"))
    return render(
        request,
        "graph.html",
        viewer,
        title=campaign.name,
        back=f"/campaigns/{campaign.id}",
        elements=elements,
        nav="campaigns",
    )


@router.get("/signals/{signal_id}/graph", response_class=HTMLResponse)
def signal_graph(
    request: Request, signal_id: str, viewer: ViewerDep, store: StoreDep, cases: PageCaseServiceDep
) -> Response:
    signal = store.get_signal(viewer.principal, signal_id)
    elements = [_signal_node(signal)]
    seen = {signal.id}
    # the signal's own campaigns, read one by one (as the signal page): not every visible one
    for campaign in linked_campaigns(store, viewer.principal, signal).values():
        elements.append(_node(campaign.id, campaign.name[:50], "campaign", f"/campaigns/{campaign.id}"))
        elements.append(_edge(campaign.id, signal.id, "in campaign"))
        seen.add(campaign.id)
    for case in cases_holding(cases, signal_id):
        elements.append(_node(case.id, case.title[:50], "case", f"/cases/{case.id}"))
        elements.append(_edge(case.id, signal.id, "holds"))
    for why, other in related_signals(store, viewer.principal, signal):
        if other.id not in seen:
            seen.add(other.id)
            elements.append(_signal_node(other))
            elements.append(_edge(signal.id, other.id, why))
    for org_id in sorted({c.org_id for c in signal.contributions} | {s.org_id for s in signal.sightings}):
        elements.append(_node(f"org:{org_id}", viewer.org_name(org_id), "organisation", None))
        kind = "shared" if any(c.org_id == org_id for c in signal.contributions) else "sighted"
        elements.append(_edge(f"org:{org_id}", signal.id, kind))
    return render(
        request,
        "graph.html",
        viewer,
        title=f"{signal.kind.value} {signal.value[:60]}",
        back=f"/signals/{signal.id}",
        elements=elements,
        nav="signals",
    )
