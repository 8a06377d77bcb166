"""Overview, shared campaigns and the audit log (admins)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse, Response

from vigil.core.errors import PermissionDenied
from vigil.core.tables import check_table_args, clamp_page
from vigil.core.time import parse_instant
from vigil.exchange.audit import AUDIT_SORTS, AuditEntry, AuditFilter
from vigil.exchange.store import SignalFilter
from vigil.exchange.store.campaigns import CAMPAIGN_PAGE_SIZES
from vigil.web.deps import PageCaseServiceDep, PageMeetingServiceDep, StoreDep
from vigil.web.pages.common import Viewer, ViewerDep, render, table, whole
from vigil.web.pages.detections import list_runs
from vigil.web.pages.feedback import received_panel
from vigil.web.pages.meetings import overview_reminders
from vigil.web.pages.signals import _row

router = APIRouter(include_in_schema=False)

AUDIT_PAGE = 100
AUDIT_SIZES = (25, 50, 100, 200)


@router.get("/", response_class=HTMLResponse)
def overview(
    request: Request,
    viewer: ViewerDep,
    store: StoreDep,
    case_service: PageCaseServiceDep,
    meetings: PageMeetingServiceDep,
) -> Response:
    campaigns = store.list_campaigns(viewer.principal)
    cases = case_service.list_cases()
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
        reminders=overview_reminders(request, meetings),
        received=received_panel(store, viewer.principal),
    )


# The campaign table's columns: header text and the ``sort`` value of ``CAMPAIGN_SORTS`` (None:
# not sortable; the signal count is counted for the page's rows only, under the reader's TLP).
CAMPAIGN_COLUMNS: tuple[tuple[str, str | None], ...] = (
    ("name", "name"),
    ("organisation", "organisation"),
    ("marking", "marking"),
    ("signals", None),
    ("attribution", "attribution"),
    ("techniques", None),
    ("created", "created"),
)


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns_page(
    request: Request,
    viewer: ViewerDep,
    store: StoreDep,
    q: str = "",
    sort: str = "created",
    order: str = "desc",
    page: str = "1",
    size: str = "25",
) -> Response:
    """Sorted, counted and paged on the server (``ExchangeStore.page_campaigns``, TLP in the SQL);
    a bad ``sort``/``order``/``size``/``page`` is a 400 naming it."""
    found = store.page_campaigns(
        viewer.principal,
        text=q or None,
        sort=sort,
        order=order,
        page=whole(page, "page"),
        size=whole(size, "size"),
    )
    counts = {
        c.id: store.count_signals(viewer.principal, SignalFilter(campaign_id=c.id)) for c in found.items
    }
    return render(
        request,
        "campaigns.html",
        viewer,
        campaigns=found.items,
        counts=counts,
        table=table("/campaigns", found, CAMPAIGN_COLUMNS, {"q": q}, CAMPAIGN_PAGE_SIZES),
        chosen={"q": q},
    )


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(
    request: Request, campaign_id: str, viewer: ViewerDep, store: StoreDep, case_service: PageCaseServiceDep
) -> Response:
    campaign = store.get_campaign(viewer.principal, campaign_id)
    page = store.list_signals(viewer.principal, SignalFilter(campaign_id=campaign_id), limit=200)
    # Cases about the campaign the viewer may see, and the evidence posts their detection kept.
    cases = [c for c in case_service.list_cases() if c.campaign_id == campaign_id]
    posts: dict[tuple[Any, Any], dict[str, Any]] = {}
    for case in cases:
        for post in (case.detection or {}).get("sample_posts", []):
            posts.setdefault((post.get("account"), post.get("post_id") or post.get("text")), post)
    return render(
        request,
        "campaign.html",
        viewer,
        campaign=campaign,
        rows=[_row(s) for s in page.items],
        more=page.more,
        cases=cases,
        posts=list(posts.values())[:50],
    )


READ_ACTIONS = ("signal.read", "taxii.read", "campaign.read")
SCAN_PAGES = 20  # pages of the log read at most to fill a screen when reads are hidden


def _words(detail: dict[str, Any], viewer: Viewer) -> str:
    shown = []
    for key, value in detail.items():
        if key.endswith("org_id") and isinstance(value, str):
            value = viewer.org_name(value)
        if isinstance(value, list | dict):
            value = json.dumps(value, ensure_ascii=False)[:80]
        shown.append(f"{key.replace('_', ' ')} {value}")
    return "; ".join(shown)


def audit_summary(entry: AuditEntry, viewer: Viewer) -> str:
    """One readable sentence for an audit entry (its JSON detail stays in a tooltip)."""
    d = entry.detail or {}
    if entry.redacted:
        return f"{entry.action.replace('.', ' ')} of an object you may not see (details withheld)"
    templates_: dict[str, Callable[[], str]] = {
        "signal.submit": lambda: f"shared a {d.get('kind', '')} signal (version {d.get('version', '?')})",
        "signal.read": lambda: "read a signal",
        "signal.revoke": lambda: "withdrew its contribution to a signal",
        "taxii.read": lambda: "fetched a signal over TAXII",
        "campaign.read": lambda: "read a campaign",
        "campaign.create": lambda: f"shared campaign “{d.get('name', '')}”",
        "case.create": lambda: f"opened case “{d.get('title', '')}”",
        "case.transition": lambda: f"moved a case from {d.get('from')} to {d.get('to')}",
        "case.link_signals": lambda: f"linked {d.get('count')} signals to a case",
        "case.comment": lambda: f"commented on a case ({d.get('tlp', '')})",
        "case.action": lambda: "recorded a coordinated action on a case",
        "case.embargo": lambda: "changed a case's embargo",
        "case.disclosure": lambda: "published a case's disclosure report",
        "sighting.add": lambda: f"reported {d.get('count')} sighted posts",
        "opinion.set": lambda: f"gave the opinion {d.get('value', '')}".strip(),
        "org.create": lambda: f"onboarded {d.get('name')} ({d.get('kind')})",
        "key.create": lambda: (
            f"created a {d.get('role')} key “{d.get('name', '')}” for {viewer.org_name(d.get('org_id'))}"
        ),
        "key.revoke": lambda: "revoked an API key",
    }
    make = templates_.get(entry.action)
    if make is not None:
        return make()
    words = entry.action.replace(".", " ").replace("_", " ")
    return f"{words}: {_words(d, viewer)}" if d else words


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    viewer: ViewerDep,
    store: StoreDep,
    action: str | None = None,
    target: str | None = None,
    since: str | None = None,
    # an entry id (the audit table's integer id: bounded, or PostgreSQL's integer overflows)
    before: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    actor: str | None = None,
    reads: str = "show",
    size: int = AUDIT_PAGE,
    page: Annotated[int, Query(ge=1, le=10_000_000)] = 1,
    sort: str = "time",
    order: str = "desc",
) -> Response:
    if not viewer.can_read_audit:
        raise PermissionDenied(
            f"the audit log is for admins; your role is {viewer.principal.role.value!r}",
            role=viewer.principal.role.value,
        )
    check_table_args(AUDIT_SORTS, sort, order, page, size, AUDIT_SIZES)  # a 400 page naming it
    since_at: datetime | None = parse_instant(since) if since else None
    hide_reads = reads == "hide" and not action
    chosen = {
        "action": action or "",
        "target": target or "",
        "since": since or "",
        "actor": actor or "",
        "reads": "hide" if hide_reads else "show",
        "sort": sort if sort != "time" else "",
        "order": order if order != "desc" else "",
    }
    base = AuditFilter(
        action=action or None,
        target_id=target or None,
        actor_org_id=actor or None,
        since=since_at,
        limit=size,
        sort=sort,
        order=order,
    )
    # Numbered pages and a total only where they are honest: every entry the SQL filters keep is
    # shown (some redacted). Hidden reads are dropped in Python, and under a target filter so are
    # the entries about an object the reader may not see: a count there would tell they exist.
    numbered = not hide_reads and not target and before is None
    total: int | None = None
    # Sorted and paged in SQL (``AuditFilter.sort``): numbered pages by offset; cursor pages
    # continue after the last entry shown (``before``: its id, a keyset cursor in any sort).
    if numbered:
        total = store.count_audit(viewer.principal, base)
        page = clamp_page(total, page, size)
        base = replace(base, offset=(page - 1) * size)
    entries: list[AuditEntry] = []
    cursor = before
    last_page: list[AuditEntry] = []
    for _ in range(SCAN_PAGES if hide_reads else 1):
        last_page = store.query_audit(viewer.principal, replace(base, after_id=cursor))
        entries.extend(e for e in last_page if not (hide_reads and e.action in READ_ACTIONS))
        if len(last_page) < size or len(entries) >= size:
            break
        cursor = last_page[-1].id
    more = len(last_page) == size or len(entries) > size
    entries = entries[:size]

    def url(**changes: object) -> str:
        params = {**chosen, "size": str(size), **{k: str(v) for k, v in changes.items()}}
        return "/audit?" + urlencode({k: v for k, v in params.items() if v and v != "show"})

    def sort_url(key: str) -> str:
        """A column header's link: that column, the other way round when it is the current one
        (time starts newest first, the others A-Z); back to the first page."""
        first = "desc" if key == "time" else "asc"
        flipped = {"asc": "desc", "desc": "asc"}[order] if key == sort else first
        return url(sort=key, order=flipped, page=1)

    pages = max(1, -(-total // size)) if total is not None else None
    return render(
        request,
        "audit.html",
        viewer,
        entries=entries,
        summaries={e.id: audit_summary(e, viewer) for e in entries},
        chosen=chosen,
        total=total,
        page=page,
        pages=pages,
        size=size,
        sizes=AUDIT_SIZES,
        offset=(page - 1) * size,
        url=url,
        sort_url=sort_url,
        sort=sort,
        order=order,
        cursor_page=before is not None and not numbered,
        known_actions=sorted(
            {
                "signal.submit",
                "signal.read",
                "taxii.read",
                "campaign.read",
                "campaign.create",
                "case.create",
                "case.transition",
                "case.link_signals",
                "case.comment",
                "case.action",
                "case.embargo",
                "case.disclosure",
                "sighting.add",
                "opinion.set",
                "org.create",
                "key.create",
                "key.revoke",
            }
        ),
        # cursor pages (hidden reads, a target filter): only the next (older) one is known
        older=url(before=entries[-1].id) if more and entries and not numbered else None,
    )
