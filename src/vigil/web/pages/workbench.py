"""The analyst's main path in the dashboard: detection → case → share → partner match and sighting.

* ``POST /detections/{run}/{campaign}/case`` opens a case from one of the organisation's own
  detections (``vigil.cases.from_detection.open_case``) with only the values the analyst ticked,
  under the chosen TLP and audience; ``GET .../cases`` lists the cases already opened from it.
* ``POST /cases/{id}/share`` re-marks the organisation's own contributions of chosen linked
  signals (a wider audience, or TLP:CLEAR to release them to the public disclosure report);
  ``POST /cases/{id}/signals`` shares one more value later and links it.
* ``POST /signals/{id}/sighting`` records a sighting; ``/match`` lets a partner paste values seen
  on its own platform, shows which shared signals they match and records sightings for them.

Every write goes through ``ExchangeStore`` and ``CaseService`` with the viewer's principal, so
roles, TLP visibility and case ownership are the services' decisions, exactly as for the API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from markupsafe import Markup, escape
from sqlalchemy import select
from starlette.responses import HTMLResponse, Response

from vigil.cases.from_detection import DetectedCampaign, detected_from_document, load_detected, open_case
from vigil.cases.models import CaseSignalRow
from vigil.cases.records import Case
from vigil.cases.service import CaseService
from vigil.core.errors import InputError, NotFound, VigilError
from vigil.core.time import parse_instant, utcnow
from vigil.exchange.access import Principal
from vigil.exchange.records import TLP, Contribution, Marking, Signal, SignalKind
from vigil.exchange.store import ExchangeStore
from vigil.exchange.values import normalize_value
from vigil.web.deps import PageCaseServiceDep, StoreDep
from vigil.web.pages.common import ViewerDep, redirect, render, templates
from vigil.web.pages.detections import detections_dir, list_runs

router = APIRouter(include_in_schema=False)

_RUN = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
MAX_MATCH_LINES = 500


def _marking(tlp: str, shared_with: list[str]) -> Marking:
    try:
        chosen = TLP(tlp)
    except ValueError:
        known = ", ".join(t.value for t in TLP)
        raise InputError(f"unknown TLP {tlp!r}; known: {known}", field="tlp") from None
    return Marking(chosen, tuple(o for o in shared_with if o))


def value_key(kind: str, value: str) -> str:
    """The form value of one previewed item (kind and value in one checkbox)."""
    return f"{kind} {value}"


def detection_preview(campaign: dict[str, Any]) -> DetectedCampaign:
    """What ``open_case`` would share from a campaigns.json entry: accounts and public items."""
    return detected_from_document({"campaigns": [campaign]}, str(campaign.get("campaign_id")))


_DETECTED = re.compile(r"\bcampaign--[0-9a-f-]{36}\b")


def link_detections(text: str | None, linked: bool = True) -> Markup:
    """Text with every detected campaign id ("campaign--…") turned into a link to its detection.
    With ``linked`` false (a reader of another organisation, to whom ``/detections/find`` answers
    404) the id is still named, as plain text, not a link that cannot be followed."""
    escaped = str(escape(text or ""))

    def named(m: re.Match[str]) -> str:
        found = m.group(0)
        label = f"detected campaign {found.split('--')[-1][:8]}"
        if linked:
            return f'<a href="/detections/find?campaign={found}" data-detection="{found}">{label}</a>'
        return f'<span data-detection-id="{found}" title="{found}">{label}</span>'

    return Markup(_DETECTED.sub(named, escaped))


templates.env.filters["link_detections"] = link_detections
templates.env.globals["detection_preview"] = detection_preview
templates.env.globals["value_key"] = value_key
templates.env.globals["all_tlps"] = [t.value for t in TLP]


def cases_of_detection(service: CaseService, campaign_id: str) -> list[Case]:
    """Visible cases opened from detected campaign ``campaign_id``."""
    return [c for c in service.list_cases() if (c.detection or {}).get("campaign_id") == campaign_id]


def run_of_campaign(request: Request, org_id: str, campaign_id: str) -> str | None:
    """The name of the organisation's detection run that found ``campaign_id`` (None: not its own)."""
    for run in list_runs(request.app.state.settings, org_id):
        if any(c.get("campaign_id") == campaign_id for c in run["campaigns"]):
            return str(run["name"])
    return None


