"""Lists as files: CSV of signals, cases, campaigns, meetings and a case's signals; the signal,
campaign, case and meeting lists as a STIX 2.1 bundle or a MISP feed (zip); what a case or a
meeting becomes in STIX and MISP is ``vigil.cases.export``.

Every export reads through the same services as the pages, with the viewer's principal, so a file
holds exactly what the reader may see (their TLP view), under the list's filters and in the list's
order: the server-sorted lists (cases, campaigns, meetings) are read page after page with the
page's own ``sort`` and ``order``, so row N of the file is row N of the list.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from vigil.cases.calendar import Meeting
from vigil.cases.export import CaseExport, cases_bundle, cases_feed, meetings_bundle, meetings_feed
from vigil.cases.records import Case
from vigil.cases.service import CaseService
from vigil.core.errors import NotFound
from vigil.exchange.misp import MispFeed, export_feed
from vigil.exchange.records import TLP, Signal, SignalKind
from vigil.exchange.stix_export import export_bundle
from vigil.exchange.store import ExchangeStore, SignalFilter
from vigil.exchange.store.signals import check_sort
from vigil.web.deps import PageCaseServiceDep, PageMeetingServiceDep, StoreDep
from vigil.web.pages.common import Viewer, ViewerDep
from vigil.web.pages.feedback import parse_min_score
from vigil.web.pages.signals import _parse_enum, _row, signal_platforms

T = TypeVar("T", covariant=True)


class _Paged(Protocol[T]):
    """A page of a server-sorted list (``TablePage``, ``CasePage``)."""

    @property
    def items(self) -> Sequence[T]: ...
    @property
    def page(self) -> int: ...
    @property
    def pages(self) -> int: ...


router = APIRouter(include_in_schema=False)

MAX_EXPORT = 50_000  # rows per file
EXPORT_PAGE = 100  # rows per read of a server-sorted list (its largest page size)


def _all_pages(read: Callable[[int], _Paged[T]]) -> Iterator[T]:
    """Every row of a server-sorted list in its order: ``read(n)`` is page ``n`` (same filters,
    sort and order as the page the export was linked from), ``EXPORT_PAGE`` rows each."""
    n = 1
    while True:
        found = read(n)
        yield from found.items
        if found.page >= found.pages or n * EXPORT_PAGE >= MAX_EXPORT:
            return
        n += 1


def _csv(name: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return Response(
        out.getvalue().encode("utf-8-sig"),  # the BOM makes spreadsheets read UTF-8 (Arabic values)
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _zip(feed: MispFeed, name: str) -> Response:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for file, text in feed.files():
            archive.writestr(f"misp-feed/{file}", text)
    return Response(
        out.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _stix(body: dict[str, Any], name: str) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8"),
        media_type="application/stix+json;version=2.1",
        headers={"Content-Disposition": f'attachment; filename="{name}.stix.json"'},
    )


def _signals(
    store: ExchangeStore,
    viewer: Viewer,
    filters: SignalFilter,
    keep: Callable[[Signal], bool] | None = None,
    sort: str = "changed",
    order: str = "asc",
) -> list[Signal]:
    """Every signal of a listing in its order (the page's ``sort`` and ``order``)."""
    found: list[Signal] = []
    cursor: str | None = None
    while len(found) < MAX_EXPORT:
        page = store.list_signals(viewer.principal, filters, limit=500, cursor=cursor, sort=sort, order=order)
        found.extend(s for s in page.items if keep is None or keep(s))
        if not page.more or page.next_cursor is None:
            break
        cursor = page.next_cursor
    return found[:MAX_EXPORT]


def _keep(platform: str | None, language: str | None) -> Callable[[Signal], bool] | None:
    """The signal page's platform and language filters (no store filters), as a row test."""
    platform = (platform or "").strip().lower() or None
    language = (language or "").strip().lower() or None
    if not platform and not language:
        return None

    def keep(signal: Signal) -> bool:
        if platform and platform not in signal_platforms(signal):
            return False
        return not (language and (signal.language or "").lower() != language)

    return keep


def _signal_rows(viewer: Viewer, signals: Iterable[Signal]) -> Iterable[Sequence[object]]:
    for s in signals:
        r = _row(s, viewer.principal.org_id)
        yield (
            s.id,
            s.kind.value,
            s.value,
            r.tlp.value if r.tlp else "",
            "; ".join(sorted({viewer.org_name(c.org_id) for c in s.contributions})),
            r.opinions["confirmed"],
            r.opinions["disputed"],
            r.opinions["false_positive"],
            r.sightings,
            s.language or "",
            s.modified_at.isoformat() if s.modified_at else "",
        )


SIGNAL_HEADER = (
    "id",
    "type",
    "value",
    "tlp",
    "shared_by",
    "confirmed",
    "disputed",
    "false_positive",
    "sighted_posts",
    "language",
    "modified",
)


def _filters(
    q: str | None, kind: list[str], tlp: list[str], campaign: str | None, org: str | None, tag: str | None
) -> SignalFilter:
    return SignalFilter(
        kinds=_parse_enum(SignalKind, kind, "kind"),
        tlps=_parse_enum(TLP, tlp, "tlp"),
        text=q or None,
        campaign_id=campaign or None,
        org_id=org or None,
        tag=tag or None,
    )


@router.get("/export/signals.{fmt}")
def export_signals(
    fmt: str,
    viewer: ViewerDep,
    store: StoreDep,
    q: str | None = None,
    kind: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
    tlp: Annotated[list[str], Query()] = [],  # noqa: B006
    campaign: str | None = None,
    org: str | None = None,
    tag: str | None = None,
    platform: str | None = None,
    language: str | None = None,
    min_score: str | None = None,
    sort: str = "changed",
    order: str = "asc",
) -> Response:
    """The signals the viewer may see (same filters as the signals page, platform, language and
    decay score included, in its sort and order) as csv, stix or misp (the feed groups them by
    campaign, one event each, so its order is the feed's own)."""
    check_sort(sort, order)
    filters = replace(_filters(q, kind, tlp, campaign, org, tag), min_score=parse_min_score(min_score))
    keep = _keep(platform, language)
    if fmt == "csv":
        return _csv(
            "vigil-signals",
            SIGNAL_HEADER,
            _signal_rows(viewer, _signals(store, viewer, filters, keep, sort, order)),
        )
    if fmt == "stix.json":
        campaigns = store.list_campaigns(viewer.principal)
        signals = _signals(store, viewer, filters, keep, sort, order)
        return _stix(export_bundle(list(viewer.orgs.values()), signals, campaigns), "vigil-signals")
    if fmt == "misp.zip":
        feed = export_feed(
            store,
            viewer.principal,
            campaign_id=campaign or None,
            tlps=_parse_enum(TLP, tlp, "tlp"),
            where=filters,
            keep=keep,
        )
        return _zip(feed, "vigil-misp-feed.zip")
    raise NotFound(f"no export format {fmt!r}; use csv, stix.json or misp.zip", format=fmt)


def _listed_cases(
    service: PageCaseServiceDep,
    status: str | None = None,
    q: str | None = None,
    sort: str = "changed",
    order: str = "desc",
) -> list[Case]:
    """The case list's rows (``CaseService.page_cases``: same filters, visibility in SQL, same order)."""
    return list(
        _all_pages(
            lambda n: service.page_cases(
                status=[status] if status else (),
                text=q or None,
                sort=sort,
                order=order,
                page=n,
                size=EXPORT_PAGE,
            )
        )
    )


ListedCases = Annotated[list[Case], Depends(_listed_cases)]


def _case_exports(
    service: CaseService, cases: Sequence[Case], *, live_only: bool = False
) -> list[CaseExport]:
    """Each listed case with its signals in the reader's view (``linked_signals`` leaves out what
    the reader may not see); ``live_only`` drops revoked signals (a MISP feed has no revocation)."""
    linked = service.linked_signals_of(cases)  # one read for all the cases, not one a case
    return [CaseExport(c, [s for s in linked[c.id] if not (live_only and s.revoked)]) for c in cases]


@router.get("/export/cases.csv")
def export_cases(viewer: ViewerDep, cases: ListedCases) -> Response:
    return _csv(
        "vigil-cases",
        ("id", "title", "status", "opened_by", "tlp", "confidence", "embargo_until", "created", "modified"),
        (
            (
                c.id,
                c.title,
                c.status.value,
                viewer.org_name(c.org_id),
                c.marking.tlp.value,
                c.confidence,
                c.embargo_until.isoformat() if c.embargo_until else "",
                c.created_at.isoformat(),
                c.modified_at.isoformat(),
            )
            for c in cases
        ),
    )


@router.get("/export/cases.stix.json")
def export_cases_stix(viewer: ViewerDep, service: PageCaseServiceDep, cases: ListedCases) -> Response:
    """The listed cases as STIX groupings of the signals of theirs the reader sees."""
    return _stix(cases_bundle(list(viewer.orgs.values()), _case_exports(service, cases)), "vigil-cases")


@router.get("/export/cases.misp.zip")
def export_cases_misp(viewer: ViewerDep, service: PageCaseServiceDep, cases: ListedCases) -> Response:
    """The listed cases as a MISP feed: one event a case, the signals of it the reader sees."""
    return _zip(
        cases_feed(viewer.org, _case_exports(service, cases, live_only=True)), "vigil-cases-misp-feed.zip"
    )


@router.get("/export/campaigns.{fmt}")
def export_campaigns(
    fmt: str,
    viewer: ViewerDep,
    store: StoreDep,
    q: str | None = None,
    sort: str = "created",
    order: str = "desc",
) -> Response:
    """The campaign list's rows (``ExchangeStore.page_campaigns``: TLP in SQL, same order) as csv,
    stix.json (the campaigns and the signals of theirs the reader sees) or misp.zip (one event a
    campaign, holding those signals)."""
    if fmt not in ("csv", "stix.json", "misp.zip"):
        raise NotFound(f"no export format {fmt!r}; use csv, stix.json or misp.zip", format=fmt)
    campaigns = list(
        _all_pages(
            lambda n: store.page_campaigns(
                viewer.principal, text=q or None, sort=sort, order=order, page=n, size=EXPORT_PAGE
            )
        )
    )
    if fmt == "stix.json":
        # each campaign's signals read with the campaign filter: the reader's view of each, so a
        # contribution the reader may not see is in no file; a signal in two campaigns once
        signals: dict[str, Signal] = {}
        for c in campaigns:
            for s in _signals(store, viewer, SignalFilter(campaign_id=c.id)):
                signals.setdefault(s.id, s)
        return _stix(
            export_bundle(list(viewer.orgs.values()), signals.values(), campaigns), "vigil-campaigns"
        )
    if fmt == "misp.zip":
        # one feed per listed campaign (export_feed's own TLP view), merged: one event each
        merged = MispFeed(events={}, manifest={}, hashes=[])
        hashes: dict[tuple[str, str], None] = {}  # ordered, without repeats
        for c in campaigns:
            feed = export_feed(store, viewer.principal, campaign_id=c.id)
            merged.events.update(feed.events)
            merged.manifest.update(feed.manifest)
            hashes.update(dict.fromkeys(feed.hashes))
        merged.hashes = list(hashes)
        return _zip(merged, "vigil-campaigns-misp-feed.zip")
    return _csv(
        "vigil-campaigns",
        ("id", "name", "shared_by", "tlp", "attribution", "techniques", "created"),
        (
            (
                c.id,
                c.name,
                viewer.org_name(c.org_id),
                c.marking.tlp.value,
                c.attribution or "",
                " ".join(c.techniques),
                c.created_at.isoformat() if c.created_at else "",
            )
            for c in campaigns
        ),
    )


def _listed_meetings(
    service: PageMeetingServiceDep,
    q: str | None = None,
    sort: str = "starts",
    order: str = "asc",
) -> list[Meeting]:
    """The meeting list's rows (``MeetingService.page_meetings``: who attends in SQL, same order)."""
    return list(
        _all_pages(
            lambda n: service.page_meetings(text=q or None, sort=sort, order=order, page=n, size=EXPORT_PAGE)
        )
    )


ListedMeetings = Annotated[list[Meeting], Depends(_listed_meetings)]


@router.get("/export/meetings.csv")
def export_meetings(viewer: ViewerDep, meetings: ListedMeetings) -> Response:
    rows: Iterable[Sequence[Any]] = (
        (
            m.id,
            m.title,
            m.starts_at.isoformat(),
            viewer.org_name(m.org_id),
            m.recurrence or "",
            "; ".join(f"{viewer.org_name(o)} ({r})" for o, r in m.invited.items()),
        )
        for m in meetings
    )
    return _csv("vigil-meetings", ("id", "title", "starts", "convened_by", "recurrence", "invited"), rows)


@router.get("/export/meetings.stix.json")
def export_meetings_stix(viewer: ViewerDep, meetings: ListedMeetings) -> Response:
    """The listed meetings as STIX notes (minutes only where the reader may read them)."""
    return _stix(meetings_bundle(list(viewer.orgs.values()), meetings), "vigil-meetings")


@router.get("/export/meetings.misp.zip")
def export_meetings_misp(viewer: ViewerDep, meetings: ListedMeetings) -> Response:
    """The listed meetings as a MISP feed, one event a meeting."""
    names = {o.id: o.name for o in viewer.orgs.values()}
    return _zip(meetings_feed(viewer.org, meetings, names), "vigil-meetings-misp-feed.zip")


@router.get("/export/case-signals.csv")
def export_case_signals(viewer: ViewerDep, service: PageCaseServiceDep, case: str) -> Response:
    signals = service.linked_signals(case)
    return _csv(f"vigil-{case[-8:]}-signals", SIGNAL_HEADER, _signal_rows(viewer, signals))
