"""Cases, coordinated action, embargo, disclosure reports, briefings and playbooks (``/api/v1``).

Routes parse and serialise only; ``vigil.cases`` services decide (visibility, workflow, embargo).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from vigil.cases.briefing import BriefingService
from vigil.cases.disclosure import DisclosureService
from vigil.cases.exercises import run_exercise
from vigil.cases.from_detection import DetectedCampaign, open_case
from vigil.cases.playbooks import PlaybookLibrary, playbook_dict
from vigil.cases.records import ActionKind, ActionTarget, Status
from vigil.cases.render import render_briefing
from vigil.cases.service import CaseService
from vigil.core.errors import InputError
from vigil.core.settings import Settings
from vigil.core.time import parse_duration
from vigil.exchange.records import TLP, Marking
from vigil.web.deps import PrincipalDep, SessionDep, get_settings_dep
from vigil.web.schemas import ERROR_RESPONSES, MAX_DB_INT, DbId, In, MarkingIn, MarkingOut, Out

router = APIRouter(responses=ERROR_RESPONSES)
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]

MEDIA = {"html": "text/html; charset=utf-8", "pdf": "application/pdf", "md": "text/markdown; charset=utf-8"}


def _marking(body: MarkingIn | None, default: TLP = TLP.AMBER) -> Marking:
    return Marking(body.tlp, tuple(body.shared_with)) if body else Marking(default)


class CaseIn(In):
    title: str = Field(min_length=1, max_length=300)
    summary: str | None = Field(default=None, max_length=20_000)
    attribution: str | None = Field(default=None, max_length=300, examples=["Iran-based", "unattributed"])
    confidence: int = Field(default=50, ge=0, le=100)
    techniques: list[str] = Field(default_factory=list, examples=[["T0049"]])
    owners: list[str] = Field(default_factory=list)
    campaign_id: str | None = None
    marking: MarkingIn | None = None


class CasePatch(In):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    summary: str | None = None
    attribution: str | None = None
    confidence: int | None = Field(default=None, ge=0, le=100)
    techniques: list[str] | None = None
    owners: list[str] | None = None


class EmbargoOut(BaseModel):
    until: datetime | None
    seconds_remaining: int
    active: bool


class CaseOut(Out):
    id: str
    title: str
    summary: str | None
    attribution: str | None
    confidence: int
    techniques: list[str]
    status: Status
    org_id: str
    marking: MarkingOut
    owners: list[str]
    campaign_id: str | None
    playbook_id: str | None
    exercise: bool
    embargo_until: datetime | None
    created_at: datetime
    modified_at: datetime
    detection: dict[str, Any]


class TransitionIn(In):
    status: Status
    reason: str | None = Field(default=None, max_length=2000)
    override_reason: str | None = Field(
        default=None, max_length=2000, description="Admins only: disclose before the embargo, with a reason."
    )


class CommentIn(In):
    text: str = Field(min_length=1, max_length=20_000)
    marking: MarkingIn | None = Field(default=None, description="Default: the case's marking.")


class LinkIn(In):
    signal_ids: list[str] = Field(min_length=1, max_length=10_000)


class ActionIn(In):
    action: ActionKind
    target: ActionTarget
    count: int = Field(ge=0, le=MAX_DB_INT)
    platform: str | None = Field(default=None, max_length=100)
    taken_at: datetime | None = None
    statement_url: str | None = Field(default=None, max_length=2000)
    note: str | None = Field(default=None, max_length=20_000)
    marking: MarkingIn | None = None


class ActionOut(Out):
    id: int
    case_id: str
    org_id: str
    action: ActionKind
    target: ActionTarget
    count: int
    platform: str | None
    taken_at: datetime
    statement_url: str | None
    note: str | None
    marking: MarkingOut
    created_at: datetime


class EventOut(Out):
    id: int
    at: datetime
    actor_key_id: str | None
    actor_org_id: str | None
    kind: str
    marking: MarkingOut
    detail: dict[str, Any]


class EmbargoIn(In):
    until: datetime | None = Field(description="Agreed joint-disclosure instant; null clears it.")
    override_reason: str | None = Field(
        default=None,
        max_length=2000,
        description="Needed (with an admin key) when you are not the case owner; recorded in the audit log.",
    )


class ChecklistOut(Out):
    id: int
    position: int
    text: str
    owner: str | None
    done_at: datetime | None
    done_by_key: str | None
    done_by_org: str | None


class CheckIn(In):
    done: bool = True
    note: str | None = Field(default=None, max_length=2000)


class FromDetectionIn(In):
    detected: dict[str, Any] = Field(description="A DetectedCampaign (vigil.cases.from_detection) as JSON.")
    marking: MarkingIn = Field(default_factory=lambda: MarkingIn(tlp=TLP.AMBER))
    title: str | None = Field(default=None, max_length=300)
    attribution: str | None = Field(default=None, max_length=300)
    techniques: list[str] = Field(default_factory=list)


class ExerciseIn(In):
    title: str | None = Field(default=None, max_length=300)
    marking: MarkingIn | None = None
    exercise: bool = Field(default=True, description="False activates the playbook on a real case.")


class NetworkOut(BaseModel):
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]


def _case_out(case: Any) -> CaseOut:
    return CaseOut.model_validate(case)


# ---------------------------------------------------------------------------------------------
# cases


@router.get("/cases", response_model=list[CaseOut], tags=["cases"], summary="Cases visible to you")
def list_cases(
    principal: PrincipalDep,
    session: SessionDep,
    status: list[Status] = Query(default=[]),
    q: str | None = None,
    exercise: bool | None = None,
) -> list[CaseOut]:
    cases = CaseService(session, principal).list_cases(status=status, text=q, exercise=exercise)
    return [_case_out(c) for c in cases]


@router.post("/cases", response_model=CaseOut, status_code=201, tags=["cases"], summary="Open a case")
def create_case(body: CaseIn, principal: PrincipalDep, session: SessionDep) -> CaseOut:
    case = CaseService(session, principal).create_case(
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
def from_detection(body: FromDetectionIn, principal: PrincipalDep, session: SessionDep) -> CaseOut:
    try:
        detected = DetectedCampaign(**body.detected)
        detected.edges = [(str(a), str(b), float(w)) for a, b, w in detected.edges]
    except (TypeError, ValueError) as exc:
        raise InputError(f"detected: not a DetectedCampaign: {exc}", field="detected") from None
    case = open_case(
        CaseService(session, principal),
        detected,
        _marking(body.marking),
        title=body.title,
        attribution=body.attribution,
        techniques=tuple(body.techniques),
    )
    return _case_out(case)


@router.get("/cases/{case_id}", response_model=CaseOut, tags=["cases"])
def get_case(case_id: str, principal: PrincipalDep, session: SessionDep) -> CaseOut:
    return _case_out(CaseService(session, principal).get_case(case_id))


@router.patch("/cases/{case_id}", response_model=CaseOut, tags=["cases"])
def update_case(case_id: str, body: CasePatch, principal: PrincipalDep, session: SessionDep) -> CaseOut:
    return _case_out(
        CaseService(session, principal).update_case(case_id, **body.model_dump(exclude_unset=True))
    )


@router.post(
    "/cases/{case_id}/transition",
    response_model=CaseOut,
    tags=["cases"],
    summary="Move a case along the workflow (409 for a move it does not allow or during the embargo)",
)
def transition(case_id: str, body: TransitionIn, principal: PrincipalDep, session: SessionDep) -> CaseOut:
    case = CaseService(session, principal).transition(
        case_id, body.status, reason=body.reason, override_reason=body.override_reason
    )
    return _case_out(case)


@router.post("/cases/{case_id}/comments", response_model=EventOut, status_code=201, tags=["cases"])
def add_comment(case_id: str, body: CommentIn, principal: PrincipalDep, session: SessionDep) -> EventOut:
    marking = _marking(body.marking) if body.marking else None
    return EventOut.model_validate(
        CaseService(session, principal).add_comment(case_id, body.text, marking=marking)
    )


@router.post("/cases/{case_id}/signals", tags=["cases"], summary="Link exchange signals to the case")
def link_signals(case_id: str, body: LinkIn, principal: PrincipalDep, session: SessionDep) -> dict[str, int]:
    return {"linked": CaseService(session, principal).link_signals(case_id, body.signal_ids)}


@router.get("/cases/{case_id}/signals", tags=["cases"], summary="Linked signals in your view")
def linked_signals(case_id: str, principal: PrincipalDep, session: SessionDep) -> list[dict[str, Any]]:
    signals = CaseService(session, principal).linked_signals(case_id)
    return [{"id": s.id, "kind": s.kind.value, "value": s.value} for s in signals]


@router.post("/cases/{case_id}/actions", response_model=ActionOut, status_code=201, tags=["cases"])
def record_action(case_id: str, body: ActionIn, principal: PrincipalDep, session: SessionDep) -> ActionOut:
    action = CaseService(session, principal).record_action(
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
def list_actions(case_id: str, principal: PrincipalDep, session: SessionDep) -> list[ActionOut]:
    return [ActionOut.model_validate(a) for a in CaseService(session, principal).actions(case_id)]


@router.get(
    "/cases/{case_id}/embargo", response_model=EmbargoOut, tags=["cases"], summary="Embargo countdown"
)
def get_embargo(case_id: str, principal: PrincipalDep, session: SessionDep) -> EmbargoOut:
    state = CaseService(session, principal).embargo(case_id)
    return EmbargoOut(until=state.until, seconds_remaining=state.seconds_remaining, active=state.active)


@router.put("/cases/{case_id}/embargo", response_model=EmbargoOut, tags=["cases"])
def set_embargo(case_id: str, body: EmbargoIn, principal: PrincipalDep, session: SessionDep) -> EmbargoOut:
    service = CaseService(session, principal)
    service.set_embargo(case_id, body.until, reason=body.override_reason)
    state = service.embargo(case_id)
    return EmbargoOut(until=state.until, seconds_remaining=state.seconds_remaining, active=state.active)


@router.get("/cases/{case_id}/timeline", response_model=list[EventOut], tags=["cases"])
def timeline(case_id: str, principal: PrincipalDep, session: SessionDep) -> list[EventOut]:
    return [EventOut.model_validate(e) for e in CaseService(session, principal).timeline(case_id)]


@router.get("/cases/{case_id}/network", response_model=NetworkOut, tags=["cases"])
def network(case_id: str, principal: PrincipalDep, session: SessionDep) -> NetworkOut:
    graph = CaseService(session, principal).network(case_id)
    return NetworkOut(
        nodes=[
            {"id": n.id, "platform": n.platform, "posts": n.posts, "source": n.source} for n in graph.nodes
        ],
        edges=[{"a": e.a, "b": e.b, "weight": e.weight} for e in graph.edges],
    )


@router.get("/cases/{case_id}/checklist", response_model=list[ChecklistOut], tags=["cases"])
def checklist(case_id: str, principal: PrincipalDep, session: SessionDep) -> list[ChecklistOut]:
    return [ChecklistOut.model_validate(i) for i in CaseService(session, principal).checklist(case_id)]


@router.post("/cases/{case_id}/checklist/{item_id}", response_model=ChecklistOut, tags=["cases"])
def check_item(
    case_id: str, item_id: DbId, body: CheckIn, principal: PrincipalDep, session: SessionDep
) -> ChecklistOut:
    item = CaseService(session, principal).check_item(case_id, item_id, done=body.done, note=body.note)
    return ChecklistOut.model_validate(item)


@router.get(
    "/cases/{case_id}/disclosure",
    tags=["cases"],
    summary="Public disclosure report (TLP:CLEAR material only), HTML, PDF or Markdown",
    response_class=Response,
)
def disclosure(
    case_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    format: str = Query(default="html", pattern="^(html|pdf|md)$"),
    draft: bool = False,
    override_reason: str | None = Query(default=None, max_length=2000),
) -> Response:
    body = DisclosureService(session, principal).render(
        case_id, format, draft=draft, override_reason=override_reason
    )
    return Response(content=body, media_type=MEDIA[format])


# ---------------------------------------------------------------------------------------------
# briefings


@router.get(
    "/briefings", tags=["briefings"], summary="Trend briefing for your organisation", response_class=Response
)
def briefing(
    principal: PrincipalDep,
    session: SessionDep,
    since: str = Query(default="7d", description="Period back from now, e.g. 7d or 24h."),
    format: str = Query(default="html", pattern="^(html|pdf|md)$"),
    issue: bool = Query(
        default=False, description="Store it: the next briefing reports changes since this one."
    ),
) -> Response:
    service = BriefingService(session, principal)
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
def exercise(
    playbook_id: str, body: ExerciseIn, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> CaseOut:
    book = _library(settings).get(playbook_id)
    case = run_exercise(
        CaseService(session, principal),
        book,
        title=body.title,
        marking=_marking(body.marking, TLP.GREEN),
        exercise=body.exercise,
    )
    return _case_out(case)
