"""Typed dependencies of the API and the dashboard: settings, the database session (one
transaction per request), the store, the authenticated principal (API key) or the signed-in
``Viewer`` (dashboard session), and one dependency per service for each (``CaseServiceDep``,
``MeetingServiceDep``, ... for the API; ``PageCaseServiceDep``, ``PageMeetingServiceDep``, ... for
the pages): a route or page names the service it needs instead of building it from the session
and the principal, so both work for their principal the same way.

The session dependency runs with ``scope="function"``: the transaction commits *before* the
response is sent, and any error rolls it back, so a failed request changes nothing.

Reads take no write lock. A GET or HEAD runs on a read session (``Database.reading``: on SQLite a
deferred ``BEGIN`` under WAL, a snapshot that never waits for a writer; on PostgreSQL a read-only
transaction); the audit entries its reads imply, and a dashboard session's last-seen time, are
written after the read in one short write transaction, before the response is sent. If that
write fails the request fails (503 when the database is unavailable): no read of AMBER/RED
material is answered without its audit entry. A GET that must write in its own transaction is
marked with ``@writes_on_read``; a write a GET forgot to defer fails loudly (500), never silently.
Credentials: ``Authorization: Bearer <key>``, or HTTP Basic with the key as password (any user
name; TAXII clients only speak Basic).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from vigil.cases.briefing import BriefingService
from vigil.cases.disclosure import DisclosureService
from vigil.cases.meetings import MeetingService
from vigil.cases.playbooks import PlaybookLibrary
from vigil.cases.policies import PolicyAreas, PolicyService
from vigil.cases.service import CaseService
from vigil.core.errors import AuthenticationError, InputError
from vigil.core.settings import Settings
from vigil.db import Database
from vigil.exchange.access import Permission, Principal, permissions
from vigil.exchange.flood import FloodService
from vigil.exchange.records import Organisation
from vigil.exchange.store import ExchangeStore
from vigil.signals.decay import DecayModel
from vigil.web.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    SAFE_METHODS,
    Ended,
    SessionData,
    Sessions,
    check_csrf,
    session_id_of,
)

# FastAPI runs a sync (``def``) dependency in the thread pool: a round trip of some 60 us of CPU
# and more of waiting on a busy machine. The dependencies that only build an object (settings, the
# store, the services over the request's session) are ``async`` so they run on the event loop;
# those that read the database (the principal, the viewer) or files stay sync.


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _settings_dep(request: Request) -> Settings:
    return get_settings_dep(request)  # (routes also call get_settings_dep as a plain function)


SettingsDep = Annotated[Settings, Depends(_settings_dep)]


def get_database(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])
_WRITES_ON_READ = "__vigil_writes_on_read__"
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})  # what FastAPI reads as a false bool


def always(_request: Request) -> bool:
    return True


def query_flag(name: str, *, default: bool, negate: bool = False) -> Callable[[Request], bool]:
    """A ``writes_on_read`` predicate: the boolean query parameter ``name`` as FastAPI reads it
    (anything not a false spelling counts as true: a bad value is answered 400 anyway), or its
    negation."""

    def flag(request: Request) -> bool:
        value = request.query_params.get(name)
        found = default if value is None else value.strip().lower() not in _FALSE
        return found is not negate

    return flag


def writes_on_read(when: Callable[[Request], bool] = always) -> Callable[[_Endpoint], _Endpoint]:
    """Mark a GET endpoint that writes in its request's transaction (when ``when(request)``): it
    runs on the write path (on SQLite it takes the write lock for the whole request). Every other
    GET and HEAD reads a snapshot and defers its audit entries (``Database.reading``)."""

    def mark(endpoint: _Endpoint) -> _Endpoint:
        setattr(endpoint, _WRITES_ON_READ, when)
        return endpoint

    return mark


def reads_only(request: Request) -> bool:
    """Whether ``request`` runs on a read session: a safe method, unless its endpoint is marked
    ``writes_on_read`` for this request."""
    if request.method not in SAFE_METHODS:
        return False
    route = request.scope.get("route")
    writes: Callable[[Request], bool] | None = getattr(
        getattr(route, "endpoint", None), _WRITES_ON_READ, None
    )
    return writes is None or not writes(request)


def get_session(request: Request) -> Iterator[Session]:
    # PostgreSQL text cannot hold U+0000: a NUL in the path or query is a 400, not a 500.
    for name, value in [*request.path_params.items(), *request.query_params.multi_items()]:
        if "\x00" in str(value) or "\x00" in name:
            raise InputError(f"parameter {name!r} contains a NUL character (U+0000)", field=name)
    database = get_database(request)
    with database.reading() if reads_only(request) else database.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def get_store(session: SessionDep, settings: SettingsDep) -> ExchangeStore:
    store = ExchangeStore(session)
    store.decay = DecayModel.from_settings(settings)  # the app's, not the process's settings
    return store


StoreDep = Annotated[ExchangeStore, Depends(get_store)]


def credentials(request: Request) -> str:
    """The API key presented with the request, or AuthenticationError saying what is missing."""
    header = request.headers.get("authorization")
    if not header:
        raise AuthenticationError("missing credentials: send 'Authorization: Bearer <API key>'")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthenticationError("malformed Basic credentials") from None
        _user, sep, password = decoded.partition(":")
        if sep and password:
            return password
        raise AuthenticationError("Basic credentials need the API key as password")
    raise AuthenticationError("unsupported Authorization scheme: use Bearer or Basic")


def get_principal(request: Request, store: StoreDep) -> Principal:
    principal = store.authenticate(credentials(request))
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


# ---------------------------------------------------------------------------------------------
# services: one per request, for the authenticated principal, in the request's transaction


async def get_case_service(session: SessionDep, principal: PrincipalDep) -> CaseService:
    return CaseService(session, principal)


CaseServiceDep = Annotated[CaseService, Depends(get_case_service)]


async def get_briefing_service(session: SessionDep, principal: PrincipalDep) -> BriefingService:
    return BriefingService(session, principal)


BriefingServiceDep = Annotated[BriefingService, Depends(get_briefing_service)]


async def get_disclosure_service(session: SessionDep, principal: PrincipalDep) -> DisclosureService:
    return DisclosureService(session, principal)


DisclosureServiceDep = Annotated[DisclosureService, Depends(get_disclosure_service)]


async def get_meeting_service(session: SessionDep, principal: PrincipalDep) -> MeetingService:
    return MeetingService(session, principal)


MeetingServiceDep = Annotated[MeetingService, Depends(get_meeting_service)]


def get_scheduled_meeting_service(
    session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> MeetingService:
    """A meeting service that knows the server's playbook library (agenda, pack, exercise schedule)."""
    library = PlaybookLibrary.load(settings.playbook_dirs)
    return MeetingService(session, principal, playbooks=library)


