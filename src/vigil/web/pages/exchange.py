"""Overview, shared campaigns and the audit log (admins)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from vigil.cases.service import CaseService
from vigil.core.errors import PermissionDenied
from vigil.core.time import parse_instant
from vigil.exchange.audit import AuditFilter
from vigil.exchange.store import SignalFilter
from vigil.web.deps import StoreDep
from vigil.web.pages.common import ViewerDep, render
from vigil.web.pages.detections import list_runs
from vigil.web.pages.meetings import overview_reminders
from vigil.web.pages.signals import _row

router = APIRouter(include_in_schema=False)

AUDIT_PAGE = 100


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, viewer: ViewerDep, store: StoreDep) -> Response:
    campaigns = store.list_campaigns(viewer.principal)
    cases = CaseService(store.session, viewer.principal).list_cases()
    runs = list_runs(request.app.state.settings, viewer.principal.org_id)
    return render(
        request,
        "overview.html",
        viewer,
        signals=store.count_signals(viewer.principal),
        campaigns=campaigns,
        detected=sum(len(r["campaigns"]) for r in runs),
        cases=cases,
        by_status=Counter(c.status.value for c in cases),
        runs=runs,
        reminders=overview_reminders(request, store.session, viewer),
    )


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns_page(request: Request, viewer: ViewerDep, store: StoreDep) -> Response:
    campaigns = store.list_campaigns(viewer.principal)
    counts = {c.id: store.count_signals(viewer.principal, SignalFilter(campaign_id=c.id)) for c in campaigns}
    return render(request, "campaigns.html", viewer, campaigns=campaigns, counts=counts)


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(request: Request, campaign_id: str, viewer: ViewerDep, store: StoreDep) -> Response:
    campaign = store.get_campaign(viewer.principal, campaign_id)
    page = store.list_signals(viewer.principal, SignalFilter(campaign_id=campaign_id), limit=200)
    return render(
        request,
        "campaign.html",
        viewer,
        campaign=campaign,
        rows=[_row(s) for s in page.items],
        more=page.more,
    )


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    viewer: ViewerDep,
    store: StoreDep,
    action: str | None = None,
    target: str | None = None,
    since: str | None = None,
    before: int | None = None,
) -> Response:
    if not viewer.can_read_audit:
        raise PermissionDenied(
            f"the audit log is for admins; your role is {viewer.principal.role.value!r}",
            role=viewer.principal.role.value,
        )
    since_at: datetime | None = parse_instant(since) if since else None
    entries = store.query_audit(
        viewer.principal,
        AuditFilter(
            action=action or None,
            target_id=target or None,
            since=since_at,
            before_id=before,
            limit=AUDIT_PAGE,
        ),
    )
    return render(
        request,
        "audit.html",
        viewer,
        entries=entries,
        chosen={"action": action or "", "target": target or "", "since": since or ""},
        older=entries[-1].id if len(entries) == AUDIT_PAGE else None,
    )
