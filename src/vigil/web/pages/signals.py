"""Signal pages: search with filters, one signal's detail, and the opinion form."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Annotated, TypeVar
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import HTMLResponse, Response

from vigil.cases.service import CaseService
from vigil.core.errors import InputError, NotFound
from vigil.exchange.access import Principal
from vigil.exchange.flood import FloodService
from vigil.exchange.records import TLP, Campaign, OpinionValue, Signal, SignalKind
from vigil.exchange.store import ExchangeStore, SignalFilter
from vigil.exchange.store.signals import check_sort
from vigil.signals import text_minhash
from vigil.web.deps import PageCaseServiceDep, PageFloodServiceDep, StoreDep
from vigil.web.pages.common import Viewer, ViewerDep, redirect, render
from vigil.web.pages.feedback import feedback_panel, parse_min_score
from vigil.web.pages.kept import Kept
from vigil.web.pages.workbench import cases_holding

router = APIRouter(include_in_schema=False)

E = TypeVar("E", SignalKind, TLP)

PAGE = 50  # rows shown per page by default
PAGE_SIZES = (25, 50, 100, 200)
SCAN_LIMIT = 5000  # signals read at most per page when platform/language filters drop some
RELATED = 25  # related signals shown per reason
CLUSTER_SCAN = 500  # text_minhash signals compared for "same text cluster"
# Earlier pages' cursors carried in the URL for "previous" (keyset cursors only go forward). Bounded
# so the URL stays short (~60 characters a cursor); past it the oldest are dropped, and "previous"
# from that far back lands on the first page.
BACK_KEEP = 20
# header label -> store sort (SIGNAL_SORTS); None: shown, not sortable (contributors, language,
# platforms, opinions and sightings are per-reader aggregates or not store columns: a keyset over
# them would need each computed for every visible signal before the first page)
COLUMNS: tuple[tuple[str, str | None], ...] = (
    ("type", "type"),
    ("value", "value"),
    ("TLP", "tlp"),
    ("contributors", None),
    ("lang", None),
    ("platforms", None),
    ("opinions", None),
    ("sighted", None),
    ("modified", "changed"),
    ("first shared", "first_seen"),
)


def _sort_url(request: Request, key: str, sort: str, order: str) -> str:
    """This search from its first page sorted by ``key`` (a second click flips the order)."""
    params = [
        (k, v)
        for k, v in request.query_params.multi_items()
        if k not in {"cursor", "back", "page", "last", "sort", "order"}
    ]
    params += [("sort", key), ("order", "desc" if key == sort and order == "asc" else "asc")]
    return "/signals?" + urlencode(params)


def signal_platforms(signal: Signal) -> set[str]:
    """Platforms a signal is tied to: an account's platform, and where it was sighted."""
    found = {s.platform for s in signal.sightings if s.platform}
    if signal.kind is SignalKind.ACCOUNT and ":" in signal.value:
        found.add(signal.value.split(":", 1)[0])
    return found


def opinion_counts(signal: Signal) -> dict[str, int]:
    counts = Counter(o.value.value for o in signal.opinions)
    return {v.value: counts.get(v.value, 0) for v in OpinionValue}


@dataclass
class Row:
    signal: Signal
    tlp: TLP | None
    opinions: dict[str, int]
    sightings: int
    platforms: list[str]
    mine: bool = False  # the viewer's organisation contributed it (it may re-mark it)


def _row(signal: Signal, org_id: str | None = None) -> Row:
    tlps = [c.marking.tlp for c in signal.contributions]
    order = list(TLP)
    return Row(
        signal=signal,
        tlp=max(tlps, key=order.index) if tlps else None,
        opinions=opinion_counts(signal),
        sightings=sum(s.count for s in signal.sightings),
        platforms=sorted(signal_platforms(signal)),
        mine=any(c.org_id == org_id and not c.revoked for c in signal.contributions),
    )


def _parse_enum(kind: type[E], values: list[str], field: str) -> tuple[E, ...]:
    parsed = []
    for value in values:
        if not value:
            continue
        try:
            parsed.append(kind(value))
        except ValueError:
            known = ", ".join(v.value for v in kind)
            raise InputError(f"unknown {field} {value!r}; known: {known}", field=field) from None
    return tuple(parsed)