@router.get("/detections/find")
def find_detection(request: Request, viewer: ViewerDep, campaign: str) -> Response:
    """Follow a detected campaign id (as named in a case or campaign description) to its page."""
    run = run_of_campaign(request, viewer.principal.org_id, campaign)
    if run is None:
        raise NotFound(
            f"detected campaign {campaign!r} is not in a detection run of {viewer.org.name}; "
            "detection results stay with the organisation that ran them",
            campaign=campaign,
        )
    return redirect(f"/detections/{run}/{campaign}")


@router.get("/detections/{run}/{campaign_id}/cases", response_class=HTMLResponse)
def detection_cases(
    request: Request, run: str, campaign_id: str, viewer: ViewerDep, service: PageCaseServiceDep
) -> Response:
    """The cases already opened from this detection (an htmx fragment of the detection page)."""
    found = cases_of_detection(service, campaign_id)
    return render(request, "detection_cases.html", viewer, cases=found)


@router.post("/detections/{run}/{campaign_id}/case")
def open_case_from_detection(
    request: Request,
    run: str,
    campaign_id: str,
    viewer: ViewerDep,
    service: PageCaseServiceDep,
    title: Annotated[str, Form()] = "",
    tlp: Annotated[str, Form()] = "AMBER",
    shared_with: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
    values: Annotated[list[str], Form()] = [],  # noqa: B006
    confidence: Annotated[str, Form()] = "50",
) -> Response:
    """Open a case from the detection, sharing only the ticked values under the chosen marking."""
    if not _RUN.match(run):
        raise NotFound(f"no detection run {run!r}", run=run)
    run_dir = detections_dir(request.app.state.settings, viewer.principal.org_id) / run
    detected = load_detected(run_dir, campaign_id)
    chosen = set(values)
    if not chosen:
        raise InputError("tick at least one account or item to share with the case", field="values")
    detected.accounts = [a for a in detected.accounts if value_key("account", a["account"]) in chosen]
    detected.items = [i for i in detected.items if value_key(i["kind"], i["value"]) in chosen]
    if not detected.accounts and not detected.items:
        raise InputError("none of the ticked values belongs to this detected campaign", field="values")
    try:
        level = int(confidence)
    except ValueError:
        raise InputError(
            f"confidence must be a whole number 0-100, got {confidence!r}", field="confidence"
        ) from None
    case = open_case(
        service, detected, _marking(tlp, shared_with), title=title.strip() or None, confidence=level
    )
    return redirect(f"/cases/{case.id}")


def own_contribution(signal: Signal, org_id: str) -> Contribution | None:
    return next((c for c in signal.contributions if c.org_id == org_id and not c.revoked), None)


def remark(store: ExchangeStore, principal: Principal, signal: Signal, marking: Marking) -> Signal:
    """Resubmit the principal's contribution to ``signal`` unchanged but for its marking."""
    mine = own_contribution(signal, principal.org_id)
    if mine is None:
        raise InputError(
            f"{signal.kind.value} {signal.value!r} was not shared by your organisation; "
            "only its own contributions can be re-marked",
            signal_id=signal.id,
        )
    return store.submit_signal(
        principal,
        signal.kind,
        signal.value,
        marking=marking,
        confidence=mine.confidence,
        # warninglist:<name> flags are the store's own; it adds them again on submit
        tags=[t for t in mine.tags if not t.startswith("warninglist:")],
        first_seen=mine.first_seen,
        last_seen=mine.last_seen,
        campaign_id=mine.campaign_id,
        description=mine.description,
        language=signal.language,
        valid_until=mine.valid_until,
    )


