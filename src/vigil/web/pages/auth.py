"""Sign-in and sign-out pages: an API key in a form opens a server-side session (web/session.py).

A script can sign in too, over plain http on localhost: POST ``api_key`` (and optionally
``next``) as a form to ``/login``, keep the ``vigil_session`` cookie of the 303 answer, and send
the page's ``csrf`` value (hidden field of every form) with each later POST.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import HTMLResponse, Response

from vigil.core.errors import AuthenticationError
from vigil.web.deps import StoreDep
from vigil.web.pages.common import ViewerDep, redirect, render, settings_of
from vigil.web.session import Ended, Sessions, check_same_origin, clear_cookie, session_id_of, set_cookie

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only local paths: a sign-in form must not redirect to another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None, reason: str | None = None) -> Response:
    notice = "Your session ended or your key no longer works: sign in again." if reason == "expired" else None
    return render(request, "login.html", None, next=safe_next(next), error=None, notice=notice)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    store: StoreDep,
    api_key: Annotated[str, Form(max_length=500)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    settings = settings_of(request)
    # No session yet, so no CSRF token: refuse what a browser says another site posted, or a
    # page elsewhere could sign a visitor in under the attacker's key.
    check_same_origin(request, settings)
    key = api_key.strip()
    try:
        if not key:
            raise AuthenticationError("enter an API key")
        principal = store.authenticate(key)
    except AuthenticationError as exc:
        Sessions(store.session, settings).failed(key, exc.message)
        return render(
            request, "login.html", None, status_code=401, next=safe_next(next), error=exc.message, notice=None
        )
    sessions = Sessions(store.session, settings)
    previous = session_id_of(request)
    if previous is not None:
        found = sessions.resolve(previous)
        if not isinstance(found, Ended):
            sessions.revoke(found.id_hash, "replaced by a new sign-in")  # one browser, one session
    session_id, _ = sessions.open(principal.key_id)
    response = redirect(safe_next(next))
    set_cookie(request, response, settings, session_id)
    return response


@router.post("/logout")
def logout(viewer: ViewerDep, store: StoreDep, request: Request) -> Response:
    """Ends the session in the database (the viewer dependency checked its CSRF token)."""
    Sessions(store.session, settings_of(request)).revoke(viewer.session.id_hash)
    response = redirect("/login")
    clear_cookie(response)
    return response
