"""The start page, sign-in and sign-out pages."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Query, Request
from starlette.responses import RedirectResponse, Response

from avsb.server.auth.sessions import CSRF_COOKIE, SESSION_COOKIE
from avsb.server.dashboard.core import Viewer, page, page_router, render, see_other
from avsb.server.deps import SessionDep
from avsb.server.people import signin
from avsb.server.runtime import runtime_of

router = page_router()
AnyPerson = Annotated[Viewer, Depends(page(None))]


def _local(path: str | None) -> str:
    """``path`` when it is a local path (never an open redirect), else ``/``."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/"


def home_of(org_id: str) -> str:
    """An organisation's start page."""
    return f"/orgs/{quote(org_id, safe='')}/projects"


@router.get("/")
def start(
    viewer: AnyPerson, request: Request, org: Annotated[str | None, Query(max_length=100)] = None
) -> Response:
    """To the organisation's projects (``?org=`` switches to another of the person's)."""
    member_of = [org_id for org_id, _ in viewer.principal.memberships]
    if org is not None and org in member_of:
        return RedirectResponse(home_of(org), status_code=303)
    if not member_of:
        return render(request, "no_org.html")
    current = viewer.org_id if viewer.org_id in member_of else member_of[0]
    return RedirectResponse(home_of(current), status_code=303)


@router.get("/login")
def login_page(
    request: Request,
    next: Annotated[str | None, Query(max_length=2000)] = None,  # noqa: A002 - the query name
) -> Response:
    """The sign-in form: posts to ``POST /auth/login`` (errors are shown by the page's script;
    the single sign-on button when ``GET /auth/providers`` offers it)."""
    sso = "/auth/oidc/login" if runtime_of(request).sso is not None else None
    return render(request, "login.html", next=_local(next), sso_url=sso, error=None)


@router.post("/logout")
def logout(viewer: AnyPerson, session: SessionDep, request: Request) -> Response:
    """End this browser's session (CSRF checked by the page gate) and go to the sign-in page."""
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        signin.end_session(session, raw)
    response = see_other("/login", "You are signed out.", "info")
    secure = runtime_of(request).settings.secure_cookies
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=secure, samesite="lax")
    return response
