"""Sign-in and sign-out pages: an API key in a form becomes a session cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import HTMLResponse, Response

from vigil.core.errors import AuthenticationError
from vigil.web.deps import StoreDep
from vigil.web.pages.common import ViewerDep, check_form, redirect, render
from vigil.web.session import SessionCodec, codec

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
    api_key: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    key = api_key.strip()
    try:
        if not key:
            raise AuthenticationError("enter an API key")
        store.authenticate(key)
    except AuthenticationError as exc:
        return render(
            request, "login.html", None, status_code=401, next=safe_next(next), error=exc.message, notice=None
        )
    response = redirect(safe_next(next))
    codec(request).sign_in(response, key)
    return response


@router.post("/logout")
def logout(request: Request, viewer: ViewerDep, csrf: Annotated[str | None, Form()] = None) -> Response:
    check_form(request, viewer, csrf)
    response = redirect("/login")
    SessionCodec.sign_out(response)
    return response
