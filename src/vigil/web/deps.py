"""Typed dependencies of the API: settings, the database session (one transaction per request),
the store, the authenticated principal, and one dependency per service (``CaseServiceDep``,
``MeetingServiceDep``, ``PolicyServiceDep``, ...): a route names the service it needs instead of
building it from the session and the principal.

The session dependency runs with ``scope="function"``: the transaction commits *before* the
response is sent, and any error rolls it back, so a failed request changes nothing.
Credentials: ``Authorization: Bearer <key>``, or HTTP Basic with the key as password (any user
name; TAXII clients only speak Basic).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from typing import Annotated

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
from vigil.exchange.access import Principal
from vigil.exchange.store import ExchangeStore


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def get_database(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


def get_session(request: Request) -> Iterator[Session]:
    # PostgreSQL text cannot hold U+0000: a NUL in the path or query is a 400, not a 500.
    for name, value in [*request.path_params.items(), *request.query_params.multi_items()]:
        if "\x00" in str(value) or "\x00" in name:
            raise InputError(f"parameter {name!r} contains a NUL character (U+0000)", field=name)
    with get_database(request).session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_store(session: SessionDep) -> ExchangeStore:
    return ExchangeStore(session)


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


def get_case_service(session: SessionDep, principal: PrincipalDep) -> CaseService:
    return CaseService(session, principal)


CaseServiceDep = Annotated[CaseService, Depends(get_case_service)]


def get_briefing_service(session: SessionDep, principal: PrincipalDep) -> BriefingService:
    return BriefingService(session, principal)


BriefingServiceDep = Annotated[BriefingService, Depends(get_briefing_service)]


def get_disclosure_service(session: SessionDep, principal: PrincipalDep) -> DisclosureService:
    return DisclosureService(session, principal)


DisclosureServiceDep = Annotated[DisclosureService, Depends(get_disclosure_service)]


def get_meeting_service(session: SessionDep, principal: PrincipalDep) -> MeetingService:
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