def _page_url(
    request: Request,
    cursor: str | None,
    size: int | None = None,
    back: list[str] | None = None,
    *,
    number: int | None = None,
    last: bool = False,
) -> str:
    """This search again from ``cursor`` (None: the first page), optionally with another page size;
    ``back`` is the cursors of the pages before that one (the first page's is None, not listed);
    ``number`` the page's number when known, ``last`` the last page (``last_signals_page``)."""
    drop = (
        {"cursor", "size", "back", "page", "last"} if size is not None else {"cursor", "back", "page", "last"}
    )
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in drop]
    if size is not None:
        params.append(("size", str(size)))
    params.extend(("back", b) for b in (back or [])[-BACK_KEEP:])
    if cursor:
        params.append(("cursor", cursor))
    if cursor and number and number > 1:
        params.append(("page", str(number)))
    if last:
        params.append(("last", "1"))
    return "/signals?" + urlencode(params)


@router.get("/signals", response_class=HTMLResponse)
def signals_page(
    request: Request,
    viewer: ViewerDep,
    store: StoreDep,
    q: str | None = None,
    kind: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
    tlp: Annotated[list[str], Query()] = [],  # noqa: B006
    platform: str | None = None,
    language: str | None = None,
    campaign: str | None = None,
    org: str | None = None,
    tag: str | None = None,
    min_score: str | None = None,  # decay score at least (vigil.signals.decay)
    cursor: str | None = None,
    back: Annotated[list[str], Query()] = [],  # noqa: B006 - earlier pages' cursors, oldest first
    size: int = PAGE,
    page: Annotated[int | None, Query(ge=2, le=10_000_000)] = None,  # the page's number, when known
    last: bool = False,
    sort: str = "changed",
    order: str = "asc",
) -> Response:
    check_sort(sort, order)
    if size not in PAGE_SIZES:
        raise InputError(
            f"rows per page must be one of {', '.join(map(str, PAGE_SIZES))}, got {size}", field="size"
        )
    filters = SignalFilter(
        kinds=_parse_enum(SignalKind, kind, "kind"),
        tlps=_parse_enum(TLP, tlp, "tlp"),
        text=q or None,
        campaign_id=campaign or None,
        org_id=org or None,
        tag=tag or None,
        min_score=parse_min_score(min_score),
    )
    back = [b for b in back if b][-BACK_KEEP:]
    platform = (platform or "").strip().lower() or None
    language = (language or "").strip().lower() or None
    rows: list[Row] = []
    scanned = 0
    next_cursor = cursor or None
    to_last = last and not (platform or language)  # the last page is known only from the count
    more = not to_last
    # platform and language are not store filters: read pages until a screenful passes them
    while more and len(rows) < size and scanned < SCAN_LIMIT:
        chunk = store.list_signals(
            viewer.principal, filters, limit=size, cursor=next_cursor, sort=sort, order=order
        )
        scanned += len(chunk.items)
        for signal in chunk.items:
            if platform and platform not in signal_platforms(signal):
                continue
            if language and (signal.language or "").lower() != language:
                continue
            rows.append(_row(signal))
        next_cursor, more = chunk.next_cursor, chunk.more
    total = store.count_signals(viewer.principal, filters)
    if cursor and page is None and len(back) < BACK_KEEP:
        page = len(back) + 2
    if to_last:
        # the last page straight away: the store reads the order backwards (same visibility)
        tail = store.last_signals_page(viewer.principal, filters, limit=size, sort=sort, order=order)
        rows, total, page = [_row(s) for s in tail.items], tail.total, tail.pages
        cursor, back = tail.cursor, [tail.previous_cursor] if tail.previous_cursor else []
    pages = -(-total // size) if total else 1
    number = page if cursor else 1  # None: unknown (the stack was cut and no number came with the link)
    campaigns = store.list_campaigns(viewer.principal)
    template = "signals_results.html" if request.headers.get("hx-request") else "signals.html"
    return render(
        request,
        template,
        viewer,
        rows=rows,
        total=total,
        next_url=_page_url(
            request,
            next_cursor,
            back=[*back, cursor] if cursor else [],
            number=number + 1 if number else None,
        )
        if more and next_cursor
        else None,
        # the last page, when the count tells which it is (not under platform/language filters)
        last_url=_page_url(request, None, last=True)
        if more and pages > 1 and not (platform or language)
        else None,
        first_url=_page_url(request, None) if cursor else None,
        # one page back: the last cursor on the stack, or the first page when the stack is empty
        previous_url=_page_url(
            request, back[-1] if back else None, back=back[:-1], number=number - 1 if number else None
        )
        if cursor
        else None,
        page_number=number,
        head={
            "columns": [
                (label, key, _sort_url(request, key, sort, order) if key else "") for label, key in COLUMNS
            ],
            "found": {"sort": sort, "order": order},
        },
        sort=sort,
        order=order,
        size=size,
        page_sizes=PAGE_SIZES,
        size_url=lambda n: _page_url(request, None, size=n),
        export_query=urlencode(
            [
                (k, v)
                for k, v in request.query_params.multi_items()
                # every filter, platform and language included (the exports apply them too)
                if k not in {"cursor", "back", "size", "page", "last"}
            ]
        ),
        kinds=list(SignalKind),
        tlps=list(TLP),
        campaigns=campaigns,
        chosen={
            "q": q or "",
            "kind": set(kind),
            "tlp": set(tlp),
            "platform": platform or "",
            "language": language or "",
            "campaign": campaign or "",
            "org": org or "",
            "tag": tag or "",
            "min_score": (min_score or "").strip(),
        },
    )


@router.get("/signals/{signal_id}", response_class=HTMLResponse)
def signal_page(
    request: Request,
    signal_id: str,
    viewer: ViewerDep,
    store: StoreDep,
    cases: PageCaseServiceDep,
    flood: PageFloodServiceDep,
) -> Response:
    return _signal_view(request, signal_id, viewer, store, cases, flood)


def _signal_view(
    request: Request,
    signal_id: str,
    viewer: Viewer,
    store: ExchangeStore,
    cases: CaseService,
    flood: FloodService,
    kept: Kept | None = None,
) -> Response:
    """The signal page; with ``kept``, again after a refused opinion (400, the form filled)."""
    signal = store.get_signal(viewer.principal, signal_id)
    campaigns = linked_campaigns(store, viewer.principal, signal)
    history = store.list_opinions(viewer.principal, signal_id, history=True)
    mine = next((o for o in signal.opinions if o.org_id == viewer.principal.org_id), None)
    return render(
        request,
        "signal.html",
        viewer,
        signal=signal,
        row=_row(signal, viewer.principal.org_id),
        campaigns=campaigns,
        history=history,
        mine=mine,
        opinion_values=list(OpinionValue),
        cases=cases_holding(cases, signal_id),
        related=related_signals(store, viewer.principal, signal),
        quarantine=flood.state_of(signal),
        feedback=feedback_panel(store, viewer.principal, signal),
        account_platform=signal.value.split(":", 1)[0] if signal.kind is SignalKind.ACCOUNT else None,
        kept=kept or Kept(),
        status_code=400 if kept else 200,
    )


def linked_campaigns(store: ExchangeStore, principal: Principal, signal: Signal) -> dict[str, Campaign]:
    """The campaigns the signal's contributions name that ``principal`` may see, in the order of
    ``list_campaigns`` (created, then id). Read one by one: a signal names one or two campaigns, and
    listing every visible campaign to pick them out cost the page a query over all of them (and an
    audited read of each AMBER/RED one the page never showed)."""
    found: list[Campaign] = []
    for campaign_id in sorted({c.campaign_id for c in signal.contributions if c.campaign_id}):
        try:
            found.append(store.get_campaign(principal, campaign_id))
        except NotFound:
            continue  # a campaign the reader may not see shows as its bare id in the table
    return {c.id: c for c in sorted(found, key=lambda c: (c.created_at, c.id))}


def domain_of(signal: Signal) -> str | None:
    """The registrable-looking host a URL, domain or account-free value points at."""
    if signal.kind is SignalKind.DOMAIN:
        return signal.value
    if signal.kind is SignalKind.URL:
        host = urlsplit(signal.value).hostname
        return host.removeprefix("www.") if host else None
    return None


def related_signals(store: ExchangeStore, principal: Principal, signal: Signal) -> list[tuple[str, Signal]]:
    """Signals near this one the viewer may see: same domain, the same shared campaigns, and for a
    text signature the same text cluster (near-duplicate texts).

    The lists are read in one pass (``ExchangeStore.first_pages``): one query each for the rows,
    then the views of them all at once, instead of a whole listing per reason."""
    queries: list[tuple[SignalFilter, int]] = []
    domain = domain_of(signal)
    if domain:
        queries += [
            (SignalFilter(kinds=(kind,), text=domain), 20) for kind in (SignalKind.DOMAIN, SignalKind.URL)
        ]
    campaign_ids = sorted({c.campaign_id for c in signal.contributions if c.campaign_id})
    queries += [(SignalFilter(campaign_id=campaign_id), RELATED) for campaign_id in campaign_ids]
    cluster = signal.kind is SignalKind.TEXT_MINHASH
    if cluster:
        queries.append((SignalFilter(kinds=(SignalKind.TEXT_MINHASH,)), CLUSTER_SCAN))
    pages = iter(store.first_pages(principal, queries))
    found: dict[str, tuple[str, Signal]] = {}
    if domain:
        for _kind in (SignalKind.DOMAIN, SignalKind.URL):
            for other in next(pages):
                if other.id != signal.id and domain_of(other) == domain:
                    found.setdefault(other.id, (f"same domain {domain}", other))
    for _campaign_id in campaign_ids:
        for other in next(pages):
            if other.id != signal.id:
                found.setdefault(other.id, ("same campaign", other))
    if cluster:
        for score, other in same_text_cluster(signal, next(pages)):
            found.setdefault(other.id, (f"same text cluster (~{score:.0%} alike)", other))
    return list(found.values())[: RELATED * 3]


def same_text_cluster(signal: Signal, scanned: list[Signal]) -> list[tuple[float, Signal]]:
    """The near-duplicate text signals among ``scanned``: MinHash signatures whose estimated
    Jaccard similarity reaches the matching threshold (0.7), most alike first.

    ``scanned`` is a bounded scan (``CLUSTER_SCAN`` visible text signals, one page): enough for a
    page of related values, without the match index the matcher builds for whole feeds.
    """
    others = [s for s in scanned if s.id != signal.id]
    if not others:
        return []
    own = text_minhash.hex_to_signatures([signal.value])
    theirs = text_minhash.hex_to_signatures([s.value for s in others])
    alike = (theirs == own).sum(axis=1) / text_minhash.PERMUTATIONS
    near = sorted(
        ((float(a), s) for a, s in zip(alike, others, strict=True) if a >= text_minhash.DEFAULT_THRESHOLD),
        key=lambda pair: -pair[0],
    )
    return near[:RELATED]


@router.post("/signals/{signal_id}/opinion")
def set_opinion(
    request: Request,
    signal_id: str,
    viewer: ViewerDep,
    store: StoreDep,
    cases: PageCaseServiceDep,
    flood: PageFloodServiceDep,
    value: Annotated[str, Form()],
    comment: Annotated[str, Form()] = "",
) -> Response:
    try:
        store.set_opinion(viewer.principal, signal_id, value, comment=comment.strip() or None)
    except InputError as exc:
        # the page again with what was typed; the rollback drops anything half-written
        store.session.rollback()
        typed = {"value": value, "comment": comment}
        return _signal_view(
            request, signal_id, viewer, store, cases, flood, Kept("opinion", typed, exc.message)
        )
    return redirect(f"/signals/{signal_id}")


@router.post("/signals/{signal_id}/quarantine/release")
def release_quarantine(
    signal_id: str,
    flood: PageFloodServiceDep,  # for the signed-in viewer, after its CSRF check
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """A reviewer lifts the coalition-wide flood quarantine (403 unless an admin of a contributing
    organisation or of the operator; 409 when it is not quarantined)."""
    flood.release(signal_id, reason.strip() or None)
    return redirect(f"/signals/{signal_id}#quarantine")