ScheduledMeetingServiceDep = Annotated[MeetingService, Depends(get_scheduled_meeting_service)]


def get_policy_service(session: SessionDep, principal: PrincipalDep, settings: SettingsDep) -> PolicyService:
    """A policy service with the server's list of policy areas (the data directory's, else the default)."""
    return PolicyService(session, principal, areas=PolicyAreas.load(settings.data_dir))


PolicyServiceDep = Annotated[PolicyService, Depends(get_policy_service)]


async def get_flood_service(
    session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> FloodService:
    """Flood quarantine with the server's coalition threshold (members reporting a flood)."""
    return FloodService(session, principal, min_reporters=settings.flood_coalition_min_reporters)


FloodServiceDep = Annotated[FloodService, Depends(get_flood_service)]


# ---------------------------------------------------------------------------------------------
# the dashboard: the signed-in viewer (session cookie, CSRF), and the same services for them


class SignInRequired(Exception):
    """Raised by the viewer dependency; answered with a redirect to the sign-in page."""

    def __init__(self, next_url: str, message: str | None = None) -> None:
        super().__init__(message or "sign in required")
        self.next_url = next_url
        self.message = message


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of a page: their key's principal, organisation and session."""

    principal: Principal
    org: Organisation
    session: SessionData
    orgs: dict[str, Organisation]

    @property
    def can_write(self) -> bool:
        return Permission.WRITE in permissions(self.principal)

    @property
    def can_read_audit(self) -> bool:
        granted = permissions(self.principal)
        return Permission.READ_AUDIT in granted or Permission.OPERATE in granted

    def org_name(self, org_id: str | None) -> str:
        if org_id is None:
            return "—"
        org = self.orgs.get(org_id)
        return org.name if org else org_id


def _next_url(request: Request) -> str:
    path = request.url.path
    return path + ("?" + request.url.query if request.url.query else "")


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def posted_csrf(request: Request) -> str | None:
    """The CSRF token an unsafe request carries (header, or the form's ``csrf`` field)."""
    if request.method in SAFE_METHODS:
        return None
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        # Starlette keeps the parsed form on the request: the page's own Form() fields reuse it.
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def get_viewer(
    request: Request, store: StoreDep, csrf: Annotated[str | None, Depends(posted_csrf)]
) -> Viewer:
    """The signed-in viewer; SignInRequired without a live session, PermissionDenied (403) for an
    unsafe request without the session's CSRF token. Every page and form depends on this, so no
    page can forget either check."""
    session_id = session_id_of(request)
    if session_id is None:
        raise SignInRequired(_next_url(request))
    sessions = Sessions(store.session, settings_of(request), database=get_database(request))
    found = sessions.resolve(session_id)
    if isinstance(found, Ended):
        raise SignInRequired(_next_url(request), f"your session ended: {found.reason}")
    try:
        principal = store.principal_of_key(found.key_id)
    except AuthenticationError as exc:
        # The key stopped (revoked, expired, suspended): the session has ended with it.
        sessions.end_for_key(found, exc.message)
        raise SignInRequired(_next_url(request), f"your session ended: {exc.message}") from None
    if request.method not in SAFE_METHODS:
        check_csrf(found, csrf)
    orgs = {o.id: o for o in store.list_orgs(principal)}
    return Viewer(principal=principal, org=orgs[principal.org_id], session=found, orgs=orgs)


ViewerDep = Annotated[Viewer, Depends(get_viewer)]

# The page services: as the API's above, for the viewer's principal. Each depends on ViewerDep,
# so a page that names one still gets the sign-in and CSRF checks first (FastAPI resolves the
# viewer once per request and hands the same one to the page).


async def get_page_case_service(session: SessionDep, viewer: ViewerDep) -> CaseService:
    return CaseService(session, viewer.principal)


PageCaseServiceDep = Annotated[CaseService, Depends(get_page_case_service)]


async def get_page_briefing_service(session: SessionDep, viewer: ViewerDep) -> BriefingService:
    return BriefingService(session, viewer.principal)


PageBriefingServiceDep = Annotated[BriefingService, Depends(get_page_briefing_service)]


async def get_page_disclosure_service(session: SessionDep, viewer: ViewerDep) -> DisclosureService:
    return DisclosureService(session, viewer.principal)


PageDisclosureServiceDep = Annotated[DisclosureService, Depends(get_page_disclosure_service)]


async def get_page_meeting_service(
    session: SessionDep, viewer: ViewerDep, settings: SettingsDep
) -> MeetingService:
    """A meeting service that knows the server's playbook directories; the library is read only
    when a page needs it (agenda, pack, reminders), so the other meeting pages never load it."""
    return MeetingService(session, viewer.principal, playbook_dirs=settings.playbook_dirs)


PageMeetingServiceDep = Annotated[MeetingService, Depends(get_page_meeting_service)]


def get_page_policy_service(session: SessionDep, viewer: ViewerDep, settings: SettingsDep) -> PolicyService:
    """A policy service with the server's list of policy areas (the data directory's, else the default)."""
    return PolicyService(session, viewer.principal, areas=PolicyAreas.load(settings.data_dir))


PagePolicyServiceDep = Annotated[PolicyService, Depends(get_page_policy_service)]


async def get_page_flood_service(
    session: SessionDep, viewer: ViewerDep, settings: SettingsDep
) -> FloodService:
    return FloodService(session, viewer.principal, min_reporters=settings.flood_coalition_min_reporters)


PageFloodServiceDep = Annotated[FloodService, Depends(get_page_flood_service)]
