"""Cases, coordinated action, embargo, disclosure reports, briefings and playbooks (``/api/v1``).

Routes parse and serialise only; ``vigil.cases`` services decide (visibility, workflow, embargo).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response

from vigil.cases.exercises import run_exercise
from vigil.cases.from_detection import DetectedCampaign, open_case
from vigil.cases.playbooks import PlaybookLibrary, playbook_dict
from vigil.cases.records import Status
from vigil.cases.render import render_briefing
from vigil.core.errors import InputError
from vigil.core.settings import Settings
from vigil.core.time import parse_duration
from vigil.exchange.records import TLP, Marking
from vigil.web.deps import (
    BriefingServiceDep,
    CaseServiceDep,
    DisclosureServiceDep,
    PrincipalDep,
    SettingsDep,
    query_flag,
    writes_on_read,
)
from vigil.web.schemas import ERROR_RESPONSES, DbId, MarkingIn
from vigil.web.schemas.cases import (
    ActionIn,
    ActionOut,
    CaseIn,
    CaseOut,
    CasePatch,
    CheckIn,
    ChecklistOut,
    CommentIn,
    EmbargoIn,
    EmbargoOut,
    EventOut,
    ExerciseIn,
    FromDetectionIn,
    LinkIn,
    NetworkOut,
    TransitionIn,
)

router = APIRouter(responses=ERROR_RESPONSES)

MEDIA = {"html": "text/html; charset=utf-8", "pdf": "application/pdf", "md": "text/markdown; charset=utf-8"}


def _marking(body: MarkingIn | None, default: TLP = TLP.AMBER) -> Marking:
    return Marking(body.tlp, tuple(body.shared_with)) if body else Marking(default)


def _case_out(case: Any) -> CaseOut:
    return CaseOut.model_validate(case)


# ---------------------------------------------------------------------------------------------
# cases


@router.get("/cases", response_model=list[CaseOut], tags=["cases"], summary="Cases visible to you")
def list_cases(
    cases: CaseServiceDep,
    status: list[Status] = Query(default=[]),
    q: str | None = None,
    exercise: bool | None = None,
) -> list[CaseOut]:
    found = cases.list_cases(status=status, text=q, exercise=exercise)
    return [_case_out(c) for c in found]


@router.post("/cases", response_model=CaseOut, status_code=201, tags=["cases"], summary="Open a case")
def create_case(body: CaseIn, cases: CaseServiceDep) -> CaseOut:
    case = cases.create_case(
        body.title,
        marking=_marking(body.marking),
        summary=body.summary,
        attribution=body.attribution,
        confidence=body.confidence,
        techniques=body.techniques,
        owners=body.owners,
        campaign_id=body.campaign_id,
    )
    return _case_out(case)


@router.post(
    "/cases/from-detection",
    response_model=CaseOut,
    status_code=201,
    tags=["cases"],
    summary="Open a case from a detected campaign and publish its accounts, URLs, domains and hashes",
)
def from_detection(body: FromDetectionIn, cases: CaseServiceDep) -> CaseOut:
    try:
        detected = DetectedCampaign(**body.detected)
        detected.edges = [(str(a), str(b), float(w)) for a, b, w in detected.edges]
    except (TypeError, ValueError) as exc:
        raise InputError(f"detected: not a DetectedCampaign: {exc}", field="detected") from None
    case = open_case(
        cases,
        detected,
        _marking(body.marking),
        title=body.title,
        attribution=body.attribution,
        techniques=tuple(body.techniques),
    )
    return _case_out(case)


@router.get("/cases/{case_id}", response_model=CaseOut, tags=["cases"])
def get_case(case_id: str, cases: CaseServiceDep) -> CaseOut:
    return _case_out(cases.get_case(case_id))


@router.patch("/cases/{case_id}", response_model=CaseOut, tags=["cases"])
def update_case(case_id: str, body: CasePatch, cases: CaseServiceDep) -> CaseOut:
    return _case_out(cases.update_case(case_id, **body.model_dump(exclude_unset=True)))


@router.post(
    "/cases/{case_id}/transition",
    response_model=CaseOut,
    tags=["cases"],
    summary="Move a case along the workflow (409 for a move it does not allow or during the embargo)",
)
def transition(case_id: str, body: TransitionIn, cases: CaseServiceDep) -> CaseOut:
    case = cases.transition(case_id, body.status, reason=body.reason, override_reason=body.override_reason)
    return _case_out(case)


@router.post("/cases/{case_id}/comments", response_model=EventOut, status_code=201, tags=["cases"])
def add_comment(case_id: str, body: CommentIn, cases: CaseServiceDep) -> EventOut:
    marking = _marking(body.marking) if body.marking else None
    return EventOut.model_validate(cases.add_comment(case_id, body.text, marking=marking))


@router.post("/cases/{case_id}/signals", tags=["cases"], summary="Link exchange signals to the case")
def link_signals(case_id: str, body: LinkIn, cases: CaseServiceDep) -> dict[str, int]:
    return {"linked": cases.link_signals(case_id, body.signal_ids)}


@router.get("/cases/{case_id}/signals", tags=["cases"], summary="Linked signals in your view")
def linked_signals(case_id: str, cases: CaseServiceDep) -> list[dict[str, Any]]:
    signals = cases.linked_signals(case_id)
    return [{"id": s.id, "kind": s.kind.value, "value": s.value} for s in signals]


@router.post("/cases/{case_id}/actions", response_model=ActionOut, status_code=201, tags=["cases"])
def record_action(case_id: str, body: ActionIn, cases: CaseServiceDep) -> ActionOut:
    action = cases.record_action(
        case_id,
        body.action,
        body.target,
        body.count,
        platform=body.platform,
        taken_at=body.taken_at,
        statement_url=body.statement_url,
        note=body.note,
        marking=_marking(body.marking),
    )
    return ActionOut.model_validate(action)


@router.get("/cases/{case_id}/actions", response_model=list[ActionOut], tags=["cases"])
def list_actions(case_id: str, cases: CaseServiceDep) -> list[ActionOut]:
    return [ActionOut.model_validate(a) for a in cases.actions(case_id)]


@router.get(
    "/cases/{case_id}/embargo", response_model=EmbargoOut, tags=["cases"], summary="Embargo countdown"
)
def get_embargo(case_id: str, cases: CaseServiceDep) -> EmbargoOut:
    state = cases.embargo(case_id)
    return EmbargoOut(until=state.until, seconds_remaining=state.seconds_remaining, active=state.active)


@router.put("/cases/{case_id}/embargo", response_model=EmbargoOut, tags=["cases"])
def set_embargo(case_id: str, body: EmbargoIn, cases: CaseServiceDep) -> EmbargoOut:
    cases.set_embargo(case_id, body.until, reason=body.override_reason)
    state = cases.embargo(case_id)
    return EmbargoOut(until=state.until, seconds_remaining=state.seconds_remaining, active=state.active)


@router.get("/cases/{case_id}/timeline", response_model=list[EventOut], tags=["cases"])
def timeline(case_id: str, cases: CaseServiceDep) -> list[EventOut]:
    return [EventOut.model_validate(e) for e in cases.timeline(case_id)]


@router.get("/cases/{case_id}/network", response_model=NetworkOut, tags=["cases"])
def network(case_id: str, cases: CaseServiceDep) -> NetworkOut:
    graph = cases.network(case_id)
    return NetworkOut(
        nodes=[
            {"id": n.id, "platform": n.platform, "posts": n.posts, "source": n.source} for n in graph.nodes
        ],
        edges=[{"a": e.a, "b": e.b, "weight": e.weight} for e in graph.edges],
    )


@router.get("/cases/{case_id}/checklist", response_model=list[ChecklistOut], tags=["cases"])
def checklist(case_id: str, cases: CaseServiceDep) -> list[ChecklistOut]:
    return [ChecklistOut.model_validate(i) for i in cases.checklist(case_id)]


@router.post("/cases/{case_id}/checklist/{item_id}", response_model=ChecklistOut, tags=["cases"])
def check_item(case_id: str, item_id: DbId, body: CheckIn, cases: CaseServiceDep) -> ChecklistOut:
    item = cases.check_item(case_id, item_id, done=body.done, note=body.note)
    return ChecklistOut.model_validate(item)


@router.get(
    "/cases/{case_id}/disclosure",
    tags=["cases"],
    summary="Public disclosure report (TLP:CLEAR material only), HTML, PDF or Markdown",
    response_class=Response,
)
@writes_on_read(when=query_flag("draft", default=False, negate=True))  # a final report goes on the timeline
def disclosure(
    case_id: str,
    disclosures: DisclosureServiceDep,
    format: str = Query(default="html", pattern="^(html|pdf|md)$"),
    draft: bool = False,
    override_reason: str | None = Query(default=None, max_length=2000),
) -> Response:
    body = disclosures.render(case_id, format, draft=draft, override_reason=override_reason)
    return Response(content=body, media_type=MEDIA[format])


# ---------------------------------------------------------------------------------------------
# briefings


@router.get(
    "/briefings", tags=["briefings"], summary="Trend briefing for your organisation", response_class=Response
)
@writes_on_read(when=query_flag("issue", default=False))  # issue=true stores the briefing
def briefing(
    service: BriefingServiceDep,
    since: str = Query(default="7d", description="Period back from now, e.g. 7d or 24h."),
    format: str = Query(default="html", pattern="^(html|pdf|md)$"),
    issue: bool = Query(
        default=False, description="Store it: the next briefing reports changes since this one."
    ),
) -> Response:
    period = parse_duration(since)
    built = service.issue(period) if issue else service.build(period)
    return Response(content=render_briefing(built, format), media_type=MEDIA[format])


# ---------------------------------------------------------------------------------------------
# playbooks


def _library(settings: Settings) -> PlaybookLibrary:
    return PlaybookLibrary.load(settings.playbook_dirs)


@router.get("/playbooks", tags=["playbooks"], summary="The playbook library")
def list_playbooks(principal: PrincipalDep, settings: SettingsDep) -> list[dict[str, Any]]:
    return [{**playbook_dict(p.playbook), "source": p.source} for p in _library(settings).all()]


@router.get("/playbooks/{playbook_id}", tags=["playbooks"])
def get_playbook(playbook_id: str, principal: PrincipalDep, settings: SettingsDep) -> dict[str, Any]:
    return playbook_dict(_library(settings).get(playbook_id))


@router.post(
    "/playbooks/{playbook_id}/exercise",
    response_model=CaseOut,
    status_code=201,
    tags=["playbooks"],
    summary="Run a tabletop exercise: a case with the playbook's checklist",
)
def exercise(playbook_id: str, body: ExerciseIn, cases: CaseServiceDep, settings: SettingsDep) -> CaseOut:
    book = _library(settings).get(playbook_id)
    case = run_exercise(
        cases,
        book,
        title=body.title,
        marking=_marking(body.marking, TLP.GREEN),
        exercise=body.exercise,
    )
    return _case_out(case)
