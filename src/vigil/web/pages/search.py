"""One search box across signals, cases, campaigns and meetings, results grouped by type.

Each group is read through its service with the viewer's principal (``ExchangeStore``,
``CaseService``, ``MeetingService``), whose reads apply ``vigil.exchange.policy`` (TLP visibility,
meeting attendance): a case, signal or campaign another member keeps from the viewer is never
found, not even by its exact title.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from vigil.core.errors import InputError
from vigil.exchange.store import SignalFilter
from vigil.web.deps import PageCaseServiceDep, PageMeetingServiceDep, StoreDep
from vigil.web.pages.common import ViewerDep, render
from vigil.web.pages.signals import _row

router = APIRouter(include_in_schema=False)

SHOWN = 25  # results shown per group (the count says how many matched)
MAX_QUERY = 200


@dataclass
class Group:
    kind: str
    total: int
    items: list[Any] = field(default_factory=list)
    more_url: str | None = None


def _has(needle: str, *texts: str | None) -> bool:
    return any(needle in (t or "").lower() for t in texts)


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    viewer: ViewerDep,
    store: StoreDep,
    case_service: PageCaseServiceDep,
    meeting_service: PageMeetingServiceDep,
    q: str = "",
) -> Response:
    query = q.strip()
    if len(query) > MAX_QUERY:
        raise InputError(f"search text is at most {MAX_QUERY} characters, got {len(query)}", field="q")
    groups: list[Group] = []
    if query:
        needle = query.lower()
        filters = SignalFilter(text=query)
        page = store.list_signals(viewer.principal, filters, limit=SHOWN)
        groups.append(
            Group(
                "signals",
                store.count_signals(viewer.principal, filters),
                [_row(s) for s in page.items],
                "/signals?" + urlencode({"q": query}),
            )
        )
        cases = case_service.list_cases(text=query)
        groups.append(Group("cases", len(cases), cases[:SHOWN], "/cases?" + urlencode({"q": query})))
        campaigns = [
            c
            for c in store.list_campaigns(viewer.principal)
            if _has(needle, c.name, c.description, c.attribution)
        ]
        groups.append(Group("campaigns", len(campaigns), campaigns[:SHOWN]))
        meetings = [m for m in meeting_service.list_meetings() if _has(needle, m.title)]
        groups.append(Group("meetings", len(meetings), meetings[:SHOWN]))
    return render(request, "search.html", viewer, q=query, groups=groups, nav="search")