@router.post("/cases/{case_id}/share")
def share_signals(
    case_id: str,
    viewer: ViewerDep,
    service: PageCaseServiceDep,
    tlp: Annotated[str, Form()],
    signal_ids: Annotated[list[str], Form()] = [],  # noqa: B006
    shared_with: Annotated[list[str], Form()] = [],  # noqa: B006
) -> Response:
    """Share the chosen linked signals under a new marking (TLP:CLEAR releases them for disclosure)."""
    if not signal_ids:
        raise InputError("choose at least one signal to share", field="signal_ids")
    linked = {s.id: s for s in service.linked_signals(case_id)}
    marking = _marking(tlp, shared_with)
    for signal_id in dict.fromkeys(signal_ids):
        signal = linked.get(signal_id)
        if signal is None:
            raise NotFound(f"signal {signal_id!r} is not linked to this case", signal_id=signal_id)
        remark(service.store, viewer.principal, signal, marking)
    service.add_comment(
        case_id,
        f"Shared {len(set(signal_ids))} signal(s) as TLP:{marking.tlp.value}"
        + (
            f" with {', '.join(viewer.org_name(o) for o in marking.shared_with)}"
            if marking.shared_with
            else ""
        ),
    )
    return redirect(f"/cases/{case_id}#share")


@router.post("/cases/{case_id}/signals")
def add_case_signal(
    case_id: str,
    viewer: ViewerDep,
    service: PageCaseServiceDep,
    kind: Annotated[str, Form()],
    value: Annotated[str, Form()],
    tlp: Annotated[str, Form()] = "AMBER",
    shared_with: Annotated[list[str], Form()] = [],  # noqa: B006
) -> Response:
    """Share one more value later: submitted under the case's campaign and linked to the case."""
    case = service.get_case(case_id)
    signal = service.store.submit_signal(
        viewer.principal,
        kind,
        value,
        marking=_marking(tlp, shared_with),
        campaign_id=case.campaign_id,
        tags=("vigil-dashboard",),
    )
    service.link_signals(case_id, [signal.id])
    return redirect(f"/cases/{case_id}#share")


def _instant(text: str, field: str) -> datetime:
    text = text.strip()
    if not text:
        raise InputError(f"{field} is required", field=field)
    if len(text) == 16 and "T" in text:  # <input type=datetime-local> sends minutes, no zone: UTC
        text += ":00Z"
    return parse_instant(text)


