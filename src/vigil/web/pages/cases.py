"""Case pages: the list, one case with its timeline, account network, linked signals, member
actions and embargo, and the forms that move it along (status, comment, action, embargo).

Every read and write goes through ``CaseService`` with the viewer's principal, so TLP visibility,
roles (read-only cannot edit) and the workflow's allowed moves are the service's decisions.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from starlette.responses import HTMLResponse, Response

from vigil.cases.records import ActionKind, ActionTarget, Status
from vigil.cases.service import CaseService
from vigil.cases.service.cases import CASE_PAGE_SIZES
from vigil.cases.workflow import TRANSITIONS
from vigil.core.errors import InputError, NotFound
from vigil.core.time import parse_instant
from vigil.exchange.access import Permission, permissions
from vigil.exchange.records import TLP, Marking, SignalKind
from vigil.web.deps import PageCaseServiceDep
from vigil.web.pages.common import Viewer, ViewerDep, redirect, render
from vigil.web.pages.kept import Kept
from vigil.web.pages.signals import _row
from vigil.web.pages.svg import Link, Node, network_svg

router = APIRouter(include_in_schema=False)

STATUS_ORDER = list(Status)


# The case table's columns: header text and the ``sort`` value of the service's CASE_SORTS.
CASE_COLUMNS = (
    ("title", "title"),
    ("status", "status"),
    ("opened by", "opened_by"),
    ("marking", "marking"),
    ("confidence", "confidence"),
    ("embargo", "embargo"),
    ("changed", "changed"),
)


def _whole(value: str, field: str) -> int:
    """A whole number from the query, or a 400 naming the parameter (not FastAPI's JSON 422)."""
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{field} must be a whole number, got {value!r}", field=field) from None


@router.get("/cases", response_class=HTMLResponse)
def cases_page(
    request: Request,
    viewer: ViewerDep,
    service: PageCaseServiceDep,
    status: str | None = None,
    q: str | None = None,
    sort: str = "changed",
    order: str = "desc",
    page: str = "1",
    size: str = "25",
) -> Response:
    """Sorted, counted and paged on the server (``CaseService.page_cases``): the links carry the
    filters, the sort and the page size; a bad ``sort``/``order``/``size`` is a 400 naming it."""
    found = service.page_cases(
        status=[status] if status else (),
        text=q or None,
        sort=sort,
        order=order,
        page=_whole(page, "page"),
        size=_whole(size, "size"),
    )
    current = {
        "status": status or "",
        "q": q or "",
        "sort": found.sort,
        "order": found.order,
        "size": str(found.size),
    }

    def url(**changes: object) -> str:
        params = {**current, **{k: str(v) for k, v in changes.items()}}
        return "/cases?" + urlencode({k: v for k, v in params.items() if v})

    columns = [
        (
            label,
            key,
            # a click sorts by the column; a second click on the sorted column flips the order
            url(sort=key, order="asc" if key != found.sort or found.order == "desc" else "desc"),
        )
        for label, key in CASE_COLUMNS
    ]
    return render(
        request,
        "cases.html",
        viewer,
        cases=found.items,
        found=found,
        columns=columns,
        page_url=lambda n: url(page=n),
        size_url=lambda n: url(size=n),
        page_sizes=CASE_PAGE_SIZES,
        statuses=STATUS_ORDER,
        chosen={"status": status or "", "q": q or ""},
    )


def _campaign_name(service: CaseService, campaign_id: str | None) -> str | None:
    if campaign_id is None:
        return None
    try:
        return service.store.get_campaign(service.require_principal(), campaign_id).name
    except NotFound:
        return None


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: str, viewer: ViewerDep, service: PageCaseServiceDep) -> Response:
    return _case_view(request, case_id, viewer, service)


def _refused(
    request: Request,
    case_id: str,
    viewer: Viewer,
    service: CaseService,
    form: str,
    kept: dict[str, str],
    error: InputError,
) -> Response:
    """The case page again, its ``form`` filled with what was typed and the error above it.

    The forms post natively (a redirect on success, as before); only a refusal of the input comes
    back here, so what the analyst typed is not lost. Nothing was stored: the service checks its
    input before it writes, and the rollback makes sure.
    """
    service.session.rollback()
    return _case_view(request, case_id, viewer, service, kept=Kept(form, kept, error.message))


