"""Lists as files: CSV of signals, cases, campaigns and a case's signals; the signal list as a
STIX 2.1 bundle or a MISP feed (zip).

Every export reads through the same services as the pages, with the viewer's principal, so a file
holds exactly what the reader may see (their TLP view): the same filters as ``/signals``.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from vigil.core.errors import NotFound
from vigil.exchange.misp import export_feed
from vigil.exchange.records import TLP, Signal, SignalKind
from vigil.exchange.stix_export import export_bundle
from vigil.exchange.store import ExchangeStore, SignalFilter
from vigil.web.deps import PageCaseServiceDep, StoreDep
from vigil.web.pages.common import Viewer, ViewerDep
from vigil.web.pages.signals import _parse_enum, _row

router = APIRouter(include_in_schema=False)

MAX_EXPORT = 50_000  # signals per file


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


def _signals(store: ExchangeStore, viewer: Viewer, filters: SignalFilter) -> list[Signal]:
    found: list[Signal] = []
    cursor: str | None = None
    while len(found) < MAX_EXPORT:
        page = store.list_signals(viewer.principal, filters, limit=500, cursor=cursor)
        found.extend(page.items)
        if not page.more or page.next_cursor is None:
            break
        cursor = page.next_cursor
    return found[:MAX_EXPORT]


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
) -> Response:
    """The signals the viewer may see (same filters as the signals page) as csv, stix or misp."""
    filters = _filters(q, kind, tlp, campaign, org, tag)
    if fmt == "csv":
        return _csv("vigil-signals", SIGNAL_HEADER, _signal_rows(viewer, _signals(store, viewer, filters)))
    if fmt == "stix.json":
        campaigns = store.list_campaigns(viewer.principal)
        body = export_bundle(list(viewer.orgs.values()), _signals(store, viewer, filters), campaigns)
        return Response(
            json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8"),
            media_type="application/stix+json;version=2.1",
            headers={"Content-Disposition": 'attachment; filename="vigil-signals.stix.json"'},
        )
    if fmt == "misp.zip":
        feed = export_feed(
            store, viewer.principal, campaign_id=campaign or None, tlps=_parse_enum(TLP, tlp, "tlp")
        )
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, text in feed.files():
                archive.writestr(f"misp-feed/{name}", text)
        return Response(
            out.getvalue(),
            media_type="application/zip",
            headers={"Content-Disposition": 'attachment; filename="vigil-misp-feed.zip"'},
        )
    raise NotFound(f"no export format {fmt!r}; use csv, stix.json or misp.zip", format=fmt)


@router.get("/export/cases.csv")
def export_cases(
    viewer: ViewerDep, service: PageCaseServiceDep, status: str | None = None, q: str | None = None
) -> Response:
    cases = service.list_cases(status=[status] if status else (), text=q or None)
    return _csv(
        "vigil-cases",
        ("id", "title", "status", "opened_by", "tlp", "confidence", "created", "modified"),
        (
            (
                c.id,
                c.title,
                c.status.value,
                viewer.org_name(c.org_id),
                c.marking.tlp.value,
                c.confidence,
                c.created_at.isoformat(),
                c.modified_at.isoformat(),
            )
            for c in cases
        ),
    )


@router.get("/export/campaigns.csv")
def export_campaigns(viewer: ViewerDep, store: StoreDep) -> Response:
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
            for c in store.list_campaigns(viewer.principal)
        ),
    )


@router.get("/export/case-signals.csv")
def export_case_signals(viewer: ViewerDep, service: PageCaseServiceDep, case: str) -> Response:
    signals = service.linked_signals(case)
    return _csv(f"vigil-{case[-8:]}-signals", SIGNAL_HEADER, _signal_rows(viewer, signals))