@router.post("/signals/{signal_id}/sighting")
def add_sighting(
    signal_id: str,
    viewer: ViewerDep,
    store: StoreDep,
    count: Annotated[str, Form()],
    first_seen: Annotated[str, Form()] = "",
    last_seen: Annotated[str, Form()] = "",
    platform: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> Response:
    """Record that the viewer's organisation saw the signal ``count`` times."""
    try:
        number = int(count)
    except ValueError:
        raise InputError(f"count must be a whole number of posts, got {count!r}", field="count") from None
    store.get_signal(viewer.principal, signal_id)  # NotFound unless visible
    now = utcnow()
    first = _instant(first_seen, "first_seen") if first_seen.strip() else now - timedelta(days=1)
    last = _instant(last_seen, "last_seen") if last_seen.strip() else now
    store.add_sighting(
        viewer.principal,
        signal_id,
        count=number,
        first_seen=first,
        last_seen=last,
        platform=platform.strip() or None,
    )
    return redirect(back if back.startswith("/") and not back.startswith("//") else f"/signals/{signal_id}")


@router.get("/share", response_class=HTMLResponse)
def share_signal_page(request: Request, viewer: ViewerDep, store: StoreDep) -> Response:
    """The form to share one signal (its own page: its fields would clash with the search filters)."""
    return render(
        request,
        "signal_new.html",
        viewer,
        kinds=list(SignalKind),
        tlps=list(TLP),
        campaigns=store.list_campaigns(viewer.principal),
    )


@router.post("/signals/new")
def share_signal(
    viewer: ViewerDep,
    store: StoreDep,
    kind: Annotated[str, Form()],
    value: Annotated[str, Form()],
    tlp: Annotated[str, Form()] = "AMBER",
    shared_with: Annotated[list[str], Form()] = [],  # noqa: B006
    campaign: Annotated[str, Form()] = "",
    confidence: Annotated[str, Form()] = "50",
    description: Annotated[str, Form()] = "",
    language: Annotated[str, Form()] = "",
) -> Response:
    """Share one signal with the coalition (``vigil signal submit`` in the dashboard)."""
    try:
        level = int(confidence)
    except ValueError:
        raise InputError(
            f"confidence must be a whole number 0-100, got {confidence!r}", field="confidence"
        ) from None
    signal = store.submit_signal(
        viewer.principal,
        kind,
        value,
        marking=_marking(tlp, shared_with),
        confidence=level,
        campaign_id=campaign or None,
        description=description.strip() or None,
        language=language.strip() or None,
        tags=("vigil-dashboard",),
    )
    return redirect(f"/signals/{signal.id}")


@router.post("/signals/{signal_id}/mark")
def mark_signal(
    signal_id: str,
    viewer: ViewerDep,
    store: StoreDep,
    tlp: Annotated[str, Form()],
    shared_with: Annotated[list[str], Form()] = [],  # noqa: B006
) -> Response:
    """Change the marking of the viewer's organisation's own contribution to the signal."""
    remark(store, viewer.principal, store.get_signal(viewer.principal, signal_id), _marking(tlp, shared_with))
    return redirect(f"/signals/{signal_id}")


@router.post("/signals/{signal_id}/withdraw")
def withdraw_signal(signal_id: str, viewer: ViewerDep, store: StoreDep) -> Response:
    """Withdraw the organisation's contribution (STIX ``revoked``); other members' stay."""
    store.revoke_signal(viewer.principal, signal_id)
    return redirect(f"/signals/{signal_id}")


# ---------------------------------------------------------------------------------------------
# partner match: values seen on the partner's own platform against the shared signals


@dataclass
class MatchLine:
    line: str
    kind: SignalKind | None
    signal: Signal | None
    problem: str | None = None


def guess_kind(value: str) -> SignalKind:
    """The signal kind a pasted value most likely is (an analyst may prefix ``kind `` to say)."""
    if re.match(r"^https?://", value, re.I):
        return SignalKind.URL
    if value.startswith("#"):
        return SignalKind.HASHTAG
    if re.match(r"^[a-z0-9_-]+:[^\s/]+$", value, re.I):
        return SignalKind.ACCOUNT
    if re.match(r"^[0-9a-f]{64}$", value, re.I):
        return SignalKind.IMAGE_PDQ
    if re.match(r"^[0-9a-f]{32}$", value, re.I):
        return SignalKind.IMAGE_MD5
    if re.match(r"^([a-z0-9-]+\.)+[a-z]{2,}$", value, re.I):
        return SignalKind.DOMAIN
    return SignalKind.NARRATIVE


def match_values(store: ExchangeStore, principal: Principal, text: str) -> list[MatchLine]:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) > MAX_MATCH_LINES:
        raise InputError(f"at most {MAX_MATCH_LINES} lines per check, got {len(lines)}", field="values")
    found = []
    for line in lines:
        head, _, rest = line.partition(" ")
        if head in {k.value for k in SignalKind} and rest.strip():
            kind, value = SignalKind(head), rest.strip()
        else:
            kind, value = guess_kind(line), line
        try:
            kind, value = normalize_value(kind, value)
            found.append(MatchLine(line, kind, store.find_signal(principal, kind, value)))
        except NotFound:
            found.append(MatchLine(line, kind, None))
        except VigilError as exc:
            found.append(MatchLine(line, kind, None, exc.message))
    return found


@router.get("/match", response_class=HTMLResponse)
def match_page(request: Request, viewer: ViewerDep) -> Response:
    return render(request, "match.html", viewer, text="", results=None)


@router.post("/match", response_class=HTMLResponse)
def match_check(
    request: Request, viewer: ViewerDep, store: StoreDep, values: Annotated[str, Form()] = ""
) -> Response:
    """Check pasted values against the signals the viewer may see (nothing is recorded)."""
    results = match_values(store, viewer.principal, values)
    return render(request, "match.html", viewer, text=values, results=results)


def cases_holding(service: CaseService, signal_id: str) -> list[Case]:
    """The cases linking ``signal_id`` that the service's principal may see."""
    ids = list(
        dict.fromkeys(
            service.session.scalars(select(CaseSignalRow.case_id).where(CaseSignalRow.signal_id == signal_id))
        )
    )
    found = []
    for case_id in ids:
        try:
            found.append(service.get_case(case_id))
        except NotFound:
            continue  # a case the reader may not see is not mentioned at all
    return found