def _case_view(
    request: Request, case_id: str, viewer: Viewer, service: CaseService, *, kept: Kept | None = None
) -> Response:
    case = service.get_case(case_id)
    linked = service.linked_signals(case_id)
    network = service.network(case_id, linked=linked)  # its accounts from the signals just read
    picture = network_svg(
        [Node(n.id, n.platform, f"{n.id} · {n.posts} posts") for n in network.nodes],
        [Link(e.a, e.b, e.weight) for e in network.edges],
    )
    return render(
        request,
        "case.html",
        viewer,
        case=case,
        timeline=list(reversed(service.timeline(case_id))),
        network=picture,
        network_size=(len(network.nodes), len(network.edges)),
        signals=[_row(s, viewer.principal.org_id) for s in linked],
        campaign_name=_campaign_name(service, case.campaign_id),
        signal_kinds=list(SignalKind),
        actions=service.actions(case_id),
        checklist=service.checklist(case_id),
        embargo=service.embargo(case_id),
        moves=sorted(TRANSITIONS[case.status], key=STATUS_ORDER.index),
        is_admin=Permission.MANAGE_KEYS in permissions(viewer.principal),
        action_kinds=list(ActionKind),
        action_targets=list(ActionTarget),
        tlps=list(TLP),
        kept=kept or Kept(),
        status_code=400 if kept else 200,
    )


@router.post("/cases/{case_id}/status")
def move_case(
    request: Request,
    case_id: str,
    viewer: ViewerDep,
    service: PageCaseServiceDep,
    status: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
    override_reason: Annotated[str, Form()] = "",
) -> Response:
    service.transition(
        case_id, status, reason=reason.strip() or None, override_reason=override_reason.strip() or None
    )
    return redirect(f"/cases/{case_id}")


@router.post("/cases/{case_id}/comment")
def comment(
    request: Request,
    case_id: str,
    viewer: ViewerDep,
    service: PageCaseServiceDep,
    text: Annotated[str, Form()],
) -> Response:
    try:
        service.add_comment(case_id, text)
    except InputError as exc:
        return _refused(request, case_id, viewer, service, "comment", {"text": text}, exc)
    return redirect(f"/cases/{case_id}")


@router.post("/cases/{case_id}/action")
def record_action(
    request: Request,
    case_id: str,
    viewer: ViewerDep,
    service: PageCaseServiceDep,
    action: Annotated[str, Form()],
    target: Annotated[str, Form()],
    count: Annotated[str, Form()],
    platform: Annotated[str, Form()] = "",
    tlp: Annotated[str, Form()] = "AMBER",
    note: Annotated[str, Form()] = "",
) -> Response:
    typed = {
        "action": action,
        "target": target,
        "count": count,
        "platform": platform,
        "tlp": tlp,
        "note": note,
    }
    try:
        try:
            number = int(count)
            marking = Marking(TLP(tlp))
        except ValueError:
            raise InputError(f"count must be a whole number and tlp a TLP, got {count!r} / {tlp!r}") from None
        service.record_action(
            case_id,
            action,
            target,
            number,
            platform=platform.strip() or None,
            note=note.strip() or None,
            marking=marking,
        )
    except InputError as exc:
        return _refused(request, case_id, viewer, service, "action", typed, exc)
    return redirect(f"/cases/{case_id}")


@router.post("/cases/{case_id}/embargo")
def set_embargo(
    request: Request,
    case_id: str,
    viewer: ViewerDep,
    service: PageCaseServiceDep,
    until: Annotated[str, Form()] = "",
    override_reason: Annotated[str, Form()] = "",
) -> Response:
    # Another member's admin changes the embargo only with a recorded reason (vigil.exchange.policy).
    service.set_embargo(
        case_id,
        parse_instant(until) if until.strip() else None,
        reason=override_reason.strip() or None,
    )
    return redirect(f"/cases/{case_id}")
